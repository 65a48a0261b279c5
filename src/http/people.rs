//! Persons over HTTP: the persons of a household (masked), imports of persons and life
//! events for clerks, and for admins a person masked, revealed (recorded) or erased.
//!
//! Everything that touches the personal-data vault runs on the writer thread
//! ([`writer::LedgerJob`]), through the same `people::roll` functions as the CLI: the
//! vault is written before the log, and no request reads it while another rewrites it.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::keys::tokens::Caller;
use crate::keys::SigningKeyFile;
use crate::ledger::import::{rows_from_bytes, ImportKind, RowKeys};
use crate::ledger::{AppendContext, Ledger, LedgerError};
use crate::model::json_object::Members;
use crate::people::deaths;
use crate::people::roll::{self, PeopleError, PersonView, Showing};
use crate::people::vault::Vault;

use super::api::{blocking, body_error, current_view, summary_json, ApiQuery, NoQuery, PathText};
use super::auth::{Admin, Authorized, Summary, Write};
use super::error::HttpError;
use super::writer::{self, JobState};
use super::AppState;

type Answer = Result<Response, HttpError>;

/// Characters of a reveal's or an erasure's reason: a case number or a sentence; the
/// reason is recorded in the log for good, so a page of text is refused.
pub const MAX_REASON_CHARS: usize = 500;

/// `GET /api/v1/households/{id}`: the balances, and the household's persons masked.
pub(super) async fn household(
    State(s): State<AppState>,
    _: Authorized<Summary>,
    PathText(id): PathText,
    _: NoQuery,
) -> Answer {
    let balance = super::api::household_balance(&s, &id)?;
    let mut body = crate::ledger::answers::balance_json(&balance);
    let persons = on_ledger(&s, move |ledger, vault| {
        roll::household_persons(ledger, vault, &id)
    })
    .await?;
    body.insert(
        "persons".into(),
        Value::Array(persons.iter().map(PersonView::to_json).collect()),
    );
    Ok(Json(Value::Object(body)).into_response())
}

/// `POST /api/v1/imports/persons`: a persons CSV, parsed under this ledger's identity key,
/// then the vault and the log exactly as `fundtrail import persons` does.
pub(super) async fn import_persons(
    State(s): State<AppState>,
    Authorized(caller, _): Authorized<Write>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body = body.map_err(body_error)?;
    let max = s.limits.max_import_rows;
    let view = current_view(&s)?;
    let rows = blocking(move || {
        let key = SigningKeyFile::read(view.dir()).map_err(LedgerError::from)?;
        Ok(rows_from_bytes(
            &body,
            ImportKind::Persons,
            max,
            &RowKeys::of(&key),
        )?)
    })
    .await?
    .ok_or_else(|| too_many_rows(max))?;
    let ctx = context(caller);
    let (summary, _) = on_ledger(&s, move |ledger, vault| {
        roll::import_person_rows_in(ledger, vault, rows, &ctx)
    })
    .await?;
    let status = if summary.appended > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(summary_json(&summary))).into_response())
}

/// The query of a death register import: the register's name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeathsParams {
    source: String,
}

/// `POST /api/v1/imports/deaths?source=NAME`: a death register, matched by identity as
/// `fundtrail import deaths` matches it; the answer is its report (no name or number).
pub(super) async fn import_deaths(
    State(s): State<AppState>,
    Authorized(caller, _): Authorized<Write>,
    ApiQuery(params): ApiQuery<DeathsParams>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body = body.map_err(body_error)?;
    let max = s.limits.max_import_rows;
    let view = current_view(&s)?;
    let rows =
        blocking(move || deaths::register_rows(view.dir(), &body).map_err(people_error)).await?;
    if rows.len() > max {
        return Err(too_many_rows(max));
    }
    let ctx = context(caller);
    let report = on_ledger(&s, move |ledger, _| {
        deaths::record_deaths(ledger, rows, &params.source, &ctx)
    })
    .await?;
    let status = if report.recorded > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(deaths::report_json(&report))).into_response())
}

fn too_many_rows(max: usize) -> HttpError {
    HttpError::PayloadTooLarge(format!(
        "an import sent over HTTP holds at most {max} rows; split it, or use `fundtrail import` on the server"
    ))
}

