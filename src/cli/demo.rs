//! `fundtrail demo`: the README's main command.

use std::path::Path;

use serde_json::json;

use super::{exit, failure, head_json, Cli, Failure, Output};
use crate::demo;

pub(super) fn run(_cli: &Cli, dir: &Path) -> Result<Output, Failure> {
    let outcome = demo::build(dir).map_err(|e| failure(e, None))?;
    let head = outcome.ledger.head();
    let verified = outcome.verify.fault.is_none();
    let mut text = format!(
        "demo ledger: {}\ninput files: {}\nhouseholds: {} appended, {} already present\nevents:     {} appended, {} already present\n",
        dir.display(),
        outcome.input_dir.display(),
        outcome.households.appended,
        outcome.households.duplicates,
        outcome.events.appended,
        outcome.events.duplicates,
    );
    match &outcome.verify.fault {
        None => text.push_str(&format!(
            "verify:     ok, {} events, head seq {} {}\n",
            outcome.verify.checked, head.size, head.hash
        )),
        Some(fault) => text.push_str(&format!("verify:     FAILED: {fault}\n")),
    }
    let json = json!({
        "ledger": dir.display().to_string(),
        "appended": outcome.households.appended + outcome.events.appended,
        "verified": verified,
        "head": head_json(&head),
    });
    let code = if verified {
        exit::OK
    } else {
        exit::VERIFY_FAILED
    };
    Ok(Output { code, text, json })
}
