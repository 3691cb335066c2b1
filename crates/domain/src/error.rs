//! Errors by layer: what went wrong, in the domain's words.

use std::fmt;

/// One rejected field of a request, with a human-readable reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidationError {
    /// The parameter or field that was rejected (`limit`, `min_price`…).
    pub field: String,
    /// Why it was rejected.
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Failures of a store adapter, translated at the adapter boundary.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or did not answer in time.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness or integrity rule was violated.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A statement ran past the time limit set for it and was stopped
    /// (searches: `store.search_timeout_ms`); the connection is fine.
    #[error("stopped at its time limit: {0}")]
    TimedOut(String),
    /// Anything else the driver reported; logged, never shown to clients.
    #[error("store error: {0}")]
    Internal(String),
}

/// Failures of a cache, rate-limiter or revocation adapter (Redis). Callers
/// degrade rather than fail on them: a broken cache acts as an empty one,
/// a broken limiter as a per-instance one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The configured address is not a usable Redis URL.
    #[error("REDIS_URL: {0}")]
    BadUrl(String),
    /// Redis answered with an error, or the connection failed.
    #[error("redis: {0}")]
    Redis(String),
    /// Redis did not answer within the adapter's time limit.
    #[error("redis did not answer in time")]
    TimedOut,
}

/// Errors a domain service reports to its callers. `Clone` so that one
/// failed computation can be reported to every caller that waited on it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DomainError {
    /// The request was malformed; each entry names a field.
    #[error("validation failed")]
    Validation(Vec<ValidationError>),
    /// The thing asked for does not exist.
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// A search ran past the store's time limit and was stopped.
    #[error("the search took too long and was stopped")]
    SearchTimedOut,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ValidationError> for DomainError {
    fn from(e: ValidationError) -> Self {
        DomainError::Validation(vec![e])
    }
}
