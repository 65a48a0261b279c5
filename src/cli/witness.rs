//! `fundtrail witness init | trust | serve`: a C2SP tlog-witness that cosigns the
//! checkpoints of the logs it trusts. It needs no ledger, and `--ledger` is ignored.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

use super::{exit, Failure, Output};
use crate::http::witness::{self as serve, WitnessConfig, WitnessServeError};
use crate::http::Limits;
use crate::keys::KeyError;
use crate::witness::{state, WitnessError};

#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Create a witness directory and its Ed25519 key (mode 0600); print its verifier key
    /// (C2SP vkey, signature type 0x04) to give to the logs and auditors that count it.
    Init {
        /// The witness directory (created if missing).
        dir: PathBuf,
        /// The witness's name in its cosignatures, e.g. `audit.panlong.example/witness`
        /// (no spaces or `+`).
        #[arg(long)]
        name: String,
    },
    /// Trust a log: cosign the checkpoints its key signs (its origin is the key's name).
    /// A serving witness reads the list when it starts.
    Trust {
        /// The witness directory.
        dir: PathBuf,
        /// The log's verifier key, as `fundtrail key show` prints it.
        #[arg(long = "log", value_name = "VKEY")]
        log: String,
    },
    /// Serve the tlog-witness API (POST /add-checkpoint) until SIGINT or SIGTERM.
    Serve {
        /// The witness directory.
        dir: PathBuf,
        /// Address to listen on; port 0 picks a free port (the bound address is printed).
        #[arg(long, default_value = "127.0.0.1:8380")]
        addr: SocketAddr,
    },
}

pub(super) fn run(command: &WitnessCommand) -> Result<Output, Failure> {
    match command {
        WitnessCommand::Init { dir, name } => init(dir, name),
        WitnessCommand::Trust { dir, log } => trust(dir, log),
        WitnessCommand::Serve { dir, addr } => run_server(dir, *addr),
    }
}

fn init(dir: &std::path::Path, name: &str) -> Result<Output, Failure> {
    let cosigner = state::init(dir, name).map_err(witness_failure)?;
    let key = cosigner.verifier_key();
    Ok(Output::ok(
        format!("{key}\n"),
        json!({
            "verifier_key": key.to_string(),
            "name": key.name(),
            "key_id": format!("{:08x}", key.key_id()),
        }),
    ))
}

fn trust(dir: &std::path::Path, log: &str) -> Result<Output, Failure> {
    let (key, added) = state::trust(dir, log).map_err(witness_failure)?;
    let text = if added {
        format!("trusting {key} (a serving witness reads this when it starts)\n")
    } else {
        format!("already trusting {key}\n")
    };
    Ok(Output::ok(
        text,
        json!({ "log": key.to_string(), "origin": key.name(), "added": added }),
    ))
}

fn run_server(dir: &std::path::Path, addr: SocketAddr) -> Result<Output, Failure> {
    let config = WitnessConfig {
        dir: dir.to_path_buf(),
        addr,
        limits: Limits::default(),
    };
    let announce = |addr: SocketAddr, key: &crate::witness::cosign::CosignerKey| {
        // The first line of stdout names the address, for scripts and tests on port 0.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = writeln!(out, "witness {key}");
        let _ = out.flush();
    };
    serve::run(config, announce).map_err(|e| match e {
        WitnessServeError::Witness(e) => witness_failure(e),
        WitnessServeError::Io(reason) => Failure::new(exit::UNAVAILABLE, reason),
    })?;
    Ok(Output::ok("stopped\n".into(), json!({ "stopped": true })))
}

/// Bad input (a name, a key, an existing witness) exits 2; a damaged or too open key file
/// or trusted-logs file 1; a directory in use or that cannot be read 3.
fn witness_failure(err: WitnessError) -> Failure {
    let code = match &err {
        WitnessError::Exists(_)
        | WitnessError::Name(_)
        | WitnessError::LogKey(_)
        | WitnessError::NoKey(_) => exit::BAD_INPUT,
        WitnessError::Malformed { .. }
        | WitnessError::Key(KeyError::TooOpen { .. } | KeyError::Malformed { .. }) => {
            exit::VERIFY_FAILED
        }
        WitnessError::Io { .. }
        | WitnessError::InUse { .. }
        | WitnessError::Key(_)
        | WitnessError::Randomness(_) => exit::UNAVAILABLE,
    };
    Failure::new(code, err.to_string())
}
