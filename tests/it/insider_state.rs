//! An insider with write access to the ledger directory but not to `signing.key` edits
//! the state the write rules rely on (the head, the budgets, the reference and household
//! indexes), with the store's own layout. Each edit is refused before any write, nothing
//! committed is removed, and the store is left as the insider left it, for `verify`.

use crate::support::ledger::*;
use crate::support::run;
use fundtrail::ledger::{Ledger, LedgerError};
use fundtrail::model::rules::Budgets;
use fundtrail::store::block::{decode_stored, encode_stored, push_reference, reference_entries};

/// The sample: 5 opening events, then payments in batches of 35, 40 and 40, a checkpoint
/// signed after each (sizes 5, 40, 80, 120).
const SIZE: u64 = 120;

/// Keys and values of a sled database, as stored.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn state_records(db: &sled::Db) -> Entries {
    let state = db.get(STATE_KEY).unwrap().expect("a state record");
    vec![(STATE_KEY.to_vec(), state.to_vec())]
}

/// The first fields of the state record as FORMAT.md §3.2 describes it (the people count,
/// the trail directory and the seal follow them).
#[derive(serde::Serialize, serde::Deserialize)]
struct StateRecord {
    head: HeadRecord,
    budgets: Budgets,
    households: u64,
    references: [u8; 32],
    tokens: [u8; 32],
}

fn all_keys(dir: &std::path::Path) -> Entries {
    with_sled(dir, |db| {
        db.iter()
            .map(|item| {
                let (k, v) = item.unwrap();
                (k.to_vec(), v.to_vec())
            })
            .collect()
    })
}

/// Builds the sample, keeping the state records as they were at size 40.
fn sample_with_state_at_40() -> (tempfile::TempDir, Entries) {
    let dir = tempfile::tempdir().unwrap();
    drop(build(dir.path(), &[35]));
    let at_40 = with_sled(dir.path(), state_records);
    let mut ledger = open_ledger(dir.path());
    for first in [35, 75] {
        ledger.append(payments(first, 40), &ctx()).unwrap();
        ledger.checkpoint().unwrap();
    }
    assert_eq!(ledger.view().head().size, SIZE);
    drop(ledger);
    (dir, at_40)
}

/// Opens the edited ledger and checks that it refuses to append and to sign, saying
/// `why`, and that the store is exactly as the insider left it.
#[track_caller]
fn assert_refused_and_untouched(dir: &std::path::Path, why: &str) -> Held<Ledger> {
    let before = all_keys(dir);
    let mut ledger = open_ledger(dir);
    let doubt = ledger
        .damaged()
        .expect("the edit is noticed on open")
        .to_string();
    assert!(doubt.contains(why), "{doubt}");
    let appended = ledger.append(payments(5_000, 1), &ctx());
    assert!(
        matches!(&appended, Err(LedgerError::Corrupt(reason)) if reason.contains("nothing was appended")),
        "{appended:?}"
    );
    assert!(matches!(ledger.checkpoint(), Err(LedgerError::Corrupt(_))));
    drop(ledger);
    assert_eq!(all_keys(dir), before, "nothing was written or removed");
    open_ledger(dir)
}

#[test]
fn a_head_set_back_without_its_seal_deletes_nothing_and_blocks_writes() {
    let (dir, at_40) = sample_with_state_at_40();
    let old_head: HeadRecord = bincode::deserialize(&at_40[0].1).unwrap();
    with_sled(dir.path(), |db| write_head(db, &old_head));
    let ledger = assert_refused_and_untouched(dir.path(), "do not match their seal");
    assert_eq!(ledger.view().head().size, 40, "reads see the edited head");
    drop(ledger);
    assert_eq!(with_sled(dir.path(), insider::event_count), SIZE);
}