/// `GET /api/v1/persons/{id}`: one person, masked.
pub(super) async fn person(
    State(s): State<AppState>,
    _: Authorized<Admin>,
    PathText(id): PathText,
    _: NoQuery,
) -> Answer {
    let view = on_ledger(&s, move |ledger, vault| {
        roll::show_person_in(ledger, vault, &id, Showing::Masked)
    })
    .await?;
    Ok(Json(view.to_json()).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: String,
}

/// `POST /api/v1/persons/{id}/reveal`: the name and number in clear, after a
/// `person_revealed` event (who, when, why) is appended and signed. Never cached.
pub(super) async fn reveal(
    State(s): State<AppState>,
    Authorized(caller, _): Authorized<Admin>,
    PathText(id): PathText,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let reason = reason_of(body)?;
    let ctx = context(caller);
    let view = on_ledger(&s, move |ledger, vault| {
        let showing = Showing::Revealed {
            reason: &reason,
            ctx: &ctx,
        };
        roll::show_person_in(ledger, vault, &id, showing)
    })
    .await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(view.to_json())).into_response())
}

/// `POST /api/v1/persons/{id}/erase`: destroys the person's name and number for good and
/// records a `person_erased` event.
pub(super) async fn erase(
    State(s): State<AppState>,
    Authorized(caller, _): Authorized<Admin>,
    PathText(id): PathText,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let reason = reason_of(body)?;
    let ctx = context(caller);
    let person = id.clone();
    let seq = on_ledger(&s, move |ledger, vault| {
        roll::erase_person_in(ledger, vault, &id, &reason, &ctx)
    })
    .await?;
    Ok(Json(json!({ "person_id": person, "erased_seq": seq.get() })).into_response())
}

/// The body `{"reason": "..."}`, with a reason that is neither blank nor a page long.
fn reason_of(body: Result<Bytes, BytesRejection>) -> Result<String, HttpError> {
    let body = body.map_err(body_error)?;
    let send =
        |e: serde_json::Error| HttpError::BadRequest(format!("send {{\"reason\": ...}}: {e}"));
    let Members(fields) = serde_json::from_slice(&body).map_err(send)?;
    let Reason { reason } = serde_json::from_value(Value::Object(fields)).map_err(send)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(HttpError::BadRequest(
            "reason: say why, e.g. the case number".into(),
        ));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(HttpError::BadRequest(format!(
            "reason: at most {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(reason.to_owned())
}

fn context(caller: Caller) -> AppendContext {
    AppendContext::now(caller.name)
}

/// Runs `f` on the ledger and its open vault on the writer thread and waits for its
/// answer.
async fn on_ledger<T: Send + 'static>(
    s: &AppState,
    f: impl FnOnce(&mut Ledger, &mut Vault) -> Result<T, PeopleError> + Send + 'static,
) -> Result<T, HttpError> {
    writer::on_writer(&s.writes, move |ledger, state| {
        with_vault(ledger, state, f).map_err(people_error)
    })
    .await
}

/// Runs `f` with the vault the writer keeps open, opening it first if need be. A vault that
/// failed is dropped, to be opened afresh from disk by the next request: a failed rewrite
/// leaves the one in memory refusing writes.
fn with_vault<T>(
    ledger: &mut Ledger,
    state: &mut JobState,
    f: impl FnOnce(&mut Ledger, &mut Vault) -> Result<T, PeopleError>,
) -> Result<T, PeopleError> {
    let mut vault = match state.vault.take() {
        Some(vault) => vault,
        None => roll::open_vault(ledger)?,
    };
    let outcome = f(ledger, &mut vault);
    if !matches!(
        outcome,
        Err(PeopleError::Vault(_) | PeopleError::Unrecorded { .. })
    ) {
        state.vault = Some(vault);
    }
    outcome
}

/// A roll's error as the API's: an unknown person is a 404, a person with nothing to
/// reveal a 409, a vault that does not open with this ledger's key a corrupt ledger.
fn people_error(err: PeopleError) -> HttpError {
    match err {
        PeopleError::Ledger(e) => e.into(),
        PeopleError::UnknownPerson(_) => HttpError::NotFound(err.to_string()),
        PeopleError::NothingToReveal { .. } => HttpError::Conflict(err.to_string()),
        PeopleError::TooManyRows { .. } => HttpError::PayloadTooLarge(err.to_string()),
        PeopleError::BadSource(_) => HttpError::BadRequest(err.to_string()),
        PeopleError::Run(_) => HttpError::Corrupt(err.to_string()),
        PeopleError::Vault(_) | PeopleError::Unrecorded { .. } => {
            HttpError::Corrupt(err.to_string())
        }
    }
}
