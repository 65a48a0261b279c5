//! docs/openapi.json documents exactly the server's routes, with the roles they admit.

use fundtrail::http::routes;
use serde_json::Value;

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn documented(doc: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            found.push((method.clone(), path.clone()));
        }
    }
    found.sort();
    found
}

#[test]
fn every_route_is_documented_and_every_documented_path_exists() {
    let doc = document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut served: Vec<(String, String)> = routes()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    served.sort();
    let documented = documented(&doc);
    for route in &served {
        assert!(
            documented.contains(route),
            "{route:?} is served but not documented"
        );
    }
    for route in &documented {
        assert!(
            served.contains(route),
            "{route:?} is documented but not served"
        );
    }
}

#[test]
fn every_api_operation_names_its_roles_and_answers_errors_as_error_objects() {
    let doc = document();
    for (method, path) in documented(&doc) {
        let op = &doc["paths"][&path][&method];
        assert!(op["summary"].is_string(), "{method} {path} has no summary");
        if !path.starts_with("/api/") {
            continue;
        }
        let roles = op["x-roles"].as_array();
        assert!(
            roles.is_some_and(|r| !r.is_empty()),
            "{method} {path} names no roles"
        );
        // 400 too: every API operation refuses a query it does not take, or a bad body.
        for code in ["400", "401", "403"] {
            assert!(
                op["responses"][code].is_object(),
                "{method} {path} lacks {code}"
            );
        }
    }
}
