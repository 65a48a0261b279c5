//! Persons over HTTP: a household's persons masked, imports of persons and life events by
//! clerks, and a person shown, revealed (recorded) and erased by admins only.

use crate::support::client::{Client, Reply};
use crate::support::server::{sample_ledger, TestServer, Tokens};
use fundtrail::http::Limits;
use fundtrail::keys::tokens::Role;
use serde_json::{json, Value};

pub const NAME_MOTHER: &str = "王秀芳";
pub const NAME_FATHER: &str = "李建国";
/// Valid numbers (GB 11643) of Panlong district: a woman born 1960-05-10 and a man born
/// 1965-08-01.
pub const ID_MOTHER: &str = "530103196005101245";
pub const ID_FATHER: &str = "530103196508013511";

/// PL-0001's parents, as a persons CSV.
pub fn persons_csv() -> String {
    format!(
        "person_id,household_id,id_number,name,role,birth_date,joined_on\n\
         P-1,PL-0001,{ID_MOTHER},{NAME_MOTHER},mother,1960-05-10,2014-03-01\n\
         P-2,PL-0001,{ID_FATHER},{NAME_FATHER},father,1965-08-01,2014-03-01\n"
    )
}

fn serve() -> (tempfile::TempDir, Tokens, TestServer) {
    serve_with(Limits::default())
}

fn serve_with(limits: Limits) -> (tempfile::TempDir, Tokens, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = sample_ledger(dir.path());
    let server = TestServer::start(dir.path(), limits);
    (dir, tokens, server)
}

fn client(server: &TestServer, tokens: &Tokens, role: Role) -> Client {
    Client::new(server.addr, Some(tokens.of(role)))
}

fn csv(client: &mut Client, path: &str, body: &str) -> Reply {
    client.post(path, body, "text/csv").unwrap()
}

/// The server with PL-0001's parents imported by a clerk.
fn with_parents() -> (tempfile::TempDir, Tokens, TestServer) {
    let (dir, tokens, server) = serve();
    let reply = csv(
        &mut client(&server, &tokens, Role::Clerk),
        "/api/v1/imports/persons",
        &persons_csv(),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.json()["appended"], 2);
    (dir, tokens, server)
}

fn persons_of(client: &mut Client, household: &str) -> Vec<Value> {
    let reply = client
        .get(&format!("/api/v1/households/{household}"))
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["persons"].as_array().unwrap().clone()
}

#[test]
fn a_household_shows_its_persons_masked_and_a_repeated_import_appends_nothing() {
    let (_dir, tokens, server) = with_parents();
    let mut supervisor = client(&server, &tokens, Role::Supervisor);
    let persons = persons_of(&mut supervisor, "PL-0001");
    assert_eq!(persons.len(), 2);
    assert_eq!(persons[0]["person_id"], "P-1");
    assert_eq!(persons[0]["role"], "mother");
    assert_eq!(persons[0]["birth_date"], "1960-05-10");
    assert_eq!(persons[0]["joined_on"], "2014-03-01");
    assert_eq!(persons[0]["name"], "王*芳");
    assert_eq!(persons[0]["id_number"], "530103********1245");
    assert_eq!(persons[0]["revealed"], false);
    assert_eq!(persons[0]["died"], Value::Null);
    assert_eq!(persons[1]["name"], "李*国");
    let body = supervisor.get("/api/v1/households/PL-0001").unwrap().body;
    for clear in [NAME_MOTHER, NAME_FATHER, ID_MOTHER, ID_FATHER] {
        assert!(!body.contains(clear), "{clear} in {body}");
    }
    assert!(persons_of(&mut supervisor, "PL-0002").is_empty());
    let added = client(&server, &tokens, Role::Auditor)
        .get("/api/v1/log?type=person_added")
        .unwrap()
        .json();
    assert_eq!(
        added[0]["actor"], "clerk-1",
        "the clerk's token name is the actor"
    );

    let again = csv(
        &mut client(&server, &tokens, Role::Clerk),
        "/api/v1/imports/persons",
        &persons_csv(),
    );
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["appended"], 0);
    assert_eq!(again.json()["duplicates"], 2);
    server.stop();
}

