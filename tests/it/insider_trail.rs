//! An insider with write access to the ledger directory but not to `signing.key` edits the
//! household trail index (FORMAT.md §3) with the store's own layout code: a stray entry,
//! a missing one, one moved to another household, and entries and summaries rewritten
//! together. `verify` names the household and the seq; `household ID` refuses, exit 1,
//! naming the household index and the household, and shows nothing of the trail.

use std::collections::BTreeMap;

use crate::support::*;
use fundtrail::ledger::trails::{shard_name, shard_of, TrailShard, TrailSummary};
use fundtrail::model::domain::Seq;
use fundtrail::store::trail::{decode_seqs, encode_seqs, parse_trail_key, trail_key};
use fundtrail::tlog::audit::{AuditFault, StrayEntry};

/// The standard ledger: PL-0001 is enrolled at 1 and paid at 6; PL-0002 enrolled at 2,
/// paid at 7, and that payment reversed at 8; PL-0003 enrolled at 3; 4 and 5 are
/// allocations, which name no household. The households were imported in one batch and
/// the events in another, so the index holds one entry per household and batch:
/// PL-0001 [1], [6]; PL-0002 [2], [7, 8]; PL-0003 [3].
fn standard() -> TempLedger {
    TempLedger::standard()
}

/// Writes `household`'s trail entry keyed at `first` as listing `seqs`, or removes it when
/// `seqs` is empty, with the store's own layout code.
fn set_entry(t: &TempLedger, household: &str, first: u64, seqs: &[u64]) {
    let db = t.sled();
    let key = trail_key(household, first);
    match seqs {
        [] => {
            let removed = db.remove(key).expect("remove an index entry");
            assert!(removed.is_some(), "the entry {household}/{first} was there");
        }
        _ => {
            db.insert(key, encode_seqs(seqs))
                .expect("write an index entry");
        }
    }
}

fn trail_fault(t: &TempLedger) -> AuditFault {
    t.verify().fault.expect("verify finds the edit")
}

/// `household ID` and `log --household ID` (both read through the index) refuse with
/// exit 1, naming the household index and the household, and print none of the trail.
#[track_caller]
fn assert_household_refused(t: &TempLedger, household: &str) {
    for args in [
        vec!["household", household],
        vec!["log", "--household", household],
    ] {
        let run = t.run(&args);
        run.assert_code(1);
        assert!(
            run.stderr
                .contains(&format!("household index of household {household}")),
            "{args:?}: {run:#?}"
        );
        assert!(!run.stdout.contains("BANK-"), "no trail shown: {run:#?}");
    }
}

#[test]
fn an_intact_index_gives_each_households_trail() {
    let t = standard();
    let run = t.run(&["--json", "household", "PL-0002"]);
    run.assert_ok();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let seqs: Vec<u64> = json["trail"]
        .as_array()
        .expect("a trail")
        .iter()
        .map(|e| e["seq"].as_u64().expect("a seq"))
        .collect();
    assert_eq!(seqs, [2, 7, 8]);
    assert_eq!(t.verify().fault, None);
}

#[test]
fn a_stray_entry_is_named_by_verify_and_refused_by_household() {
    let t = standard();
    set_entry(&t, "PL-0003", 4, &[4]);
    match trail_fault(&t) {
        AuditFault::TrailIndex { seq, listed, named } => {
            assert_eq!(seq, Seq::new(4));
            assert_eq!(listed.as_deref(), Some("PL-0003"));
            assert_eq!(named, None);
        }
        other => panic!("expected the stray entry, got {other}"),
    }
    let run = t.run(&["verify"]);
    run.assert_code(1);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains("seq 4") && said.contains("PL-0003"),
        "{run:#?}"
    );
    assert_household_refused(&t, "PL-0003");
    // The other households' trails are untouched and still read.
    t.run(&["household", "PL-0001"]).assert_ok();
}

#[test]
fn a_missing_entry_is_named_by_verify_and_refused_by_household() {
    let t = standard();
    set_entry(&t, "PL-0002", 7, &[7]);
    match trail_fault(&t) {
        AuditFault::TrailIndex { seq, listed, named } => {
            assert_eq!(seq, Seq::new(8));
            assert_eq!(listed, None);
            assert_eq!(named.as_deref(), Some("PL-0002"));
        }
        other => panic!("expected the missing entry, got {other}"),
    }
    assert_household_refused(&t, "PL-0002");
}

