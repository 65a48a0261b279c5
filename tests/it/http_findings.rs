//! Findings over HTTP beyond the list: the dashboard panel's summary and one finding with
//! its evidence, on a simulated district with one planted case of every rule.

use std::time::Duration;

use crate::support::client::Client;
use crate::support::server::{sample_ledger, simulated_ledger, TestServer};
use crate::support::{binary_without_ledger, run_command};
use fundtrail::http::Limits;
use fundtrail::keys::tokens::Role;
use serde_json::Value;

const RULES: [&str; 6] = [
    "paid_after_death",
    "paid_after_exit",
    "allowance_over_due",
    "duplicate_payment",
    "shared_account",
    "outlier_amount",
];

/// Sums money strings ("12.34") in fen.
fn fen(items: &[Value], member: &str) -> i64 {
    items
        .iter()
        .map(|item| {
            let text = item[member].as_str().expect("an amount");
            let (yuan, cents) = text.split_once('.').expect("two decimals");
            yuan.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
        })
        .sum()
}

#[test]
fn the_findings_summary_counts_open_findings_by_rule_and_subdistrict() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, tokens) = simulated_ledger(dir.path());
    let server = TestServer::start(&ledger, Limits::default());
    let mut supervisor = Client::new(server.addr, Some(tokens.of(Role::Supervisor)));
    let list = supervisor.get("/api/v1/findings").unwrap().json();
    let list = list.as_array().expect("a list");
    assert_eq!(list.len(), 6);
    let reply = supervisor.get("/api/v1/findings/summary").unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let summary = reply.json();
    assert_eq!(summary["open"], 6, "{summary:#}");
    assert_eq!(summary["recovered"], "0.00");
    let by_rule = summary["by_rule"].as_array().expect("a list");
    let rules: Vec<&str> = by_rule
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, RULES, "every rule, in its pinned order");
    assert!(by_rule.iter().all(|r| r["open"] == 1), "{summary:#}");
    // The amounts at risk are the list's, summed by rule, by place and in all.
    assert_eq!(fen(by_rule, "amount_at_risk"), fen(list, "amount_at_risk"));
    let total = fen(std::slice::from_ref(&summary), "amount_at_risk");
    assert_eq!(total, fen(list, "amount_at_risk"));
    assert!(total > 0);
    for r in by_rule {
        let of_rule: Vec<Value> = list
            .iter()
            .filter(|f| f["rule"] == r["rule"])
            .cloned()
            .collect();
        assert_eq!(
            fen(std::slice::from_ref(r), "amount_at_risk"),
            fen(&of_rule, "amount_at_risk")
        );
    }
    let places = summary["by_subdistrict"].as_array().expect("a list");
    assert!(!places.is_empty());
    assert_eq!(
        places
            .iter()
            .map(|p| p["open"].as_u64().unwrap())
            .sum::<u64>(),
        6
    );
    assert_eq!(fen(places, "amount_at_risk"), total);
    // Each place is the sub-district its findings' households enrolled in.
    for f in list {
        let household = f["household_id"].as_str().unwrap();
        let balance = supervisor
            .get(&format!("/api/v1/households/{household}"))
            .unwrap()
            .json();
        let place = balance["subdistrict"].as_str().expect("a sub-district");
        assert!(
            places.iter().any(|p| p["subdistrict"] == place),
            "{place}: {summary:#}"
        );
    }
    let refused = supervisor.get("/api/v1/findings/summary?rule=x").unwrap();
    assert_eq!(refused.status, 400, "{}", refused.body);
    let mut clerk = Client::new(server.addr, Some(tokens.of(Role::Clerk)));
    assert_eq!(clerk.get("/api/v1/findings/summary").unwrap().status, 403);
    server.stop();
}

