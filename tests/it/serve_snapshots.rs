//! The server's snapshot thread: appends are acknowledged while a snapshot's write is slow
//! or fails, the final snapshot is written at shutdown, and a server killed while writing
//! snapshots leaves a ledger whose read side, reopened, equals a rebuild.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::serve_sigterm::start_server;
use crate::support::client::Client;
use crate::support::server::{sample_ledger, TestServer};
use crate::support::{binary, run_command};
use fundtrail::http::{Limits, SnapshotHook};
use fundtrail::ledger::readmodels::{
    snapshot_records, stored_records, Part, ReadSide, META_FINDINGS,
};
use fundtrail::ledger::Ledger;

/// The test gives up on a hook that was never called after this long (a hang, not a
/// measure: every assertion is on counts and states).
const PATIENCE: Duration = Duration::from_secs(120);

/// A snapshot is due after this many events in these tests.
const LAG: u64 = 3;

fn limits() -> Limits {
    Limits {
        snapshot_lag_events: LAG,
        ..Limits::default()
    }
}

/// Appends `count` payments of ¥1.00 to PL-0001; every one must be acknowledged.
fn append_all(client: &mut Client, from: usize, count: usize) {
    append_to(client, "PL-0001", from, count);
}

/// Appends `count` payments of ¥1.00 to `household`; every one must be acknowledged.
fn append_to(client: &mut Client, household: &str, from: usize, count: usize) {
    for i in from..from + count {
        let event = json!({
            "date": "2019-02-28", "type": "disbursement", "household_id": household,
            "program": "support_allowance", "amount": "1.00", "reference": format!("SNAP-{i}"),
        });
        let reply = client.post_json("/api/v1/events", &event).unwrap();
        assert_eq!(reply.status, 201, "append {i}: {}", reply.body);
    }
}

/// Whether both stored snapshot parts are those of a rebuild at the head, byte for byte.
fn snapshot_at_head(dir: &std::path::Path) -> (bool, bool) {
    let ledger = Ledger::open(dir).unwrap();
    let view = ledger.view();
    let rebuilt = ReadSide::rebuild(view).unwrap();
    let models = stored_records(view).unwrap() == snapshot_records(rebuilt.models());
    let findings = view.meta(META_FINDINGS).unwrap().as_deref()
        == rebuilt.snapshot(true).unwrap().findings_bytes();
    (models, findings)
}

/// The read side of the ledger in `dir`, reopened from its snapshot and caught up, equals
/// a rebuild from genesis.
fn assert_reopened_equals_rebuild(dir: &std::path::Path) {
    let ledger = Ledger::open(dir).unwrap();
    let reopened = ReadSide::open(ledger.view()).unwrap();
    let rebuilt = ReadSide::rebuild(ledger.view()).unwrap();
    reopened.compare(&rebuilt).unwrap();
}

/// A hook whose first call blocks until the test releases it; it counts every call.
fn blocking_hook() -> (
    SnapshotHook,
    Arc<AtomicUsize>,
    Receiver<Part>,
    impl FnOnce(),
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let (entered, entries) = channel();
    let (release, released) = channel::<()>();
    let released = Mutex::new(Some(released));
    let hook: SnapshotHook = Arc::new({
        let calls = Arc::clone(&calls);
        let entered = Mutex::new(entered);
        move |part, _seq| {
            calls.fetch_add(1, Ordering::SeqCst);
            let _ = entered.lock().unwrap().send(part);
            if let Some(released) = released.lock().unwrap().take() {
                let _ = released.recv();
            }
            Ok(())
        }
    });
    (hook, calls, entries, move || drop(release))
}

#[test]
fn appends_are_acknowledged_while_a_snapshot_write_is_held_up() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = sample_ledger(dir.path());
    let (hook, calls, entries, release) = blocking_hook();
    let server = TestServer::start_with_snapshot_hook(dir.path(), limits(), Some(hook));
    let mut clerk = Client::new(server.addr, Some(&tokens.clerk));

    append_all(&mut clerk, 0, LAG as usize);
    let first = entries.recv_timeout(PATIENCE).expect("a snapshot came due");
    assert_eq!(first, Part::Models);
    // Ten times the lag while that write is held: each is acknowledged, and no second
    // snapshot starts beside the one in flight.
    append_all(&mut clerk, 100, 10 * LAG as usize);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one snapshot in flight at most"
    );

    release();
    server.stop();
    assert!(calls.load(Ordering::SeqCst) >= 2, "the findings followed");
    assert_eq!(snapshot_at_head(dir.path()), (true, true));
}

#[test]
fn a_failing_snapshot_write_is_a_warning_and_appends_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = sample_ledger(dir.path());
    let calls = Arc::new(AtomicUsize::new(0));
    let hook: SnapshotHook = Arc::new({
        let calls = Arc::clone(&calls);
        move |_, _| {
            calls.fetch_add(1, Ordering::SeqCst);
            Err("injected: the snapshot's write failed".into())
        }
    });
    let server = TestServer::start_with_snapshot_hook(dir.path(), limits(), Some(hook));
    let mut clerk = Client::new(server.addr, Some(&tokens.clerk));
    append_all(&mut clerk, 0, 10 * LAG as usize);
    // Reads still answer from the maintained state.
    let funds = Client::new(server.addr, Some(&tokens.supervisor))
        .get("/api/v1/funds")
        .unwrap();
    assert_eq!(funds.status, 200, "{}", funds.body);
    server.stop();

    // Both parts were tried, the final save included, and nothing was written.
    assert!(calls.load(Ordering::SeqCst) >= 2);
    assert_eq!(snapshot_at_head(dir.path()), (false, false));
    assert_reopened_equals_rebuild(dir.path());
    run_command(binary(dir.path()).arg("verify")).assert_ok();
}