#[test]
fn an_entry_moved_to_another_household_is_named_and_refused_for_both() {
    let t = standard();
    set_entry(&t, "PL-0002", 7, &[]);
    set_entry(&t, "PL-0002", 8, &[8]);
    set_entry(&t, "PL-0001", 7, &[7]);
    match trail_fault(&t) {
        AuditFault::TrailIndex { seq, listed, named } => {
            assert_eq!(seq, Seq::new(7));
            assert_eq!(listed.as_deref(), Some("PL-0001"));
            assert_eq!(named.as_deref(), Some("PL-0002"));
        }
        other => panic!("expected the moved entry, got {other}"),
    }
    assert_household_refused(&t, "PL-0001");
    assert_household_refused(&t, "PL-0002");
}

/// The summaries are unkeyed digests, so an insider can recompute one: rewriting the
/// entries and the shard record together is caught by the shard's hash in the sealed
/// state.
#[test]
fn entries_and_summary_rewritten_together_are_refused() {
    let t = standard();
    set_entry(&t, "PL-0002", 7, &[7]);
    {
        let db = t.sled();
        let name = shard_name(shard_of("PL-0002"));
        let key = [b"m".as_slice(), name.as_bytes()].concat();
        let stored = db.get(&key).expect("read").expect("the shard is stored");
        let mut shard: TrailShard = bincode::deserialize(&stored).expect("a shard");
        shard.insert(
            "PL-0002".into(),
            TrailSummary::of([Seq::new(2), Seq::new(7)]),
        );
        db.insert(key, bincode::serialize(&shard).expect("encode"))
            .expect("write the shard");
    }
    let run = t.run(&["household", "PL-0002"]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("the household index's summaries"),
        "{run:#?}"
    );
    // verify names the entry first: the log says what the index must list.
    assert!(matches!(
        trail_fault(&t),
        AuditFault::TrailIndex { seq, .. } if seq == Seq::new(8)
    ));
}

/// An entry naming a seq beyond the head is what an unfinished write leaves: a read of the
/// trail ignores it (the sealed summary covers the head), `verify` reports it.
#[test]
fn an_entry_beyond_the_head_is_reported_and_ignored_by_reads() {
    let t = standard();
    set_entry(&t, "PL-0001", STANDARD_SIZE + 1, &[STANDARD_SIZE + 1]);
    match trail_fault(&t) {
        AuditFault::BeyondHead { entries, .. } => assert_eq!(
            entries,
            [StrayEntry::Trail {
                household: "PL-0001".into(),
                seq: Seq::new(STANDARD_SIZE + 1),
            }]
        ),
        other => panic!("expected an entry beyond the head, got {other}"),
    }
    t.run(&["household", "PL-0001"]).assert_ok();
}

/// Turns a ledger into the layout-3 ledger it would have been: blocks without a form byte,
/// no trail entries, no summary shards, the state record without its trail directory
/// (sealed again with the ledger's key, as layout 3 wrote it), and layout 3.
fn as_layout_3(t: &TempLedger) {
    let key = fundtrail::keys::SigningKeyFile::read(&t.dir)
        .expect("the signing key")
        .state_key();
    let db = t.sled();
    crate::support::insider::as_legacy_blocks(&db);
    for prefix in [b"t".as_slice(), b"mtrails."] {
        for item in db.scan_prefix(prefix) {
            db.remove(item.expect("read").0).expect("remove");
        }
    }
    let stored = db.get(b"mstate").expect("read").expect("a state record");
    let bytes = key.unwrap("state", &stored).expect("sealed");
    // The trail directory is the record's last field: a u64 count and 256 hashes.
    let v3 = bytes[..bytes.len() - (8 + 256 * 32)].to_vec();
    db.insert(b"mstate", key.wrap("state", v3)).expect("write");
    db.insert(b"mlayout", 3u32.to_le_bytes().to_vec())
        .expect("write");
    db.flush().expect("flush");
}

/// Every key and value of a database, as stored.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// The seqs the trail entries list per household, and every other key and value.
fn split_trail_entries(dump: Dump) -> (BTreeMap<String, Vec<u64>>, Pairs) {
    let mut seqs: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut rest = Vec::new();
    for (key, value) in dump.0 {
        match parse_trail_key(&key) {
            Ok((household, first)) => seqs
                .entry(household.to_owned())
                .or_default()
                .extend(decode_seqs(first, &value).expect("a valid entry")),
            Err(_) => rest.push((key, value)),
        }
    }
    (seqs, rest)
}

