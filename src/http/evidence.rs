//! Evidence: the latest signed checkpoint (for the dashboard and auditors) and inclusion
//! and consistency proofs, in the JSON or the C2SP text of `fundtrail prove`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::export::evidence as ev;
use crate::ledger::{LedgerError, LedgerView};
use crate::model::domain::Seq;
use crate::witness::cosigned;
use crate::witness::log_side::WitnessState;

use super::api::{blocking, current_view, ApiQuery, NoQuery};
use super::auth::{Audit, Authorized, Summary};
use super::error::HttpError;
use super::AppState;

type Answer = Result<Response, HttpError>;

/// The latest signed checkpoint within the current head, and whether it verifies: its
/// signature opens under the log's key and its root is the root recomputed from the store.
pub(super) async fn checkpoint(
    State(s): State<AppState>,
    _: Authorized<Summary>,
    _: NoQuery,
) -> Answer {
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

/// The ledger's witnesses: the quorum, each witness's name, URL, key, last cosigned size
/// and alarm, the last checkpoint that reached the quorum and how far the head is beyond.
pub(super) async fn witnesses(
    State(s): State<AppState>,
    _: Authorized<Summary>,
    _: NoQuery,
) -> Answer {
    let view = current_view(&s)?;
    let state = blocking(move || {
        WitnessState::read(view.dir(), view.head().size)
            .map_err(|e| HttpError::Internal(format!("the witnesses' state: {e}")))
    })
    .await?;
    Ok(Json(state).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CosignedParams {
    size: Option<u64>,
}

/// A quorum note (FORMAT.md §13.5), the latest or that of `size`, as text: the log's
/// signed checkpoint with the witnesses' cosignatures.
pub(super) async fn cosigned(
    State(s): State<AppState>,
    _: Authorized<Summary>,
    ApiQuery(p): ApiQuery<CosignedParams>,
) -> Answer {
    let view = current_view(&s)?;
    let note = blocking(move || {
        let dir = view.dir();
        let note = match p.size {
            Some(size) => cosigned::note_at(dir, size),
            None => cosigned::latest(dir).map(|(_, note)| note),
        };
        note.ok_or_else(|| {
            HttpError::NotFound(match p.size {
                Some(size) => format!("no checkpoint of size {size} reached its witnesses' quorum"),
                None => "no checkpoint has reached its witnesses' quorum".into(),
            })
        })
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
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
    _: Authorized<Audit>,
    ApiQuery(p): ApiQuery<InclusionParams>,
) -> Answer {
    let build = move |view: &LedgerView| ev::inclusion(view, Seq::new(p.seq), p.size);
    let (text, doc) = (ev::Inclusion::text, ev::Inclusion::doc);
    proof(&s, p.format.as_deref(), build, text, doc).await
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
    _: Authorized<Audit>,
    ApiQuery(p): ApiQuery<ConsistencyParams>,
) -> Answer {
    let build = move |view: &LedgerView| ev::consistency(view, p.from, p.to);
    let (text, doc) = (ev::Consistency::text, ev::Consistency::doc);
    proof(&s, p.format.as_deref(), build, text, doc).await
}

/// A proof built on the current view: its JSON document, or its C2SP text with
/// `format=text`.
async fn proof<P, D>(
    s: &AppState,
    format: Option<&str>,
    build: impl FnOnce(&LedgerView) -> Result<P, LedgerError> + Send + 'static,
    text: fn(&P) -> String,
    doc: fn(&P) -> D,
) -> Answer
where
    P: 'static,
    D: serde::Serialize + 'static,
{
    let as_text = wants_text(format)?;
    let view = current_view(s)?;
    blocking(move || {
        let proof = build(&view)?;
        if as_text {
            return Ok(plain(text(&proof)));
        }
        Ok(Json(doc(&proof)).into_response())
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

/// Export lines in flight between the scanning thread and the response body: enough to
/// keep the socket busy, few enough that a slow client holds at most a few MiB.
const EXPORT_CHUNKS_IN_FLIGHT: usize = 8;

/// Bytes gathered before a chunk of export lines is handed to the response body.
const EXPORT_CHUNK_BYTES: usize = 256 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExportParams {
    size: Option<u64>,
}

/// `events.jsonl` of the export bundle (FORMAT.md, "Export"), streamed: the events of the
/// latest signed checkpoint, or of `size` (at most the head). With `/checkpoint`'s `note`
/// and `verifier_key` it is the whole bundle `fundtrail audit verify-export` checks.
pub(super) async fn export_events(
    State(s): State<AppState>,
    _: Authorized<Audit>,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> Answer {
    let view = current_view(&s)?;
    let size = export_size(&view, params.size)?;
    let (tx, rx) = tokio::sync::mpsc::channel(EXPORT_CHUNKS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkSender {
            tx,
            chunk: Vec::with_capacity(EXPORT_CHUNK_BYTES),
        };
        let written = crate::export::write_event_lines(&view, &mut out, size);
        let flushed = written.map_err(|e| std::io::Error::other(e.to_string()));
        if let Err(e) = flushed.and_then(|_| out.flush_chunk()) {
            // The body ends with an error, so the client sees a broken transfer, never a
            // silently short export.
            let _ = out.tx.blocking_send(Err(e));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = axum::body::Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert("fundtrail-export-size", header::HeaderValue::from(size));
    Ok(response)
}

fn export_size(view: &LedgerView, asked: Option<u64>) -> Result<u64, HttpError> {
    match asked {
        Some(size) if size <= view.head().size => Ok(size),
        Some(size) => Err(HttpError::BadRequest(format!(
            "size {size} is beyond the head ({})",
            view.head().size
        ))),
        None => match view.latest_checkpoint()? {
            Some(signed) => Ok(signed.checkpoint.size),
            None => Err(HttpError::NotFound("no checkpoint is signed yet".into())),
        },
    }
}

/// A `Write` that hands full chunks to the response body.
struct ChunkSender {
    tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    chunk: Vec<u8>,
}

impl ChunkSender {
    fn flush_chunk(&mut self) -> std::io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(EXPORT_CHUNK_BYTES));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))
    }
}

impl std::io::Write for ChunkSender {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.chunk.extend_from_slice(buf);
        if self.chunk.len() >= EXPORT_CHUNK_BYTES {
            self.flush_chunk()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.flush_chunk()
    }
}
