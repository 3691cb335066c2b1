//! Extractors whose rejections are [`ApiError`]s, so that malformed input
//! gets the same JSON error shape as everything else.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

/// Query parameters, with strict percent-decoding: `%zz` or bytes that are
/// not UTF-8 are a 400, not silently replaced.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or("");
        check_percent_encoding(raw)?;
        serde_urlencoded::from_str(raw)
            .map(ApiQuery)
            .map_err(|e| ApiError::bad_request("query", format!("malformed query string: {e}")))
    }
}

fn check_percent_encoding(raw: &str) -> Result<(), ApiError> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        ApiError::bad_request("query", "malformed percent-encoding (expected %XX)")
                    })?;
                decoded.push(byte);
                i += 3;
            }
            b => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded)
        .map(|_| ())
        .map_err(|_| ApiError::bad_request("query", "percent-encoded bytes are not UTF-8"))
}

/// Path parameters; a value that does not parse (a bad UUID) is a 400.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|e| ApiError::bad_request("path", e.body_text()))
    }
}

/// A JSON body. Malformed JSON, missing fields and wrong types are a 400
/// naming the problem; a missing `Content-Type: application/json` is a 415.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with Content-Type: application/json",
            )),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::bad_request(
                "body",
                format!("malformed JSON: {}", e.body_text()),
            )),
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::bad_request("body", e.body_text()))
            }
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::for_status(StatusCode::PAYLOAD_TOO_LARGE))
            }
            Err(e) => Err(ApiError::bad_request("body", e.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_is_checked_strictly() {
        assert!(check_percent_encoding("q=caf%C3%A9&limit=5").is_ok());
        assert!(check_percent_encoding("q=a+b").is_ok());
        for bad in ["q=%zz", "q=%", "q=%4", "q=%FF", "q=%C3"] {
            assert!(check_percent_encoding(bad).is_err(), "{bad} accepted");
        }
    }
}