/// An older state record restored whole: the seal holds, but the signed
/// checkpoints of 80 and 120 events say the log is longer.
#[test]
fn a_replayed_older_state_is_refused_by_the_later_checkpoints() {
    let (dir, at_40) = sample_with_state_at_40();
    with_sled(dir.path(), |db| {
        for (key, value) in &at_40 {
            db.insert(key.as_slice(), value.as_slice()).unwrap();
        }
    });
    let mut ledger =
        assert_refused_and_untouched(dir.path(), "a checkpoint of 120 events is stored");
    let err = ledger.discard_beyond_head().unwrap_err();
    assert!(err.to_string().contains("nothing was removed"), "{err}");
    drop(ledger);
    assert_eq!(with_sled(dir.path(), insider::event_count), SIZE);
}

/// The same replay with the later checkpoints deleted: the events beyond the head are
/// still not removed, since no sealed marker of an interrupted batch names this head.
#[test]
fn a_replayed_state_without_the_later_checkpoints_still_removes_nothing() {
    let (dir, at_40) = sample_with_state_at_40();
    with_sled(dir.path(), |db| {
        for (key, value) in &at_40 {
            db.insert(key.as_slice(), value.as_slice()).unwrap();
        }
        for size in [80, SIZE] {
            db.remove(checkpoint_key(size)).unwrap();
        }
    });
    let mut ledger = assert_refused_and_untouched(dir.path(), "beyond the head");
    // The latest checkpoint left (40) is the replayed head, so an operator could have the
    // events beyond it removed: `verify` shows them first, and the command's help says
    // that events acknowledged after the latest checkpoint would go with them.
    let err = ledger.append(payments(5_000, 1), &ctx()).unwrap_err();
    assert!(err.to_string().contains("discard-beyond-head"), "{err}");
    drop(ledger);
    assert_eq!(with_sled(dir.path(), insider::event_count), SIZE);
}

#[test]
fn a_raised_allocation_in_the_budgets_is_refused() {
    let (dir, _) = sample_with_state_at_40();
    with_sled(dir.path(), |db| {
        let stored = db.get(STATE_KEY).unwrap().unwrap();
        let (record, seal) = stored.split_at(stored.len() - 32);
        let mut state: StateRecord = bincode::deserialize(record).unwrap();
        // The fields after these (the people count, the trail directory) stay as stored.
        let rest = &record[bincode::serialized_size(&state).unwrap() as usize..];
        let budget = state
            .budgets
            .get_mut("support_allowance")
            .expect("an allocation");
        budget.allocated_fen += 100_000_000;
        let mut raised = bincode::serialize(&state).unwrap();
        raised.extend_from_slice(rest);
        assert_ne!(raised, record);
        raised.extend_from_slice(seal);
        db.insert(STATE_KEY, raised).unwrap();
    });
    assert_refused_and_untouched(dir.path(), "do not match their seal");
}

#[test]
fn a_removed_household_index_entry_is_refused() {
    let (dir, _) = sample_with_state_at_40();
    with_sled(dir.path(), |db| {
        let key = [b"h".as_slice(), household(2).as_bytes()].concat();
        assert!(db.remove(key).unwrap().is_some());
    });
    assert_refused_and_untouched(dir.path(), "household index lists 3 households");
}

/// A reference block planted beyond the head would make its reference look taken (or
/// free) to the rules: it is not read, and the ledger refuses to write over it.
#[test]
fn a_stray_reference_block_beyond_the_head_is_refused() {
    let (dir, _) = sample_with_state_at_40();
    with_sled(dir.path(), |db| {
        let mut block = Vec::new();
        push_reference(&mut block, "BANK-00000007");
        db.insert(
            [b"r".as_slice(), &(SIZE + 1).to_be_bytes()].concat(),
            encode_stored(&block),
        )
        .unwrap();
    });
    let mut ledger = assert_refused_and_untouched(dir.path(), "from seq 121 lie beyond the head");
    // The latest checkpoint is the head: an operator may have the stray block removed.
    assert_eq!(ledger.discard_beyond_head().unwrap(), 1);
    assert_eq!(ledger.damaged(), None);
    ledger.append(payments(5_000, 1), &ctx()).unwrap();
    assert_eq!(ledger.checkpoint().unwrap().checkpoint.size, SIZE + 1);
    assert_eq!(ledger.view().verify(|_| {}).unwrap().fault, None);
}

