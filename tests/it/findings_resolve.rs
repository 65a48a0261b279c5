//! Decisions about findings (`finding_resolved`): four eyes over the CLI and HTTP, the
//! role refusals, supersession by a third actor, and the ledger unchanged after every
//! refusal.

use fundtrail::http::Limits;
use fundtrail::keys::tokens::Role;
use fundtrail::ledger::import::{CsvFile, ImportKind};
use fundtrail::ledger::{AppendContext, Ledger};
use serde_json::{json, Value};

use crate::support::client::Client;
use crate::support::forge;
use crate::support::server::{sample_ledger, TestServer};
use crate::support::*;

/// Two payments of one household, program, month and amount under two references: a
/// `duplicate_payment` finding whose evidence `actor` recorded.
const DUPLICATE_EVENTS: &str = "date,type,household_id,program,amount,persons,reference,memo\n\
2018-03-01,disbursement,PL-0002,support_allowance,340.00,1,DUP-1,\n\
2018-03-02,disbursement,PL-0002,support_allowance,340.00,1,DUP-2,\n";

/// The sample ledger with [`DUPLICATE_EVENTS`] recorded by `actor`.
fn ledger_with_duplicate(dir: &std::path::Path, actor: &str) -> crate::support::server::Tokens {
    let tokens = sample_ledger(dir);
    let file = dir.join("duplicate.csv");
    std::fs::write(&file, DUPLICATE_EVENTS).unwrap();
    let mut ledger = Ledger::open(dir).unwrap();
    ledger
        .append_signed(
            &mut CsvFile::new(&file, ImportKind::Events),
            &AppendContext::now(actor),
        )
        .unwrap();
    ledger.close().unwrap();
    tokens
}

fn events(client: &mut Client) -> u64 {
    client.get("/api/v1/status").unwrap().json()["events"]
        .as_u64()
        .unwrap()
}

fn resolve(client: &mut Client, id: &str, body: Value) -> crate::support::client::Reply {
    client
        .post_json(&format!("/api/v1/findings/{id}/resolve"), &body)
        .unwrap()
}

#[test]
fn over_http_four_eyes_roles_and_a_third_actor_superseding() {
    let dir = tempfile::tempdir().unwrap();
    // The supervisor's name recorded the evidence (say, through the CLI).
    let tokens = ledger_with_duplicate(dir.path(), "supervisor-1");
    let server = TestServer::start(dir.path(), Limits::default());
    let mut supervisor = Client::new(server.addr, Some(&tokens.supervisor));
    let mut auditor = Client::new(server.addr, Some(&tokens.auditor));
    let list = auditor.get("/api/v1/findings").unwrap().json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["status"], "open");
    assert_eq!(list[0]["resolution"], Value::Null);
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let size = events(&mut auditor);

    let dismiss = json!({"decision": "dismissed", "reason": "case 7"});
    let own = resolve(&mut supervisor, &id, dismiss.clone());
    assert_eq!(
        (own.status, own.code()),
        (422, "rejected".into()),
        "{}",
        own.body
    );
    assert_eq!(own.json()["rejections"][0]["field"], "actor");
    assert!(own.body.contains("four eyes"), "{}", own.body);
    assert_eq!(events(&mut auditor), size, "a refusal appends nothing");
    for role in [Role::Clerk, Role::Admin] {
        let mut client = Client::new(server.addr, Some(tokens.of(role)));
        let reply = resolve(&mut client, &id, dismiss.clone());
        assert_eq!(
            (reply.status, reply.code()),
            (403, "forbidden".into()),
            "{role}"
        );
    }
    assert_eq!(events(&mut auditor), size);

    let confirm = json!({"decision": "confirmed", "reason": "case 7", "recover": "340.00"});
    let first = resolve(&mut auditor, &id, confirm.clone());
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.json()["decision"], "confirmed");
    let confirmed = auditor
        .get("/api/v1/findings?status=confirmed")
        .unwrap()
        .json();
    let resolution = &confirmed[0]["resolution"];
    assert_eq!(resolution["actor"], "auditor-1");
    assert_eq!(resolution["recover"], "340.00");
    assert_eq!(resolution["program"], "support_allowance");
    assert_eq!(resolution["superseded"], json!([]));
    assert_eq!(auditor.get("/api/v1/findings").unwrap().json(), json!([]));

    // The same resolver again: refused, even to change its mind.
    let again = resolve(&mut auditor, &id, dismiss.clone());
    assert_eq!(again.status, 422, "{}", again.body);
    assert!(again.body.contains("already decided"), "{}", again.body);
    assert_eq!(events(&mut auditor), size + 1);

    // A third actor supersedes; the earlier decision stays, superseded.
    let mut admin = Client::new(server.addr, Some(&tokens.admin));
    let issued = admin
        .post_json(
            "/api/v1/tokens",
            &json!({"name": "supervisor-2", "role": "supervisor"}),
        )
        .unwrap();
    let third = issued.json()["token"].as_str().unwrap().to_owned();
    let mut third = Client::new(server.addr, Some(&third));
    let superseding = resolve(&mut third, &id, dismiss);
    assert_eq!(superseding.status, 201, "{}", superseding.body);
    let dismissed = auditor
        .get("/api/v1/findings?status=dismissed")
        .unwrap()
        .json();
    let resolution = &dismissed[0]["resolution"];
    assert_eq!(resolution["actor"], "supervisor-2");
    assert_eq!(resolution["superseded"][0]["actor"], "auditor-1");
    let all = auditor.get("/api/v1/findings?status=all").unwrap().json();
    assert_eq!(all.as_array().unwrap().len(), 1);
    let closed = auditor.get("/api/v1/findings?status=closed").unwrap();
    assert_eq!((closed.status, closed.code()), (400, "bad_request".into()));
    let unknown = resolve(&mut auditor, "0000000000000000", confirm);
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    let malformed = resolve(
        &mut auditor,
        &id,
        json!({"decision": "maybe", "reason": "x"}),
    );
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    server.stop();
}

