//! Hostile connections: bodies nobody asked for, over HTTP/1.1 and HTTP/2 cleartext;
//! connections that never say anything; floods of them; and the order of 401 before any
//! 400. Timeouts are set short through `Limits`, so each test takes a few seconds; the
//! generous bounds below only keep a broken server from hanging the test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::support::client::Client;
use crate::support::server::{sample_ledger, TestServer, Tokens};
use axum::body::Bytes;
use fundtrail::http::{routes, Limits, MAX_BODY_BYTES};
use fundtrail::keys::tokens::Role;

/// A bound on any wait for the server, far above every timeout the tests set: reaching it
/// means the server did not answer or close at all.
const PATIENCE: Duration = Duration::from_secs(20);

fn serve(limits: Limits) -> (tempfile::TempDir, Tokens, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = sample_ledger(dir.path());
    let server = TestServer::start(dir.path(), limits);
    (dir, tokens, server)
}

/// Limits whose idle timeouts run out within a second. The request timeout stays long,
/// so that a server waiting for a body would answer 504 only long after `PATIENCE`.
fn quick() -> Limits {
    Limits {
        idle_timeout: Duration::from_secs(1),
        header_read_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(120),
        ..Limits::default()
    }
}

// ---- HTTP/2 cleartext ----

type H2 = h2::client::SendRequest<Bytes>;

/// An HTTP/2 connection with prior knowledge (no upgrade), as `curl --http2-prior-knowledge`.
async fn h2c(addr: SocketAddr) -> (H2, tokio::task::JoinHandle<Result<(), h2::Error>>) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    (client, tokio::spawn(connection))
}

fn h2_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> axum::http::Request<()> {
    let mut request = axum::http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(()).unwrap()
}

/// Starts a request whose body streams with no Content-Length and never ends; returns
/// its status and body text, or panics if none comes within `PATIENCE`.
async fn streamed_without_end(
    client: H2,
    request: axum::http::Request<()>,
    bytes: usize,
) -> (u16, String) {
    let mut client = client.ready().await.unwrap();
    let (response, mut body) = client.send_request(request, false).unwrap();
    let sender = tokio::spawn(async move {
        let chunk = Bytes::from(vec![b' '; 64 * 1024]);
        let mut sent = 0;
        while sent < bytes {
            if body.send_data(chunk.clone(), false).is_err() {
                break;
            }
            sent += chunk.len();
            tokio::task::yield_now().await;
        }
        // Keeps the stream open, its end never sent.
        body
    });
    let response = tokio::time::timeout(PATIENCE, response)
        .await
        .expect("an answer before the body ends")
        .unwrap();
    let status = response.status().as_u16();
    let text = read_h2_body(response.into_body()).await;
    drop(sender);
    (status, text)
}

/// The answer to `GET /api/v1/status` with `token` on an HTTP/2 connection, within
/// [`PATIENCE`].
async fn h2_status(
    client: H2,
    addr: SocketAddr,
    token: &str,
) -> axum::http::Response<h2::RecvStream> {
    let mut client = client.ready().await.unwrap();
    let request = h2_request(addr, "GET", "/api/v1/status", Some(token));
    let (response, _) = client.send_request(request, true).unwrap();
    tokio::time::timeout(PATIENCE, response)
        .await
        .unwrap()
        .unwrap()
}

async fn read_h2_body(mut body: h2::RecvStream) -> String {
    let mut bytes = Vec::new();
    while let Some(chunk) = tokio::time::timeout(PATIENCE, body.data()).await.unwrap() {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).unwrap()
}

fn code(body: &str) -> String {
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    value["code"].as_str().unwrap_or_default().to_owned()
}