/// A renamed reference entry would let a second payment take the first one's reference:
/// the reference blocks no longer match their sealed digest, so the first lookup fails
/// and nothing is appended; `verify` names the entry.
#[test]
fn a_renamed_reference_entry_stops_every_lookup_and_verify_names_it() {
    let (dir, _) = sample_with_state_at_40();
    let first_block = [b"r".as_slice(), &6u64.to_be_bytes()].concat();
    with_sled(dir.path(), |db| {
        let block = db
            .get(&first_block)
            .unwrap()
            .expect("the block of seqs 6..");
        let mut renamed = Vec::new();
        for (i, reference) in reference_entries(&decode_stored(&block).unwrap()).enumerate() {
            let reference = reference.unwrap();
            let name = if i == 0 { "BANK-X0000000" } else { reference };
            push_reference(&mut renamed, name);
        }
        db.insert(&first_block, encode_stored(&renamed)).unwrap();
    });
    let before = all_keys(dir.path());
    let mut ledger = open_ledger(dir.path());
    // Re-paying BANK-00000000 under its own name would now look new.
    let err = ledger.append(payments(0, 1), &ctx()).unwrap_err();
    assert!(err.to_string().contains("sealed digest"), "{err}");
    let fault = ledger
        .view()
        .verify(|_| {})
        .unwrap()
        .fault
        .expect("verify names it");
    assert!(fault.to_string().contains("BANK-X0000000"), "{fault}");
    drop(ledger);
    assert_eq!(all_keys(dir.path()), before);
}

/// The reference index is a filter in memory: a lookup that matches reads the event it
/// names through its block's seal. A record edited without the key makes a retry of its
/// reference fail with an error (never "not found", which would append the payment a
/// second time); a new reference reads nothing edited and is appended; once the record
/// is put back, the retry is recognised.
#[test]
fn a_retried_reference_whose_event_was_edited_is_refused_not_appended_again() {
    let (dir, _) = sample_with_state_at_40();
    // Seq 57 is payment 51: five opening events, then the payments from 0.
    let (hash, original) = with_sled(dir.path(), |db| insider::read_event(db, 57));
    assert_eq!(
        fundtrail::model::encoding::peek_reference(&original),
        Some("BANK-00000051")
    );
    with_sled(dir.path(), |db| {
        insider::write_event(db, 57, &hash, &with_amount_changed(&original, 1));
    });
    {
        let mut ledger = open_ledger(dir.path());
        let err = ledger.append(payments(51, 1), &ctx()).unwrap_err();
        assert!(err.to_string().contains("does not match its seal"), "{err}");
        assert_eq!(ledger.view().head().size, SIZE, "nothing was appended");
        let fresh = ledger.append(payments(9_000, 1), &ctx()).unwrap();
        assert_eq!(fresh.appended, 1);
    }
    with_sled(dir.path(), |db| {
        insider::write_event(db, 57, &hash, &original)
    });
    let mut ledger = open_ledger(dir.path());
    let retried = ledger.append(payments(51, 1), &ctx()).unwrap();
    assert_eq!((retried.appended, retried.duplicates), (0, 1));
    assert_eq!(retried.seqs, vec![fundtrail::model::domain::Seq::new(57)]);
}

