//! Bearer tokens and the roles each endpoint admits (README, "Roles").

use std::marker::PhantomData;

use axum::body::HttpBody;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::keys::tokens::{Caller, Role};

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

/// The roles a handler admits, as a type, so that [`Authorized`] can be its first
/// extractor: the token is checked before the path, the query or the body is looked at.
pub trait Roles: Send + Sync + 'static {
    const ALLOWED: &'static [Role];
}

pub struct Write;
pub struct Summary;
pub struct Audit;
pub struct Admin;
pub struct Any;

impl Roles for Write {
    const ALLOWED: &'static [Role] = WRITE;
}
impl Roles for Summary {
    const ALLOWED: &'static [Role] = SUMMARY;
}
impl Roles for Audit {
    const ALLOWED: &'static [Role] = AUDIT;
}
impl Roles for Admin {
    const ALLOWED: &'static [Role] = ADMIN;
}
impl Roles for Any {
    const ALLOWED: &'static [Role] = ANY;
}

/// A caller whose live token has one of `R`'s roles. Every API handler takes it before
/// any other extractor (axum runs them in order), so that without a token the answer is
/// 401, never a 400 about a path or query the caller may not use anyway.
pub struct Authorized<R>(pub Caller, pub PhantomData<fn() -> R>);

impl<R: Roles> FromRequestParts<AppState> for Authorized<R> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        let caller = authorize(&state.shared, &parts.headers, R::ALLOWED)?;
        Ok(Authorized(caller, PhantomData))
    }
}

/// Runs before anything of a request's body is read, on every route and the fallbacks.
/// A request that may carry a body must come with a live token (its role is checked by
/// its handler) and announce at most [`MAX_BODY_BYTES`]: otherwise anyone could make the
/// server wait for, and hold, a large body until the request timeout. A body that streams
/// past the limit without announcing it is cut off at the limit by the body extractor.
pub(super) async fn screen_body(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    match screen(&state.shared, &req) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

fn screen(shared: &Shared, req: &Request) -> Result<(), HttpError> {
    if !may_carry_body(req) {
        return Ok(());
    }
    authorize(shared, req.headers(), ANY)?;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(bytes) if bytes > MAX_BODY_BYTES as u64 => Err(HttpError::PayloadTooLarge(format!(
            "a body of {bytes} bytes; at most {MAX_BODY_BYTES}"
        ))),
        _ => Ok(()),
    }
}

/// Whatever the headers say, and over either protocol: any method that takes a body, and
/// any request whose body is not known to be empty. (An HTTP/2 request need announce
/// neither a length nor a transfer coding: only the end of its stream says it is empty.)
fn may_carry_body(req: &Request) -> bool {
    let bodiless = matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::DELETE
    );
    !bodiless || !req.body().is_end_stream()
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
