//! The findings as the ledger maintains them (issue 13): folded with the read models after
//! every import, saved in their own sealed snapshot, and equal to a rebuild from genesis
//! whatever the batches were, including a death recorded after the payments it makes
//! wrong and a reversal of a finding's evidence.

use std::path::{Path, PathBuf};

use fundtrail::ledger::readmodels::{ReadSide, META_FINDINGS};
use fundtrail::model::domain::Seq;
use fundtrail::model::encoding::stored_date;

use crate::support::*;

/// Splits a CSV file into `parts` files of about equal rows, each with the header.
fn split_csv(file: &Path, parts: usize) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    let per_part = rows.len().div_ceil(parts);
    rows.chunks(per_part)
        .enumerate()
        .map(|(i, chunk)| {
            let path = file.with_extension(format!("part{i}.csv"));
            std::fs::write(&path, format!("{header}\n{}\n", chunk.join("\n"))).unwrap();
            path
        })
        .collect()
}

/// The maintained findings and a rebuild from genesis agree, and the snapshot reflects the
/// head: the comparison `verify` makes.
#[track_caller]
fn assert_maintained_equals_rebuild(t: &TempLedger) -> Vec<fundtrail_projections::Finding> {
    let ledger = t.open();
    let head = ledger.view().head().size;
    assert!(ledger.view().meta(META_FINDINGS).unwrap().is_some());
    let maintained = ReadSide::open(ledger.view()).unwrap();
    let rebuilt = ReadSide::rebuild(ledger.view()).unwrap();
    assert_eq!(maintained.findings().unwrap().applied_seq(), head);
    assert_eq!(maintained.findings(), rebuilt.findings());
    assert_eq!(maintained.compare(&rebuilt), Ok(()));
    maintained.findings().unwrap().all().to_vec()
}

/// A simulated district imported in eight batches (the events in three), each import
/// saving the findings; then a reversal of a `paid_after_death` payment. After each batch
/// the maintained findings equal a rebuild, the death's finding is raised by the death,
/// recorded after the payments, and the reversal marks its evidence without closing it.
#[test]
fn maintained_findings_equal_a_rebuild_after_every_batch() {
    let t = TempLedger::uninitialized();
    let dir = t.file("district");
    run_command(binary_without_ledger().args(["simulate", dir.to_str().unwrap()])).assert_ok();
    t.run(&["init"]).assert_ok();
    let mut batches = vec![
        dir.join("households.csv"),
        dir.join("rates.csv"),
        dir.join("persons.csv"),
    ];
    batches.extend(split_csv(&dir.join("events.csv"), 3));
    batches.push(dir.join("changes.csv"));
    for file in &batches {
        let kind = file
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .split('.')
            .next()
            .unwrap();
        t.import(kind, file).assert_ok();
        assert_maintained_equals_rebuild(&t);
    }
    let deaths = dir.join("deaths.csv");
    let deaths = deaths.to_str().unwrap();
    t.run(&["import", "deaths", deaths, "--source", "sim-register"])
        .assert_ok();
    let found = assert_maintained_equals_rebuild(&t);
    let after_death = found
        .iter()
        .find(|f| f.rule.as_str() == "paid_after_death")
        .expect("the planted death is found");
    let death_seq = *after_death.seqs.last().unwrap();
    assert_eq!(after_death.raised_by, death_seq, "raised by the death");
    let evidence = after_death.seqs[0];
    assert!(evidence < death_seq, "the payment came first");

    let reversal = {
        let ledger = t.open();
        let record = ledger.view().record(Seq::new(evidence)).unwrap();
        let (_, p) = record.body.payment().expect("the evidence is a payment");
        let date = stored_date(p.value_date).unwrap();
        format!(
            "{date},reversal,{},,{}.{:02},,{},paid after death",
            p.household,
            p.amount_fen / 100,
            p.amount_fen % 100,
            record.reference
        )
    };
    let file = t.write_csv(
        "reversal.csv",
        fundtrail::ledger::import::ImportKind::Events,
        &[reversal],
    );
    t.import("events", &file).assert_ok();
    let found = assert_maintained_equals_rebuild(&t);
    let same = found
        .iter()
        .find(|f| f.id == after_death.id)
        .expect("not closed");
    assert_eq!(same.reversed_evidence, vec![evidence]);
    assert_eq!(same.status, after_death.status);
    t.run(&["verify"]).assert_ok();
}

/// A findings snapshot of an older version (here version 1, which kept each payment's
/// texts) is not decoded as the current layout: the findings are folded again from
/// genesis, equal a rebuild, and the next save writes the current version.
#[test]
fn an_older_version_findings_snapshot_is_ignored_and_rebuilt() {
    use fundtrail::ledger::readmodels::findings::FINDINGS_SNAPSHOT_VERSION;
    let t = TempLedger::uninitialized();
    let dir = t.file("district");
    run_command(binary_without_ledger().args(["simulate", dir.to_str().unwrap()])).assert_ok();
    t.run(&["init"]).assert_ok();
    for kind in ["households", "rates", "persons", "events"] {
        t.import(kind, &dir.join(format!("{kind}.csv"))).assert_ok();
    }
    let expected = assert_maintained_equals_rebuild(&t);
    assert!(!expected.is_empty(), "the district raises findings");
    {
        let ledger = t.open();
        ledger
            .put_meta(META_FINDINGS, vec![1, 0xff, 0xff, 0xff])
            .unwrap();
        let side = ReadSide::open(ledger.view()).unwrap();
        let findings = side.findings().unwrap();
        assert_eq!(findings.applied_seq(), ledger.view().head().size);
        assert_eq!(findings.all(), expected.as_slice());
        let mut side = side;
        side.save(&ledger, true).unwrap();
        let stored = ledger.view().meta(META_FINDINGS).unwrap().unwrap();
        assert_eq!(stored[0], FINDINGS_SNAPSHOT_VERSION);
    }
    assert_eq!(assert_maintained_equals_rebuild(&t), expected);
}

