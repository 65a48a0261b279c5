//! The HTTP API in process, on 127.0.0.1 port 0: every endpoint, every auth case, the
//! limits, and the JSON error shape.

use crate::support::client::{Client, Reply};
use crate::support::server::{sample_ledger, TestServer, Tokens};
use fundtrail::http::{routes, Limits};
use fundtrail::keys::tokens::Role;
use serde_json::{json, Value};

fn serve(limits: Limits) -> (tempfile::TempDir, Tokens, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = sample_ledger(dir.path());
    let server = TestServer::start(dir.path(), limits);
    (dir, tokens, server)
}

fn as_role(server: &TestServer, tokens: &Tokens, role: Role) -> Client {
    Client::new(server.addr, Some(tokens.of(role)))
}

fn payment(reference: &str, amount: &str) -> Value {
    json!({
        "date": "2018-03-01", "type": "disbursement", "household_id": "PL-0002",
        "program": "support_allowance", "amount": amount, "persons": 1,
        "reference": reference, "memo": "2018年3月扶助金",
    })
}

const EVENTS_CSV: &str = "date,type,household_id,program,amount,persons,reference,memo\n\
2018-04-30,disbursement,PL-0003,support_allowance,340.00,1,CSV-1,\n\
2018-04-30,disbursement,PL-0001,support_allowance,680.00,2,CSV-2,\n";

const RATES_CSV: &str = "program,category,per_member,valid_from,valid_to\n\
support_allowance,bereaved,340.00,2015-01-01,\n";

/// The sample ledger's two January 2015 allowance payments, as the bank paid them.
const STATEMENT_CSV: &str = "value_date,amount,reference,beneficiary\n\
2015-01-31,680.00,BANK-201501-0001,张\n\
2015-01-31,340.00,BANK-201501-0002,李\n";

const CHANGES_CSV: &str = "date,type,person_id,household_id,reference,memo\n\
2018-06-30,eligibility_ended,,PL-0003,CHANGE-1,recovered\n";

const HOUSEHOLDS_CSV: &str = "household_id,subdistrict,community,category,members,enrolled_on\n\
PL-0009,青云,青云第1社区,bereaved,2,2016-01-01\n";

/// A well-formed finding id that the sample ledger has no finding of: a role it admits
/// gets 404 `not_found` (its token passed), every other role 403.
const NO_SUCH_FINDING: &str = "/api/v1/findings/0000000000000000";

/// The sample ledger has no witnesses, so no quorum note: an allowed role gets 404.
const NO_COSIGNED_NOTE: &str = "/api/v1/checkpoint/cosigned";