/// An HTTP/2 request may announce no length and no transfer coding: it is screened all
/// the same, by its method or its open stream, and refused before any of it is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_h2c_stream_gets_401_before_its_body_is_read() {
    let (_dir, tokens, server) = serve(quick());
    let addr = server.addr;
    for (method, path) in [
        ("POST", "/api/v1/events"),
        ("POST", "/api/v1/imports/events"),
        ("POST", "/api/v1/reconcile"),
        // A method that takes no body, with one, on a page that needs no token.
        ("GET", "/"),
        ("DELETE", "/api/v1/tokens/clerk-1"),
        ("PUT", "/api/v1/nothing-here"),
    ] {
        let (client, _connection) = h2c(addr).await;
        let request = h2_request(addr, method, path, None);
        let (status, body) = streamed_without_end(client, request, 4 * 1024 * 1024).await;
        assert_eq!(
            (status, code(&body)),
            (401, "unauthorized".into()),
            "{method} {path}"
        );
    }
    let (client, _connection) = h2c(addr).await;
    let request = h2_request(addr, "POST", "/api/v1/events", Some(&tokens.revoked));
    let (status, _) = streamed_without_end(client, request, 1024 * 1024).await;
    assert_eq!(status, 401, "a revoked token");
    server.stop();
}

/// A body too large is refused when its length is announced, and cut off at the limit
/// when it streams without one; the server still takes the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2c_body_over_the_limit_gets_413_announced_or_streamed() {
    let (_dir, tokens, server) = serve(quick());
    let addr = server.addr;
    let clerk = tokens.of(Role::Clerk);

    let (client, _connection) = h2c(addr).await;
    let mut request = h2_request(addr, "POST", "/api/v1/events", Some(clerk));
    request
        .headers_mut()
        .insert("content-length", (MAX_BODY_BYTES + 1).into());
    let (status, body) = streamed_without_end(client, request, 64 * 1024).await;
    assert_eq!((status, code(&body)), (413, "payload_too_large".into()));

    let (client, _connection) = h2c(addr).await;
    let request = h2_request(addr, "POST", "/api/v1/events", Some(clerk));
    let (status, body) = streamed_without_end(client, request, MAX_BODY_BYTES * 2).await;
    assert_eq!((status, code(&body)), (413, "payload_too_large".into()));

    let (client, _connection) = h2c(addr).await;
    let response = h2_status(client, addr, clerk).await;
    assert_eq!(response.status(), 200);
    server.stop();
}

/// Over HTTP/1.1, a chunked body (no Content-Length) is screened as an announced one is.
#[test]
fn an_unauthenticated_chunked_body_gets_401_before_it_is_read() {
    let (_dir, _tokens, server) = serve(quick());
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
        .write_all(
            b"POST /api/v1/imports/households HTTP/1.1\r\nHost: x\r\n\
              Transfer-Encoding: chunked\r\n\r\n10000\r\nhousehold_id,",
        )
        .unwrap();
    let mut head = [0u8; 12];
    stream
        .read_exact(&mut head)
        .expect("an answer within PATIENCE");
    assert_eq!(&head, b"HTTP/1.1 401");
    server.stop();
}

// ---- silent and idle connections ----

/// Reads until the server closes the connection; panics if it is still open after
/// `PATIENCE`. Returns what the server sent first.
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut seen = Vec::new();
    match stream.read_to_end(&mut seen) {
        Ok(_) => seen,
        // A reset is a close too (the server dropped a connection it had not read).
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => seen,
        Err(e) => panic!("still open after {PATIENCE:?}: {e}"),
    }
}

#[test]
fn a_connection_that_sends_nothing_is_closed_after_the_idle_timeout() {
    let (_dir, _tokens, server) = serve(quick());
    let mut silent = TcpStream::connect(server.addr).unwrap();
    let seen = read_until_closed(&mut silent);
    assert!(seen.is_empty(), "{}", String::from_utf8_lossy(&seen));
    server.stop();
}