/// Every finding of the log, folded with every payment kept in memory
/// (`Findings::apply`): the reference the maintained findings, which ask the log for
/// their payments, must equal.
fn folded_in_memory(t: &TempLedger) -> Vec<fundtrail_projections::Finding> {
    use fundtrail::ledger::readmodels::facts::finding_fact_of;
    let ledger = t.open();
    let head = ledger.view().head().size;
    let mut memory = fundtrail_projections::Findings::new();
    for item in ledger.view().records(Seq::FIRST, Seq::new(head)) {
        let (seq, _, record) = item.unwrap();
        if let Some(fact) = finding_fact_of(seq, &record).unwrap() {
            memory.apply(seq.get(), &fact).unwrap();
        }
    }
    memory.all().to_vec()
}

/// Districts of two seeds, each with a planted case of every rule (deaths and an exit
/// recorded after the payments, duplicates, a shared account, outliers), their events
/// imported in one batch large enough to be folded alongside its append (its payments
/// looked up beyond the head, through what the append told), then the exits, the deaths
/// and a reversal of a finding's evidence: the maintained findings, whose payments are
/// read from the log through the household trail index, equal the fold that keeps every
/// payment in memory, after each import.
#[test]
fn findings_through_the_log_equal_the_fold_with_payments_in_memory() {
    for seed in ["7", "11"] {
        let t = TempLedger::uninitialized();
        let dir = t.file("district");
        let args = ["simulate", dir.to_str().unwrap(), "--households", "600"];
        run_command(binary_without_ledger().args(args).args(["--seed", seed])).assert_ok();
        let events = std::fs::read_to_string(dir.join("events.csv")).unwrap();
        assert!(
            events.lines().count() > 2 * fundtrail::ledger::GROUP_COMMIT_EVENTS,
            "the events are folded alongside their append"
        );
        t.run(&["init"]).assert_ok();
        for kind in ["households", "rates", "persons", "events", "changes"] {
            t.import(kind, &dir.join(format!("{kind}.csv"))).assert_ok();
            assert_eq!(assert_maintained_equals_rebuild(&t), folded_in_memory(&t));
        }
        let deaths = dir.join("deaths.csv");
        let deaths = deaths.to_str().unwrap();
        t.run(&["import", "deaths", deaths, "--source", "sim-register"])
            .assert_ok();
        let found = assert_maintained_equals_rebuild(&t);
        assert_eq!(found, folded_in_memory(&t), "seed {seed}");
        let rules: std::collections::BTreeSet<&str> =
            found.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(rules.len(), 6, "every rule is raised: {rules:?}");
        let duplicate = found
            .iter()
            .find(|f| f.rule.as_str() == "duplicate_payment")
            .expect("a duplicate");
        t.import("events", &reversal_of(&t, duplicate.seqs[0]))
            .assert_ok();
        let found = assert_maintained_equals_rebuild(&t);
        assert_eq!(found, folded_in_memory(&t), "seed {seed}");
        t.run(&["verify"]).assert_ok();
    }
}

/// A file of events holding the reversal of the payment at `seq`.
fn reversal_of(t: &TempLedger, seq: u64) -> PathBuf {
    let ledger = t.open();
    let record = ledger.view().record(Seq::new(seq)).unwrap();
    let (_, p) = record.body.payment().expect("a payment");
    let date = stored_date(p.value_date).unwrap();
    let row = format!(
        "{date},reversal,{},,{}.{:02},,{},reversed",
        p.household,
        p.amount_fen / 100,
        p.amount_fen % 100,
        record.reference
    );
    t.write_csv(
        "reversal.csv",
        fundtrail::ledger::import::ImportKind::Events,
        &[row],
    )
}

/// An import large enough to be folded alongside its append, refused at its last row (a
/// payment to a household never enrolled): the ledger keeps none of it, and the fold
/// that was told its payments is dropped with it. The same events imported again without
/// that row raise the findings of the fold with every payment in memory.
#[test]
fn an_abandoned_imports_told_payments_are_not_seen_afterwards() {
    let t = TempLedger::uninitialized();
    let dir = t.file("district");
    let args = ["simulate", dir.to_str().unwrap(), "--households", "600"];
    run_command(binary_without_ledger().args(args).args(["--seed", "7"])).assert_ok();
    t.run(&["init"]).assert_ok();
    for kind in ["households", "rates", "persons"] {
        t.import(kind, &dir.join(format!("{kind}.csv"))).assert_ok();
    }
    let head = t.open().view().head().size;
    let events = std::fs::read_to_string(dir.join("events.csv")).unwrap();
    let refused = dir.join("events-refused.csv");
    let bad = "2025-12-31,disbursement,SIM-99999,support_allowance,1.00,1,BAD-LAST-ROW,never,";
    std::fs::write(&refused, format!("{}\n{bad}\n", events.trim_end())).unwrap();
    let run = t.import("events", &refused);
    assert_ne!(run.code, 0, "the import is refused: {run:#?}");
    assert!(run.stderr.contains("SIM-99999"), "{run:#?}");
    assert_eq!(t.open().view().head().size, head, "none of it is kept");
    t.import("events", &dir.join("events.csv")).assert_ok();
    assert_eq!(assert_maintained_equals_rebuild(&t), folded_in_memory(&t));
}
