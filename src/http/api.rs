//! The JSON API's handlers. Each checks the caller's role first, then answers from the
//! shared read state or queues a write for the writer. The JSON shapes are the CLI's
//! `--json` shapes (`crate::ledger::answers`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fundtrail_projections::{Status, TotalsQuery};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, oneshot};

use crate::keys::tokens::{random_secret, Caller, Role, TokenError, TokenRegistry};
use crate::ledger::answers;
use crate::ledger::import::{command_from_fields, rows_from_bytes, ImportKind, RowKeys};
use crate::ledger::readmodels::{household_trail, ReadSide};
use crate::ledger::{AppendContext, AppendSummary, GroupRequest, LedgerView, LogFilter, Row};
use crate::model::domain::{Decision, HouseholdId, Money, ProgramCode};
use crate::model::encoding::check_event_type;
use crate::model::json_object::Members;
use crate::model::render::{event_json, time_text};

use super::auth::{Admin, Any, Audit, Authorized, Summary, Write};
use super::error::{poisoned, HttpError};
use super::json::{Events, Item};
use super::writer::{self, Job, WriteJob};
use super::{AppState, MAX_BODY_BYTES, MAX_LOG_LIMIT};

type Answer = Result<Response, HttpError>;

fn ok(value: Value) -> Answer {
    Ok(Json(value).into_response())
}

pub(super) async fn not_found() -> HttpError {
    HttpError::NotFound("no such endpoint (see /openapi.json)".into())
}

pub(super) async fn method_not_allowed() -> HttpError {
    HttpError::MethodNotAllowed(
        "this endpoint does not take that method (see /openapi.json)".into(),
    )
}

/// For endpoints that take no query parameters: a query string is refused rather than
/// ignored, so that `?through=2018-07` on an endpoint without it does not look applied.
pub(super) struct NoQuery;

impl<S: Send + Sync> FromRequestParts<S> for NoQuery {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<NoQuery, HttpError> {
        match parts.uri.query() {
            None | Some("") => Ok(NoQuery),
            Some(query) => Err(HttpError::BadRequest(format!(
                "this endpoint takes no query parameters (got {query:?}; see /openapi.json)"
            ))),
        }
    }
}

/// The endpoint's query parameters, `T`. A query string that does not fit them is a 400
/// in the words of the parameters (`HttpError::from(QueryRejection)`), never axum's own
/// plain-text rejection.
pub(super) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, HttpError> {
        let Query(params) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(params))
    }
}

pub(super) async fn status(
    State(s): State<AppState>,
    Authorized(caller, _): Authorized<Any>,
    _: NoQuery,
) -> Answer {
    let head = current_view(&s)?.head();
    ok(json!({
        "events": head.size,
        "head": { "seq": head.size, "hash": head.hash.to_hex() },
        "caller": { "name": caller.name, "role": caller.role.code() },
    }))
}

/// A path segment as text. A segment that does not decode to UTF-8 (`%FF`) gets the
/// JSON error shape, not the framework's plain-text 400.
pub(super) struct PathText(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathText {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<PathText, HttpError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(text)) => Ok(PathText(text)),
            Err(rejection) => Err(HttpError::BadRequest(format!(
                "path: {}",
                rejection.body_text()
            ))),
        }
    }
}

// ---- writes ----

pub(super) async fn append(
    State(s): State<AppState>,
    Authorized(caller, _): Authorized<Write>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body = body.map_err(body_error)?;
    let rows = rows_from_json(&body, s.limits.max_events_per_request)?;
    submit(&s, caller, rows).await
}

pub(super) async fn import_households(
    State(s): State<AppState>,
    Authorized(caller, _): Authorized<Write>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    import(s, caller, body, ImportKind::Households).await
}

pub(super) async fn import_rates(
    State(s): State<AppState>,
    Authorized(caller, _): Authorized<Write>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    import(s, caller, body, ImportKind::Rates).await
}

pub(super) async fn import_changes(
    State(s): State<AppState>,
    Authorized(caller, _): Authorized<Write>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    import(s, caller, body, ImportKind::Changes).await
}

