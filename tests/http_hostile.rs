//! Hostile requests: bodies nobody asked for, over HTTP/1.1 and HTTP/2 cleartext, and the
//! order of 401 before any 400. The generous bounds below only keep a broken server from
//! hanging the test.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use axum::body::Bytes;
use fundtrail::http::{routes, Limits, MAX_BODY_BYTES};
use fundtrail::tokens::Role;
use support::client::Client;
use support::server::{sample_ledger, TestServer, Tokens};

/// A bound on any wait for the server, far above every timeout the tests set: reaching it
/// means the server did not answer or close at all.
const PATIENCE: Duration = Duration::from_secs(20);

fn serve(limits: Limits) -> (tempfile::TempDir, Tokens, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = sample_ledger(dir.path());
    let server = TestServer::start(dir.path(), limits);
    (dir, tokens, server)
}

/// Limits whose request timeout is long, so that a server waiting for a body would answer
/// 504 only long after `PATIENCE`.
fn quick() -> Limits {
    Limits {
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
    let mut client = client.ready().await.unwrap();
    let request = h2_request(addr, "GET", "/api/v1/status", Some(clerk));
    let (response, _) = client.send_request(request, true).unwrap();
    let response = tokio::time::timeout(PATIENCE, response)
        .await
        .unwrap()
        .unwrap();
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
