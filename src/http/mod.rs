//! The HTTP API and the supervisors' dashboard: the only module that names axum.
//!
//! One writer thread owns the [`Ledger`] and group-commits the appends that handlers queue
//! to it ([`writer`]); a snapshot thread writes the read side's snapshot beside it
//! ([`snapshots`]); handlers answer reads from a [`LedgerView`] and the read models,
//! shared behind short-held locks. A write is acknowledged only after its group's
//! fdatasync: acknowledged means durable (ARCHITECTURE.md, "The server").

mod api;
mod auth;
mod conn;
mod dashboard;
mod error;
mod evidence;
mod findings;
mod json;
mod people;
mod reconcile;
mod snapshots;
pub mod witness;
mod writer;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, MethodRouter};
use axum::Router;
use tokio::net::TcpListener;

pub use error::HttpError;
pub use snapshots::SnapshotHook;

use crate::keys::tokens::{TokenError, TokenRegistry};
use crate::ledger::readmodels::{
    ReadSide, ReadSideError, SnapshotPolicy, SNAPSHOT_BYTES_PER_EVENT, SNAPSHOT_LAG_EVENTS,
};
use crate::ledger::{Ledger, LedgerError, LedgerView, GROUP_COMMIT_EVENTS};

/// Request bodies above this are refused (413). An import of the largest batch
/// ([`MAX_IMPORT_ROWS`] rows of about 120 bytes) is near 1.2 MiB; 8 MiB leaves room for
/// long memos without letting one request hold much of the server's memory.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Rows in one CSV import. One import is one request of a group commit, and a group holds
/// at most [`GROUP_COMMIT_EVENTS`] rows; larger files go through `fundtrail import`.
pub const MAX_IMPORT_ROWS: usize = GROUP_COMMIT_EVENTS;

/// Events in one JSON append request: enough for a form that records a household's
/// month, small enough that a request is answered in one group.
pub const MAX_EVENTS_PER_REQUEST: usize = 1_000;

/// Write requests waiting for the writer. At roughly a group per few milliseconds this is
/// under a second of backlog; beyond it a client is told to come back (503) rather than
/// left waiting towards its timeout.
pub const QUEUE_DEPTH: usize = 1_024;

/// A request not answered by then gets 504. A write that timed out may still be committed
/// later: the retry with the same reference is harmless.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Seconds a client is asked to wait after a 503 (`Retry-After`).
pub const RETRY_AFTER_SECS: u64 = 1;

/// The writer signs a checkpoint of the head this often when the head has moved (and once
/// more when it stops), so an auditor can prove a write within seconds of it; a signature
/// and a durable write per interval cost nothing measurable.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);

/// Events the log endpoint returns at most per request.
pub const MAX_LOG_LIMIT: usize = 1_000;

/// After the signal, the time in-flight requests get to finish before the server stops
/// waiting for them; acknowledged writes are durable either way.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(40);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    ReadSide(#[from] ReadSideError),
    #[error(transparent)]
    Tokens(#[from] TokenError),
    #[error("{0}")]
    Io(String),
    #[error("limits: {0}")]
    Limits(String),
}

/// The adjustable limits; [`Limits::default`] is the documented constants. Tests shrink
/// them to reach the edges quickly.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub queue_depth: usize,
    pub request_timeout: Duration,
    pub max_import_rows: usize,
    pub max_events_per_request: usize,
    pub checkpoint_interval: Duration,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// Events the read side may lag its snapshot at least ([`SnapshotPolicy`]).
    pub snapshot_lag_events: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            queue_depth: QUEUE_DEPTH,
            request_timeout: REQUEST_TIMEOUT,
            max_import_rows: MAX_IMPORT_ROWS,
            max_events_per_request: MAX_EVENTS_PER_REQUEST,
            checkpoint_interval: CHECKPOINT_INTERVAL,
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            snapshot_lag_events: SNAPSHOT_LAG_EVENTS,
        }
    }
}

impl Limits {
    /// One request must fit in one group commit, the queue must hold at least one, and the
    /// server at least one connection, with a timer that can run out.
    fn check(&self) -> Result<(), ServeError> {
        let largest = self.max_import_rows.max(self.max_events_per_request);
        if largest > GROUP_COMMIT_EVENTS {
            return Err(ServeError::Limits(format!(
                "a request of {largest} rows would not fit in one group commit of {GROUP_COMMIT_EVENTS}"
            )));
        }
        if self.queue_depth == 0 {
            return Err(ServeError::Limits(
                "the queue must hold at least one request".into(),
            ));
        }
        if !(1..=MAX_CONNECTIONS_CAP).contains(&self.max_connections) {
            return Err(ServeError::Limits(format!(
                "at least 1 and at most {MAX_CONNECTIONS_CAP} connections, not {}",
                self.max_connections
            )));
        }
        if self.snapshot_lag_events == 0 {
            return Err(ServeError::Limits(
                "a snapshot lag of 0 events would snapshot with no event to reflect".into(),
            ));
        }
        if self.idle_timeout.is_zero() || self.header_read_timeout.is_zero() {
            return Err(ServeError::Limits(
                "a zero timeout would close every connection at once".into(),
            ));
        }
        Ok(())
    }
}