#[test]
fn a_bad_persons_row_is_rejected_naming_line_and_field_and_nothing_is_recorded() {
    let (_dir, tokens, server) = serve();
    let wrong_check = format!("{}0", &ID_FATHER[..17]);
    let body = format!(
        "person_id,household_id,id_number,name,role,birth_date,joined_on\n\
         P-1,PL-0001,{ID_MOTHER},{NAME_MOTHER},mother,1960-05-10,2014-03-01\n\
         P-2,PL-0001,{wrong_check},{NAME_FATHER},father,1965-08-01,2014-03-01\n"
    );
    let reply = csv(
        &mut client(&server, &tokens, Role::Clerk),
        "/api/v1/imports/persons",
        &body,
    );
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.code(), "rejected");
    assert_eq!(reply.json()["rejections"][0]["line"], 3);
    assert_eq!(reply.json()["rejections"][0]["field"], "id_number");
    assert!(!reply.body.contains(NAME_MOTHER) && !reply.body.contains(&wrong_check));
    let mut auditor = client(&server, &tokens, Role::Auditor);
    assert!(persons_of(&mut auditor, "PL-0001").is_empty());
    server.stop();
}

#[test]
fn a_death_imported_as_a_change_shows_on_the_household() {
    let (_dir, tokens, server) = with_parents();
    let changes = "date,type,person_id,household_id,reference,memo\n\
                   2019-03-15,person_died,P-2,,DEATH-1,\n";
    let mut clerk = client(&server, &tokens, Role::Clerk);
    let reply = csv(&mut clerk, "/api/v1/imports/changes", changes);
    assert_eq!(reply.status, 201, "{}", reply.body);
    let seq = reply.json()["seqs"][0].clone();
    let persons = persons_of(&mut client(&server, &tokens, Role::Auditor), "PL-0001");
    assert_eq!(
        persons[1]["died"],
        json!({ "date": "2019-03-15", "seq": seq })
    );
    assert_eq!(persons[0]["died"], Value::Null);

    let unknown = "date,type,person_id,household_id,reference,memo\n\
                   2019-03-15,person_died,P-9,,DEATH-2,\n";
    let refused = csv(&mut clerk, "/api/v1/imports/changes", unknown);
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.json()["rejections"][0]["line"], 2);
    server.stop();
}

#[test]
fn an_admin_sees_a_person_masked_and_in_clear_only_through_a_recorded_reveal() {
    let (_dir, tokens, server) = with_parents();
    let mut admin = client(&server, &tokens, Role::Admin);
    let masked = admin.get("/api/v1/persons/P-1").unwrap();
    assert_eq!(masked.status, 200, "{}", masked.body);
    assert_eq!(masked.json()["name"], "王*芳");
    assert_eq!(masked.json()["household_id"], "PL-0001");

    let reveal = admin
        .post_json(
            "/api/v1/persons/P-1/reveal",
            &json!({ "reason": "case 2019-17" }),
        )
        .unwrap();
    assert_eq!(reveal.status, 200, "{}", reveal.body);
    assert_eq!(reveal.header("cache-control"), Some("no-store"));
    let shown = reveal.json();
    assert_eq!(shown["name"], NAME_MOTHER);
    assert_eq!(shown["id_number"], ID_MOTHER);
    assert_eq!(shown["revealed"], true);
    let seq = shown["reveal_seq"].as_u64().expect("the reveal's seq");

    let log = client(&server, &tokens, Role::Auditor)
        .get("/api/v1/log?type=person_revealed")
        .unwrap();
    assert_eq!(log.status, 200, "{}", log.body);
    let events = log.json();
    assert_eq!(events.as_array().map(Vec::len), Some(1), "{}", log.body);
    assert_eq!(events[0]["seq"], seq);
    assert!(!log.body.contains(NAME_MOTHER) && !log.body.contains(ID_MOTHER));
    assert!(log.body.contains("case 2019-17"), "{}", log.body);
    server.stop();
}