/// The read-model snapshot and the token registry are sealed records: one changed without
/// the key is refused when read, not served.
#[test]
fn an_edited_snapshot_or_token_registry_is_refused_when_read() {
    use fundtrail::keys::tokens::{random_secret, Role, TokenRegistry, META_TOKENS};
    use fundtrail::ledger::readmodels::{ReadSide, META_READ_MODELS};
    let (dir, _) = sample_with_state_at_40();
    {
        let mut ledger = open_ledger(dir.path());
        ReadSide::open(ledger.view())
            .unwrap()
            .save(&ledger, true)
            .unwrap();
        let mut tokens = TokenRegistry::default();
        tokens
            .issue("ops", Role::Admin, 0, random_secret().unwrap())
            .unwrap();
        tokens.save(&mut ledger).unwrap();
    }
    with_sled(dir.path(), |db| {
        use crate::support::insider::{put_snapshot_record, snapshot_record};
        let mut value = snapshot_record(db, META_READ_MODELS).expect("saved");
        value[1] ^= 0x01;
        put_snapshot_record(db, META_READ_MODELS, &value);
        let key = [b"m".as_slice(), META_TOKENS.as_bytes()].concat();
        let mut value = db.get(&key).unwrap().expect("saved").to_vec();
        value[1] ^= 0x01;
        db.insert(key, value).unwrap();
    });
    let ledger = open_ledger(dir.path());
    let err = ReadSide::open(ledger.view())
        .err()
        .expect("the snapshot is refused");
    assert!(
        err.to_string().contains("without the ledger's key"),
        "{err}"
    );
    let err = TokenRegistry::load(&ledger).expect_err("the registry is refused");
    assert!(
        err.to_string().contains("without the ledger's key"),
        "{err}"
    );
}

/// A token registry put back from an older copy (taken before a token was revoked) is
/// refused: the sealed state names the registry record it was saved with.
#[test]
fn an_older_token_registry_put_back_is_refused() {
    use fundtrail::keys::tokens::{random_secret, Role, TokenRegistry, META_TOKENS};
    let (dir, _) = sample_with_state_at_40();
    let key = [b"m".as_slice(), META_TOKENS.as_bytes()].concat();
    let mut registry = TokenRegistry::default();
    {
        let mut ledger = open_ledger(dir.path());
        for (name, role) in [("ops", Role::Admin), ("mallory", Role::Clerk)] {
            registry
                .issue(name, role, 0, random_secret().unwrap())
                .unwrap();
        }
        registry.save(&mut ledger).unwrap();
    }
    let before_revoking = with_sled(dir.path(), |db| db.get(&key).unwrap().unwrap().to_vec());
    {
        let mut ledger = open_ledger(dir.path());
        registry.revoke("mallory", 1).unwrap();
        registry.save(&mut ledger).unwrap();
        assert_eq!(TokenRegistry::load(&ledger).unwrap(), registry);
    }
    with_sled(dir.path(), |db| {
        db.insert(&key, before_revoking).map(drop).unwrap()
    });
    let ledger = open_ledger(dir.path());
    let err = TokenRegistry::load(&ledger).expect_err("the older copy is refused");
    assert!(err.to_string().contains("not the copy"), "{err}");
}

/// A record edited without the key (its stored hash left as it was) and put back after a
/// run is never used by the run: every read for the write path and the read models checks
/// its block's seal, so the run is refused while the edit is in place, and afterwards the
/// ledger reads the record as committed. `verify`, which checks no seal, names the seq.
#[test]
fn a_record_edited_and_put_back_is_never_used_while_edited() {
    use fundtrail::ledger::readmodels::ReadSide;
    let (dir, _) = sample_with_state_at_40();
    let (hash, original) = with_sled(dir.path(), |db| insider::read_event(db, 57));
    with_sled(dir.path(), |db| {
        insider::write_event(db, 57, &hash, &with_amount_changed(&original, 10_000_000));
    });
    {
        let ledger = open_ledger(dir.path());
        let doubt = ledger
            .view()
            .record(fundtrail::model::domain::Seq::new(57))
            .unwrap_err()
            .to_string();
        assert!(doubt.contains("does not match its seal"), "{doubt}");
        let rebuilt = ReadSide::rebuild(ledger.view());
        assert!(rebuilt.is_err(), "the read models are not built from it");
        let fault = ledger
            .view()
            .verify(|_| {})
            .unwrap()
            .fault
            .expect("verify sees the edit");
        assert_eq!(
            fault.first_bad_seq(),
            Some(fundtrail::model::domain::Seq::new(57)),
            "{fault}"
        );
    }
    with_sled(dir.path(), |db| {
        insider::write_event(db, 57, &hash, &original)
    });
    let mut ledger = open_ledger(dir.path());
    assert_eq!(ledger.damaged(), None);
    let side = ReadSide::rebuild(ledger.view()).expect("the committed record reads again");
    drop(side);
    ledger.append(payments(6_000, 1), &ctx()).unwrap();
    assert_eq!(ledger.view().verify(|_| {}).unwrap().fault, None);
}