/// What readers share: the log as of the last commit, the read models, the tokens.
pub(crate) struct Shared {
    pub(crate) view: RwLock<LedgerView>,
    pub(crate) read_side: RwLock<ReadSide>,
    pub(crate) tokens: RwLock<TokenRegistry>,
    /// Held by a reconciliation run: runs share the payment index file.
    pub(crate) reconciling: tokio::sync::Mutex<()>,
    /// Token changes take turns: each reads the registry, changes it, and has the writer
    /// save it.
    pub(crate) token_changes: tokio::sync::Mutex<()>,
}

/// Handler state: the shared read state, the writer's queue, the limits.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) shared: Arc<Shared>,
    pub(crate) writes: tokio::sync::mpsc::Sender<writer::Job>,
    pub(crate) limits: Limits,
}

/// Every route: method, path (OpenAPI syntax, which axum 0.8 shares) and handler. The
/// router is built from this table and the OpenAPI test reads it, so the two cannot drift.
pub fn routes() -> Vec<(&'static str, &'static str)> {
    route_table()
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect()
}

fn route_table() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    vec![
        ("get", "/", get(dashboard::page)),
        ("get", "/assets/app.js", get(dashboard::script)),
        ("get", "/assets/app.css", get(dashboard::style)),
        ("get", "/openapi.json", get(dashboard::openapi)),
        ("get", "/api/v1/status", get(api::status)),
        ("post", "/api/v1/events", post(api::append)),
        (
            "post",
            "/api/v1/imports/households",
            post(api::import_households),
        ),
        ("post", "/api/v1/imports/events", post(api::import_events)),
        ("post", "/api/v1/imports/rates", post(api::import_rates)),
        (
            "post",
            "/api/v1/imports/persons",
            post(people::import_persons),
        ),
        ("post", "/api/v1/imports/changes", post(api::import_changes)),
        (
            "post",
            "/api/v1/imports/deaths",
            post(people::import_deaths),
        ),
        ("get", "/api/v1/totals", get(api::totals)),
        ("get", "/api/v1/findings", get(api::findings)),
        ("get", "/api/v1/findings/summary", get(findings::summary)),
        ("get", "/api/v1/findings/{id}", get(findings::detail)),
        (
            "post",
            "/api/v1/findings/{id}/resolve",
            post(api::resolve_finding),
        ),
        ("get", "/api/v1/funds", get(api::funds)),
        ("get", "/api/v1/households/{id}", get(people::household)),
        ("get", "/api/v1/households/{id}/trail", get(api::trail)),
        ("get", "/api/v1/log", get(api::log)),
        ("get", "/api/v1/verify", get(api::verify)),
        ("post", "/api/v1/reconcile", post(reconcile::reconcile)),
        ("get", "/api/v1/checkpoint", get(evidence::checkpoint)),
        (
            "get",
            "/api/v1/checkpoint/cosigned",
            get(evidence::cosigned),
        ),
        ("get", "/api/v1/witnesses", get(evidence::witnesses)),
        ("get", "/api/v1/proofs/inclusion", get(evidence::inclusion)),
        (
            "get",
            "/api/v1/proofs/consistency",
            get(evidence::consistency),
        ),
        ("get", "/api/v1/export/events", get(evidence::export_events)),
        ("get", "/api/v1/persons/{id}", get(people::person)),
        ("post", "/api/v1/persons/{id}/reveal", post(people::reveal)),
        ("post", "/api/v1/persons/{id}/erase", post(people::erase)),
        ("get", "/api/v1/tokens", get(api::list_tokens)),
        ("post", "/api/v1/tokens", post(api::add_token)),
        ("delete", "/api/v1/tokens/{name}", delete(api::revoke_token)),
    ]
}

fn router(state: AppState) -> Router {
    let timeout = state.limits.request_timeout;
    let mut router = Router::new();
    for (_, path, handler) in route_table() {
        router = router.route(path, handler);
    }
    router
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::screen_body,
        ))
        .layer(axum::middleware::from_fn(move |req, next| {
            error::with_timeout(timeout, req, next)
        }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Where to serve from.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub ledger_dir: PathBuf,
    pub addr: SocketAddr,
    pub limits: Limits,
}

/// Opens the ledger, binds, reports the bound address, and serves until SIGINT or SIGTERM;
/// then stops accepting, lets in-flight requests finish, commits what was queued and
/// returns. Builds its own runtime: the caller is plain synchronous code.
pub fn run(config: ServeConfig, on_bound: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ServeError::Io(format!("starting the runtime: {e}")))?;
    runtime.block_on(async move {
        let ledger = Ledger::open(&config.ledger_dir)?;
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|e| ServeError::Io(format!("binding {}: {e}", config.addr)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ServeError::Io(e.to_string()))?;
        let server = Server::start(ledger, config.limits)?;
        on_bound(addr);
        server.serve(listener, shutdown_signal()).await
    })
}