/// One call per route: method, path, body, and the roles it admits.
fn matrix() -> Vec<(&'static str, &'static str, String, &'static [Role])> {
    use Role::*;
    vec![
        (
            "get",
            "/api/v1/status",
            String::new(),
            &[Clerk, Supervisor, Auditor, Admin],
        ),
        (
            "post",
            "/api/v1/events",
            payment("M-1", "1.00").to_string(),
            &[Clerk],
        ),
        // M-1 again under another reference: a duplicate_payment finding to resolve.
        (
            "post",
            "/api/v1/events",
            payment("M-2", "1.00").to_string(),
            &[Clerk],
        ),
        (
            "post",
            "/api/v1/imports/households",
            HOUSEHOLDS_CSV.into(),
            &[Clerk],
        ),
        (
            "post",
            "/api/v1/imports/events",
            EVENTS_CSV.into(),
            &[Clerk],
        ),
        ("post", "/api/v1/imports/rates", RATES_CSV.into(), &[Clerk]),
        (
            "post",
            "/api/v1/imports/persons",
            crate::http_people::persons_csv(),
            &[Clerk],
        ),
        (
            "post",
            "/api/v1/imports/changes",
            CHANGES_CSV.into(),
            &[Clerk],
        ),
        (
            "post",
            "/api/v1/imports/deaths?source=matrix",
            format!(
                "id_number,name,date_of_death,source_ref\n{},x,2019-01-01,\n",
                crate::http_people::ID_MOTHER
            ),
            &[Clerk],
        ),
        ("get", "/api/v1/persons/P-1", String::new(), &[Admin]),
        (
            "post",
            "/api/v1/persons/P-1/reveal",
            json!({"reason": "matrix"}).to_string(),
            &[Admin],
        ),
        (
            "post",
            "/api/v1/persons/P-1/erase",
            json!({"reason": "matrix"}).to_string(),
            &[Admin],
        ),
        (
            "get",
            "/api/v1/totals?by=subdistrict,program",
            String::new(),
            &[Supervisor, Auditor],
        ),
        (
            "get",
            "/api/v1/findings?rule=shared_account",
            String::new(),
            &[Supervisor, Auditor],
        ),
        // The supervisor decides, then the auditor supersedes: two names, four eyes.
        (
            "post",
            FINDING_RESOLVE,
            json!({"decision": "dismissed", "reason": "matrix"}).to_string(),
            &[Supervisor, Auditor],
        ),
        (
            "get",
            "/api/v1/findings/summary",
            String::new(),
            &[Supervisor, Auditor],
        ),
        (
            "get",
            NO_SUCH_FINDING,
            String::new(),
            &[Supervisor, Auditor],
        ),
        (
            "get",
            "/api/v1/funds",
            String::new(),
            &[Supervisor, Auditor],
        ),
        (
            "get",
            "/api/v1/households/PL-0001",
            String::new(),
            &[Supervisor, Auditor],
        ),
        (
            "get",
            "/api/v1/households/PL-0001/trail",
            String::new(),
            &[Auditor],
        ),
        ("get", "/api/v1/log?limit=5", String::new(), &[Auditor]),
        ("get", "/api/v1/verify", String::new(), &[Auditor]),
        (
            "post",
            "/api/v1/reconcile?month=2015-01",
            STATEMENT_CSV.into(),
            &[Auditor],
        ),
        (
            "get",
            "/api/v1/checkpoint",
            String::new(),
            &[Supervisor, Auditor],
        ),
        (
            "get",
            NO_COSIGNED_NOTE,
            String::new(),
            &[Supervisor, Auditor],
        ),
        (
            "get",
            "/api/v1/witnesses",
            String::new(),
            &[Supervisor, Auditor],
        ),
        ("get", "/api/v1/export/events", String::new(), &[Auditor]),
        (
            "get",
            "/api/v1/proofs/inclusion?seq=5",
            String::new(),
            &[Auditor],
        ),
        (
            "get",
            "/api/v1/proofs/consistency?from=3",
            String::new(),
            &[Auditor],
        ),
        ("get", "/api/v1/tokens", String::new(), &[Admin]),
        (
            "post",
            "/api/v1/tokens",
            json!({"name": "matrix", "role": "clerk"}).to_string(),
            &[Admin],
        ),
        ("delete", "/api/v1/tokens/matrix", String::new(), &[Admin]),
    ]
}

/// The resolve route in the matrix; its finding is the one M-1 and M-2 raise, looked up
/// when the call is made ([`with_finding`]).
const FINDING_RESOLVE: &str = "/api/v1/findings/FINDING/resolve";

/// `path` with the first open finding's id for `FINDING`.
fn with_finding(server: &TestServer, tokens: &Tokens, path: &str) -> String {
    if !path.contains("FINDING") {
        return path.to_owned();
    }
    let list = as_role(server, tokens, Role::Auditor)
        .get("/api/v1/findings?status=all")
        .unwrap()
        .json();
    let id = list[0]["id"].as_str().expect("the matrix raised a finding");
    path.replace("FINDING", id)
}

const PUBLIC: [&str; 4] = ["/", "/assets/app.js", "/assets/app.css", "/openapi.json"];

/// The route template a concrete path was made from.
fn template(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let mut parts: Vec<String> = path.split('/').map(str::to_owned).collect();
    for part in parts.iter_mut() {
        match part.as_str() {
            "PL-0001" => *part = "{id}".into(),
            "matrix" => *part = "{name}".into(),
            "P-1" => *part = "{id}".into(),
            "0000000000000000" => *part = "{id}".into(),
            "FINDING" => *part = "{id}".into(),
            _ => {}
        }
    }
    parts.join("/")
}

fn call(client: &mut Client, method: &str, path: &str, body: &str) -> Reply {
    let content_type = if body.starts_with('{') || body.starts_with('[') {
        "application/json"
    } else {
        "text/csv"
    };
    let method = method.to_ascii_uppercase();
    client
        .send(&method, path, body, Some(content_type))
        .unwrap()
}