#[test]
fn only_admins_may_show_reveal_or_erase_a_person() {
    let (_dir, tokens, server) = with_parents();
    for role in [Role::Clerk, Role::Supervisor, Role::Auditor] {
        // A fresh connection each: the server closes one whose body it refused to read.
        let caller = || client(&server, &tokens, role);
        let reason = json!({ "reason": "curious" });
        for reply in [
            caller().get("/api/v1/persons/P-1").unwrap(),
            caller()
                .post_json("/api/v1/persons/P-1/reveal", &reason)
                .unwrap(),
            caller()
                .post_json("/api/v1/persons/P-1/erase", &reason)
                .unwrap(),
        ] {
            assert_eq!(reply.status, 403, "{role}: {}", reply.body);
            assert_eq!(reply.code(), "forbidden");
            assert!(!reply.body.contains(NAME_MOTHER));
        }
    }
    let mut admin = client(&server, &tokens, Role::Admin);
    assert_eq!(
        admin.get("/api/v1/persons/P-1").unwrap().json()["name"],
        "王*芳"
    );
    server.stop();
}

#[test]
fn a_reveal_or_erasure_without_a_reason_or_of_nobody_is_refused() {
    let (_dir, tokens, server) = with_parents();
    let mut admin = client(&server, &tokens, Role::Admin);
    for path in ["/api/v1/persons/P-1/reveal", "/api/v1/persons/P-1/erase"] {
        for body in [
            json!({}),
            json!({ "reason": "   " }),
            json!({ "reason": "x", "also": 1 }),
            json!({ "reason": "x".repeat(501) }),
            json!(["reason"]),
        ] {
            let reply = client(&server, &tokens, Role::Admin)
                .post_json(path, &body)
                .unwrap();
            assert_eq!(reply.status, 400, "{path} {body}: {}", reply.body);
            assert_eq!(reply.code(), "bad_request");
        }
    }
    let nobody = admin
        .post_json("/api/v1/persons/P-9/reveal", &json!({ "reason": "x" }))
        .unwrap();
    assert_eq!(nobody.status, 404, "{}", nobody.body);
    assert_eq!(nobody.code(), "not_found");
    assert_eq!(admin.get("/api/v1/persons/P-9").unwrap().status, 404);
    let query = admin.get("/api/v1/persons/P-1?reveal=1").unwrap();
    assert_eq!(query.status, 400);
    // Nothing refused was recorded.
    let log = client(&server, &tokens, Role::Auditor)
        .get("/api/v1/log?type=person_revealed")
        .unwrap();
    assert_eq!(log.json(), json!([]));
    server.stop();
}

#[test]
fn an_erased_person_shows_as_erased_everywhere_and_the_ledger_still_verifies() {
    let (_dir, tokens, server) = with_parents();
    let mut admin = client(&server, &tokens, Role::Admin);
    let erased = admin
        .post_json(
            "/api/v1/persons/P-2/erase",
            &json!({ "reason": "request 7" }),
        )
        .unwrap();
    assert_eq!(erased.status, 200, "{}", erased.body);
    let seq = erased.json()["erased_seq"].clone();
    assert!(seq.is_u64());
    let again = admin
        .post_json("/api/v1/persons/P-2/erase", &json!({ "reason": "again" }))
        .unwrap();
    assert_eq!(
        again.json()["erased_seq"],
        seq,
        "an erasure is recorded once"
    );

    let persons = persons_of(&mut client(&server, &tokens, Role::Supervisor), "PL-0001");
    assert_eq!(persons[1]["name"], "(erased)");
    assert_eq!(persons[1]["id_number"], "(erased)");
    assert_eq!(persons[1]["erased_seq"], seq);
    assert_eq!(persons[0]["name"], "王*芳", "the other person is untouched");

    let reveal = admin
        .post_json("/api/v1/persons/P-2/reveal", &json!({ "reason": "after" }))
        .unwrap();
    assert_eq!(reveal.status, 409, "{}", reveal.body);
    assert_eq!(reveal.code(), "conflict");
    assert!(!reveal.body.contains(NAME_FATHER));

    let verify = client(&server, &tokens, Role::Auditor)
        .get("/api/v1/verify")
        .unwrap();
    assert_eq!(verify.json()["ok"], true, "{}", verify.body);
    server.stop();
}

#[test]
fn a_persons_import_over_the_row_limit_is_refused_whole() {
    let limits = Limits {
        max_import_rows: 1,
        ..Limits::default()
    };
    let (_dir, tokens, server) = serve_with(limits);
    let reply = csv(
        &mut client(&server, &tokens, Role::Clerk),
        "/api/v1/imports/persons",
        &persons_csv(),
    );
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert_eq!(reply.code(), "payload_too_large");
    let mut auditor = client(&server, &tokens, Role::Auditor);
    assert!(persons_of(&mut auditor, "PL-0001").is_empty());
    server.stop();
}