#[test]
fn the_final_snapshot_is_written_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = sample_ledger(dir.path());
    // The default lag: none of these appends makes a snapshot due before the stop.
    let server = TestServer::start(dir.path(), Limits::default());
    let mut clerk = Client::new(server.addr, Some(&tokens.clerk));
    append_all(&mut clerk, 0, 5);
    server.stop();
    assert_eq!(snapshot_at_head(dir.path()), (true, true));
}

/// Rows of one CSV import: `count` allocations of ¥1.00, references `KILL-{batch}-{i}`.
fn allocations(batch: usize, count: usize) -> String {
    let mut csv = String::from("date,type,household_id,program,amount,persons,reference,memo\n");
    for i in 0..count {
        csv.push_str(&format!(
            "2019-01-01,fund_allocation,,support_allowance,1.00,,KILL-{batch}-{i},\n"
        ));
    }
    csv
}

#[test]
fn a_server_killed_while_writing_snapshots_reopens_equal_to_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = sample_ledger(dir.path());
    let (mut child, addr) = start_server(dir.path());
    let mut clerk = Client::new(addr, Some(&tokens.clerk));
    // Each import is one group of the largest size, as many events as the default lag:
    // a snapshot comes due after each, and the kill lands while one may be in flight.
    let rows = fundtrail::http::MAX_IMPORT_ROWS;
    for batch in 0..3 {
        let reply = clerk
            .post(
                "/api/v1/imports/events",
                &allocations(batch, rows),
                "text/csv",
            )
            .unwrap();
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    child.kill().unwrap();
    child.wait().unwrap();

    assert_reopened_equals_rebuild(dir.path());
    let ledger = Ledger::open(dir.path()).unwrap();
    assert!(ledger.view().head().size >= 3 * rows as u64);
    drop(ledger);
    run_command(binary(dir.path()).arg("verify")).assert_ok();
}

#[test]
fn a_snapshot_left_due_by_the_start_is_written_without_a_request() {
    let dir = tempfile::tempdir().unwrap();
    sample_ledger(dir.path());
    let ledger = Ledger::open(dir.path()).unwrap();
    let head = ledger.view().head().size;
    ledger.close().unwrap();
    let (hook, _calls, entries, release) = blocking_hook();
    // The sample ledger has no snapshot: the start leaves one due by the lag.
    let server = TestServer::start_with_snapshot_hook(dir.path(), limits(), Some(hook));
    assert_eq!(entries.recv_timeout(PATIENCE), Ok(Part::Models));
    release();
    server.stop();
    assert_eq!(snapshot_at_head(dir.path()), (true, true));
    assert!(head > LAG);
}

/// A read-model snapshot whose write fails leaves its household shards to the next one:
/// a snapshot of appends to PL-0001 is held while ten times the lag is appended to PL-0002
/// (another shard), then fails; the next snapshot, taken after all of them, and the final
/// one leave stored records equal to a rebuild's, PL-0001's shard included.
#[test]
fn a_failed_snapshot_leaves_its_shards_to_the_next() {
    use fundtrail_projections::household_shard;
    assert_ne!(household_shard("PL-0001"), household_shard("PL-0002"));
    let dir = tempfile::tempdir().unwrap();
    let tokens = sample_ledger(dir.path());
    let models_calls = Arc::new(AtomicUsize::new(0));
    let (told, heard) = channel::<usize>();
    let (release, released) = channel::<()>();
    let released = Mutex::new(released);
    let hook: SnapshotHook = Arc::new({
        let models_calls = Arc::clone(&models_calls);
        let told = Mutex::new(told);
        move |part, _| {
            if part != Part::Models {
                return Ok(());
            }
            // The first is the snapshot the start left due (the sample has none).
            let call = models_calls.fetch_add(1, Ordering::SeqCst) + 1;
            let _ = told.lock().unwrap().send(call);
            if call == 2 {
                let _ = released.lock().unwrap().recv();
                return Err("injected: the snapshot's write failed".into());
            }
            Ok(())
        }
    });
    let server = TestServer::start_with_snapshot_hook(dir.path(), limits(), Some(hook));
    let mut clerk = Client::new(server.addr, Some(&tokens.clerk));
    assert_eq!(heard.recv_timeout(PATIENCE), Ok(1));
    append_to(&mut clerk, "PL-0001", 0, LAG as usize);
    assert_eq!(
        heard.recv_timeout(PATIENCE),
        Ok(2),
        "the snapshot that fails"
    );
    append_to(&mut clerk, "PL-0002", 100, 10 * LAG as usize);
    drop(release);
    assert_eq!(heard.recv_timeout(PATIENCE), Ok(3), "the next snapshot");
    server.stop();
    assert_eq!(snapshot_at_head(dir.path()), (true, true));
    assert_reopened_equals_rebuild(dir.path());
}