/// A started server: the writer thread runs; [`Server::serve`] answers requests.
pub struct Server {
    state: AppState,
    writer: std::thread::JoinHandle<()>,
}

impl Server {
    /// Catches the read models up, loads the tokens and starts the writer and snapshot
    /// threads. A damaged ledger is refused: it could take no write, and its household
    /// list may be incomplete.
    pub fn start(ledger: Ledger, limits: Limits) -> Result<Server, ServeError> {
        Server::start_with_snapshot_hook(ledger, limits, None)
    }

    /// [`Server::start`], with a test seam on the snapshot thread ([`SnapshotHook`]): the
    /// tests make a snapshot's write slow or fail with it.
    pub fn start_with_snapshot_hook(
        ledger: Ledger,
        limits: Limits,
        hook: Option<SnapshotHook>,
    ) -> Result<Server, ServeError> {
        limits.check()?;
        ledger.refuse_if_damaged("the server was not started")?;
        let read_side = ReadSide::open(ledger.view())?;
        let tokens = TokenRegistry::load(&ledger)?;
        let shared = Arc::new(Shared {
            view: RwLock::new(ledger.view().clone()),
            read_side: RwLock::new(read_side),
            tokens: RwLock::new(tokens),
            reconciling: tokio::sync::Mutex::new(()),
            token_changes: tokio::sync::Mutex::new(()),
        });
        let policy = SnapshotPolicy {
            min_lag_events: limits.snapshot_lag_events,
            bytes_per_event: SNAPSHOT_BYTES_PER_EVENT,
        };
        let snapshots =
            snapshots::Snapshots::start(Arc::clone(&shared), ledger.meta_writer(), policy, hook)?;
        // A snapshot the catch-up above left due (after a crash) is written beside the
        // first requests, not before the server listens.
        snapshots.nudge();
        let (writes, jobs) = tokio::sync::mpsc::channel(limits.queue_depth);
        let writer = writer::spawn(ledger, Arc::clone(&shared), jobs, snapshots)?;
        let state = AppState {
            shared,
            writes,
            limits,
        };
        Ok(Server { state, writer })
    }

    /// Serves until `shutdown` resolves, then waits for in-flight requests (at most
    /// [`SHUTDOWN_GRACE`]), closes the queue and waits for the writer to commit what is in
    /// it and save the read models.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Server { state, writer } = self;
        tokio::spawn(tick(
            state.writes.downgrade(),
            state.limits.checkpoint_interval,
        ));
        let limits = state.limits;
        let app = router(state);
        let (stopping, stopped) = tokio::sync::watch::channel(false);
        let signalled = async move {
            shutdown.await;
            let _ = stopping.send(true);
        };
        let serving = conn::accept(listener, app, limits, signalled);
        let grace = grace_after(stopped);
        tokio::select! {
            () = serving => {}
            () = grace => eprintln!("warning: requests still open after the grace period were dropped unanswered"),
        }
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .map_err(|e| ServeError::Io(format!("waiting for the writer: {e}")))?
            .map_err(|_| ServeError::Io("the writer thread panicked".into()))
    }
}

/// How long an HTTP/1.1 client may take to send a complete request head (hyper's header
/// read timeout) before the connection is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection with no request in flight for this long is closed: one that never sends
/// a byte, an HTTP/2 connection that sends its preface and no request, a kept-alive one
/// between requests. As long as the header read timeout: a client gets as long to start
/// a request as to finish its head.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections open at once. Beyond this a new one takes the place of the one idle
/// longest, or is answered 503 at once and closed when every one has a request in flight.
/// While displaced connections close, up to twice this many sockets are open: a quarter of
/// the 1,024 file descriptors a Linux process gets by default keeps that within half,
/// leaving the rest to the store's files and the refusals. Far above what an office's
/// clerks, supervisors and auditors open at once.
pub const MAX_CONNECTIONS: usize = 256;

/// The largest connection cap [`Limits::check`] accepts: the cap is counted in a tokio
/// semaphore, waited on as one u32 at shutdown.
const MAX_CONNECTIONS_CAP: usize = 1 << 20;