#[test]
fn upgrade_builds_the_index_of_a_layout_3_ledger_and_changes_nothing_else() {
    let t = standard();
    let intact = t.dump();
    as_layout_3(&t);
    let run = t.run(&["household", "PL-0002"]);
    run.assert_code(3);
    assert!(run.stderr.contains("fundtrail upgrade"), "{run:#?}");

    let run = t.run(&["upgrade"]);
    run.assert_ok();
    let said = "from store layout 3 to 7: 6 events listed in the household trail index";
    assert!(run.stdout.contains(said), "{run:#?}");
    // The upgrade lists each household's seqs in one entry, where the appends wrote one
    // per batch: the entries differ, what they list does not, and every other byte (the
    // summaries, the sealed state, the layout, the blocks) is the ledger's before.
    let (entries, rest) = split_trail_entries(t.dump());
    let (intact_entries, intact_rest) = split_trail_entries(intact);
    assert_eq!(rest, intact_rest, "only the trail entries differ");
    assert_eq!(entries, intact_entries, "the same seqs per household");
    t.run(&["household", "PL-0002"]).assert_ok();
    assert_eq!(t.verify().fault, None);
    let again = t.run(&["upgrade"]);
    again.assert_ok();
    assert!(
        again.stdout.contains("already in store layout 7"),
        "{again:#?}"
    );
}

#[test]
fn upgrade_refuses_a_state_changed_without_the_key_and_writes_nothing() {
    let t = standard();
    as_layout_3(&t);
    {
        let db = t.sled();
        let mut stored = db.get(b"mstate").expect("read").expect("a state").to_vec();
        stored[0] ^= 1;
        db.insert(b"mstate", stored).expect("write");
    }
    let before = t.dump();
    let run = t.run(&["upgrade"]);
    run.assert_code(1);
    assert!(run.stderr.contains("state record"), "{run:#?}");
    assert_eq!(t.dump(), before, "nothing was written");
}

/// An entry whose seqs are not increasing (or not whole seqs) cannot be read: `verify`
/// says so, naming the household, and `household ID` refuses.
#[test]
fn a_malformed_entry_is_reported_unreadable() {
    let t = standard();
    set_entry(&t, "PL-0002", 7, &[7, 7]);
    match trail_fault(&t) {
        AuditFault::TrailIndexUnreadable(reason) => {
            assert!(
                reason.contains("PL-0002") && reason.contains("after seq 7"),
                "{reason}"
            )
        }
        other => panic!("expected an unreadable index, got {other}"),
    }
    let run = t.run(&["household", "PL-0002"]);
    run.assert_code(1);
    assert!(run.stderr.contains("household trail index"), "{run:#?}");
}

/// The findings read a household's earlier payments through its trail index (a duplicate
/// here): with the payment's entry removed, they would miss the duplicate. The import's
/// append stands and warns that the findings could not be brought up to date, naming the
/// household index; `findings` refuses, exit 1, and shows no finding; the findings
/// snapshot stays at the seq before the edit was met.
#[test]
fn the_findings_refuse_a_trail_that_hides_a_payment_instead_of_missing_its_duplicate() {
    let t = standard();
    set_entry(&t, "PL-0001", 6, &[]);
    let twin = "2015-01-20,disbursement,PL-0001,support_allowance,100.00,2,BANK-9,重复";
    let file = t.write_csv(
        "twin.csv",
        fundtrail::ledger::import::ImportKind::Events,
        &[twin],
    );
    let imported = t.import("events", &file);
    imported.assert_ok();
    let says = "household index of household PL-0001";
    assert!(imported.stderr.contains(says), "{imported:#?}");
    let findings = t.run(&["findings"]);
    findings.assert_code(1);
    assert!(findings.stderr.contains(says), "{findings:#?}");
    assert!(!findings.stdout.contains("duplicate"), "{findings:#?}");
    set_entry(&t, "PL-0001", 6, &[6]);
    let found = t.run(&["findings", "--json"]);
    found.assert_ok();
    assert!(found.stdout.contains("duplicate_payment"), "{found:#?}");
}