#[test]
fn every_route_answers_each_role_as_the_matrix_says() {
    let (_dir, tokens, server) = serve(Limits::default());
    let covered: Vec<(String, String)> = matrix()
        .iter()
        .map(|(m, p, _, _)| (m.to_string(), template(p)))
        .chain(PUBLIC.iter().map(|p| ("get".to_string(), p.to_string())))
        .collect();
    for (method, path) in routes() {
        assert!(
            covered.contains(&(method.to_string(), path.to_string())),
            "{method} {path} is not in the auth matrix"
        );
    }
    for (method, path, body, allowed) in matrix() {
        let path = &with_finding(&server, &tokens, path);
        for token in [None, Some("ft_not-a-token"), Some(tokens.revoked.as_str())] {
            let reply = call(&mut Client::new(server.addr, token), method, path, &body);
            assert_eq!(reply.status, 401, "{method} {path} with {token:?}");
            assert_eq!(reply.code(), "unauthorized");
            assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        }
        for role in Role::ALL {
            let reply = call(&mut as_role(&server, &tokens, role), method, path, &body);
            if allowed.contains(&role) && (path == NO_SUCH_FINDING || path == NO_COSIGNED_NOTE) {
                assert_eq!(
                    reply.status, 404,
                    "{method} {path} as {role}: {}",
                    reply.body
                );
                assert_eq!(reply.code(), "not_found");
            } else if allowed.contains(&role) {
                assert!(
                    (200..300).contains(&reply.status),
                    "{method} {path} as {role}: {} {}",
                    reply.status,
                    reply.body
                );
            } else {
                assert_eq!(reply.status, 403, "{method} {path} as {role}");
                assert_eq!(reply.code(), "forbidden");
            }
        }
    }
    for path in PUBLIC {
        let reply = Client::new(server.addr, None).get(path).unwrap();
        assert_eq!(reply.status, 200, "{path}");
    }
    server.stop();
}

#[test]
fn the_openapi_document_lists_the_roles_the_server_enforces() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json"));
    let doc: Value = serde_json::from_str(&text.unwrap()).unwrap();
    for (method, path, _, allowed) in matrix() {
        let documented: Vec<&str> = doc["paths"][template(path)][method]["x-roles"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path} has no x-roles"))
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        let enforced: Vec<&str> = allowed.iter().map(|r| r.code()).collect();
        assert_eq!(documented, enforced, "{method} {path}");
    }
}

#[test]
fn appends_are_acknowledged_retried_harmlessly_and_read_back_at_once() {
    let (_dir, tokens, server) = serve(Limits::default());
    let mut clerk = as_role(&server, &tokens, Role::Clerk);
    let mut supervisor = as_role(&server, &tokens, Role::Supervisor);
    let mut auditor = as_role(&server, &tokens, Role::Auditor);

    let first = clerk
        .post_json("/api/v1/events", &payment("P-1", "340.00"))
        .unwrap();
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.json()["seqs"], json!([14]));
    assert_eq!(first.json()["head"]["size"], 14);
    let retry = clerk
        .post_json("/api/v1/events", &payment("P-1", "340.00"))
        .unwrap();
    assert_eq!(retry.status, 200);
    assert_eq!(
        (
            retry.json()["appended"].clone(),
            retry.json()["duplicates"].clone()
        ),
        (json!(0), json!(1))
    );
    assert_eq!(retry.json()["seqs"], json!([14]));

    let conflict = clerk
        .post_json("/api/v1/events", &payment("P-1", "1.00"))
        .unwrap();
    assert_eq!(conflict.status, 422);
    assert_eq!(conflict.code(), "rejected");
    assert_eq!(conflict.json()["rejections"][0]["field"], "reference");

    // All or nothing: the good first row is not appended with the bad second one.
    let batch = json!([payment("P-2", "1.00"), payment("P-3", "1.234")]);
    let rejected = clerk.post_json("/api/v1/events", &batch).unwrap();
    assert_eq!(rejected.status, 422);
    assert_eq!(rejected.json()["rejections"][0]["line"], 2);
    assert_eq!(rejected.json()["rejections"][0]["field"], "amount");
    let number = clerk
        .post_json("/api/v1/events", &json!({"amount": 1.5}))
        .unwrap();
    assert_eq!(number.json()["rejections"][0]["field"], "amount");
    // Any other number is read as its text, so its own field's rule names it.
    for persons in [json!(-1), json!(1.5), json!(1e30)] {
        let mut event = payment("P-N", "1.00");
        event["persons"] = persons.clone();
        let reply = clerk.post_json("/api/v1/events", &event).unwrap();
        assert_eq!(reply.status, 422, "{persons}: {}", reply.body);
        assert_eq!(
            reply.json()["rejections"][0]["field"],
            "persons",
            "{persons}"
        );
    }

    let enroll = json!([
        {"type": "household_enrolled", "household_id": "PL-0100", "subdistrict": "青云",
         "community": "青云第1社区", "category": "失独", "members": 2, "enrolled_on": "2017-01-01"},
        {"date": "2018-03-01", "type": "disbursement", "household_id": "PL-0100",
         "program": "support_allowance", "amount": "340.00", "reference": "P-4"},
    ]);
    let both = clerk.post_json("/api/v1/events", &enroll).unwrap();
    assert_eq!(both.status, 201, "{}", both.body);
    assert_eq!(both.json()["seqs"], json!([15, 16]));

    let totals = supervisor
        .get("/api/v1/totals?by=subdistrict&year=2018")
        .unwrap();
    assert_eq!(
        totals.json(),
        json!([
            {"subdistrict": "青云", "amount": "340.00", "payments": 1, "households": 1, "persons": 1, "recovered": "0.00"},
            {"subdistrict": "鼓楼", "amount": "340.00", "payments": 1, "households": 1, "persons": 1, "recovered": "0.00"},
        ])
    );
    let log = auditor
        .get("/api/v1/log?type=disbursement&limit=2")
        .unwrap();
    let log_json = log.json();
    let actors: Vec<&str> = log_json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["clerk-1", "clerk-1"]);
    assert_eq!(log.json()[1]["reference"], "P-4");
    server.stop();
}

