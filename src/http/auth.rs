//! Bearer tokens and the roles each endpoint admits (README, "Roles").

use axum::http::{header, HeaderMap};

use crate::tokens::{Caller, Role};

use super::error::{poisoned, HttpError};
use super::Shared;

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
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| HttpError::Unauthorized("send Authorization: Bearer TOKEN".into()))?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            HttpError::Unauthorized("the Authorization header is not Bearer TOKEN".into())
        })
}