pub(super) async fn import_events(
    State(s): State<AppState>,
    Authorized(caller, _): Authorized<Write>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    import(s, caller, body, ImportKind::Events).await
}

async fn import(
    s: AppState,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
    kind: ImportKind,
) -> Answer {
    let body = body.map_err(body_error)?;
    let max = s.limits.max_import_rows;
    let keys = row_keys(&s, kind).await?;
    let rows = rows_from_bytes(&body, kind, max, &keys)?.ok_or_else(|| {
        HttpError::PayloadTooLarge(format!(
            "an import sent over HTTP holds at most {max} rows; split it, or use `fundtrail import` on the server"
        ))
    })?;
    submit(&s, caller, rows).await
}

/// The keys an events import needs for payee accounts, read from `signing.key`; none for
/// the other kinds, which need none.
async fn row_keys(s: &AppState, kind: ImportKind) -> Result<RowKeys, HttpError> {
    if kind != ImportKind::Events {
        return Ok(RowKeys::default());
    }
    let view = current_view(s)?;
    blocking(move || {
        let key = crate::keys::SigningKeyFile::read(view.dir())
            .map_err(crate::ledger::LedgerError::from)?;
        Ok(RowKeys::of(&key))
    })
    .await
}

/// Queues a write and waits for the writer's answer: 201 when something was appended, 200
/// when every row was already there, 503 at once when the queue is full.
async fn submit(s: &AppState, caller: Caller, rows: Vec<Row>) -> Answer {
    let request = GroupRequest {
        ctx: AppendContext::now(caller.name),
        rows,
        if_head: None,
    };
    let summary = submit_request(s, request).await?;
    let status = if summary.appended > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(summary_json(&summary))).into_response())
}

/// Queues one request for the writer and waits for its outcome.
pub(super) async fn submit_request(
    s: &AppState,
    request: GroupRequest,
) -> Result<AppendSummary, HttpError> {
    let (reply, answer) = oneshot::channel();
    s.writes
        .try_send(Job::Write(WriteJob { request, reply }))
        .map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => HttpError::QueueFull,
            mpsc::error::TrySendError::Closed(_) => HttpError::Unavailable(
                "the server takes no more writes: it is shutting down, or a commit \
                     failed (see its log); nothing was appended"
                    .into(),
            ),
        })?;
    writer::answer(answer.await)
}

/// Has the writer save a token registry (with the state record that names it).
async fn save_tokens(s: &AppState, registry: &TokenRegistry) -> Result<(), HttpError> {
    let (reply, saved) = oneshot::channel();
    let job = writer::TokensJob {
        registry: registry.to_bytes(),
        reply,
    };
    s.writes
        .try_send(Job::Tokens(job))
        .map_err(|_| HttpError::Unavailable("the writer takes no more changes".into()))?;
    match saved.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(reason)) => Err(HttpError::Internal(reason)),
        Err(_) => Err(HttpError::Unavailable(
            "the writer stopped before saving the tokens".into(),
        )),
    }
}

pub(super) fn summary_json(summary: &AppendSummary) -> Value {
    json!({
        "appended": summary.appended,
        "duplicates": summary.duplicates,
        "seqs": summary.seqs.iter().map(|s| s.get()).collect::<Vec<_>>(),
        "head": { "size": summary.head.size, "hash": summary.head.hash.to_hex() },
    })
}

pub(super) fn body_error(rejection: BytesRejection) -> HttpError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        HttpError::PayloadTooLarge(format!("the body is larger than {MAX_BODY_BYTES} bytes"))
    } else {
        HttpError::BadRequest(rejection.body_text())
    }
}

/// One event object, or an array of them, as rows numbered from 1.
fn rows_from_json(body: &[u8], max: usize) -> Result<Vec<Row>, HttpError> {
    let events: Events = serde_json::from_slice(body).map_err(|e| {
        HttpError::BadRequest(format!("the body is not an event object or array: {e}"))
    })?;
    let items = match events {
        Events::Many(items) => items,
        Events::One(members) => vec![Item::Object(members)],
        Events::Neither => {
            return Err(HttpError::BadRequest(
                "send an event object or an array of them".into(),
            ))
        }
    };
    if items.len() > max {
        return Err(HttpError::PayloadTooLarge(format!(
            "{} events in one request; at most {max}",
            items.len()
        )));
    }
    Ok(items
        .iter()
        .enumerate()
        .map(|(i, item)| Row {
            line: i as u64 + 1,
            command: match item {
                Item::Object(Members(fields)) => command_from_json(fields),
                Item::Other => Err(("row", "is not a JSON object".into())),
            },
        })
        .collect())
}