#[test]
fn imports_take_csv_bodies_all_or_nothing() {
    let limits = Limits {
        max_import_rows: 2,
        ..Limits::default()
    };
    let (_dir, tokens, server) = serve(limits);
    let mut clerk = as_role(&server, &tokens, Role::Clerk);
    let households = clerk
        .post("/api/v1/imports/households", HOUSEHOLDS_CSV, "text/csv")
        .unwrap();
    assert_eq!(households.status, 201, "{}", households.body);
    let events = clerk
        .post("/api/v1/imports/events", EVENTS_CSV, "text/csv")
        .unwrap();
    assert_eq!(events.json()["seqs"], json!([15, 16]));
    let again = clerk
        .post("/api/v1/imports/events", EVENTS_CSV, "text/csv")
        .unwrap();
    assert_eq!(
        (again.status, again.json()["duplicates"].clone()),
        (200, json!(2))
    );

    let bad_header = clerk
        .post("/api/v1/imports/events", "date,kind\n", "text/csv")
        .unwrap();
    assert_eq!(
        (bad_header.status, bad_header.code()),
        (422, "rejected".into())
    );
    assert_eq!(bad_header.json()["rejections"][0]["line"], 1);
    let bad_row =
        format!("{EVENTS_CSV}2018-05-01,disbursement,PL-0404,support_allowance,1.00,1,CSV-3,\n");
    let bad_row = bad_row
        .replacen("CSV-1", "CSV-9", 1)
        .replacen("CSV-2,\n", "CSV-8,\n", 1);
    let too_many = clerk
        .post("/api/v1/imports/events", &bad_row, "text/csv")
        .unwrap();
    assert_eq!(
        (too_many.status, too_many.code()),
        (413, "payload_too_large".into())
    );
    let one_bad = "date,type,household_id,program,amount,persons,reference,memo\n\
2018-05-01,disbursement,PL-0001,support_allowance,1.00,1,CSV-4,\n\
2018-05-01,disbursement,PL-0404,support_allowance,1.00,1,CSV-5,\n";
    let rejected = clerk
        .post("/api/v1/imports/events", one_bad, "text/csv")
        .unwrap();
    assert_eq!(rejected.status, 422);
    assert_eq!(rejected.json()["rejections"][0]["line"], 3);
    let status = clerk.get("/api/v1/status").unwrap();
    assert_eq!(
        status.json()["events"],
        16,
        "the rejected import left nothing"
    );
    server.stop();
}

