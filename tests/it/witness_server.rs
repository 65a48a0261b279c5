//! The server asks the witnesses after the checkpoints it signs (`fundtrail witness serve`
//! processes on loopback): its ticks get the head cosigned, which `GET /api/v1/witnesses`
//! and `GET /api/v1/checkpoint/cosigned` show; a forked ledger's server raises the alarm
//! in the API and across the dashboard (in a real headless Chromium, as dashboard.rs).
//! Every wait polls with a deadline: nothing here asserts how fast anything is.

use std::time::{Duration, Instant};

use fundtrail::http::Limits;
use fundtrail::ledger::import::ImportKind;
use serde_json::{json, Value};

use crate::dashboard::{browser_or_skip, rendered_dom};
use crate::support::client::Client;
use crate::support::server::{issue_tokens, TestServer, Tokens};
use crate::support::*;
use crate::witness::{fork, serving_witnesses};

/// How long a test waits for the witnesses' state to change before it fails: a bound on
/// waiting on a loaded machine, not a speed.
const DEADLINE: Duration = Duration::from_secs(60);

/// Ticks this often, so the test waits for the server's checkpoint briefly.
const FAST_TICKS: Duration = Duration::from_millis(200);

fn limits() -> Limits {
    Limits {
        checkpoint_interval: FAST_TICKS,
        ..Limits::default()
    }
}

fn tokens(t: &TempLedger) -> Tokens {
    issue_tokens(&mut t.open())
}

fn payment(reference: &str) -> Value {
    json!({
        "date": "2018-03-01", "type": "disbursement", "household_id": "PL-0001",
        "program": "support_allowance", "amount": "1.00", "persons": 1,
        "reference": reference, "memo": "",
    })
}

/// Appends one payment through the API; returns the new head.
fn append(client: &mut Client, reference: &str) -> u64 {
    let reply = client
        .post_json("/api/v1/events", &payment(reference))
        .unwrap();
    assert!(reply.status < 300, "{reply:?}");
    reply.json()["head"]["size"].as_u64().expect("the new head")
}