/// The HTTP/2 preface and SETTINGS, then nothing: not even the answers to the server's
/// SETTINGS and its PING. The server greets, waits out the idle timeout and hangs up.
#[test]
fn an_h2c_connection_that_sends_only_its_preface_is_closed() {
    let (_dir, _tokens, server) = serve(quick());
    let mut silent = TcpStream::connect(server.addr).unwrap();
    silent
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .unwrap();
    // An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
    silent.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    let seen = read_until_closed(&mut silent);
    assert!(
        seen.len() >= 9 && seen[3] == 4,
        "the server's SETTINGS first: {seen:?}"
    );
    // GOAWAY (type 7) said why before the close.
    assert!(frames(&seen).contains(&7), "{:?}", frames(&seen));
    server.stop();
}

/// The types of the HTTP/2 frames in `bytes`.
fn frames(mut bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while bytes.len() >= 9 {
        let length =
            (usize::from(bytes[0]) << 16) | (usize::from(bytes[1]) << 8) | usize::from(bytes[2]);
        types.push(bytes[3]);
        bytes = &bytes[(9 + length).min(bytes.len())..];
    }
    types
}

/// After its answer, a kept-alive HTTP/1.1 connection that sends no next request is
/// closed; so is an HTTP/2 connection whose requests are all answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_kept_alive_connections_are_closed_on_both_protocols() {
    let (_dir, tokens, server) = serve(quick());
    let addr = server.addr;
    let token = tokens.of(Role::Auditor).to_owned();
    let kept = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        let request = format!(
            "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        read_until_closed(&mut stream)
    });
    let seen = String::from_utf8(kept.await.unwrap()).unwrap();
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");

    let (client, connection) = h2c(addr).await;
    let response = h2_status(client, addr, tokens.of(Role::Auditor)).await;
    assert_eq!(response.status(), 200);
    read_h2_body(response.into_body()).await;
    let closed = tokio::time::timeout(PATIENCE, connection).await;
    assert!(closed.is_ok(), "the HTTP/2 connection is still open");
    server.stop();
}

/// A connection with a request in flight is not idle, however quiet: a body that pauses
/// longer than the idle timeout is still read and answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_in_flight_is_not_cut_off_as_idle() {
    let limits = quick();
    let (_dir, tokens, server) = serve(limits);
    let addr = server.addr;
    let (client, _connection) = h2c(addr).await;
    let mut client = client.ready().await.unwrap();
    let request = h2_request(addr, "POST", "/api/v1/events", Some(tokens.of(Role::Clerk)));
    let (response, mut body) = client.send_request(request, false).unwrap();
    let event = serde_json::json!({
        "date": "2018-03-01", "type": "disbursement", "household_id": "PL-0002",
        "program": "support_allowance", "amount": "1.00", "persons": 1, "reference": "SLOW-1",
    })
    .to_string();
    let (first, rest) = event.split_at(10);
    body.send_data(Bytes::from(first.to_owned()), false)
        .unwrap();
    tokio::time::sleep(limits.idle_timeout * 2).await;
    body.send_data(Bytes::from(rest.to_owned()), true).unwrap();
    let response = tokio::time::timeout(PATIENCE, response)
        .await
        .unwrap()
        .unwrap();
    let status = response.status().as_u16();
    let text = read_h2_body(response.into_body()).await;
    assert_eq!(status, 201, "{text}");
    server.stop();
}

/// A client that asks for many answers and reads none is closed all the same: hyper takes
/// each answer whole, so nothing stays in flight while its writes wait, and the connection
/// is idle. It is closed with answers still unsent.
#[test]
fn a_client_that_stops_reading_is_closed_as_idle() {
    const REQUESTS: usize = 400;
    let (_dir, _tokens, server) = serve(quick());
    let document =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json")).unwrap();
    // Far more than the two sockets' buffers hold, so the server's writes stop.
    let all = REQUESTS * document.len();
    let mut reader = TcpStream::connect(server.addr).unwrap();
    let requests = "GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n".repeat(REQUESTS);
    reader.write_all(requests.as_bytes()).unwrap();
    // Not reading for a while: twice the idle timeout and the second it gets to close.
    std::thread::sleep(Duration::from_secs(4));
    reader.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut received = 0;
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => received += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("still open after {PATIENCE:?}: {e}"),
        }
    }
    assert!(
        received < all,
        "{received} of {all} bytes: the reader that stopped was served in full"
    );
    server.stop();
}