#[test]
fn limits_and_bad_requests_answer_with_stable_codes() {
    let limits = Limits {
        max_events_per_request: 2,
        ..Limits::default()
    };
    let (_dir, tokens, server) = serve(limits);
    let mut clerk = as_role(&server, &tokens, Role::Clerk);
    let mut supervisor = as_role(&server, &tokens, Role::Supervisor);
    let mut auditor = as_role(&server, &tokens, Role::Auditor);

    let three = json!([
        payment("L-1", "1.00"),
        payment("L-2", "1.00"),
        payment("L-3", "1.00")
    ]);
    let reply = clerk.post_json("/api/v1/events", &three).unwrap();
    assert_eq!(
        (reply.status, reply.code()),
        (413, "payload_too_large".into())
    );

    // A body over the limit is refused as soon as its length is announced (the server
    // answers before the client has sent it, so only the status line is read here).
    let huge = format!(
        "POST /api/v1/imports/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: text/csv\r\nContent-Length: {}\r\n\r\nxxxx",
        tokens.of(Role::Clerk),
        fundtrail::http::MAX_BODY_BYTES + 1
    );
    assert!(status_line(&server, &huge).starts_with("HTTP/1.1 413"));

    let mut clerk = as_role(&server, &tokens, Role::Clerk);
    let reply = clerk
        .post("/api/v1/events", "{not json", "application/json")
        .unwrap();
    assert_eq!((reply.status, reply.code()), (400, "bad_request".into()));
    // A repeated member would be read as another event by whoever reads the first one.
    let repeated = r#"{"date":"2018-03-31","type":"disbursement","household_id":"PL-0001",
        "program":"support_allowance","amount":"1.00","persons":1,"reference":"DUP-M",
        "memo":"m","amount":"2.00"}"#;
    let reply = clerk
        .post("/api/v1/events", repeated, "application/json")
        .unwrap();
    assert_eq!((reply.status, reply.code()), (400, "bad_request".into()));
    let message = reply.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("\"amount\" appears twice"), "{message}");
    let log = as_role(&server, &tokens, Role::Auditor)
        .get("/api/v1/log?limit=1000")
        .unwrap();
    assert!(!log.body.contains("DUP-M"), "nothing was appended");

    for path in [
        "/api/v1/totals?by=planet",
        "/api/v1/totals?by=program,program",
        "/api/v1/totals?month=2018-13",
        "/api/v1/totals?program=lottery",
        "/api/v1/totals?colour=red",
        "/api/v1/households/not%20an%20id",
        // Endpoints without parameters refuse them rather than seem to apply them.
        "/api/v1/households/PL-0001?through=2018-07",
        "/api/v1/funds?program=support_allowance",
        "/api/v1/checkpoint?x=1",
        "/api/v1/findings?rule=paid_twice",
        "/api/v1/findings?colour=red",
    ] {
        let reply = supervisor.get(path).unwrap();
        assert_eq!(
            (reply.status, reply.code()),
            (400, "bad_request".into()),
            "{path}"
        );
    }
    let reply = supervisor.get("/api/v1/households/PL-0404").unwrap();
    assert_eq!((reply.status, reply.code()), (404, "not_found".into()));
    let reply = auditor.get("/api/v1/log?limit=1000000").unwrap();
    assert_eq!(reply.status, 400);
    for typo in [
        "/api/v1/log?type=disbursment",
        "/api/v1/log?program=allowance",
    ] {
        let reply = auditor.get(typo).unwrap();
        assert_eq!(
            (reply.status, reply.code()),
            (400, "bad_request".into()),
            "{typo}"
        );
    }
    assert_eq!(
        auditor.get("/api/v1/log?type=reversal").unwrap().status,
        200
    );
    let reply = auditor.get("/api/v1/log?limit=many").unwrap();
    assert_eq!(
        reply.json()["message"],
        "query: limit: invalid digit found in string"
    );
    let reply = auditor.get("/api/v1/nothing-here").unwrap();
    assert_eq!((reply.status, reply.code()), (404, "not_found".into()));
    assert!(reply.json()["message"].is_string());
    server.stop();
}

#[test]
fn supervisor_and_auditor_reads_mirror_the_cli_shapes() {
    let (_dir, tokens, server) = serve(Limits::default());
    let mut supervisor = as_role(&server, &tokens, Role::Supervisor);
    let mut auditor = as_role(&server, &tokens, Role::Auditor);

    let totals = supervisor
        .get("/api/v1/totals?by=subdistrict,program")
        .unwrap()
        .json();
    assert_eq!(totals.as_array().unwrap().len(), 5);
    assert_eq!(
        totals[1],
        json!({"subdistrict": "拓东", "program": "support_allowance", "amount": "1360.00",
               "payments": 2, "households": 1, "persons": 4, "recovered": "0.00"})
    );
    let month = supervisor
        .get("/api/v1/totals?by=month&program=support_allowance")
        .unwrap();
    assert_eq!(month.json()[0]["month"], "2015-01");
    let funds = supervisor.get("/api/v1/funds").unwrap().json();
    assert_eq!(
        funds[1],
        json!({"program": "support_allowance", "allocated": "50000.00",
               "disbursed": "1700.00", "recovered": "0.00", "remaining": "48300.00"})
    );
    let balance = supervisor.get("/api/v1/households/PL-0001").unwrap().json();
    assert_eq!(balance["total"], "1660.00");
    assert_eq!(balance["receivables"], json!([]));
    assert!(
        balance.get("trail").is_none(),
        "balances only for supervisors"
    );

    let trail = auditor
        .get("/api/v1/households/PL-0001/trail")
        .unwrap()
        .json();
    let trail = trail["trail"].as_array().unwrap();
    assert!(trail.iter().any(|e| e["type"] == "reversal"));
    let verify = auditor.get("/api/v1/verify").unwrap().json();
    assert_eq!(verify["ok"], true);
    assert_eq!(verify["events"], 13);
    assert_eq!(verify["read_models"], "ok");
    assert_eq!(verify["findings"], "ok");
    let log = auditor.get("/api/v1/log?household=PL-0002").unwrap().json();
    assert_eq!(log.as_array().unwrap().len(), 3);
    server.stop();
}