/// Queues a checkpoint tick every `interval` until the queue closes. Holds only a weak
/// sender, so it never keeps the queue open at shutdown; a tick that finds the queue full
/// is dropped (the next one comes soon).
async fn tick(writes: tokio::sync::mpsc::WeakSender<writer::Job>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(writes) = writes.upgrade() else {
            return;
        };
        let _ = writes.try_send(writer::Job::Tick);
    }
}

/// Resolves [`SHUTDOWN_GRACE`] after the stop signal; never before it.
async fn grace_after(mut stopped: tokio::sync::watch::Receiver<bool>) {
    if stopped.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(SHUTDOWN_GRACE).await;
}

/// SIGINT (Ctrl-C) or SIGTERM (a service manager's stop).
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

#[cfg(test)]
mod tests {
    //! The edges that need a writer that does not answer: a full queue and a timeout. The
    //! test holds the queue's receiving end itself, so both are deterministic.

    use super::*;
    use crate::keys::tokens::Role;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn stalled_server(limits: Limits) -> (SocketAddr, String, impl Sized) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let ledger = Ledger::init(dir.path()).expect("a new ledger");
        let mut tokens = TokenRegistry::default();
        let secret = tokens
            .issue("clerk", Role::Clerk, 0, [9; 32])
            .expect("a fresh name");
        let shared = Arc::new(Shared {
            view: RwLock::new(ledger.view().clone()),
            read_side: RwLock::new(ReadSide::open(ledger.view()).expect("read side")),
            tokens: RwLock::new(tokens),
            reconciling: tokio::sync::Mutex::new(()),
            token_changes: tokio::sync::Mutex::new(()),
        });
        let (writes, jobs) = tokio::sync::mpsc::channel(limits.queue_depth);
        let state = AppState {
            shared,
            writes,
            limits,
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("port 0");
        let addr = listener.local_addr().expect("bound");
        tokio::spawn(async move { axum::serve(listener, router(state)).await });
        (addr, secret.expose().to_owned(), (jobs, ledger, dir))
    }

    /// Sends one append and returns the raw response head and body.
    async fn append(addr: SocketAddr, token: &str) -> String {
        let body = r#"{"type":"fund_allocation","date":"2018-01-01","program":"micro_wish","amount":"1.00","reference":"A"}"#;
        let request = format!(
            "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .expect("a response");
        response
    }

    #[tokio::test]
    async fn a_full_queue_answers_503_with_retry_after() {
        let limits = Limits {
            queue_depth: 1,
            request_timeout: Duration::from_millis(500),
            ..Limits::default()
        };
        let (addr, token, _keep) = stalled_server(limits).await;
        let first = tokio::spawn({
            let token = token.clone();
            async move { append(addr, &token).await }
        });
        // The first request fills the only slot (nobody drains it); the second finds it full.
        let mut second = String::new();
        for _ in 0..200 {
            second = append(addr, &token).await;
            if second.starts_with("HTTP/1.1 503") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(second.starts_with("HTTP/1.1 503"), "{second}");
        assert!(
            second.to_ascii_lowercase().contains("retry-after: 1"),
            "{second}"
        );
        assert!(second.contains(r#""code":"queue_full""#), "{second}");
        first.abort();
    }

    #[test]
    fn limits_keep_every_request_within_one_group_commit() {
        assert!(Limits::default().check().is_ok());
        let too_big = Limits {
            max_import_rows: GROUP_COMMIT_EVENTS + 1,
            ..Limits::default()
        };
        assert!(matches!(too_big.check(), Err(ServeError::Limits(_))));
        let no_queue = Limits {
            queue_depth: 0,
            ..Limits::default()
        };
        assert!(no_queue.check().is_err());
    }

    #[test]
    fn limits_admit_at_least_one_connection_and_no_zero_timeout() {
        for limits in [
            Limits {
                max_connections: 0,
                ..Limits::default()
            },
            Limits {
                max_connections: MAX_CONNECTIONS_CAP + 1,
                ..Limits::default()
            },
            Limits {
                idle_timeout: Duration::ZERO,
                ..Limits::default()
            },
            Limits {
                header_read_timeout: Duration::ZERO,
                ..Limits::default()
            },
        ] {
            assert!(
                matches!(limits.check(), Err(ServeError::Limits(_))),
                "{limits:?}"
            );
        }
        let one = Limits {
            max_connections: 1,
            ..Limits::default()
        };
        assert!(one.check().is_ok());
    }

    #[tokio::test]
    async fn a_request_the_writer_does_not_answer_in_time_gets_504() {
        let limits = Limits {
            request_timeout: Duration::from_millis(200),
            ..Limits::default()
        };
        let (addr, token, _keep) = stalled_server(limits).await;
        let response = append(addr, &token).await;
        assert!(response.starts_with("HTTP/1.1 504"), "{response}");
        assert!(response.contains(r#""code":"timeout""#), "{response}");
    }
}
