//! Recoveries (追缴) through the import, the CLI and the API: a `recovery_received` row
//! needs an open receivable of its finding, household and program, never takes it below
//! zero, and `household`, `funds` and `totals` show what came back.
//!
//! The receivable comes from a real decision: a `duplicate_payment` finding confirmed by
//! another actor with an amount to recover.

use std::path::{Path, PathBuf};

use fundtrail::http::Limits;
use fundtrail::keys::tokens::Role;
use fundtrail::ledger::import::EVENT_COLUMNS;
use fundtrail::ledger::readmodels::META_READ_MODELS;
use fundtrail::ledger::Ledger;
use serde_json::{json, Value};

use crate::support::client::Client;
use crate::support::server::{sample_ledger, TestServer};
use crate::support::{run, TempLedger};

/// A finding id no finding of these ledgers has.
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

/// The sample ledger and its rates, two identical 59.00 allowance payments to PL-0001 in
/// May 2015 (a `duplicate_payment` finding), and that finding confirmed by an auditor
/// with 59.00 to recover: a receivable of 59.00 for PL-0001's allowance. The read-model
/// snapshot is written after the decision. Returns the tokens and the finding's id.
fn sample_with_receivable(dir: &Path) -> (crate::support::server::Tokens, String) {
    let tokens = sample_ledger(dir);
    let root = dir.parent().expect("the ledger has a parent");
    let rates = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample/rates.csv");
    run(
        dir,
        &["import", "rates", rates.to_str().expect("UTF-8 path")],
    )
    .assert_ok();
    let twins = events_with_finding(
        root,
        "twins.csv",
        &[
            "2015-05-15,disbursement,PL-0001,support_allowance,59.00,2,DUP-1,,",
            "2015-05-16,disbursement,PL-0001,support_allowance,59.00,2,DUP-2,,",
        ],
    );
    run(
        dir,
        &["import", "events", twins.to_str().expect("UTF-8 path")],
    )
    .assert_ok();
    let found = run_json(dir, &["findings", "--rule", "duplicate_payment"]);
    let id = found[0]["id"]
        .as_str()
        .expect("a duplicate_payment finding")
        .to_string();
    run(
        dir,
        &[
            "--actor",
            "auditor-wang",
            "findings",
            "resolve",
            &id,
            "--decision",
            "confirmed",
            "--reason",
            "case 2015-7",
            "--recover",
            "59.00",
        ],
    )
    .assert_ok();
    run(dir, &["rebuild"]).assert_ok();
    (tokens, id)
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
    let (tokens, finding) = sample_with_receivable(&dir);
    let rows = [
        &format!(
            "2015-06-10,recovery_received,PL-0001,support_allowance,15.00,,REC-1,退回,{finding}"
        )[..],
        &format!(
            "2015-07-10,recovery_received,PL-0001,support_allowance,5.00,,REC-2,退回,{finding}"
        ),
    ];
    let path = events_with_finding(root.path(), "recoveries.csv", &rows);
    let file = path.to_str().expect("UTF-8 path");
    run(&dir, &["import", "events", file]).assert_ok();

    // 39.00 is open: 39.01 more is refused, and nothing of the file is appended.
    let beyond = events_with_finding(
        root.path(),
        "beyond.csv",
        &[
            &format!(
                "2015-08-10,recovery_received,PL-0001,support_allowance,39.00,,REC-3,,{finding}"
            ),
            &format!(
                "2015-08-11,recovery_received,PL-0001,support_allowance,0.01,,REC-4,,{finding}"
            ),
        ],
    );
    let refused = run(&dir, &["import", "events", beyond.to_str().expect("UTF-8")]);
    refused.assert_code(2);
    let said = refusal(&refused, &beyond, 3, "amount");
    assert!(said.contains("below zero: 0.00 yuan is open"), "{said}");

    let household = run_json(&dir, &["household", "PL-0001"]);
    let receivables = json!([{"program": "support_allowance", "opened": "59.00",
                              "recovered": "20.00", "open": "39.00"}]);
    assert_eq!(household["receivables"], receivables);
    let trail = household["trail"].as_array().expect("a trail");
    let recovery = trail.iter().find(|e| e["type"] == "recovery_received");
    assert_eq!(
        recovery.map(|e| (&e["reference"], &e["finding"], &e["amount"])),
        Some((&json!("REC-1"), &json!(finding), &json!("15.00")))
    );
    let text = run(&dir, &["household", "PL-0001", "--lang", "en"]);
    assert!(text.stdout.contains("receivable"), "{text:#?}");
    assert!(
        text.stdout.contains(&format!("[finding {finding}]")),
        "{text:#?}"
    );

    let funds = run_json(&dir, &["funds"]);
    let allowance = json!({"program": "support_allowance", "allocated": "50000.00",
        "disbursed": "1818.00", "recovered": "20.00", "remaining": "48202.00"});
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
            (&json!("2015-03"), &json!("680.00"), &json!("0.00")),
            // The recoveries stand beside the payments, in their own months, not netted
            // from May's overpayment.
            (&json!("2015-05"), &json!("118.00"), &json!("0.00")),
            (&json!("2015-06"), &json!("0.00"), &json!("15.00")),
            (&json!("2015-07"), &json!("0.00"), &json!("5.00")),
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
    let reply = supervisor.get("/api/v1/findings/summary").expect("GET");
    assert_eq!(reply.json()["recovered"], "20.00", "the dashboard's figure");
    assert_eq!(
        reply.json()["open"],
        0,
        "the finding is confirmed, no longer open"
    );
    server.stop();

    // REC-2 bounced: its reversal opens the receivable again and takes it off the fund.
    let bounced = events_with_finding(
        root.path(),
        "bounced.csv",
        &["2015-07-12,reversal,PL-0001,support_allowance,5.00,,REC-2,退票,"],
    );
    run(
        &dir,
        &["import", "events", bounced.to_str().expect("UTF-8")],
    )
    .assert_ok();
    let household = run_json(&dir, &["household", "PL-0001"]);
    assert_eq!(
        household["receivables"],
        json!([{"program": "support_allowance", "opened": "59.00",
                "recovered": "15.00", "open": "44.00"}])
    );
    let trail = household["trail"].as_array().expect("a trail");
    let reversal = trail.last().expect("the reversal is last");
    assert_eq!(
        (
            &reversal["type"],
            &reversal["finding"],
            &reversal["target_date"]
        ),
        (&json!("reversal"), &json!(finding), &json!("2015-07-10"))
    );
    assert_eq!(run_json(&dir, &["funds"])[1]["remaining"], "48197.00");
    let july = run_json(&dir, &["totals", "--month", "2015-07"]);
    assert_eq!(july, json!([]), "July's only recovery is reversed");
    // The receivable comes from a decision in the log: `verify` replays it and agrees.
    run(&dir, &["verify"]).assert_ok();
}

