//! `fundtrail serve` as a child process, stopped with SIGTERM in the middle of a load:
//! it exits 0, the chain verifies, and every acknowledged event is in the ledger once.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::client::Client;
use crate::support::server::sample_ledger;
use crate::support::{binary, binary_without_ledger, run_command};
use fundtrail::ledger::Ledger;
use fundtrail::model::domain::Seq;
use serde_json::json;

const CLIENTS: usize = 6;
/// Each client stops after this many appends even if the server never stops.
const MAX_APPENDS_PER_CLIENT: usize = 2_000;
/// SIGTERM is sent once this many appends were acknowledged.
const ACKED_BEFORE_SIGNAL: usize = 150;
const DEADLINE: Duration = Duration::from_secs(60);

pub(crate) fn start_server(dir: &std::path::Path) -> (Child, SocketAddr) {
    let mut child = binary_without_ledger()
        .arg("--ledger")
        .arg(dir)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("fundtrail serve starts");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped");
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    (child, addr)
}

/// Appends until the server stops answering; returns the acknowledged references.
fn load(addr: SocketAddr, token: String, client: usize, acked: Arc<AtomicUsize>) -> Vec<String> {
    let mut http = Client::new(addr, Some(&token));
    let mut acknowledged = Vec::new();
    for i in 0..MAX_APPENDS_PER_CLIENT {
        let reference = format!("S{client}-{i}");
        let event = json!({
            "date": "2019-02-28", "type": "disbursement", "household_id": "PL-0001",
            "program": "support_allowance", "amount": "1.00", "reference": reference,
        });
        match http.post_json("/api/v1/events", &event) {
            Ok(reply) if reply.status == 201 => {
                acknowledged.push(reference);
                acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(reply) if reply.status == 503 => break,
            Ok(reply) => panic!("unexpected answer {} {}", reply.status, reply.body),
            // Refused or reset: the server has stopped accepting.
            Err(_) => break,
        }
    }
    acknowledged
}

fn wait_with_deadline(child: &mut Child) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("fundtrail serve did not stop within {DEADLINE:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_during_a_load_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = sample_ledger(dir.path());
    let (mut child, addr) = start_server(dir.path());
    let acked = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (token, acked) = (tokens.clerk.clone(), acked.clone());
            std::thread::spawn(move || load(addr, token, c, acked))
        })
        .collect();

    let started = Instant::now();
    while acked.load(Ordering::Relaxed) < ACKED_BEFORE_SIGNAL && started.elapsed() < DEADLINE {
        std::thread::sleep(Duration::from_millis(5));
    }
    let signalled = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let status = wait_with_deadline(&mut child);
    assert_eq!(status.code(), Some(0), "serve exits 0 after SIGTERM");

    let acknowledged: BTreeSet<String> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert!(acknowledged.len() >= ACKED_BEFORE_SIGNAL);
    assert!(
        acknowledged.len() < CLIENTS * MAX_APPENDS_PER_CLIENT,
        "the signal came during the load"
    );

    run_command(binary(dir.path()).arg("verify")).assert_ok();

    let ledger = Ledger::open(dir.path()).unwrap();
    let mut committed = BTreeSet::new();
    for item in ledger.view().records(Seq::FIRST, Seq::new(u64::MAX)) {
        let (_, _, record) = item.unwrap();
        if record.reference.starts_with('S') {
            assert!(
                committed.insert(record.reference.clone()),
                "{} twice",
                record.reference
            );
        }
    }
    eprintln!(
        "acknowledged {}, committed {} (the rest were refused or cut off unacknowledged)",
        acknowledged.len(),
        committed.len()
    );
    let lost: Vec<_> = acknowledged.difference(&committed).collect();
    assert!(
        lost.is_empty(),
        "acknowledged but not in the ledger: {lost:?}"
    );
    let signed = ledger
        .view()
        .latest_checkpoint()
        .unwrap()
        .unwrap()
        .checkpoint
        .size;
    assert_eq!(
        signed,
        ledger.view().head().size,
        "the server signed its final head"
    );
}
