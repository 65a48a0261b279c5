//! Recoveries (追缴) through the import, the CLI and the API: a `recovery_received` row
//! needs an open receivable of its finding, household and program, never takes it below
//! zero, and `household`, `funds` and `totals` show what came back.
//!
//! No event of this ledger sets a receivable yet (`finding_resolved` does, issue 13): the
//! tests that need one put it in the read models' sealed snapshot, folded at the seq of an
//! event no read model counts (a rate), as the ledger itself would write it.

use std::path::{Path, PathBuf};

use fundtrail::http::Limits;
use fundtrail::keys::tokens::Role;
use fundtrail::ledger::import::{CsvFile, ImportKind, EVENT_COLUMNS};
use fundtrail::ledger::readmodels::facts::fact_of;
use fundtrail::ledger::readmodels::{META_READ_MODELS, SNAPSHOT_VERSION};
use fundtrail::ledger::{AppendContext, Ledger};
use fundtrail::model::domain::Seq;
use fundtrail_projections::{Fact, ReadModels};
use serde_json::{json, Value};

use crate::support::client::Client;
use crate::support::server::{sample_ledger, TestServer};
use crate::support::{run, TempLedger};

const FINDING: &str = "0123456789abcdef";

/// An events file with the optional `finding` column.
fn events_with_finding(dir: &Path, name: &str, rows: &[&str]) -> PathBuf {
    let mut text = format!("{},finding\n", EVENT_COLUMNS.join(","));
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the events file");
    path
}

/// The rejection line for `file` at `line` in `field` (the first carries `error: `).
fn refusal<'r>(run: &'r crate::support::Run, file: &Path, line: u64, field: &str) -> &'r str {
    let prefix = format!("{}:{line}: {field}: ", file.display());
    run.stderr
        .lines()
        .find(|l| l.trim_start_matches("error: ").starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in {run:#?}"))
}

#[test]
fn a_recovery_without_a_receivable_is_refused_naming_file_line_and_field() {
    let t = TempLedger::standard();
    let path = events_with_finding(
        t.tmp.path(),
        "recovery.csv",
        &[
            "2015-03-01,disbursement,PL-0001,support_allowance,10.00,2,BANK-9,,",
            &format!("2015-03-10,recovery_received,PL-0001,support_allowance,20.00,,REC-1,退回,{FINDING}"),
        ],
    );
    let before = t.dump();
    let run = t.import("events", &path);
    run.assert_code(2);
    let said = refusal(&run, &path, 3, "finding");
    assert!(
        said.contains(&format!("finding {FINDING} has no receivable")),
        "{said}"
    );
    assert!(run.stderr.contains("the ledger is unchanged"), "{run:#?}");
    assert_eq!(t.dump(), before);
}

#[test]
fn a_recovery_row_must_name_a_well_formed_finding_and_only_it_may() {
    let t = TempLedger::standard();
    let rows = [
        "2015-03-10,recovery_received,PL-0001,support_allowance,20.00,,REC-1,退回,",
        "2015-03-10,recovery_received,PL-0001,support_allowance,20.00,,REC-2,退回,0123456789ABCDEF",
        &format!("2015-03-01,disbursement,PL-0001,support_allowance,1.00,2,BANK-9,,{FINDING}"),
        &format!("2015-03-10,recovery_received,PL-0001,support_allowance,20.00,1,REC-3,,{FINDING}"),
        &format!("2015-03-10,recovery_received,,support_allowance,20.00,,REC-4,,{FINDING}"),
    ];
    let path = events_with_finding(t.tmp.path(), "bad.csv", &rows);
    let before = t.dump();
    let run = t.import("events", &path);
    run.assert_code(2);
    assert!(refusal(&run, &path, 2, "finding").contains("is required for a recovery_received"));
    assert!(refusal(&run, &path, 3, "finding").contains("is not a finding id"));
    assert!(refusal(&run, &path, 4, "finding").contains("only a recovery_received"));
    assert!(refusal(&run, &path, 5, "persons").contains("must be empty"));
    assert!(refusal(&run, &path, 6, "household_id").contains("is required"));
    assert_eq!(t.dump(), before);
}

/// Folds the ledger's events into read models, with a receivable of `amount_fen` for
/// PL-0001's allowance set at the last event, which must be one no read model counts;
/// saves them as the sealed snapshot.
fn owe(ledger: &Ledger, amount_fen: i64) {
    let view = ledger.view();
    let head = view.head().size;
    let mut models = ReadModels::new();
    for item in view.records(Seq::FIRST, Seq::new(head)) {
        let (seq, hash, record) = item.expect("a committed event");
        let fact = fact_of(seq, record, view).expect("an event of this ledger maps");
        let folded = match (seq.get() == head, fact) {
            (true, None) => models.apply(
                seq.get(),
                hash.into_bytes(),
                &Fact::ReceivableSet {
                    finding: FINDING.into(),
                    household: "PL-0001".into(),
                    program: "support_allowance".into(),
                    amount_fen,
                },
            ),
            (true, Some(fact)) => panic!("the last event must count nowhere, not {fact:?}"),
            (false, Some(fact)) => models.apply(seq.get(), hash.into_bytes(), &fact),
            (false, None) => models.skip(seq.get(), hash.into_bytes()),
        };
        folded.expect("the events fold");
    }
    let mut bytes = vec![SNAPSHOT_VERSION];
    bytes.extend(bincode::serialize(&models).expect("read models serialize"));
    ledger
        .put_meta(META_READ_MODELS, bytes)
        .expect("the snapshot is saved");
}

/// The sample ledger, its rates (events no read model counts), and a receivable of 60.00
/// for PL-0001's allowance under [`FINDING`].
fn sample_with_receivable(dir: &Path) -> crate::support::server::Tokens {
    let tokens = sample_ledger(dir);
    let mut ledger = Ledger::open(dir).expect("the sample opens");
    let rates = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample/rates.csv");
    ledger
        .append_rows(
            &mut CsvFile::new(&rates, ImportKind::Rates),
            &AppendContext::now("setup"),
        )
        .expect("the sample rates import");
    owe(&ledger, 6_000);
    ledger.close().expect("the ledger closes");
    tokens
}

fn run_json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = run(dir, &all);
    out.assert_ok();
    serde_json::from_str(&out.stdout).expect("JSON output")
}

