//! `HttpError`: every way a request fails, as a status and a stable `code` that clients
//! may match on, with a `message` for people (README, "Errors").

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::ledger::readmodels::ReadSideError;
use crate::ledger::{ErrorKind, LedgerError, RowRejection};

use super::RETRY_AFTER_SECS;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{total} row(s) rejected; nothing was appended")]
    Rejected {
        rejections: Vec<RowRejection>,
        total: usize,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("the write queue is full; retry after {RETRY_AFTER_SECS} s")]
    QueueFull,
    #[error("the request took longer than {} s; if its body had arrived, a write may still be committed, and retrying it with the same reference is harmless", .0.as_secs())]
    Timeout(Duration),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    Internal(String),
}

impl HttpError {
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            HttpError::Forbidden(_) => StatusCode::FORBIDDEN,
            HttpError::Rejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            HttpError::NotFound(_) => StatusCode::NOT_FOUND,
            HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::Conflict(_) => StatusCode::CONFLICT,
            HttpError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::QueueFull | HttpError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            HttpError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            HttpError::Corrupt(_) | HttpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code (documented in openapi.json's `Error` schema).
    pub fn code(&self) -> &'static str {
        match self {
            HttpError::Unauthorized(_) => "unauthorized",
            HttpError::Forbidden(_) => "forbidden",
            HttpError::Rejected { .. } => "rejected",
            HttpError::NotFound(_) => "not_found",
            HttpError::BadRequest(_) => "bad_request",
            HttpError::Conflict(_) => "conflict",
            HttpError::PayloadTooLarge(_) => "payload_too_large",
            HttpError::QueueFull => "queue_full",
            HttpError::Timeout(_) => "timeout",
            HttpError::MethodNotAllowed(_) => "method_not_allowed",
            HttpError::Unavailable(_) => "unavailable",
            HttpError::Corrupt(_) => "corrupt",
            HttpError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut body = json!({ "code": self.code(), "message": self.to_string() });
        if let HttpError::Rejected { rejections, total } = &self {
            body["total"] = json!(total);
            body["rejections"] = rejections
                .iter()
                .map(|r| json!({ "line": r.line, "field": r.field, "reason": r.reason }))
                .collect();
        }
        let mut response = (self.status(), axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            HttpError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            HttpError::QueueFull | HttpError::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            }
            _ => {}
        }
        response
    }
}

/// A query string that does not fit the endpoint's parameters, in the words of the
/// parameters rather than of the framework ("limit: invalid digit found in string").
impl From<QueryRejection> for HttpError {
    fn from(rejection: QueryRejection) -> Self {
        let text = rejection.body_text();
        let reason = text
            .strip_prefix("Failed to deserialize query string: ")
            .unwrap_or(&text);
        HttpError::BadRequest(format!("query: {reason}"))
    }
}

impl From<LedgerError> for HttpError {
    fn from(err: LedgerError) -> Self {
        match err {
            LedgerError::Rejected { rejections, total } => {
                return HttpError::Rejected { rejections, total }
            }
            LedgerError::Source(reason) | LedgerError::Invalid(reason) => {
                return HttpError::BadRequest(reason)
            }
            _ => {}
        }
        match err.kind() {
            ErrorKind::BadInput | ErrorKind::Rejected => HttpError::BadRequest(err.to_string()),
            ErrorKind::Untrusted => HttpError::Corrupt(err.to_string()),
            ErrorKind::Corrupt => HttpError::Corrupt(format!("{err} (run `fundtrail verify`)")),
            ErrorKind::HeadMoved => HttpError::Conflict(err.to_string()),
            ErrorKind::Unavailable | ErrorKind::AlreadyExists => {
                HttpError::Internal(err.to_string())
            }
        }
    }
}

impl From<ReadSideError> for HttpError {
    fn from(err: ReadSideError) -> Self {
        match err {
            ReadSideError::Ledger(e) => e.into(),
            other => HttpError::Corrupt(format!(
                "{other} (`fundtrail rebuild` recomputes the read models)"
            )),
        }
    }
}

/// Answers 504 when a request takes longer than `limit`.
pub(super) async fn with_timeout(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => HttpError::Timeout(limit).into_response(),
    }
}

/// A lock poisoned by a panicking thread: the shared state may be half-updated.
pub(super) fn poisoned<T>(_: T) -> HttpError {
    HttpError::Internal("a server thread failed; restart the server".into())
}