// ---- the connection cap ----

/// Reads the 503 a connection over the cap is answered with.
fn refusal(addr: SocketAddr) -> String {
    let mut over = TcpStream::connect(addr).unwrap();
    String::from_utf8(read_until_closed(&mut over)).unwrap()
}

/// A connection with a request in flight: an append whose head is sent with
/// `Expect: 100-continue` and whose body never comes. The server's `100 Continue` says the
/// handler is waiting for the body, so the request is in flight for certain.
fn busy(addr: SocketAddr, token: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let head = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = [0u8; 25];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream
}

/// Limits with a small cap and an idle timeout far beyond `PATIENCE`: whatever closes a
/// connection in these tests, it is not the idle timer.
fn capped(max_connections: usize) -> Limits {
    Limits {
        max_connections,
        idle_timeout: Duration::from_secs(120),
        ..quick()
    }
}

/// When every place is taken by a request in flight, a newcomer is answered 503 at once;
/// a place given up is taken by the next client.
#[test]
fn a_connection_over_a_cap_of_busy_ones_gets_503() {
    let (_dir, tokens, server) = serve(capped(2));
    let clerk = tokens.of(Role::Clerk);
    let first = busy(server.addr, clerk);
    let second = busy(server.addr, clerk);
    let answer = refusal(server.addr);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert_eq!(code(body), "unavailable", "{answer}");

    drop(first);
    let status = served_within_patience(server.addr, tokens.of(Role::Auditor));
    assert_eq!(status, 200);
    // Its request would otherwise hold the graceful stop until the request timeout.
    drop(second);
    server.stop();
}

/// At the cap, a newcomer takes the place of the connection idle longest, which is
/// closed long before its idle timeout; the others stay open.
#[test]
fn at_the_cap_a_newcomer_displaces_the_connection_idle_longest() {
    let (_dir, tokens, server) = serve(capped(2));
    let mut oldest = TcpStream::connect(server.addr).unwrap();
    let mut younger = TcpStream::connect(server.addr).unwrap();
    let status = served_within_patience(server.addr, tokens.of(Role::Auditor));
    assert_eq!(status, 200);
    assert!(read_until_closed(&mut oldest).is_empty());
    younger
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let still_open = younger.read(&mut [0u8; 1]);
    assert!(
        still_open.as_ref().is_err_and(|e| matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )),
        "{still_open:?}"
    );
    server.stop();
}

/// Asks for the status until it is answered other than 503 (a refusal, or a refused
/// connection's reset); returns that status, or 0 if none came within `PATIENCE` (every
/// wait, the read of an answer included, ends by then, so a client kept waiting in the
/// server's backlog counts as not served).
fn served_within_patience(addr: SocketAddr, token: &str) -> u16 {
    let deadline = std::time::Instant::now() + PATIENCE;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match status_within(addr, token, left) {
            Ok(503) | Err(_) => std::thread::sleep(Duration::from_millis(50)),
            Ok(status) => return status,
        }
    }
    0
}