/// An event object has the CSV columns as fields; `"type": "household_enrolled"` takes
/// the households columns instead. Amounts are strings: JSON numbers are not exact.
fn command_from_json(
    fields: &Map<String, Value>,
) -> Result<crate::model::domain::Command, (&'static str, String)> {
    let household = fields.get("type").and_then(Value::as_str) == Some("household_enrolled");
    let (kind, skip) = if household {
        (ImportKind::Households, Some("type"))
    } else {
        (ImportKind::Events, None)
    };
    let texts = field_texts(fields, skip)?;
    command_from_fields(
        kind,
        texts.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &RowKeys::default(),
    )
}

fn field_texts(
    fields: &Map<String, Value>,
    skip: Option<&str>,
) -> Result<Vec<(String, String)>, (&'static str, String)> {
    let mut texts = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        if Some(name.as_str()) == skip {
            continue;
        }
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            Value::Number(_) if name == "amount" => {
                return Err((
                    "amount",
                    "send the amount as a string such as \"700.00\"".into(),
                ))
            }
            // As its text, so that the field's own rule names the field and the reason
            // (`persons: "-1" is not ...`).
            Value::Number(n) => n.to_string(),
            _ => return Err(("row", format!("field {name:?} must be a string"))),
        };
        texts.push((name.clone(), text));
    }
    Ok(texts)
}

// ---- reads for supervisors ----

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TotalsParams {
    by: Option<String>,
    year: Option<i32>,
    month: Option<String>,
    subdistrict: Option<String>,
    program: Option<String>,
}

/// The query of `GET /api/v1/findings`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FindingsParams {
    rule: Option<String>,
    household: Option<String>,
    /// open (the default), confirmed, dismissed or all.
    status: Option<String>,
}

/// `GET /api/v1/findings`: what the audit rules raise over the whole log, newest first,
/// as `fundtrail --json findings` (supervisors and auditors).
pub(super) async fn findings(
    State(s): State<AppState>,
    _: Authorized<Summary>,
    ApiQuery(params): ApiQuery<FindingsParams>,
) -> Answer {
    if let Some(rule) = &params.rule {
        if !fundtrail_projections::Rule::ALL
            .iter()
            .any(|r| r.as_str() == rule)
        {
            return Err(HttpError::BadRequest(format!(
                "query: rule {rule:?} is not a rule"
            )));
        }
    }
    let status = params.status.as_deref().unwrap_or("open");
    if status != "all" && !Status::ALL.iter().any(|s| s.as_str() == status) {
        return Err(HttpError::BadRequest(format!(
            "query: status {status:?} is not open, confirmed, dismissed or all"
        )));
    }
    let mut list = read_side(&s, |side| side.findings().map(|f| f.all()))?
        .ok_or_else(|| HttpError::Internal("the server maintains no findings".into()))?;
    list.retain(|f| status == "all" || f.status.as_str() == status);
    list.retain(|f| params.rule.as_deref().is_none_or(|r| f.rule.as_str() == r));
    list.retain(|f| params.household.as_ref().is_none_or(|h| &f.household == h));
    list.reverse();
    ok(Value::Array(
        list.iter().map(answers::finding_json).collect(),
    ))
}

/// The body of `POST /api/v1/findings/{id}/resolve`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    decision: String,
    reason: String,
    /// Yuan, as a string (`"1200.00"`); absent or `"0.00"` when nothing is recovered.
    recover: Option<String>,
    program: Option<String>,
}