/// An insider who can edit the database but not read the signing key raises a finding's
/// receivable in the read models' snapshot: its seal no longer holds, so the recovery that
/// would rely on it is refused and the log is left as it was.
#[test]
fn a_receivable_edited_behind_the_ledgers_back_is_not_trusted() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("ledger");
    let (_, finding) = sample_with_receivable(&dir);
    let head = |dir: &Path| {
        let ledger = Ledger::open(dir).expect("open");
        let size = ledger.view().head().size;
        ledger.close().expect("close");
        size
    };
    let before = head(&dir);
    let db = crate::support::insider::open_db(&dir);
    let mut snapshot =
        crate::support::insider::snapshot_record(&db, META_READ_MODELS).expect("a snapshot");
    // 59.00 (5,900 fen) becomes 590.00 (59,000 fen) where it is first stored.
    let (from, to) = (5_900i64.to_le_bytes(), 59_000i64.to_le_bytes());
    let at = snapshot
        .windows(8)
        .position(|w| w == from)
        .expect("the receivable's amount is in the snapshot");
    snapshot[at..at + 8].copy_from_slice(&to);
    crate::support::insider::put_snapshot_record(&db, META_READ_MODELS, &snapshot);
    db.flush().expect("flush");
    crate::support::insider::close_db(db, &dir);

    let path = events_with_finding(
        root.path(),
        "greedy.csv",
        &[&format!(
            "2015-03-10,recovery_received,PL-0001,support_allowance,100.00,,REC-1,,{finding}"
        )],
    );
    let refused = run(&dir, &["import", "events", path.to_str().expect("UTF-8")]);
    assert_ne!(refused.code, 0, "{refused:#?}");
    assert!(refused.stderr.contains("read_models"), "{refused:#?}");
    assert_eq!(head(&dir), before, "nothing was appended");
}