/// The CLI's ledger: the sample's households and events and [`DUPLICATE_EVENTS`], all
/// recorded by the tests' actor.
fn cli_ledger() -> TempLedger {
    let t = TempLedger::uninitialized();
    t.run(&["init"]).assert_ok();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample");
    for kind in ["households", "events"] {
        let file = root.join(format!("{kind}.csv"));
        t.run(&["import", kind, file.to_str().unwrap()]).assert_ok();
    }
    let file = t.file("duplicate.csv");
    std::fs::write(&file, DUPLICATE_EVENTS).unwrap();
    t.run(&["import", "events", file.to_str().unwrap()])
        .assert_ok();
    t
}

fn finding_id(t: &TempLedger) -> String {
    let run = t.run(&["--json", "findings", "--status", "all"]);
    run.assert_ok();
    let list: Value = serde_json::from_str(&run.stdout).unwrap();
    list[0]["id"].as_str().unwrap().to_owned()
}

fn head(t: &TempLedger) -> String {
    let run = t.run(&["--json", "log", "--limit", "1"]);
    run.assert_ok();
    run.stdout
}

#[test]
fn over_the_cli_each_refusal_names_its_reason_and_leaves_the_ledger_unchanged() {
    let t = cli_ledger();
    let id = finding_id(&t);
    let before = head(&t);
    let refusals: [(&[&str], &str); 7] = [
        (&["--decision", "confirmed", "--reason", "c1"], "four eyes"),
        (
            &[
                "--actor",
                "li",
                "--decision",
                "dismissed",
                "--reason",
                "c1",
                "--recover",
                "1.00",
            ],
            "confirmed",
        ),
        (
            &[
                "--actor",
                "li",
                "--decision",
                "confirmed",
                "--reason",
                "c1",
                "--recover",
                "340.01",
            ],
            "amount at risk",
        ),
        (
            &[
                "--actor",
                "li",
                "--decision",
                "confirmed",
                "--reason",
                "c1",
                "--recover",
                "1.00",
                "--program",
                "micro_wish",
            ],
            "paid from support_allowance",
        ),
        (
            &[
                "--actor",
                "li",
                "--decision",
                "dismissed",
                "--reason",
                "c1",
                "--program",
                "micro_wish",
            ],
            "only with an amount",
        ),
        (
            &["--actor", "li", "--decision", "dismissed", "--reason", "  "],
            "is empty",
        ),
        (
            &[
                "--actor",
                "li",
                "--decision",
                "dismissed",
                "--reason",
                &"长".repeat(201),
            ],
            "200 characters",
        ),
    ];
    for (args, says) in refusals {
        let mut full = vec!["findings", "resolve", id.as_str()];
        full.extend_from_slice(args);
        // `--actor` is a global option: give it before the subcommand.
        if full.contains(&"--actor") {
            full.retain(|a| *a != "--actor" && *a != "li");
            full.splice(0..0, ["--actor", "li"]);
        }
        let run = t.run(&full);
        run.assert_code(2);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("the ledger is unchanged"),
            "{}",
            run.stderr
        );
        assert_eq!(head(&t), before, "{args:?} appended something");
    }
    let unknown = t.run(&[
        "--actor",
        "li",
        "findings",
        "resolve",
        "0123456789abcdef",
        "--decision",
        "dismissed",
        "--reason",
        "x",
    ]);
    unknown.assert_code(2);
    assert!(
        unknown.stderr.contains("no finding has id"),
        "{}",
        unknown.stderr
    );
    let bad = t.run(&[
        "--actor",
        "li",
        "findings",
        "resolve",
        &id,
        "--decision",
        "maybe",
        "--reason",
        "x",
    ]);
    bad.assert_code(2);
    assert!(bad.stderr.contains("not a decision"), "{}", bad.stderr);
    assert_eq!(head(&t), before);
}