#[test]
fn admins_issue_and_revoke_tokens_whose_names_become_actors() {
    let (_dir, tokens, server) = serve(Limits::default());
    let mut admin = as_role(&server, &tokens, Role::Admin);
    let issued = admin
        .post_json("/api/v1/tokens", &json!({"name": "王芳", "role": "clerk"}))
        .unwrap();
    assert_eq!(issued.status, 201, "{}", issued.body);
    let secret = issued.json()["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("ft_"));

    let mut clerk = Client::new(server.addr, Some(&secret));
    let me = clerk.get("/api/v1/status").unwrap().json();
    assert_eq!(me["caller"], json!({"name": "王芳", "role": "clerk"}));
    assert_eq!(
        clerk
            .post_json("/api/v1/events", &payment("T-1", "1.00"))
            .unwrap()
            .status,
        201
    );
    let log = as_role(&server, &tokens, Role::Auditor)
        .get("/api/v1/log?limit=1")
        .unwrap();
    assert_eq!(log.json()[0]["actor"], "王芳");

    let again = admin
        .post_json("/api/v1/tokens", &json!({"name": "王芳", "role": "admin"}))
        .unwrap();
    assert_eq!((again.status, again.code()), (409, "conflict".into()));
    let bad = admin
        .post_json("/api/v1/tokens", &json!({"name": "x", "role": "root"}))
        .unwrap();
    assert_eq!(bad.status, 400);
    // The body is an object, and each member appears once.
    for body in [
        r#"["arr-tok", "auditor"]"#,
        r#"{"name": "x", "role": "clerk", "role": "admin"}"#,
    ] {
        let bad = admin
            .post("/api/v1/tokens", body, "application/json")
            .unwrap();
        assert_eq!(
            (bad.status, bad.code()),
            (400, "bad_request".into()),
            "{body}"
        );
        assert!(!bad.body.contains("struct"), "{}", bad.body);
    }
    let list = admin.get("/api/v1/tokens").unwrap().json();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t.get("token").is_none() && t.get("hash").is_none()));

    let revoked = admin.delete("/api/v1/tokens/%E7%8E%8B%E8%8A%B3").unwrap();
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(clerk.get("/api/v1/status").unwrap().status, 401);
    assert_eq!(admin.delete("/api/v1/tokens/nobody").unwrap().status, 404);
    server.stop();
}

#[test]
fn the_dashboard_and_its_assets_load_nothing_from_elsewhere() {
    let (_dir, _tokens, server) = serve(Limits::default());
    let mut anyone = Client::new(server.addr, None);
    let page = anyone.get("/").unwrap();
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    for path in ["/", "/assets/app.js", "/assets/app.css"] {
        let body = anyone.get(path).unwrap().body;
        for scheme in ["http://", "https://", "//cdn"] {
            let outside = body.replace("http://www.w3.org/2000/svg", "");
            assert!(!outside.contains(scheme), "{path} names {scheme}");
        }
    }
    server.stop();
}

