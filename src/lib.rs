//! fundtrail: a tamper-evident, event-sourced audit ledger for subsidy funds.
//!
//! ARCHITECTURE.md is the map; FORMAT.md describes every stored, hashed or exported byte.
//! One folder per subsystem: `model` (the domain, pure), `tlog` (the transparency log,
//! pure), `store` (the only user of sled), `keys` (the signing key, seals, API tokens),
//! `ledger` (open, append, view, read models), `runs` (workflows), `export` (bundles and
//! evidence), `people`, `demo`, `simulate` (a synthetic district with planted fraud
//! cases), `witness` (a C2SP tlog-witness that cosigns logs' checkpoints), `http` and
//! `cli`.

// A cast that could truncate, wrap or lose a sign is a conversion that can fail: it uses
// `try_from`, or keeps `as` under a narrow `allow` whose comment says why no value is
// lost. A lossless one uses `from`. Test code may cast freely.
#![cfg_attr(
    not(test),
    warn(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_possible_wrap,
        clippy::cast_lossless
    )
)]

pub mod cli;
pub mod demo;
pub mod export;
pub mod http;
pub mod keys;
pub mod ledger;
pub mod model;
pub mod people;
pub mod receipt;
pub mod runs;
pub mod simulate;
pub mod store;
pub mod tlog;
pub mod witness;

pub use ledger::{AppendContext, AppendSummary, Head, Ledger, LedgerError, LedgerView};
pub use model::domain::{Command, EventHash, Money, Seq};