/// A database swapped in from another ledger (or a key swapped in) is a doubt that
/// `status` and `verify` both report, not only a key out of reach.
#[test]
fn a_key_that_is_not_the_ledgers_own_is_reported_by_status_and_verify() {
    let (dir, _) = sample_with_state_at_40();
    let other = tempfile::tempdir().unwrap();
    drop(Ledger::init(other.path()).unwrap());
    std::fs::copy(
        other.path().join("signing.key"),
        dir.path().join("signing.key"),
    )
    .unwrap();
    let ledger = open_ledger(dir.path());
    let doubt = ledger
        .damaged()
        .expect("a foreign key is a doubt")
        .to_string();
    assert!(doubt.contains("replaced"), "{doubt}");
    drop(ledger);
    let status = crate::support::run_command(crate::support::binary(dir.path()).arg("status"));
    status.assert_code(1);
    assert!(status.stdout.contains("replaced"), "{status:#?}");
    // The log itself verifies; the state beside it does not, and verify says so.
    let verify = crate::support::run_command(crate::support::binary(dir.path()).arg("verify"));
    verify.assert_code(1);
    assert!(
        verify.stdout.contains("FAILED: the ledger's state"),
        "{verify:#?}"
    );
}

/// The findings snapshot (issue 13) as stored: the version byte, then the bincode of the
/// position it reflects (seq, hash) and the fold's state.
type FindingsSnapshot = (Option<(u64, [u8; 32])>, fundtrail_projections::Findings);

fn read_findings_snapshot(ledger: &Ledger) -> FindingsSnapshot {
    use fundtrail::ledger::readmodels::findings::FINDINGS_SNAPSHOT_VERSION;
    use fundtrail::ledger::readmodels::META_FINDINGS;
    let bytes = ledger.view().meta(META_FINDINGS).unwrap().expect("saved");
    assert_eq!(bytes[0], FINDINGS_SNAPSHOT_VERSION);
    bincode::deserialize(&bytes[1..]).unwrap()
}

/// Writes a snapshot with the ledger's key: what only an insider holding `signing.key`
/// could do.
fn write_findings_snapshot(ledger: &Ledger, snapshot: &FindingsSnapshot) {
    use fundtrail::ledger::readmodels::findings::FINDINGS_SNAPSHOT_VERSION;
    use fundtrail::ledger::readmodels::META_FINDINGS;
    let mut bytes = vec![FINDINGS_SNAPSHOT_VERSION];
    bytes.extend(bincode::serialize(snapshot).unwrap());
    ledger.put_meta(META_FINDINGS, bytes).unwrap();
}

/// Payment `i` of [`payments`] again under another reference: the same household,
/// program, month and amount, which raises `duplicate_payment`.
fn duplicate_of(i: u64) -> Vec<fundtrail::model::domain::Command> {
    let mut commands = payments(i, 1);
    if let fundtrail::model::domain::Command::Pay(p) = &mut commands[0] {
        p.reference = fundtrail::model::domain::Reference::parse(&format!("DUP-{i:08}")).unwrap();
    }
    commands
}

