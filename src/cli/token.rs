//! `fundtrail token add|list|revoke`: the API's bearer tokens, kept in the ledger.

use clap::Subcommand;
use serde_json::{json, Value};

use super::{exit, open, Cli, Failure, Output};
use crate::keys::tokens::{random_secret, Role, TokenError, TokenRegistry};
use crate::model::render::{time_text, Align, Table};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token; its secret is printed once and only its hash is kept.
    Add {
        /// The token's name, recorded as the actor of every event appended with it.
        name: String,
        /// clerk (append, import), supervisor (totals, funds, household balances),
        /// auditor (all reads, proofs and exports, and recording reconciliations), admin
        /// (tokens).
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// List tokens: name, role, when issued, when revoked.
    List,
    /// Revoke a token; its name is never issued again.
    Revoke {
        /// The name the token was issued under (see `fundtrail token list`).
        name: String,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).map_err(|e| e.to_string())
}

pub(super) fn run(cli: &Cli, command: &TokenCommand) -> Result<Output, Failure> {
    let mut ledger = open(cli)?;
    let mut registry = TokenRegistry::load(&ledger).map_err(token_failure)?;
    let now_us = chrono::Utc::now().timestamp_micros();
    match command {
        TokenCommand::Add { name, role } => {
            let random = random_secret().map_err(token_failure)?;
            let secret = registry
                .issue(name, *role, now_us, random)
                .map_err(token_failure)?;
            registry.save(&mut ledger).map_err(token_failure)?;
            Ok(Output::ok(
                format!(
                    "{}\n(token {name}, role {role}: keep it now, it is not shown again)\n",
                    secret.expose()
                ),
                json!({ "name": name, "role": role.code(), "token": secret.expose() }),
            ))
        }
        TokenCommand::List => Ok(list(&registry)),
        TokenCommand::Revoke { name } => {
            registry.revoke(name, now_us).map_err(token_failure)?;
            registry.save(&mut ledger).map_err(token_failure)?;
            Ok(Output::ok(
                format!("revoked token {name}\n"),
                json!({ "name": name, "revoked": true }),
            ))
        }
    }
}

fn list(registry: &TokenRegistry) -> Output {
    let mut table = Table::new(&[
        ("name", Align::Left),
        ("role", Align::Left),
        ("issued", Align::Left),
        ("revoked", Align::Left),
    ]);
    let mut rows = Vec::new();
    for (name, entry) in registry.entries() {
        let revoked = entry.revoked_us.map(time_text);
        table.row(vec![
            name.clone(),
            entry.role.to_string(),
            time_text(entry.created_us),
            revoked.clone().unwrap_or_default(),
        ]);
        rows.push(json!({
            "name": name,
            "role": entry.role.code(),
            "issued": time_text(entry.created_us),
            "revoked": revoked,
        }));
    }
    let text = if table.is_empty() {
        "no tokens (issue one with `fundtrail token add NAME --role admin`)\n".to_string()
    } else {
        table.render()
    };
    Output::ok(text, Value::Array(rows))
}

fn token_failure(err: TokenError) -> Failure {
    match err {
        TokenError::Ledger(e) => super::failure(e, None),
        TokenError::Corrupt(_) => Failure::new(exit::VERIFY_FAILED, err.to_string()),
        TokenError::Random(_) => Failure::new(exit::UNAVAILABLE, err.to_string()),
        other => Failure::new(exit::BAD_INPUT, other.to_string()),
    }
}
