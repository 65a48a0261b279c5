//! The last live admin token cannot be revoked, from the command line or over the API:
//! someone must always be able to issue and revoke tokens.

use crate::support::client::Client;
use crate::support::server::{sample_ledger, TestServer};
use fundtrail::http::Limits;
use serde_json::json;

#[test]
fn the_command_line_refuses_to_revoke_the_last_admin_token() {
    let t = crate::support::TempLedger::new();
    t.run(&["token", "add", "admin-1", "--role", "admin"])
        .assert_ok();
    t.run(&["token", "add", "clerk-1", "--role", "clerk"])
        .assert_ok();
    let refused = t.run(&["token", "revoke", "admin-1"]);
    refused.assert_code(2);
    assert!(
        refused
            .stderr
            .contains("token admin-1 is the last live admin token"),
        "{refused:#?}"
    );
    assert!(refused.stderr.contains("issue another admin token first"));
    let list = t.run(&["--json", "token", "list"]).json();
    let admin = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "admin-1")
        .unwrap()
        .clone();
    assert_eq!(admin["revoked"], json!(null));

    t.run(&["token", "revoke", "clerk-1"]).assert_ok();
    t.run(&["token", "add", "admin-2", "--role", "admin"])
        .assert_ok();
    t.run(&["token", "revoke", "admin-1"]).assert_ok();
    t.run(&["token", "revoke", "admin-2"]).assert_code(2);
}

#[test]
fn the_api_refuses_to_revoke_the_last_admin_token_with_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = sample_ledger(dir.path());
    let server = TestServer::start(dir.path(), Limits::default());
    let mut admin = Client::new(server.addr, Some(&tokens.admin));

    let refused = admin.delete("/api/v1/tokens/admin-1").unwrap();
    assert_eq!((refused.status, refused.code()), (409, "conflict".into()));
    assert!(
        refused.body.contains("last live admin token"),
        "{}",
        refused.body
    );
    // Still live: the admin can go on managing tokens.
    assert_eq!(admin.get("/api/v1/tokens").unwrap().status, 200);

    let issued = admin
        .post_json(
            "/api/v1/tokens",
            &json!({"name": "admin-2", "role": "admin"}),
        )
        .unwrap();
    assert_eq!(issued.status, 201, "{}", issued.body);
    let second = issued.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(admin.delete("/api/v1/tokens/admin-1").unwrap().status, 200);
    let mut admin_2 = Client::new(server.addr, Some(&second));
    let refused = admin_2.delete("/api/v1/tokens/admin-2").unwrap();
    assert_eq!(refused.status, 409, "{}", refused.body);
    server.stop();
}
