//! Identity: accounts, passwords, sessions, roles and the rules around
//! them. Hashing and token signing are ports (the domain does no crypto
//! or IO); see `emporium-auth` for their adapters.

mod credentials;
mod model;

pub use credentials::{DisplayName, Email, Password};
pub use model::{
    Decision, FeedPosition, NewSession, Principal, RefreshOutcome, RevokeReason, Revoked, Role,
    Rule, StoredKey, UnixMillis, User, UserRecord,
};