#[test]
fn reconciliation_matches_a_statement_and_records_the_run_with_the_token_as_actor() {
    let (_dir, tokens, server) = serve(Limits::default());
    let mut auditor = as_role(&server, &tokens, Role::Auditor);
    let clean = auditor
        .post("/api/v1/reconcile?month=2015-01", STATEMENT_CSV, "text/csv")
        .unwrap();
    assert_eq!(clean.status, 200, "{}", clean.body);
    let report = clean.json();
    assert_eq!(report["clean"], true);
    assert_eq!(report["matched"], json!({"count": 2, "amount": "1020.00"}));
    assert_eq!(report["recorded"]["seq"], 14);
    assert_eq!(report["recorded"]["appended"], true);
    let again = auditor
        .post("/api/v1/reconcile?month=2015-01", STATEMENT_CSV, "text/csv")
        .unwrap()
        .json();
    assert_eq!(
        (
            again["recorded"]["seq"].clone(),
            again["recorded"]["appended"].clone()
        ),
        (json!(14), json!(false))
    );

    let short = STATEMENT_CSV.replace("340.00", "34.00");
    let differs = auditor
        .post("/api/v1/reconcile?month=2015-01", &short, "text/csv")
        .unwrap()
        .json();
    assert_eq!(differs["clean"], false);
    assert_eq!(differs["differences"].as_array().unwrap().len(), 1);
    assert_eq!(differs["recorded"]["seq"], 15);
    let log = auditor.get("/api/v1/log?limit=1").unwrap().json();
    assert_eq!(log[0]["actor"], "auditor-1");

    let bad = auditor
        .post(
            "/api/v1/reconcile",
            "value_date,amount,reference,beneficiary\n2015-01-31,x,R,B\n",
            "text/csv",
        )
        .unwrap();
    assert_eq!((bad.status, bad.code()), (422, "rejected".into()));
    assert_eq!(bad.json()["rejections"][0]["line"], 2);
    let month = auditor
        .post("/api/v1/reconcile?month=2015-13", STATEMENT_CSV, "text/csv")
        .unwrap();
    assert_eq!(month.status, 400);
    server.stop();
}

