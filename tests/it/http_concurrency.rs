//! Many clients appending at once while others read totals: every acknowledged event is
//! in the ledger exactly once, seqs are dense, the chain verifies, and the totals agree.

use std::collections::BTreeMap;

use crate::support::client::Client;
use crate::support::server::{sample_ledger, TestServer};
use fundtrail::http::Limits;
use fundtrail::keys::tokens::Role;
use fundtrail::ledger::Ledger;
use fundtrail::model::domain::Seq;
use serde_json::json;

const WRITERS: usize = 8;
const APPENDS_PER_WRITER: usize = 40;
const READERS: usize = 2;

#[test]
fn concurrent_appends_are_each_committed_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = sample_ledger(dir.path());
    let server = TestServer::start(dir.path(), Limits::default());
    let addr = server.addr;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));

    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let token = tokens.of(Role::Supervisor).to_owned();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut client = Client::new(addr, Some(&token));
                let mut answered = 0;
                // Bounded: the writers finish in well under this many reads.
                for _ in 0..100_000 {
                    if done.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let reply = client.get("/api/v1/totals?by=program").unwrap();
                    assert_eq!(reply.status, 200);
                    answered += 1;
                }
                answered
            })
        })
        .collect();

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let token = tokens.of(Role::Clerk).to_owned();
            std::thread::spawn(move || {
                let mut client = Client::new(addr, Some(&token));
                let mut acknowledged = BTreeMap::new();
                for i in 0..APPENDS_PER_WRITER {
                    let reference = format!("C{w}-{i}");
                    let event = json!({
                        "date": "2019-01-31", "type": "disbursement", "household_id": "PL-0002",
                        "program": "support_allowance", "amount": "1.00", "reference": reference,
                    });
                    let reply = client.post_json("/api/v1/events", &event).unwrap();
                    assert_eq!(reply.status, 201, "{}", reply.body);
                    let seq = reply.json()["seqs"][0].as_u64().unwrap();
                    // A retry of every fifth event must come back with the same seq.
                    if i % 5 == 0 {
                        let again = client.post_json("/api/v1/events", &event).unwrap();
                        assert_eq!(again.json()["seqs"][0].as_u64(), Some(seq));
                    }
                    acknowledged.insert(reference, seq);
                }
                acknowledged
            })
        })
        .collect();

    let mut acknowledged = BTreeMap::new();
    for writer in writers {
        acknowledged.extend(writer.join().unwrap());
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(reads > 0);
    let totals = Client::new(addr, Some(tokens.of(Role::Supervisor)))
        .get("/api/v1/totals?year=2019")
        .unwrap();
    assert_eq!(totals.json()[0]["payments"], WRITERS * APPENDS_PER_WRITER);
    server.stop();

    let ledger = Ledger::open(dir.path()).unwrap();
    assert!(ledger.view().verify(|_| {}).unwrap().fault.is_none());
    assert_eq!(
        ledger.view().head().size,
        13 + (WRITERS * APPENDS_PER_WRITER) as u64
    );
    let mut seen = BTreeMap::new();
    for item in ledger.view().records(Seq::FIRST, Seq::new(u64::MAX)) {
        let (seq, _, record) = item.unwrap();
        assert!(
            seen.insert(record.reference.clone(), seq.get()).is_none(),
            "{} twice",
            record.reference
        );
        if record.reference.starts_with('C') {
            assert_eq!(record.actor, "clerk-1");
        }
    }
    for (reference, seq) in &acknowledged {
        assert_eq!(seen.get(reference), Some(seq), "{reference}");
    }
}
