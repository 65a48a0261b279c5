//! `fundtrail serve`: the HTTP API and dashboard over the ledger.

use std::io::Write;
use std::net::SocketAddr;

use clap::Args;
use serde_json::json;

use super::{exit, Cli, Failure, Output};
use crate::http::{self, Limits, ServeConfig, ServeError};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
}

pub(super) fn run(cli: &Cli, args: &ServeArgs) -> Result<Output, Failure> {
    let config = ServeConfig {
        ledger_dir: cli.ledger.clone(),
        addr: args.addr,
        limits: Limits::default(),
    };
    let announce = |addr: SocketAddr| {
        // The first line of stdout names the address, for scripts and tests on port 0.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = out.flush();
    };
    http::run(config, announce).map_err(serve_failure)?;
    Ok(Output::ok(
        "stopped; every acknowledged write is durable\n".into(),
        json!({ "stopped": true }),
    ))
}

fn serve_failure(err: ServeError) -> Failure {
    match err {
        ServeError::Ledger(e) => super::failure(e, None),
        ServeError::ReadSide(e) => super::read::read_failure(e),
        ServeError::Tokens(e) => Failure::new(exit::VERIFY_FAILED, e.to_string()),
        ServeError::Io(reason) => Failure::new(exit::UNAVAILABLE, reason),
        ServeError::Limits(_) => Failure::new(exit::BAD_INPUT, err.to_string()),
    }
}