#[test]
fn over_the_cli_a_third_actor_supersedes_and_the_statuses_follow() {
    let t = cli_ledger();
    let id = finding_id(&t);
    t.run(&[
        "--actor",
        "li",
        "findings",
        "resolve",
        &id,
        "--decision",
        "confirmed",
        "--reason",
        "case 9",
        "--recover",
        "340.00",
    ])
    .assert_ok();
    let open = t.run(&["findings"]);
    assert_eq!(open.stdout, "无疑点\n", "no open finding left");
    let confirmed = t.run(&["--json", "findings", "--status", "confirmed"]);
    let list: Value = serde_json::from_str(&confirmed.stdout).unwrap();
    assert_eq!(
        list[0]["resolution"]["program"], "support_allowance",
        "the evidence's one program"
    );
    let again = t.run(&[
        "--actor",
        "li",
        "findings",
        "resolve",
        &id,
        "--decision",
        "dismissed",
        "--reason",
        "x",
    ]);
    again.assert_code(2);
    assert!(again.stderr.contains("already decided"), "{}", again.stderr);
    t.run(&[
        "--actor",
        "zhao",
        "findings",
        "resolve",
        &id,
        "--decision",
        "dismissed",
        "--reason",
        "a correction",
    ])
    .assert_ok();
    let dismissed = t.run(&["--json", "findings", "--status", "dismissed"]);
    let list: Value = serde_json::from_str(&dismissed.stdout).unwrap();
    assert_eq!(list[0]["status"], "dismissed");
    assert_eq!(list[0]["resolution"]["actor"], "zhao");
    assert_eq!(list[0]["resolution"]["superseded"][0]["actor"], "li");
    let shown = t.run(&["findings", "show", &id]);
    shown.assert_ok();
    assert!(
        shown
            .stdout
            .contains("confirmed by li: case 9 (recover 340.00 under support_allowance)"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("dismissed by zhao: a correction"),
        "{}",
        shown.stdout
    );
    t.run(&["findings", "--status", "closed"]).assert_code(2);
    t.run(&["verify"]).assert_ok();
}

/// A forged export (signed with a stolen key) where the actor who recorded a finding's
/// evidence also decided it: the chain and the write-rule replay hold, and `audit
/// findings`, which folds the findings with the events' actors, refuses it.
#[test]
fn audit_findings_refuses_an_export_whose_decision_breaks_four_eyes() {
    use fundtrail::model::encoding::{Body, FindingResolvedV1};
    use fundtrail_projections::findings::finding_id;
    use fundtrail_projections::Rule;

    let mut events = forge::opening();
    // BANK-1 again under another reference: a duplicate raised at seq 4.
    events.push(forge::pay("BANK-2", "PL-0001", 10_000, forge::D2015_01_31));
    let id = finding_id(Rule::DuplicatePayment, "PL-0001", 4);
    let decision = FindingResolvedV1 {
        finding: id.clone(),
        decision: 2,
        reason: "mine".into(),
        household: "PL-0001".into(),
        program: String::new(),
        recover_fen: 0,
        value_date: forge::D2015_02_02,
    };
    events.push((format!("resolve:{id}:1"), Body::FindingResolved(decision)));
    let t = TempLedger::uninitialized();
    let dir = t.file("forged");
    forge::write_export(&dir, &events);
    let key = forge::verifier_key();
    let dir = dir.to_str().unwrap();
    run_command(binary_without_ledger().args(["audit", "verify-export", dir, "--key", &key]))
        .assert_ok();
    let audit =
        run_command(binary_without_ledger().args(["audit", "findings", dir, "--key", &key]));
    audit.assert_code(1);
    let said = format!("{}{}", audit.stdout, audit.stderr);
    assert!(said.contains("four eyes: forger recorded seq 3"), "{said}");
}

/// The forged opening, a duplicate of BANK-1 (the finding, raised at seq 4), then a
/// decision about it by each of `deciders` with the `edit` applied: record bytes with
/// each record's own actor.
fn decisions_export(
    dir: &std::path::Path,
    deciders: &[&str],
    edit: impl Fn(&mut fundtrail::model::encoding::FindingResolvedV1),
) -> String {
    use fundtrail::model::encoding::{encode, Body, FindingResolvedV1};
    use fundtrail_projections::findings::finding_id;
    use fundtrail_projections::Rule;

    let mut events = forge::opening();
    events.push(forge::pay("BANK-2", "PL-0001", 10_000, forge::D2015_01_31));
    let id = finding_id(Rule::DuplicatePayment, "PL-0001", 4);
    let mut records = forge::records(&events);
    for (i, actor) in deciders.iter().enumerate() {
        let mut decision = FindingResolvedV1 {
            finding: id.clone(),
            decision: 2,
            reason: "case 4".into(),
            household: "PL-0001".into(),
            program: String::new(),
            recover_fen: 0,
            value_date: forge::D2015_02_02,
        };
        edit(&mut decision);
        records.push(fundtrail::model::encoding::RecordV1 {
            seq: records.len() as u64 + 1,
            recorded_at_us: forge::RECORDED_AT_US,
            actor: (*actor).into(),
            reference: format!("resolve:{id}:{i}"),
            body: Body::FindingResolved(decision),
        });
    }
    let bytes: Vec<Vec<u8>> = records.iter().map(encode).collect();
    forge::write_export_of_records(dir, &bytes);
    id
}

/// The independent Python verifier's exit code and report on `dir`.
fn python_verify(dir: &std::path::Path) -> (Option<i32>, String) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/independent-verifier/verify_export.py"
    );
    let out = std::process::Command::new("python3")
        .args(["-B", script, dir.to_str().unwrap(), &forge::verifier_key()])
        .output()
        .expect("run python3");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!said.contains("Traceback"), "{said}");
    (out.status.code(), said)
}

