//! `fundtrail witness serve`: the c2sp.org/tlog-witness HTTP API over a [`Witness`]. Its
//! own router and runtime, no ledger; the accept loop, its connection cap and timeouts are
//! the API server's (`conn`).
//!
//! - `POST /add-checkpoint`: 200 with the cosignature line; 400, 403, 404, 409 (the
//!   stored size, `text/x.tlog.size`), 422 as the protocol says; 503 when the witness
//!   cannot store its state (nothing was cosigned).
//! - `GET /{origin hash}/checkpoint`: the latest checkpoint cosigned for the log, with
//!   the log's signatures and the cosignature (the protocol's monitoring API); 404 when
//!   none.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;

use super::Limits;
use crate::tlog::note::MAX_NOTE_BYTES;
use crate::tlog::proofs::MAX_CONSISTENCY_HASHES;
use crate::witness::cosign::CosignerKey;
use crate::witness::decide::Refusal;
use crate::witness::{Witness, WitnessError};

/// Bytes of the longest proof line: 44 base64 characters of a 32-byte hash and a newline.
const PROOF_LINE_BYTES: usize = 45;

/// Bytes of the longest old size line: `old `, 20 digits of a u64, a newline.
const OLD_SIZE_LINE_BYTES: usize = 25;

/// An add-checkpoint body above this is refused (413) before it is read whole: the old
/// size line, 63 proof lines, the empty line and the largest note the witness accepts.
pub const MAX_ADD_CHECKPOINT_BYTES: usize =
    OLD_SIZE_LINE_BYTES + MAX_CONSISTENCY_HASHES * PROOF_LINE_BYTES + 1 + MAX_NOTE_BYTES;

/// The protocol's content type of a 409's body.
pub const TLOG_SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

const TEXT: &str = "text/plain; charset=utf-8";

#[derive(Debug, thiserror::Error)]
pub enum WitnessServeError {
    #[error(transparent)]
    Witness(#[from] WitnessError),
    #[error("{0}")]
    Io(String),
}

/// Where and how a witness serves.
#[derive(Debug, Clone)]
pub struct WitnessConfig {
    pub dir: PathBuf,
    pub addr: SocketAddr,
    pub limits: Limits,
}

/// Opens the witness directory (locking it), binds, reports the address and the
/// witness's key, and serves until SIGINT or SIGTERM.
pub fn run(
    config: WitnessConfig,
    on_bound: impl FnOnce(SocketAddr, &CosignerKey),
) -> Result<(), WitnessServeError> {
    let witness = Arc::new(Witness::open(&config.dir)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| WitnessServeError::Io(format!("starting the runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|e| WitnessServeError::Io(format!("binding {}: {e}", config.addr)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| WitnessServeError::Io(e.to_string()))?;
        on_bound(addr, &witness.verifier_key());
        super::conn::accept(
            listener,
            router(witness, config.limits.request_timeout),
            config.limits,
            super::shutdown_signal(),
        )
        .await;
        Ok(())
    })
}

/// A request (its body included) not answered within `timeout` gets 504, as on the API
/// server: a client sending its body slowly holds a connection no longer than that. A
/// cosignature stored after the 504 is what the client's retry then learns from a 409.
fn router(witness: Arc<Witness>, timeout: std::time::Duration) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/{origin_hash}/checkpoint", get(checkpoint))
        .layer(axum::middleware::from_fn(move |req, next| {
            super::error::with_timeout(timeout, req, next)
        }))
        .layer(DefaultBodyLimit::max(MAX_ADD_CHECKPOINT_BYTES))
        .with_state(witness)
}

/// The check, the cosignature and the durable write run on a blocking thread: the write
/// ends in fsyncs, and requests of one log wait there for each other.
async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let answer = tokio::task::spawn_blocking(move || witness.add_checkpoint(&body, now)).await;
    match answer {
        Ok(Ok(line)) => (StatusCode::OK, [(header::CONTENT_TYPE, TEXT)], line).into_response(),
        Ok(Err(refusal)) => refused(&refusal),
        Err(e) => refused(&Refusal::Unavailable(format!("the request failed: {e}"))),
    }
}

async fn checkpoint(
    State(witness): State<Arc<Witness>>,
    Path(origin_hash): Path<String>,
) -> Response {
    let read = tokio::task::spawn_blocking(move || witness.latest_note(&origin_hash)).await;
    match read {
        Ok(Ok(Some(note))) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, TEXT)], note).into_response()
        }
        Ok(Ok(None)) => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, TEXT)],
            "this witness has cosigned no checkpoint of that log\n",
        )
            .into_response(),
        Ok(Err(refusal)) => refused(&refusal),
        Err(e) => refused(&Refusal::Unavailable(format!("the request failed: {e}"))),
    }
}

fn refused(refusal: &Refusal) -> Response {
    if let Refusal::Conflict { stored, .. } = refusal {
        return (
            StatusCode::CONFLICT,
            [(header::CONTENT_TYPE, TLOG_SIZE_CONTENT_TYPE)],
            format!("{stored}\n"),
        )
            .into_response();
    }
    let status = match refusal {
        Refusal::Malformed(_) => StatusCode::BAD_REQUEST,
        Refusal::UnknownLog { .. } => StatusCode::NOT_FOUND,
        Refusal::Forbidden(_) => StatusCode::FORBIDDEN,
        Refusal::Conflict { .. } => StatusCode::CONFLICT,
        Refusal::Inconsistent(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Refusal::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    (
        status,
        [(header::CONTENT_TYPE, TEXT)],
        format!("{refusal}\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_limit_is_the_one_format_md_states() {
        // FORMAT.md §13.3: 25 + 63 × 45 + 1 + 256 KiB.
        assert_eq!(MAX_ADD_CHECKPOINT_BYTES, 265_005);
    }

    #[test]
    fn a_conflict_answers_the_stored_size_as_text_x_tlog_size() {
        let response = refused(&Refusal::Conflict {
            old_size: 3,
            stored: 12,
        });
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            TLOG_SIZE_CONTENT_TYPE
        );
        let statuses = [
            (Refusal::Malformed(String::new()), 400),
            (Refusal::UnknownLog { origin: "x".into() }, 404),
            (Refusal::Forbidden(String::new()), 403),
            (Refusal::Inconsistent(String::new()), 422),
            (Refusal::Unavailable(String::new()), 503),
        ];
        for (refusal, status) in statuses {
            assert_eq!(refused(&refusal).status().as_u16(), status, "{refusal:?}");
        }
    }
}