/// GETs `path` until `done` holds for its JSON, or fails at [`DEADLINE`] with the last.
fn poll(client: &mut Client, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let reply = client.get(path).unwrap();
        assert_eq!(reply.status, 200, "{reply:?}");
        let json = reply.json();
        if done(&json) {
            return json;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{path} never got there: {json}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_servers_ticks_get_the_head_cosigned_and_the_api_shows_the_witnesses() {
    let t = TempLedger::standard();
    let tokens = tokens(&t);
    let witnesses = serving_witnesses(&t, 2);
    let server = TestServer::start(&t.dir, limits());
    let mut clerk = Client::new(server.addr, Some(&tokens.clerk));
    let head = append(&mut clerk, "SRV-1");
    let mut supervisor = Client::new(server.addr, Some(&tokens.supervisor));
    let state = poll(&mut supervisor, "/api/v1/witnesses", |s| {
        s["cosigned_size"] == head
    });
    assert_eq!(state["quorum"], 2);
    assert_eq!(state["head"], head);
    assert_eq!(state["beyond"], 0);
    assert_eq!(state["alarm"], false);
    let listed = state["witnesses"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    for (shown, w) in listed.iter().zip(&witnesses) {
        assert_eq!(shown["name"], w.key.name());
        assert_eq!(shown["key"], w.vkey);
        assert_eq!(shown["cosigned_size"], head);
        assert!(shown["alarm"].is_null(), "{shown}");
        assert!(shown["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"));
    }

    let note = supervisor.get("/api/v1/checkpoint/cosigned").unwrap();
    assert_eq!(note.status, 200, "{note:?}");
    assert!(note
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    for w in &witnesses {
        w.key
            .verify_note(&note.body)
            .expect("each witness cosigned");
    }
    let same = supervisor
        .get(&format!("/api/v1/checkpoint/cosigned?size={head}"))
        .unwrap();
    assert_eq!(same.body, note.body);
    let none = supervisor
        .get("/api/v1/checkpoint/cosigned?size=1")
        .unwrap();
    assert_eq!(none.status, 404, "{none:?}");
    assert_eq!(none.code(), "not_found");
    let bad = supervisor.get("/api/v1/witnesses?x=1").unwrap();
    assert_eq!(bad.status, 400, "{bad:?}");
    // A clerk may not read the witnesses' state (supervisors and auditors may).
    assert_eq!(clerk.get("/api/v1/witnesses").unwrap().status, 403);
    if let Some(browser) = browser_or_skip() {
        let url = format!("http://{}/#token={}", server.addr, tokens.supervisor);
        let dom = rendered_dom(&browser, &url);
        assert!(dom.contains(r#"data-state="ready""#), "{dom}");
        let banner = &dom[dom.find(r#"id="witness-alarm""#).expect("the banner")..];
        assert!(
            banner[..banner.find('>').unwrap()].contains("hidden"),
            "no alarm"
        );
        assert!(dom.contains("<dd>2 / 2</dd>"), "the quorum: {dom}");
        assert!(dom.contains(r#"<td class="ok">正常</td>"#), "{dom}");
    }
    server.stop();
    let kept = std::fs::read_to_string(t.dir.join(format!("cosigned/{head}.txt"))).unwrap();
    assert_eq!(kept, note.body);
}

#[test]
fn a_ledger_without_witnesses_shows_none_and_serves_no_cosigned_note() {
    let t = TempLedger::standard();
    let tokens = tokens(&t);
    let server = TestServer::start(&t.dir, limits());
    let mut supervisor = Client::new(server.addr, Some(&tokens.supervisor));
    let state = supervisor.get("/api/v1/witnesses").unwrap().json();
    assert!(state["quorum"].is_null(), "{state}");
    assert_eq!(state["witnesses"], json!([]));
    assert_eq!(state["alarm"], false);
    let note = supervisor.get("/api/v1/checkpoint/cosigned").unwrap();
    assert_eq!(note.status, 404, "{note:?}");
    server.stop();
    assert!(!t.dir.join("cosigned").exists());
    assert!(!t.dir.join("witnesses.json").exists());
}

#[test]
fn a_forked_ledgers_server_raises_the_alarm_in_the_api_and_on_the_dashboard() {
    let a = TempLedger::standard();
    let tokens = tokens(&a);
    let _witnesses = serving_witnesses(&a, 2);
    a.run(&["checkpoint"]).assert_ok();
    // The copy knows the witnesses and what they cosigned: the same key and history.
    let b = fork(&a);
    let rows = a.write_csv("A.csv", ImportKind::Events, &payment_rows("A", 4));
    a.run(&["import", "events", rows.to_str().unwrap()])
        .assert_ok();

    let server = TestServer::start(&b.dir, limits());
    let mut clerk = Client::new(server.addr, Some(&tokens.clerk));
    append(&mut clerk, "B-1");
    let mut supervisor = Client::new(server.addr, Some(&tokens.supervisor));
    let state = poll(&mut supervisor, "/api/v1/witnesses", |s| s["alarm"] == true);
    for shown in state["witnesses"].as_array().unwrap() {
        let why = shown["alarm"].as_str().unwrap_or_else(|| panic!("{shown}"));
        assert!(why.contains("another history"), "{why}");
    }
    let Some(browser) = browser_or_skip() else {
        server.stop();
        return;
    };
    let url = format!("http://{}/#token={}", server.addr, tokens.supervisor);
    let dom = rendered_dom(&browser, &url);
    assert!(dom.contains(r#"data-state="ready""#), "{dom}");
    let banner = &dom[dom.find(r#"id="witness-alarm""#).expect("the banner")..];
    let tag = &banner[..banner.find('>').unwrap()];
    assert!(!tag.contains("hidden"), "the banner shows: {tag}");
    assert!(banner.contains("警报：有见证方看到了本台账的另一段历史"));
    assert!(dom.contains("w1.example/witness") && dom.contains("w2.example/witness"));
    server.stop();
}

#[test]
fn the_servers_last_checkpoint_at_shutdown_is_cosigned_before_it_stops() {
    let t = TempLedger::standard();
    let tokens = tokens(&t);
    let witnesses = serving_witnesses(&t, 2);
    // No tick comes while the test runs: only the checkpoint at shutdown signs.
    let never = Limits {
        checkpoint_interval: Duration::from_secs(3600),
        ..Limits::default()
    };
    let server = TestServer::start(&t.dir, never);
    let mut clerk = Client::new(server.addr, Some(&tokens.clerk));
    let head = append(&mut clerk, "LAST-1");
    server.stop();
    let note = std::fs::read_to_string(t.dir.join(format!("cosigned/{head}.txt")))
        .expect("the last checkpoint's quorum note, kept before the server returned");
    for w in &witnesses {
        w.key.verify_note(&note).expect("each witness cosigned");
    }
}