fn python_available() -> bool {
    let ready = std::process::Command::new("python3")
        .args(["-c", "import blake3, cryptography"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !ready {
        eprintln!("skipped the Python verifier: python3 with blake3 and cryptography is missing");
    }
    ready
}

/// Two deciders in turn are accepted by `audit verify-export`, `audit findings` and the
/// independent verifier; one decider twice, or an amount to recover with a dismissal, is
/// refused by all three at that record.
#[test]
fn every_verifier_reads_decisions_and_refuses_one_decider_twice() {
    let t = TempLedger::uninitialized();
    let key = forge::verifier_key();
    let audit = |what: &str, dir: &std::path::Path| {
        run_command(binary_without_ledger().args([
            "--json",
            "audit",
            what,
            dir.to_str().unwrap(),
            "--key",
            &key,
        ]))
    };
    let kept = t.file("kept");
    let id = decisions_export(&kept, &["li", "zhao"], |_| {});
    audit("verify-export", &kept).assert_ok();
    let findings = audit("findings", &kept);
    findings.assert_ok();
    let list: Value = serde_json::from_str(&findings.stdout).unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["resolution"]["actor"], "zhao");
    assert_eq!(list[0]["resolution"]["superseded"][0]["actor"], "li");

    let twice = t.file("twice");
    decisions_export(&twice, &["li", "li"], |_| {});
    let dismissed_with_recovery = t.file("dismissed-with-recovery");
    decisions_export(&dismissed_with_recovery, &["li"], |d| {
        d.recover_fen = 100;
        d.program = "support_allowance".into();
    });
    for (dir, seq, says) in [
        (&twice, 6, "already decided"),
        (&dismissed_with_recovery, 5, "confirmed"),
    ] {
        for what in ["verify-export", "findings"] {
            let refused = audit(what, dir);
            refused.assert_code(1);
            assert!(
                refused.stdout.contains(says),
                "{what} {dir:?}: {}",
                refused.stdout
            );
            assert_eq!(
                refused.json()["first_bad_seq"],
                seq,
                "{what} {dir:?}: {}",
                refused.stdout
            );
        }
    }
    if !python_available() {
        return;
    }
    assert_eq!(
        python_verify(&kept).0,
        Some(0),
        "{}",
        python_verify(&kept).1
    );
    for (dir, seq, says) in [
        (&twice, 6, "already decided"),
        (&dismissed_with_recovery, 5, "confirmed"),
    ] {
        let (code, said) = python_verify(dir);
        assert_eq!(code, Some(1), "{said}");
        assert!(
            said.contains(&format!("FAILED at seq {seq}")) && said.contains(says),
            "{said}"
        );
    }
}