#[test]
fn recoveries_reduce_the_receivable_and_show_in_household_funds_and_totals() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("ledger");
    let tokens = sample_with_receivable(&dir);
    let rows = [
        &format!(
            "2015-03-10,recovery_received,PL-0001,support_allowance,15.00,,REC-1,退回,{FINDING}"
        )[..],
        &format!(
            "2015-04-10,recovery_received,PL-0001,support_allowance,5.00,,REC-2,退回,{FINDING}"
        ),
    ];
    let path = events_with_finding(root.path(), "recoveries.csv", &rows);
    let file = path.to_str().expect("UTF-8 path");
    run(&dir, &["import", "events", file]).assert_ok();

    // 40.00 is open: 40.01 more is refused, and nothing of the file is appended.
    let beyond = events_with_finding(
        root.path(),
        "beyond.csv",
        &[
            &format!(
                "2015-05-10,recovery_received,PL-0001,support_allowance,40.00,,REC-3,,{FINDING}"
            ),
            &format!(
                "2015-05-11,recovery_received,PL-0001,support_allowance,0.01,,REC-4,,{FINDING}"
            ),
        ],
    );
    let refused = run(&dir, &["import", "events", beyond.to_str().expect("UTF-8")]);
    refused.assert_code(2);
    let said = refusal(&refused, &beyond, 3, "amount");
    assert!(said.contains("below zero: 0.00 yuan is open"), "{said}");

    let household = run_json(&dir, &["household", "PL-0001"]);
    let receivables = json!([{"program": "support_allowance", "opened": "60.00",
                              "recovered": "20.00", "open": "40.00"}]);
    assert_eq!(household["receivables"], receivables);
    let trail = household["trail"].as_array().expect("a trail");
    let recovery = trail.iter().find(|e| e["type"] == "recovery_received");
    assert_eq!(
        recovery.map(|e| (&e["reference"], &e["finding"], &e["amount"])),
        Some((&json!("REC-1"), &json!(FINDING), &json!("15.00")))
    );
    let text = run(&dir, &["household", "PL-0001", "--lang", "en"]);
    assert!(text.stdout.contains("receivable"), "{text:#?}");
    assert!(
        text.stdout.contains(&format!("[finding {FINDING}]")),
        "{text:#?}"
    );

    let funds = run_json(&dir, &["funds"]);
    let allowance = json!({"program": "support_allowance", "allocated": "50000.00",
        "disbursed": "1700.00", "recovered": "20.00", "remaining": "48320.00"});
    assert_eq!(funds[1], allowance);

    let totals = run_json(
        &dir,
        &["totals", "--by", "month", "--program", "support_allowance"],
    );
    let by_month: Vec<(&Value, &Value, &Value)> = totals
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (&r["month"], &r["amount"], &r["recovered"]))
        .collect();
    assert_eq!(
        by_month,
        [
            (&json!("2015-01"), &json!("1020.00"), &json!("0.00")),
            // The February correction is dated 2015-03-02: beside it, not netted.
            (&json!("2015-03"), &json!("680.00"), &json!("15.00")),
            (&json!("2015-04"), &json!("0.00"), &json!("5.00")),
        ]
    );

    // The API answers the same shapes.
    let server = TestServer::start(&dir, Limits::default());
    let mut supervisor = Client::new(server.addr, Some(tokens.of(Role::Supervisor)));
    let reply = supervisor.get("/api/v1/households/PL-0001").expect("GET");
    assert_eq!(reply.json()["receivables"], receivables);
    let reply = supervisor.get("/api/v1/funds").expect("GET");
    assert_eq!(reply.json()[1], allowance);
    let reply = supervisor.get("/api/v1/totals").expect("GET");
    assert_eq!(reply.json()[0]["recovered"], "20.00");
    server.stop();

    // REC-2 bounced: its reversal opens the receivable again and takes it off the fund.
    let bounced = events_with_finding(
        root.path(),
        "bounced.csv",
        &["2015-04-12,reversal,PL-0001,support_allowance,5.00,,REC-2,退票,"],
    );
    run(
        &dir,
        &["import", "events", bounced.to_str().expect("UTF-8")],
    )
    .assert_ok();
    let household = run_json(&dir, &["household", "PL-0001"]);
    assert_eq!(
        household["receivables"],
        json!([{"program": "support_allowance", "opened": "60.00",
                "recovered": "15.00", "open": "45.00"}])
    );
    let trail = household["trail"].as_array().expect("a trail");
    let reversal = trail.last().expect("the reversal is last");
    assert_eq!(
        (
            &reversal["type"],
            &reversal["finding"],
            &reversal["target_date"]
        ),
        (&json!("reversal"), &json!(FINDING), &json!("2015-04-10"))
    );
    assert_eq!(run_json(&dir, &["funds"])[1]["remaining"], "48315.00");
    let april = run_json(&dir, &["totals", "--month", "2015-04"]);
    assert_eq!(april, json!([]), "April's only recovery is reversed");
    // The receivable stands in the snapshot only, not in the log: `verify` replays the
    // rules from the log alone, and refuses the first recovery (seq 16), naming it.
    let verified = run(&dir, &["verify"]);
    verified.assert_code(1);
    assert!(
        verified
            .stdout
            .contains("FAILED at seq 16: seq 16 breaks a write rule: finding: finding 0123456789abcdef has no receivable"),
        "{verified:#?}"
    );
}