/// The sample with its read side saved at the head (seq 120), then a duplicate payment
/// appended and the read side saved again; returns the findings snapshot as it was at 120.
fn sample_with_a_finding() -> (tempfile::TempDir, Vec<u8>) {
    use fundtrail::ledger::readmodels::{ReadSide, META_FINDINGS};
    let (dir, _) = sample_with_state_at_40();
    let mut ledger = open_ledger(dir.path());
    ReadSide::open(ledger.view())
        .unwrap()
        .save(&ledger, true)
        .unwrap();
    let before = ledger.view().meta(META_FINDINGS).unwrap().expect("saved");
    ledger.append(duplicate_of(7), &ctx()).unwrap();
    ledger.checkpoint().unwrap();
    let side = ReadSide::open(ledger.view()).unwrap();
    let found = side.findings().expect("maintained").all();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule.as_str(), "duplicate_payment");
    assert_eq!(found[0].raised_by, SIZE + 1);
    let mut side = side;
    side.save(&ledger, true).unwrap();
    drop(ledger);
    let stored = with_sled(dir.path(), |db| {
        crate::support::insider::snapshot_record(db, META_FINDINGS).expect("saved")
    });
    let sealed_before = {
        // The stored (sealed) bytes at 120, as an insider would have copied them.
        let ledger = open_ledger(dir.path());
        let key = ledger.view().sealing_key().unwrap().clone();
        key.wrap(META_FINDINGS, before)
    };
    assert_ne!(stored, sealed_before);
    (dir, sealed_before)
}

/// The findings snapshot is a sealed record: a byte changed without the key (a finding
/// removed or altered, whatever the byte) is refused when read, naming the record, by the
/// read side, by the findings answer and by `verify`.
#[test]
fn an_edited_findings_snapshot_is_refused_naming_it() {
    use fundtrail::ledger::readmodels::{ReadSide, META_FINDINGS};
    let (dir, _) = sample_with_a_finding();
    with_sled(dir.path(), |db| {
        let mut value = crate::support::insider::snapshot_record(db, META_FINDINGS).expect("saved");
        let last_finding_byte = value.len() - 40;
        value[last_finding_byte] ^= 0x01;
        crate::support::insider::put_snapshot_record(db, META_FINDINGS, &value);
    });
    {
        let ledger = open_ledger(dir.path());
        let err = ReadSide::open(ledger.view())
            .err()
            .expect("the snapshot is refused");
        let message = err.to_string();
        assert!(message.contains("meta record findings"), "{message}");
        assert!(message.contains("without the ledger's key"), "{message}");
        let err = fundtrail::runs::findings::findings(ledger.view()).unwrap_err();
        assert!(err.to_string().contains("meta record findings"), "{err}");
    }
    let verify = run(dir.path(), &["verify"]);
    verify.assert_code(1);
    assert!(
        verify.stdout.contains("meta record findings"),
        "{verify:#?}"
    );
}

/// An older findings snapshot put back (a replay, sealed by the ledger itself) is not
/// trusted as the current state: it says which seq it reflects, which is behind the head,
/// and the events after it are folded again, so the finding raised since is there.
#[test]
fn an_older_findings_snapshot_put_back_is_caught_up() {
    use fundtrail::ledger::readmodels::{ReadSide, META_FINDINGS};
    let (dir, older) = sample_with_a_finding();
    with_sled(dir.path(), |db| {
        crate::support::insider::put_snapshot_record(db, META_FINDINGS, &older);
    });
    {
        let ledger = open_ledger(dir.path());
        assert_eq!(read_findings_snapshot(&ledger).0.map(|p| p.0), Some(SIZE));
        let side = ReadSide::open(ledger.view()).unwrap();
        let rebuilt = ReadSide::rebuild(ledger.view()).unwrap();
        assert_eq!(side.findings(), rebuilt.findings());
        assert_eq!(side.compare(&rebuilt), Ok(()));
        let found = fundtrail::runs::findings::findings(ledger.view()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].raised_by, SIZE + 1);
    }
    run(dir.path(), &["verify"]).assert_ok();
}

