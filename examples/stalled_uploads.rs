//! Hostile-client probe for `fundtrail serve`: N HTTP/2 cleartext connections, each
//! starting an unauthenticated upload with no Content-Length and pushing up to MB mebibytes
//! into it without ever ending it. Reports what each upload was answered, and the server's
//! resident memory (VmRSS of its /proc status) before and while the uploads stall.
//!
//! cargo run --example stalled_uploads -- ADDR SERVER_PID [--uploads 20] [--mb 8] [--hold 5]
//!
//! against `fundtrail --ledger DIR serve --addr ADDR` started beside it (SERVER_PID is its
//! process id). Each upload should be answered 401 at once, with the server's memory
//! about where it was; a server that read the bodies first would hold N × MB.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;

mod common;

use common::{proc_status_kib, Args};

struct Options {
    addr: SocketAddr,
    server_pid: u32,
    uploads: usize,
    mebibytes: usize,
    hold: Duration,
}

fn options() -> Result<Options, String> {
    let args = Args::from_env();
    let usage = "usage: stalled_uploads ADDR SERVER_PID [--uploads N] [--mb MB] [--hold SECONDS]";
    let [addr, pid] = args.positional()[..] else {
        return Err(usage.into());
    };
    Ok(Options {
        addr: addr.parse().map_err(|_| usage)?,
        server_pid: pid.parse().map_err(|_| usage)?,
        uploads: args.flag("--uploads", 20)? as usize,
        mebibytes: args.flag("--mb", 8)? as usize,
        hold: Duration::from_secs(args.flag("--hold", 5)?),
    })
}

/// The server's resident memory in KiB (0 if it cannot be read).
fn rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS:").unwrap_or(0)
}

/// One stalled upload: its answer (status, or what went wrong) within `hold`, and the
/// stream, kept open so that the server holds whatever it took.
async fn upload(
    addr: SocketAddr,
    bytes: usize,
    hold: Duration,
) -> Result<(String, impl Sized), String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let (client, connection) = h2::client::handshake(tcp)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut client = client.ready().await.map_err(|e| e.to_string())?;
    let request = axum::http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}/api/v1/events"))
        .body(())
        .expect("a well-formed request");
    let (response, mut body) = client
        .send_request(request, false)
        .map_err(|e| e.to_string())?;
    let chunk = Bytes::from(vec![b' '; 64 * 1024]);
    let mut sent = 0;
    while sent < bytes {
        body.reserve_capacity(chunk.len());
        let granted = std::future::poll_fn(|cx| body.poll_capacity(cx)).await;
        match granted {
            Some(Ok(_)) => {}
            _ => break,
        }
        if body.send_data(chunk.clone(), false).is_err() {
            break;
        }
        sent += chunk.len();
    }
    let answer = match tokio::time::timeout(hold, response).await {
        Ok(Ok(response)) => format!("{} after {} KiB sent", response.status(), sent / 1024),
        Ok(Err(e)) => format!("error {e} after {} KiB sent", sent / 1024),
        Err(_) => format!("no answer after {} KiB sent", sent / 1024),
    };
    Ok((answer, (client, body)))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let o = options()?;
    let before = rss_kib(o.server_pid);
    let bytes = o.mebibytes * 1024 * 1024;
    let tasks: Vec<_> = (0..o.uploads)
        .map(|_| tokio::spawn(upload(o.addr, bytes, o.hold)))
        .collect();
    let mut kept = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok((answer, stream))) => {
                println!("upload: {answer}");
                kept.push(stream);
            }
            Ok(Err(e)) => println!("upload failed: {e}"),
            Err(e) => println!("upload task failed: {e}"),
        }
    }
    let during = rss_kib(o.server_pid);
    println!(
        "server VmRSS: {:.1} MiB before, {:.1} MiB with {} stalled uploads open",
        before as f64 / 1024.0,
        during as f64 / 1024.0,
        kept.len()
    );
    Ok(())
}