#[test]
fn the_server_signs_checkpoints_and_proves_what_it_appended() {
    let limits = Limits {
        checkpoint_interval: std::time::Duration::from_millis(50),
        ..Limits::default()
    };
    let (dir, tokens, server) = serve(limits);
    let mut clerk = as_role(&server, &tokens, Role::Clerk);
    let mut auditor = as_role(&server, &tokens, Role::Auditor);
    let first = auditor.get("/api/v1/checkpoint").unwrap().json();
    assert_eq!(
        (first["size"].clone(), first["verified"].clone()),
        (json!(13), json!(true))
    );

    let appended = clerk
        .post_json("/api/v1/events", &payment("E-1", "1.00"))
        .unwrap();
    assert_eq!(appended.json()["seqs"], json!([14]));
    let mut latest = first;
    for _ in 0..200 {
        latest = auditor.get("/api/v1/checkpoint").unwrap().json();
        if latest["size"] == 14 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        latest["size"], 14,
        "a checkpoint covers the write within the interval"
    );
    assert_eq!(latest["verified"], true);
    let key = fundtrail::tlog::note::VerifierKey::parse(latest["verifier_key"].as_str().unwrap())
        .unwrap();

    let json_proof = auditor.get("/api/v1/proofs/inclusion?seq=14").unwrap();
    assert_eq!(json_proof.status, 200, "{}", json_proof.body);
    let verified = fundtrail::tlog::proofs::verify_inclusion(&json_proof.body, &key).unwrap();
    assert_eq!(verified.checkpoint.size, 14);
    let text_proof = auditor
        .get("/api/v1/proofs/inclusion?seq=14&format=text")
        .unwrap();
    assert!(text_proof
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    fundtrail::tlog::proofs::verify_inclusion(&text_proof.body, &key).unwrap();
    let consistency = auditor
        .get("/api/v1/proofs/consistency?from=13&to=14")
        .unwrap();
    assert_eq!(consistency.status, 200, "{}", consistency.body);
    let checked =
        fundtrail::tlog::proofs::verify_consistency(&consistency.body, &key, None).unwrap();
    assert_eq!((checked.old.size, checked.new.size), (13, 14));
    let witness = auditor
        .get("/api/v1/proofs/consistency?from=13&to=14&format=text")
        .unwrap();
    assert_eq!(witness.status, 200, "{}", witness.body);
    assert!(witness
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    assert!(witness.body.starts_with("old 13\n"), "{}", witness.body);

    for bad in [
        "/api/v1/proofs/consistency?from=13&format=pdf",
        "/api/v1/proofs/inclusion?seq=99",
        "/api/v1/proofs/inclusion?seq=1&size=7",
        "/api/v1/proofs/consistency?from=20",
        "/api/v1/proofs/inclusion?seq=1&format=pdf",
    ] {
        let reply = auditor.get(bad).unwrap();
        assert_eq!(
            (reply.status, reply.code()),
            (400, "bad_request".into()),
            "{bad}"
        );
    }
    server.stop();
    // Stopping signs nothing new: the head was already signed.
    let ledger = fundtrail::ledger::Ledger::open(dir.path()).unwrap();
    let latest = ledger.view().latest_checkpoint().unwrap();
    assert_eq!(latest.expect("a checkpoint").checkpoint.size, 14);
}

#[test]
fn the_export_streams_a_bundle_that_verifies_offline() {
    let (_dir, tokens, server) = serve(Limits::default());
    let mut auditor = as_role(&server, &tokens, Role::Auditor);
    let checkpoint = auditor.get("/api/v1/checkpoint").unwrap().json();
    let size = checkpoint["size"].as_u64().unwrap();
    let events = auditor.get("/api/v1/export/events").unwrap();
    assert_eq!(events.status, 200, "{}", events.body);
    assert_eq!(
        events.header("fundtrail-export-size"),
        Some(size.to_string().as_str())
    );
    assert_eq!(events.body.lines().count() as u64, size);

    let bundle = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(bundle.path().join(name), text).unwrap();
    write("events.jsonl", &events.body);
    write("checkpoint.txt", checkpoint["note"].as_str().unwrap());
    let key =
        fundtrail::tlog::note::VerifierKey::parse(checkpoint["verifier_key"].as_str().unwrap())
            .unwrap();
    let verified = fundtrail::export::verify_export(bundle.path(), &key, Vec::new())
        .unwrap()
        .unwrap();
    assert_eq!(verified.checkpoint.size, size);

    let first = auditor.get("/api/v1/export/events?size=3").unwrap();
    assert_eq!(first.body.lines().count(), 3);
    assert!(first.body.starts_with("{\"seq\":1,"));
    let beyond = auditor.get("/api/v1/export/events?size=999").unwrap();
    assert_eq!((beyond.status, beyond.code()), (400, "bad_request".into()));
    let bad = auditor.get("/api/v1/export/events?from=1").unwrap();
    assert_eq!(bad.status, 400);
    server.stop();
}

/// Sends `request` as it is (for a body, perhaps only its first bytes, as a slow or
/// hostile client would) and returns the status line the server answers with, within
/// 10 s.
fn status_line(server: &TestServer, request: &str) -> String {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut status = String::new();
    BufReader::new(stream)
        .read_line(&mut status)
        .expect("an answer within 10 s");
    status
}

/// A request with a body is screened before the body is read: without a live token it is
/// refused at once (not after the request timeout), and so is an announced body over the
/// limit. Method errors and the token scheme's case follow HTTP.
#[test]
fn bodies_are_screened_before_they_are_read() {
    let (_dir, tokens, server) = serve(Limits::default());
    let anonymous = "POST /api/v1/events HTTP/1.1\r\nHost: x\r\n\
                     Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[";
    assert!(
        status_line(&server, anonymous).starts_with("HTTP/1.1 401"),
        "no token"
    );
    let huge = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n[",
        tokens.of(Role::Clerk),
        fundtrail::http::MAX_BODY_BYTES + 1
    );
    assert!(
        status_line(&server, &huge).starts_with("HTTP/1.1 413"),
        "announced too large"
    );
    let lower = format!(
        "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nauthorization: bearer {}\r\n\r\n",
        tokens.of(Role::Auditor)
    );
    assert!(
        status_line(&server, &lower).starts_with("HTTP/1.1 200"),
        "the scheme is case-insensitive"
    );
    let two = format!(
        "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Authorization: Bearer {}\r\n\r\n",
        tokens.of(Role::Auditor),
        tokens.of(Role::Admin)
    );
    assert!(
        status_line(&server, &two).starts_with("HTTP/1.1 401"),
        "two tokens name two callers"
    );

    let mut clerk = as_role(&server, &tokens, Role::Clerk);
    let reply = clerk.get("/api/v1/events").unwrap();
    assert_eq!(
        (reply.status, reply.code()),
        (405, "method_not_allowed".into())
    );
    server.stop();
}

/// A connection that never completes a request head is closed after the header read
/// timeout, so stalled or idle clients cannot hold the server's file descriptors; a
/// client that sends its request in time is served.
#[test]
fn a_request_head_that_never_ends_is_cut_off() {
    use std::io::{Read, Write};
    let limits = Limits {
        header_read_timeout: std::time::Duration::from_secs(1),
        ..Limits::default()
    };
    let (_dir, tokens, server) = serve(limits);
    let mut stalled = std::net::TcpStream::connect(server.addr).unwrap();
    stalled
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    stalled
        .write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    // The server closes the connection (an end of file, perhaps after a 408 response).
    let closed = stalled.read_to_end(&mut answer);
    assert!(
        closed.is_ok(),
        "closed by the server, not by our 20 s read timeout: {closed:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );

    let mut auditor = as_role(&server, &tokens, Role::Auditor);
    assert_eq!(auditor.get("/api/v1/status").unwrap().status, 200);
    server.stop();
}