/// `POST /api/v1/findings/{id}/resolve` (supervisors and auditors): records a decision
/// about a finding as `fundtrail findings resolve` does, with the token's name as the
/// actor, so four eyes hold against it. 201 with the decision's seq.
pub(super) async fn resolve_finding(
    State(s): State<AppState>,
    Authorized(caller, _): Authorized<Summary>,
    PathText(id): PathText,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let request = decision_request(id, body)?;
    let ctx = AppendContext::now(caller.name);
    let (request, seq) = writer::on_writer(&s.writes, move |ledger, _| {
        let seq = crate::runs::findings::resolve(ledger, &request, &ctx)?;
        Ok((request, seq))
    })
    .await?;
    let answer = json!({
        "finding_id": request.finding,
        "decision": request.decision.code(),
        "seq": seq.get(),
    });
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// A resolve body as a decision request; a malformed one is a 400 naming the member.
fn decision_request(
    finding: String,
    body: Result<Bytes, BytesRejection>,
) -> Result<crate::runs::findings::DecisionRequest, HttpError> {
    let body = body.map_err(body_error)?;
    let send = |e: serde_json::Error| {
        HttpError::BadRequest(format!(
            "send {{\"decision\": \"confirmed\"|\"dismissed\", \"reason\": ..., \"recover\": \"yuan\", \"program\": ...}}: {e}"
        ))
    };
    let Members(fields) = serde_json::from_slice(&body).map_err(send)?;
    let b: ResolveBody = serde_json::from_value(Value::Object(fields)).map_err(send)?;
    let bad = |member: &str, e: crate::model::domain::ValueError| {
        HttpError::BadRequest(format!("{member}: {e}"))
    };
    Ok(crate::runs::findings::DecisionRequest {
        finding,
        decision: Decision::parse(&b.decision).map_err(|e| bad("decision", e))?,
        reason: b.reason,
        recover: match b.recover.as_deref() {
            None => Money::from_fen(0),
            Some(text) => Money::parse(text).map_err(|e| bad("recover", e))?,
        },
        program: b
            .program
            .as_deref()
            .map(ProgramCode::parse)
            .transpose()
            .map_err(|e| bad("program", e))?,
    })
}

pub(super) async fn totals(
    State(s): State<AppState>,
    _: Authorized<Summary>,
    ApiQuery(params): ApiQuery<TotalsParams>,
) -> Answer {
    let query = totals_query(params)?;
    let rows = read_side(&s, |side| side.totals(&query))?;
    ok(answers::totals_rows_json(&rows, &query.by))
}

fn totals_query(params: TotalsParams) -> Result<TotalsQuery, HttpError> {
    let by = params
        .by
        .as_deref()
        .filter(|b| !b.is_empty())
        .map_or(Ok(Vec::new()), |b| {
            b.split(',')
                .map(|k| answers::parse_group_key(k.trim()))
                .collect()
        })
        .and_then(|by: Vec<_>| answers::check_group_keys(&by).map(|()| by))
        .map_err(|e| HttpError::BadRequest(format!("by: {e}")))?;
    let month = params
        .month
        .as_deref()
        .map(answers::parse_month)
        .transpose()
        .map_err(|e| HttpError::BadRequest(format!("month: {e}")))?;
    if let Some(program) = &params.program {
        ProgramCode::parse(program).map_err(|e| HttpError::BadRequest(format!("program: {e}")))?;
    }
    Ok(TotalsQuery {
        by,
        year: params.year,
        month,
        subdistrict: params.subdistrict,
        program: params.program,
    })
}

pub(super) async fn funds(State(s): State<AppState>, _: Authorized<Summary>, _: NoQuery) -> Answer {
    let rows = read_side(&s, |side| side.models().funds())?;
    ok(answers::funds_json(&rows))
}

pub(super) fn household_balance(
    s: &AppState,
    id: &str,
) -> Result<fundtrail_projections::HouseholdBalance, HttpError> {
    HouseholdId::parse(id).map_err(|e| HttpError::BadRequest(format!("household id: {e}")))?;
    read_side(s, |side| side.models().household(id))?
        .ok_or_else(|| HttpError::NotFound(format!("household {id} is not enrolled")))
}

// ---- reads for auditors ----

pub(super) async fn trail(
    State(s): State<AppState>,
    _: Authorized<Audit>,
    PathText(id): PathText,
    _: NoQuery,
) -> Answer {
    let balance = household_balance(&s, &id)?;
    let view = current_view(&s)?;
    let entries = blocking(move || household_trail(&view, &id).map_err(HttpError::from)).await?;
    ok(answers::household_json(&balance, &entries))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LogParams {
    household: Option<String>,
    program: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    limit: Option<usize>,
}

pub(super) async fn log(
    State(s): State<AppState>,
    _: Authorized<Audit>,
    ApiQuery(params): ApiQuery<LogParams>,
) -> Answer {
    if let Some(program) = &params.program {
        ProgramCode::parse(program).map_err(|e| HttpError::BadRequest(format!("program: {e}")))?;
    }
    if let Some(kind) = &params.event_type {
        check_event_type(kind).map_err(|e| HttpError::BadRequest(format!("type: {e}")))?;
    }
    let limit = params.limit.unwrap_or(crate::ledger::DEFAULT_LOG_LIMIT);
    if limit > MAX_LOG_LIMIT {
        return Err(HttpError::BadRequest(format!(
            "limit: at most {MAX_LOG_LIMIT}"
        )));
    }
    let filter = LogFilter {
        household: params.household,
        program: params.program,
        event_type: params.event_type,
    };
    let view = current_view(&s)?;
    let events = blocking(move || view.recent(&filter, limit).map_err(HttpError::from)).await?;
    ok(Value::Array(
        events
            .iter()
            .map(|(seq, hash, r)| event_json(*seq, hash, r))
            .collect(),
    ))
}

/// The chain through the current head, and the maintained read models against a rebuild
/// from genesis through the seq they reflect. Same JSON as `fundtrail verify --json`.
pub(super) async fn verify(State(s): State<AppState>, _: Authorized<Audit>, _: NoQuery) -> Answer {
    let maintained = read_side(&s, Clone::clone)?;
    let view = current_view(&s)?;
    blocking(move || verify_json(&view, &maintained))
        .await
        .and_then(ok)
}

fn verify_json(view: &LedgerView, maintained: &ReadSide) -> Result<Value, HttpError> {
    let report = view.verify_snapshot(|_| {})?;
    if let Some(fault) = &report.fault {
        return Ok(json!({
            "ok": false,
            "first_bad_seq": fault.first_bad_seq().map(|s| s.get()),
            "last_bad_seq": fault.last_bad_seq().map(|s| s.get()),
            "reason": fault.to_string(),
            "checked": report.checked,
        }));
    }
    let applied = maintained.models().applied().map_or(0, |a| a.seq);
    let rebuilt = ReadSide::rebuild(&view.at(applied)?)?;
    let read_models = if rebuilt.models() == maintained.models() {
        "ok"
    } else {
        "the maintained read models differ from a rebuild from genesis"
    };
    let findings = if rebuilt.findings() == maintained.findings() {
        "ok"
    } else {
        "the maintained findings differ from a rebuild from genesis"
    };
    Ok(json!({
        "ok": read_models == "ok" && findings == "ok",
        "events": report.checked,
        "head": { "seq": report.head.size, "hash": report.head.hash.to_hex() },
        "root": hex::encode(report.root),
        "nodes": report.nodes,
        "checkpoints": report.checkpoints,
        "read_models": read_models,
        "findings": findings,
    }))
}

// ---- tokens, for admins ----

pub(super) async fn list_tokens(
    State(s): State<AppState>,
    _: Authorized<Admin>,
    _: NoQuery,
) -> Answer {
    let tokens = s.shared.tokens.read().map_err(poisoned)?;
    ok(Value::Array(
        tokens
            .entries()
            .iter()
            .map(|(name, e)| {
                json!({
                    "name": name,
                    "role": e.role.code(),
                    "issued": time_text(e.created_us),
                    "revoked": e.revoked_us.map(time_text),
                })
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewToken {
    name: String,
    role: String,
}

pub(super) async fn add_token(
    State(s): State<AppState>,
    _: Authorized<Admin>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body = body.map_err(body_error)?;
    let send = |e: serde_json::Error| {
        HttpError::BadRequest(format!("send {{\"name\": ..., \"role\": ...}}: {e}"))
    };
    let Members(fields) = serde_json::from_slice(&body).map_err(send)?;
    let new: NewToken = serde_json::from_value(Value::Object(fields)).map_err(send)?;
    let role = Role::parse(&new.role).map_err(token_error)?;
    let random = random_secret().map_err(token_error)?;
    // Token changes are rare and take turns, so two admins' changes never overwrite each
    // other; the registry in memory changes only once the writer has saved it.
    let _one_at_a_time = s.shared.token_changes.lock().await;
    let mut updated = s.shared.tokens.read().map_err(poisoned)?.clone();
    let now_us = chrono::Utc::now().timestamp_micros();
    let secret = updated
        .issue(&new.name, role, now_us, random)
        .map_err(token_error)?;
    save_tokens(&s, &updated).await?;
    *s.shared.tokens.write().map_err(poisoned)? = updated;
    let body = json!({ "name": new.name, "role": role.code(), "token": secret.expose() });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub(super) async fn revoke_token(
    State(s): State<AppState>,
    _: Authorized<Admin>,
    PathText(name): PathText,
) -> Answer {
    let _one_at_a_time = s.shared.token_changes.lock().await;
    let mut updated = s.shared.tokens.read().map_err(poisoned)?.clone();
    let now_us = chrono::Utc::now().timestamp_micros();
    updated.revoke(&name, now_us).map_err(token_error)?;
    save_tokens(&s, &updated).await?;
    *s.shared.tokens.write().map_err(poisoned)? = updated;
    ok(json!({ "name": name, "revoked": true }))
}

fn token_error(err: TokenError) -> HttpError {
    match err {
        TokenError::Exists(_) | TokenError::AlreadyRevoked(_) | TokenError::LastAdmin(_) => {
            HttpError::Conflict(err.to_string())
        }
        TokenError::Unknown(_) => HttpError::NotFound(err.to_string()),
        TokenError::BadName(_) | TokenError::BadRole(_) => HttpError::BadRequest(err.to_string()),
        TokenError::Corrupt(_) => HttpError::Corrupt(err.to_string()),
        TokenError::Random(_) => HttpError::Internal(err.to_string()),
        TokenError::Ledger(e) => e.into(),
    }
}

// ---- shared state ----

/// The log as of the last acknowledged commit. The lock is held for a clone.
pub(super) fn current_view(s: &AppState) -> Result<LedgerView, HttpError> {
    Ok(s.shared.view.read().map_err(poisoned)?.clone())
}

/// Runs `f` on the read models under the read lock; `f` should only copy out an answer.
fn read_side<T>(s: &AppState, f: impl FnOnce(&ReadSide) -> T) -> Result<T, HttpError> {
    let side = s.shared.read_side.read().map_err(poisoned)?;
    Ok(f(&side))
}

/// Scans of the log and verification run off the async workers.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, HttpError> + Send + 'static,
) -> Result<T, HttpError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| HttpError::Internal(format!("a background task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Params {
        limit: Option<u64>,
    }

    async fn extract(uri: &str) -> Result<ApiQuery<Params>, HttpError> {
        let request = axum::http::Request::get(uri)
            .body(())
            .expect("a valid request");
        let (mut parts, ()) = request.into_parts();
        ApiQuery::<Params>::from_request_parts(&mut parts, &()).await
    }

    #[tokio::test]
    async fn a_query_that_fits_is_its_parameters() {
        let ApiQuery(params) = extract("/x?limit=5").await.expect("a fitting query");
        assert_eq!(params.limit, Some(5));
        let ApiQuery(params) = extract("/x").await.expect("no query");
        assert_eq!(params.limit, None);
    }

    #[tokio::test]
    async fn a_query_that_does_not_fit_is_a_bad_request_in_its_words() {
        for (uri, reason) in [
            (
                "/x?limit=many",
                "query: limit: invalid digit found in string",
            ),
            ("/x?bogus=1", "query: bogus: unknown field `bogus`"),
        ] {
            match extract(uri).await {
                Err(HttpError::BadRequest(message)) => {
                    assert!(message.starts_with(reason), "{uri}: {message}");
                }
                Err(other) => panic!("{uri}: {other:?}"),
                Ok(_) => panic!("{uri} was accepted"),
            }
        }
    }
}