/// What the seal cannot catch, `verify` does: a snapshot written with the key that claims
/// the head but holds the state of before the finding (the finding removed) opens, and
/// `verify` compares it with a rebuild and names the findings. A position the log does
/// not have (beyond the head, or another hash) is refused on open.
#[test]
fn a_findings_snapshot_forged_with_the_key_is_named_by_verify() {
    use fundtrail::ledger::readmodels::{FindingsSideError, ReadSide, ReadSideError};
    let (dir, older) = sample_with_a_finding();
    {
        let ledger = open_ledger(dir.path());
        let key = ledger.view().sealing_key().unwrap().clone();
        let older = key
            .unwrap(fundtrail::ledger::readmodels::META_FINDINGS, &older)
            .unwrap()
            .to_vec();
        let (_, fold_at_120): FindingsSnapshot = bincode::deserialize(&older[1..]).unwrap();
        let (head, _) = read_findings_snapshot(&ledger);
        assert_eq!(head.map(|p| p.0), Some(SIZE + 1));
        write_findings_snapshot(&ledger, &(head, fold_at_120));
        let side = ReadSide::open(ledger.view()).unwrap();
        assert!(
            side.findings().unwrap().all().is_empty(),
            "the forgery is loaded"
        );
        let rebuilt = ReadSide::rebuild(ledger.view()).unwrap();
        let differ = side.compare(&rebuilt).unwrap_err();
        assert!(differ.contains("findings"), "{differ}");
        assert!(!differ.contains("read models"), "{differ}");
    }
    let verify = run(dir.path(), &["--json", "verify"]);
    verify.assert_code(1);
    let reason = verify.json()["read_models"].as_str().unwrap().to_string();
    assert!(reason.contains("maintained findings differ"), "{reason}");

    let ledger = open_ledger(dir.path());
    let (head, fold) = read_findings_snapshot(&ledger);
    let (seq, hash) = head.unwrap();
    write_findings_snapshot(&ledger, &(Some((seq + 1, hash)), fold.clone()));
    assert!(matches!(
        ReadSide::open(ledger.view()),
        Err(ReadSideError::Findings(FindingsSideError::AheadOfLog {
            seq: 122,
            head: 121
        }))
    ));
    write_findings_snapshot(&ledger, &(Some((seq - 1, hash)), fold));
    let err = ReadSide::open(ledger.view()).err().expect("another hash");
    assert!(
        matches!(
            &err,
            ReadSideError::Findings(FindingsSideError::HashMismatch { seq: 120, .. })
        ),
        "{err}"
    );
    assert!(err.to_string().starts_with("the findings say"), "{err}");
}

/// An event block's seal changed without the key, its events intact: the log verifies
/// (it is judged without seals), but the read models, which every query reads through
/// the seals, are not rebuilt from it, and `verify` says so after the log's lines.
#[test]
fn a_block_seal_changed_alone_fails_the_read_models_check_of_verify() {
    let (dir, _) = sample_with_state_at_40();
    let first = with_sled(dir.path(), |db| {
        let (first, _) = insider::event_blocks(db)
            .into_iter()
            .take_while(|(first, _)| *first <= 57)
            .last()
            .expect("a block holds seq 57");
        let key = [&[b'b'][..], &first.to_be_bytes()].concat();
        let mut seal = db.get(&key).unwrap().expect("the block is sealed").to_vec();
        seal[0] ^= 1;
        db.insert(key, seal).unwrap();
        first
    });
    let verify = crate::support::run_command(crate::support::binary(dir.path()).arg("verify"));
    verify.assert_code(1);
    assert!(
        verify
            .stdout
            .contains(&format!("ok: {SIZE} events verified")),
        "{verify:#?}"
    );
    let expected =
        format!("FAILED: corrupt store: the event block at seq {first} does not match its seal");
    assert!(verify.stdout.contains(&expected), "{verify:#?}");
}
