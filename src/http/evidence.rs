//! Evidence: the latest signed checkpoint (for the dashboard and auditors) and inclusion
//! and consistency proofs, in the JSON or the C2SP text of `fundtrail prove`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::Seq;
use crate::evidence as ev;
use crate::ledger::{LedgerError, LedgerView};
use crate::proofs::{consistency_text, ConsistencyDoc, InclusionDoc};

use super::api::{blocking, current_view};
use super::auth::{authorize, AUDIT, SUMMARY};
use super::error::HttpError;
use super::AppState;

type Answer = Result<Response, HttpError>;

/// The latest signed checkpoint within the current head, and whether it verifies: its
/// signature opens under the log's key and its root is the root recomputed from the store.
pub(super) async fn checkpoint(State(s): State<AppState>, headers: HeaderMap) -> Answer {
    authorize(&s.shared, &headers, SUMMARY)?;
    let view = current_view(&s)?;
    let interval = s.limits.checkpoint_interval.as_secs();
    let body = blocking(move || checkpoint_json(&view, interval)).await?;
    Ok(Json(body).into_response())
}

fn checkpoint_json(view: &LedgerView, interval: u64) -> Result<Value, HttpError> {
    let head = json!({ "seq": view.head().size, "hash": view.head().hash.to_hex() });
    let signed = match view.latest_checkpoint() {
        Ok(Some(signed)) => signed,
        Ok(None) => {
            return Err(HttpError::NotFound(format!(
                "no checkpoint is signed yet; the server signs one within {interval} s of a write"
            )))
        }
        Err(LedgerError::Corrupt(reason)) => {
            return Ok(json!({ "verified": false, "reason": reason, "head": head }))
        }
        Err(other) => return Err(other.into()),
    };
    let c = &signed.checkpoint;
    let recomputed = view.root_at(c.size)?;
    Ok(json!({
        "origin": c.origin,
        "size": c.size,
        "root": hex::encode(c.root),
        "note": signed.note,
        "verified": recomputed == c.root,
        "verifier_key": view.verifier_key().to_string(),
        "head": head,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InclusionParams {
    seq: u64,
    size: Option<u64>,
    format: Option<String>,
}

/// `fundtrail prove --seq N [--size M]`: JSON by default, the c2sp.org/tlog-proof text
/// with `format=text`.
pub(super) async fn inclusion(
    State(s): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<InclusionParams>, QueryRejection>,
) -> Answer {
    authorize(&s.shared, &headers, AUDIT)?;
    let Query(p) = params.map_err(|e| HttpError::BadRequest(e.body_text()))?;
    let text = wants_text(p.format.as_deref())?;
    let view = current_view(&s)?;
    blocking(move || {
        let inc = ev::inclusion(&view, Seq(p.seq), p.size)?;
        let note = &inc.checkpoint.note;
        if text {
            return Ok(plain(inc.evidence.tlog_proof(&inc.proof, note).to_text()));
        }
        let doc = InclusionDoc::new(
            &inc.evidence,
            &inc.record,
            &inc.proof,
            &inc.checkpoint.checkpoint,
            note,
        );
        Ok(Json(doc).into_response())
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsistencyParams {
    from: u64,
    to: Option<u64>,
    format: Option<String>,
}

/// `fundtrail prove --from A [--to B]`: JSON by default, the c2sp.org/tlog-witness body
/// with `format=text`.
pub(super) async fn consistency(
    State(s): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<ConsistencyParams>, QueryRejection>,
) -> Answer {
    authorize(&s.shared, &headers, AUDIT)?;
    let Query(p) = params.map_err(|e| HttpError::BadRequest(e.body_text()))?;
    let text = wants_text(p.format.as_deref())?;
    let view = current_view(&s)?;
    blocking(move || {
        let c = ev::consistency(&view, p.from, p.to)?;
        if text {
            return Ok(plain(consistency_text(c.old_size, &c.proof, &c.new.note)));
        }
        let doc = ConsistencyDoc::new(
            c.old_size,
            &c.proof,
            c.old.as_ref().map(|o| o.note.as_str()),
            &c.new.checkpoint,
            &c.new.note,
        );
        Ok(Json(doc).into_response())
    })
    .await
}

fn wants_text(format: Option<&str>) -> Result<bool, HttpError> {
    match format {
        None | Some("json") => Ok(false),
        Some("text") => Ok(true),
        Some(other) => Err(HttpError::BadRequest(format!(
            "format: {other:?} is not json or text"
        ))),
    }
}

fn plain(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}