/// An insider who can edit the database but not read the signing key raises a finding's
/// receivable in the read models' snapshot: its seal no longer holds, so the recovery that
/// would rely on it is refused and the log is left as it was.
#[test]
fn a_receivable_edited_behind_the_ledgers_back_is_not_trusted() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("ledger");
    sample_with_receivable(&dir);
    let head = |dir: &Path| {
        let ledger = Ledger::open(dir).expect("open");
        let size = ledger.view().head().size;
        ledger.close().expect("close");
        size
    };
    let before = head(&dir);
    let db = crate::support::insider::open_db(&dir);
    let key = [&b"m"[..], META_READ_MODELS.as_bytes()].concat();
    let mut snapshot = db.get(&key).expect("read").expect("a snapshot").to_vec();
    // 60.00 (6,000 fen) becomes 600.00 (60,000 fen) wherever it is stored.
    let (from, to) = (6_000i64.to_le_bytes(), 60_000i64.to_le_bytes());
    let at = snapshot
        .windows(8)
        .position(|w| w == from)
        .expect("the receivable's amount is in the snapshot");
    snapshot[at..at + 8].copy_from_slice(&to);
    db.insert(&key, snapshot).expect("write");
    db.flush().expect("flush");
    crate::support::insider::close_db(db, &dir);

    let path = events_with_finding(
        root.path(),
        "greedy.csv",
        &[&format!(
            "2015-03-10,recovery_received,PL-0001,support_allowance,100.00,,REC-1,,{FINDING}"
        )],
    );
    let refused = run(&dir, &["import", "events", path.to_str().expect("UTF-8")]);
    assert_ne!(refused.code, 0, "{refused:#?}");
    assert!(refused.stderr.contains("read_models"), "{refused:#?}");
    assert_eq!(head(&dir), before, "nothing was appended");
}
