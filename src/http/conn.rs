//! Connections: the accept loop, the cap on how many are open at once, and closing the
//! ones with nothing to do.
//!
//! Each connection counts its requests in flight, from the request head until hyper has
//! taken the last byte of the response body (a body sent whole is taken at once, a
//! streamed export as the client reads it). One that has none for [`Limits::idle_timeout`] is closed, whatever its
//! protocol and whether it ever sent a byte: a new connection that stays silent, an HTTP/2
//! connection that sent its preface and no request, a kept-alive one. Without that, silent
//! sockets would hold the server's file descriptors for as long as their clients liked.
//!
//! At the cap, a new connection takes the place of the one that has been idle longest
//! ([`IdleSet`]); only when every connection has a request in flight is it refused. So a
//! flood of silent sockets, however fast it reconnects, only ever displaces its own (and
//! idle kept-alive connections, whose clients reconnect), never a request being served.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};

use super::{Limits, RETRY_AFTER_SECS};

/// The pause after a failed accept (out of file descriptors, or a connection reset before
/// it was accepted): long enough not to spin, as `axum::serve` does, and for a displaced
/// connection to give its descriptor back.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// How long a connection being closed (idle, or at shutdown) may take to say goodbye with
/// no request in flight: an HTTP/2 client is sent GOAWAY and a PING it should answer, and
/// one that does not is dropped after this.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// How long a connection that displaced an idle one waits for the place to be given up:
/// the displaced connection gets [`CLOSE_GRACE`] to close, and this a little more.
const DISPLACE_WAIT: Duration = Duration::from_secs(2);

/// An HTTP/2 client that has sent nothing for this long is pinged (hyper's server pings
/// idle connections too), so that a peer that vanished mid-request (a cable pulled, a
/// laptop closed) is noticed.
const HTTP2_PING_INTERVAL: Duration = Duration::from_secs(20);

/// A PING not acknowledged within this closes the HTTP/2 connection.
const HTTP2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Accepts connections until `signalled` resolves, then lets the open ones finish their
/// requests. At most [`Limits::max_connections`] are open at once; beyond that a new
/// connection displaces the longest idle one, or, when none is idle, is answered 503 at
/// once and closed ([`refuse`]).
pub(super) async fn accept(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    signalled: impl Future<Output = ()>,
) {
    let builder = Arc::new(builder(&limits));
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let idle = Arc::new(IdleSet::default());
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(signalled);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let one = One {
                        builder: Arc::clone(&builder),
                        app: app.clone(),
                        idle_timeout: limits.idle_timeout,
                        idle: Arc::clone(&idle),
                        stopping: stopping.clone(),
                    };
                    match Arc::clone(&open).try_acquire_owned() {
                        Ok(place) => {
                            // In the idle set from now, in the order of arrival: a newcomer
                            // right behind finds it there even before its task first runs.
                            let standing = Standing::enter(&idle);
                            tokio::spawn(one.serve(stream, place, Some(standing)));
                        }
                        Err(_) if idle.displace_oldest() => {
                            tokio::spawn(one.serve_when_displaced(stream, Arc::clone(&open)));
                        }
                        Err(_) => refuse(stream),
                    }
                }
                // Most likely out of file descriptors (the process's limit is below the
                // cap): the connection idle longest makes room, as at the cap.
                Err(_) => {
                    idle.displace_oldest();
                    tokio::time::sleep(ACCEPT_RETRY).await;
                }
            },
            () = &mut signalled => break,
        }
    }
    drop(listener);
    let _ = stop.send(true);
    // Every open connection holds a permit until it ends; `Limits::check` keeps the cap
    // within a u32.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = open.acquire_many(all).await;
}

/// HTTP/1.1 and HTTP/2 cleartext, as the client's first bytes say, with timers: hyper's
/// own header read timeout for HTTP/1.1 and keep-alive pings for HTTP/2.
fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_PING_INTERVAL)
        .keep_alive_timeout(HTTP2_PING_TIMEOUT);
    builder
}

/// The answer to a connection over the cap: written without reading the request (the
/// server has no room to), in HTTP/1.1, then the connection is closed.
static REFUSAL: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let body = serde_json::json!({
        "code": "unavailable",
        "message": format!(
            "the server has as many connections open as it takes; retry after {RETRY_AFTER_SECS} s"
        ),
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: {RETRY_AFTER_SECS}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

/// Answers 503 and closes, without waiting: a fresh socket's send buffer takes the few
/// hundred bytes at once, and a client that cannot take them gets nothing rather than a
/// task of ours.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(&REFUSAL);
}

/// One accepted connection and what it needs.
struct One {
    builder: Arc<auto::Builder<TokioExecutor>>,
    app: Router,
    idle_timeout: Duration,
    idle: Arc<IdleSet>,
    stopping: watch::Receiver<bool>,
}

impl One {
    /// Serves a connection that displaced an idle one once that one has given up its
    /// place; refuses it if the place went elsewhere meanwhile.
    async fn serve_when_displaced(self, stream: TcpStream, open: Arc<Semaphore>) {
        match tokio::time::timeout(DISPLACE_WAIT, open.acquire_owned()).await {
            Ok(Ok(place)) => self.serve(stream, place, None).await,
            _ => refuse(stream),
        }
    }

    /// Serves the connection until the client closes it, it sits idle for the idle
    /// timeout or is displaced, or the server stops; all but the first close it gracefully
    /// (in-flight requests finish, HTTP/2 clients get GOAWAY), and drop it after
    /// [`CLOSE_GRACE`] with no request in flight. `_place` under the cap is given back
    /// when it ends.
    async fn serve(
        mut self,
        stream: TcpStream,
        _place: OwnedSemaphorePermit,
        standing: Option<Standing>,
    ) {
        let (busy, mut requests) = watch::channel(0usize);
        let service = Counted {
            app: TowerToHyperService::new(self.app.clone()),
            busy: Arc::new(busy),
        };
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let stopping = &mut self.stopping;
        let mut idle = match standing {
            Some(standing) => Idle {
                set: &self.idle,
                displaced: standing.displaced,
                entered: Some(standing.ticket),
            },
            None => Idle::new(&self.idle),
        };
        tokio::select! {
            // A client that goes away mid-request is its own business.
            _ = connection.as_mut() => return,
            () = idle.wait(&mut requests, self.idle_timeout) => {}
            _ = stopping.wait_for(|stop| *stop) => {}
        }
        connection.as_mut().graceful_shutdown();
        let mut closing = Idle::new(&self.idle);
        tokio::select! {
            _ = connection.as_mut() => {}
            () = closing.wait(&mut requests, CLOSE_GRACE) => {}
        }
    }
}

/// A connection's watch over its own idleness.
struct Idle<'a> {
    set: &'a IdleSet,
    /// Woken when a newcomer at the cap displaces this connection.
    displaced: Arc<Notify>,
    /// The ticket of a connection put in the set when it was accepted.
    entered: Option<u64>,
}