fn status_within(addr: SocketAddr, token: &str, limit: Duration) -> std::io::Result<u16> {
    use std::io::BufRead;
    let mut stream = TcpStream::connect_timeout(&addr, limit)?;
    stream.set_read_timeout(Some(limit))?;
    let request = format!(
        "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;
    let mut line = String::new();
    std::io::BufReader::new(stream).read_line(&mut line)?;
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line: {line:?}")))
}

/// 300 sockets that never send a byte against a cap of 32, and more arriving all the
/// while: real clients are answered, and every silent socket of the first 300 is
/// displaced or refused long before the (two-minute) idle timeout could have closed it.
#[test]
fn a_flood_of_silent_sockets_does_not_stop_a_real_client() {
    const FLOOD: usize = 300;
    /// Sockets the background flood holds open at once.
    const HELD: usize = 200;
    let (_dir, tokens, server) = serve(capped(32));
    let addr = server.addr;
    let flood: Vec<TcpStream> = (0..FLOOD)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let flooding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let more = std::thread::spawn({
        let flooding = flooding.clone();
        move || {
            let mut held = std::collections::VecDeque::new();
            let mut opened = 0;
            while flooding.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(socket) = TcpStream::connect(addr) {
                    held.push_back(socket);
                    opened += 1;
                }
                if held.len() > HELD {
                    held.pop_front();
                }
            }
            opened
        }
    });
    for _ in 0..5 {
        let status = served_within_patience(addr, tokens.of(Role::Auditor));
        assert_eq!(status, 200);
    }
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(more.join().unwrap() > 0);
    // A second wave displaces whatever of the first still holds a place (the first wave
    // is the oldest idle, so it goes first), however few the background flood opened.
    let second: Vec<TcpStream> = (0..FLOOD)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    for mut socket in flood {
        let seen = read_until_closed(&mut socket);
        assert!(
            seen.is_empty() || seen.starts_with(b"HTTP/1.1 503"),
            "{}",
            String::from_utf8_lossy(&seen)
        );
    }
    drop(second);
    server.stop();
}

/// `fundtrail serve` as a child process whose file limit is 128, far below its cap of 256
/// and below the 300 silent sockets sent at it, with the default 30 s idle timeout: the
/// server runs out of descriptors before it reaches its cap, makes room by displacing the
/// connection idle longest, and a real client is answered well within the idle timeout.
#[test]
fn a_server_out_of_descriptors_still_answers_a_real_client() {
    use std::io::BufRead;
    const FLOOD: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let tokens = sample_ledger(dir.path());
    let mut child = std::process::Command::new("sh")
        .args(["-c", "ulimit -n 128 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_fundtrail"))
        .arg("--ledger")
        .arg(dir.path())
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sh and fundtrail start");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped");
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    let flood: Vec<TcpStream> = (0..FLOOD)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let status = served_within_patience(addr, tokens.of(Role::Auditor));
    drop(flood);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200);
}

// ---- 401 first, and the JSON error shape ----

/// Without a token, every API route answers 401, whatever is wrong with its path or query:
/// the caller learns nothing about parameters they may not use.
#[test]
fn without_a_token_every_route_answers_401_before_any_400() {
    let (_dir, _tokens, server) = serve(quick());
    let mut anonymous = Client::new(server.addr, None);
    for (method, template) in routes() {
        if !template.starts_with("/api/") {
            continue;
        }
        let path = template.replace("{id}", "%FF").replace("{name}", "%FF");
        for query in ["", "?bogus=1", "?seq=x&from=y&size=-1&limit=many"] {
            let target = format!("{path}{query}");
            let reply = anonymous
                .send(&method.to_uppercase(), &target, "", None)
                .unwrap();
            assert_eq!(
                (reply.status, reply.code()),
                (401, "unauthorized".into()),
                "{method} {target}"
            );
        }
    }
    for path in ["/api/v1/proofs/inclusion", "/api/v1/proofs/consistency"] {
        let reply = anonymous.get(path).unwrap();
        assert_eq!(reply.status, 401, "{path} without its parameters");
    }
    server.stop();
}

#[test]
fn a_path_that_is_not_utf8_gets_the_json_error() {
    let (_dir, tokens, server) = serve(quick());
    for (role, method, path) in [
        (Role::Supervisor, "GET", "/api/v1/households/%FF"),
        (Role::Auditor, "GET", "/api/v1/households/%C3%28/trail"),
        (Role::Admin, "DELETE", "/api/v1/tokens/%FF"),
    ] {
        let reply = Client::new(server.addr, Some(tokens.of(role)))
            .send(method, path, "", None)
            .unwrap();
        assert_eq!(
            (reply.status, reply.code()),
            (400, "bad_request".into()),
            "{path}"
        );
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }
    server.stop();
}