#[test]
fn a_death_register_over_http_records_matches_and_shows_no_name_or_number() {
    let (_dir, tokens, server) = with_parents();
    let register = format!(
        "id_number,name,date_of_death,source_ref\n\
         {ID_MOTHER},{NAME_MOTHER},2019-03-20,HZ-1\n\
         530103195511117747,张三,2019-01-02,HZ-2\n"
    );
    let mut clerk = client(&server, &tokens, Role::Clerk);
    let path = "/api/v1/imports/deaths?source=police-2026-11";
    let reply = csv(&mut clerk, path, &register);
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.json()["recorded"], 1);
    assert_eq!(reply.json()["unmatched"], 1);
    for secret in [NAME_MOTHER, "张三", ID_MOTHER, "530103195511117747"] {
        assert!(!reply.body.contains(secret), "{}", reply.body);
    }
    let again = csv(&mut clerk, path, &register);
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["already_recorded"], 1);
    let persons = persons_of(&mut client(&server, &tokens, Role::Auditor), "PL-0001");
    assert_eq!(persons[0]["died"]["date"], "2019-03-20");
    // Without a body: a request refused before its body is read may have the connection
    // reset under the reply, which would race the reply this test reads.
    let no_source = csv(&mut clerk, "/api/v1/imports/deaths", "");
    assert_eq!(no_source.status, 400, "{}", no_source.body);
    assert!(no_source.body.contains("source"), "{}", no_source.body);
    let bad = csv(
        &mut client(&server, &tokens, Role::Clerk),
        path,
        "id_number,name,date_of_death,source_ref\n123,x,2019-01-01,\n",
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(bad.json()["rejections"][0]["field"], "id_number");
    // Who may import a register (clerks only) is checked with every route in
    // http_api's matrix; a refused body may be cut off mid-write, so not here.
    server.stop();
}

#[test]
fn an_events_import_over_http_keeps_a_payee_account_masked() {
    let (_dir, tokens, server) = serve();
    let events = "date,type,household_id,program,amount,persons,reference,memo,account\n\
                  2018-04-30,disbursement,PL-0003,support_allowance,340.00,1,ACC-H1,,6222021234567895678\n";
    let mut clerk = client(&server, &tokens, Role::Clerk);
    let reply = csv(&mut clerk, "/api/v1/imports/events", events);
    assert_eq!(reply.status, 201, "{}", reply.body);
    let mut auditor = client(&server, &tokens, Role::Auditor);
    let log = auditor.get("/api/v1/log?limit=1").unwrap();
    assert_eq!(log.status, 200, "{}", log.body);
    assert!(log.body.contains("************5678"), "{}", log.body);
    assert!(!log.body.contains("6222021234567895678"), "{}", log.body);
    server.stop();
}

#[test]
fn findings_over_http_are_the_clis_with_the_account_masked() {
    let (dir, tokens, server) = serve();
    // Three households paid to one account in one year: a shared account.
    let events = "date,type,household_id,program,amount,persons,reference,memo,account\n\
                  2018-04-30,disbursement,PL-0001,support_allowance,10.00,1,SH-1,,6222021234567895678\n\
                  2018-04-30,disbursement,PL-0002,support_allowance,10.00,1,SH-2,,6222021234567895678\n\
                  2018-04-30,disbursement,PL-0003,support_allowance,10.00,1,SH-3,,6222021234567895678\n";
    let mut clerk = client(&server, &tokens, Role::Clerk);
    assert_eq!(
        csv(&mut clerk, "/api/v1/imports/events", events).status,
        201
    );
    let mut supervisor = client(&server, &tokens, Role::Supervisor);
    let reply = supervisor
        .get("/api/v1/findings?rule=shared_account")
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let found = reply.json();
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found[0]["account"], "************5678");
    assert!(!reply.body.contains("6222021234567895678"));
    let household = found[0]["household_id"].as_str().unwrap().to_owned();
    let other = supervisor
        .get(&format!("/api/v1/findings?household={household}"))
        .unwrap();
    assert_eq!(other.json(), found);
    server.stop();
    drop(dir);
}