#[test]
fn one_finding_comes_with_evidence_that_verifies_offline_and_an_unknown_id_is_404() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, tokens) = simulated_ledger(dir.path());
    let server = TestServer::start(&ledger, Limits::default());
    let mut auditor = Client::new(server.addr, Some(tokens.of(Role::Auditor)));
    let list = auditor
        .get("/api/v1/findings?rule=shared_account")
        .unwrap()
        .json();
    let finding = &list[0];
    let id = finding["id"].as_str().expect("an id");
    let reply = auditor.get(&format!("/api/v1/findings/{id}")).unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let detail = reply.json();
    assert_eq!(&detail["finding"], finding, "the list's shape");
    // The planted shared account is 6228480000000777; only its last four show.
    assert!(
        !reply.body.contains("6228480000000777"),
        "no account in clear: {}",
        reply.body
    );
    assert_eq!(detail["finding"]["account"], "************0777");
    let evidence = detail["evidence"].as_array().expect("a list");
    assert_eq!(evidence.len(), finding["seqs"].as_array().unwrap().len());
    assert_eq!(detail["awaiting_checkpoint"], serde_json::json!([]));
    let key = auditor.get("/api/v1/checkpoint").unwrap().json()["verifier_key"]
        .as_str()
        .expect("the verifier key")
        .to_owned();
    for (i, proof) in evidence.iter().enumerate() {
        let file = dir.path().join(format!("proof-{i}.json"));
        std::fs::write(&file, proof.to_string()).unwrap();
        run_command(binary_without_ledger().args([
            "audit",
            "verify-inclusion",
            file.to_str().unwrap(),
            "--key",
            &key,
        ]))
        .assert_ok();
    }
    let unknown = auditor.get("/api/v1/findings/0000000000000000").unwrap();
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert_eq!(unknown.code(), "not_found");
    for bad in ["NOT-AN-ID", "0123456789ABCDEF", "0123"] {
        let reply = auditor.get(&format!("/api/v1/findings/{bad}")).unwrap();
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
    }
    let mut supervisor = Client::new(server.addr, Some(tokens.of(Role::Supervisor)));
    assert_eq!(
        supervisor
            .get(&format!("/api/v1/findings/{id}"))
            .unwrap()
            .status,
        200
    );
    let mut admin = Client::new(server.addr, Some(tokens.of(Role::Admin)));
    assert_eq!(
        admin.get(&format!("/api/v1/findings/{id}")).unwrap().status,
        403
    );
    server.stop();
}

/// Evidence appended after the latest signed checkpoint has no proof yet: it is named,
/// not failed on; once the server has signed (here, when it stops), the proofs come.
#[test]
fn evidence_newer_than_the_latest_checkpoint_is_listed_as_awaiting_it() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = sample_ledger(dir.path());
    // No tick signs during the test: only the stop does.
    let limits = Limits {
        checkpoint_interval: Duration::from_secs(3600),
        ..Limits::default()
    };
    let server = TestServer::start(dir.path(), limits);
    let events = "date,type,household_id,program,amount,persons,reference,memo,account\n\
                  2018-04-30,disbursement,PL-0001,support_allowance,10.00,1,SH-1,,6222021234567895678\n\
                  2018-04-30,disbursement,PL-0002,support_allowance,10.00,1,SH-2,,6222021234567895678\n\
                  2018-04-30,disbursement,PL-0003,support_allowance,10.00,1,SH-3,,6222021234567895678\n";
    let mut clerk = Client::new(server.addr, Some(tokens.of(Role::Clerk)));
    let reply = clerk
        .post("/api/v1/imports/events", events, "text/csv")
        .unwrap();
    assert_eq!(reply.status, 201, "{}", reply.body);
    let mut auditor = Client::new(server.addr, Some(tokens.of(Role::Auditor)));
    let list = auditor.get("/api/v1/findings").unwrap().json();
    let id = list[0]["id"].as_str().expect("a finding").to_owned();
    let seqs = list[0]["seqs"].clone();
    let detail = auditor
        .get(&format!("/api/v1/findings/{id}"))
        .unwrap()
        .json();
    assert_eq!(detail["evidence"], serde_json::json!([]), "{detail:#}");
    assert_eq!(detail["awaiting_checkpoint"], seqs);
    let summary = auditor.get("/api/v1/findings/summary").unwrap().json();
    assert_eq!(summary["open"], 1);
    assert_eq!(summary["amount_at_risk"], "30.00");
    let places: Vec<&str> = summary["by_subdistrict"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["subdistrict"].as_str().unwrap())
        .collect();
    // The account's finding is raised on one household of the three; its place is one of
    // the sample's sub-districts.
    assert_eq!(places.len(), 1, "{summary:#}");
    assert!(["拓东", "鼓楼", "龙泉"].contains(&places[0]), "{summary:#}");
    server.stop();
    let server = TestServer::start(dir.path(), Limits::default());
    let mut auditor = Client::new(server.addr, Some(tokens.of(Role::Auditor)));
    let detail = auditor
        .get(&format!("/api/v1/findings/{id}"))
        .unwrap()
        .json();
    assert_eq!(detail["awaiting_checkpoint"], serde_json::json!([]));
    assert_eq!(
        detail["evidence"].as_array().map(Vec::len),
        seqs.as_array().map(Vec::len)
    );
    server.stop();
}
