//! Bearer tokens and the roles each endpoint admits (README, "Roles").

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::tokens::{Caller, Role};

use super::error::{poisoned, HttpError};
use super::{AppState, Shared, MAX_BODY_BYTES};

/// Appends and imports.
pub const WRITE: &[Role] = &[Role::Clerk];
/// Totals, fund balances, household balances and the latest checkpoint (the dashboard).
pub const SUMMARY: &[Role] = &[Role::Supervisor, Role::Auditor];
/// The log, trails, verification, proofs, exports, reconciliation.
pub const AUDIT: &[Role] = &[Role::Auditor];
/// Tokens.
pub const ADMIN: &[Role] = &[Role::Admin];
/// The server's status: anyone with a live token.
pub const ANY: &[Role] = &[Role::Clerk, Role::Supervisor, Role::Auditor, Role::Admin];

/// Runs before a request's body is read. A request that announces a body must come with
/// a live token (its role is checked by its handler) and announce at most
/// [`MAX_BODY_BYTES`]: otherwise anyone could make the server wait for, and hold, a large
/// body until the request timeout.
pub(super) async fn screen_body(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    match screen(&state.shared, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

fn screen(shared: &Shared, headers: &HeaderMap) -> Result<(), HttpError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(bytes) = declared.filter(|&n| n > MAX_BODY_BYTES as u64) {
        return Err(HttpError::PayloadTooLarge(format!(
            "a body of {bytes} bytes; at most {MAX_BODY_BYTES}"
        )));
    }
    let has_body =
        declared.is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING);
    if has_body {
        authorize(shared, headers, ANY)?;
    }
    Ok(())
}

/// The caller, if their token is live and their role is one of `allowed`: 401 for a
/// missing, malformed or unknown token, 403 for a known token with another role.
pub fn authorize(
    shared: &Shared,
    headers: &HeaderMap,
    allowed: &[Role],
) -> Result<Caller, HttpError> {
    let secret = bearer(headers)?;
    let caller = shared
        .tokens
        .read()
        .map_err(poisoned)?
        .authenticate(secret)
        .ok_or_else(|| HttpError::Unauthorized("unknown or revoked token".into()))?;
    if !allowed.contains(&caller.role) {
        let roles: Vec<&str> = allowed.iter().map(|r| r.code()).collect();
        return Err(HttpError::Forbidden(format!(
            "token {} has role {}; this needs {}",
            caller.name,
            caller.role,
            roles.join(" or ")
        )));
    }
    Ok(caller)
}

fn bearer(headers: &HeaderMap) -> Result<&str, HttpError> {
    // Two could name two callers; which one a proxy passes on is not ours to guess.
    if headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
    {
        return Err(HttpError::Unauthorized(
            "send one Authorization header, not several".into(),
        ));
    }
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| HttpError::Unauthorized("send Authorization: Bearer TOKEN".into()))?;
    // The scheme is case-insensitive (RFC 9110 §11.1).
    value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            HttpError::Unauthorized("the Authorization header is not Bearer TOKEN".into())
        })
}