/// A connection that ends before its first idle wait (its client closed at once) leaves
/// the set all the same.
impl Drop for Idle<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.entered.take() {
            self.set.leave(ticket);
        }
    }
}

/// A connection's place in the [`IdleSet`] from the moment it is accepted.
struct Standing {
    ticket: u64,
    displaced: Arc<Notify>,
}

impl Standing {
    fn enter(set: &IdleSet) -> Standing {
        let displaced = Arc::new(Notify::new());
        Standing {
            ticket: set.enter(&displaced),
            displaced,
        }
    }
}

impl<'a> Idle<'a> {
    fn new(set: &'a IdleSet) -> Idle<'a> {
        Idle {
            set,
            displaced: Arc::new(Notify::new()),
            entered: None,
        }
    }

    /// Resolves once no request has been in flight for `limit` in a row, or when the
    /// connection, idle, is displaced. While idle it stands in the [`IdleSet`].
    async fn wait(&mut self, requests: &mut watch::Receiver<usize>, limit: Duration) {
        loop {
            let in_flight = *requests.borrow_and_update();
            let changed = if in_flight == 0 {
                let ticket = match self.entered.take() {
                    Some(ticket) => ticket,
                    None => self.set.enter(&self.displaced),
                };
                let _leave = Leave(self.set, ticket);
                tokio::select! {
                    changed = requests.changed() => changed,
                    () = tokio::time::sleep(limit) => return,
                    () = self.displaced.notified() => return,
                }
            } else {
                if let Some(ticket) = self.entered.take() {
                    self.set.leave(ticket);
                }
                requests.changed().await
            };
            // The count's sender lives as long as the connection: gone means nothing more.
            if changed.is_err() {
                return;
            }
        }
    }
}

/// The connections with no request in flight, by when they became idle: at the cap, the
/// one idle longest gives its place to a newcomer. Locked for a map operation only.
#[derive(Default)]
struct IdleSet(Mutex<IdleEntries>);

#[derive(Default)]
struct IdleEntries {
    next_ticket: u64,
    by_age: BTreeMap<u64, Arc<Notify>>,
}

impl IdleSet {
    /// The map stays whole whatever a panicking holder was doing: each operation is one
    /// insert or remove.
    fn entries(&self) -> std::sync::MutexGuard<'_, IdleEntries> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn enter(&self, displaced: &Arc<Notify>) -> u64 {
        let mut entries = self.entries();
        let ticket = entries.next_ticket;
        entries.next_ticket += 1;
        entries.by_age.insert(ticket, Arc::clone(displaced));
        ticket
    }

    fn leave(&self, ticket: u64) {
        self.entries().by_age.remove(&ticket);
    }

    /// Tells the connection idle longest to close; false when none is idle. (A notice to
    /// one that has just become busy is kept until its next idle wait, which it then ends
    /// at once: a rare early close of an idle connection, never of a request.)
    fn displace_oldest(&self) -> bool {
        match self.entries().by_age.pop_first() {
            Some((_, displaced)) => {
                displaced.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Takes a connection out of the [`IdleSet`] when its idle wait ends, however it ends.
struct Leave<'a>(&'a IdleSet, u64);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.leave(self.1);
    }
}

/// The application, counting requests in flight on one connection.
#[derive(Clone)]
struct Counted {
    app: TowerToHyperService<Router>,
    busy: Arc<watch::Sender<usize>>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Counted {
    type Response = hyper::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::enter(&self.busy);
        let answer = self.app.call(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| {
                Body::new(Counting {
                    body,
                    _in_flight: in_flight,
                })
            }))
        })
    }
}

/// One request in flight, until dropped.
struct InFlight(Arc<watch::Sender<usize>>);

impl InFlight {
    fn enter(busy: &Arc<watch::Sender<usize>>) -> InFlight {
        busy.send_modify(|n| *n += 1);
        InFlight(Arc::clone(busy))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A response body that keeps its request counted until hyper has taken (or dropped) it:
/// a streamed export is in flight until its last byte. A body sent whole is taken at once,
/// so a client that stops reading it leaves its connection idle, to be closed as such.
struct Counting {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for Counting {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
