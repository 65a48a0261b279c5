//! fundtrail: a tamper-evident, event-sourced audit ledger for subsidy funds.
//!
//! ARCHITECTURE.md is the map; FORMAT.md describes every stored, hashed or exported byte.
//! One folder per subsystem: `model` (the domain, pure), `tlog` (the transparency log,
//! pure), `store` (the only user of sled), `keys` (the signing key, seals, API tokens),
//! `ledger` (open, append, view, read models), `runs` (workflows), `export` (bundles and
//! evidence), `people`, `demo`, `http` and `cli`.

pub mod cli;
pub mod demo;
pub mod export;
pub mod http;
pub mod keys;
pub mod ledger;
pub mod model;
pub mod people;
pub mod runs;
pub mod store;
pub mod tlog;

pub use ledger::{AppendContext, AppendSummary, Head, Ledger, LedgerError, LedgerView};
pub use model::domain::{Command, EventHash, Money, Seq};

// The module paths before the subsystems had folders, kept while the tests and benches
// move to the new ones.
#[doc(hidden)]
pub use demo::data as demo_data;
#[doc(hidden)]
pub use export::evidence;
#[doc(hidden)]
pub use keys::{seal, tokens};
#[doc(hidden)]
pub use ledger::readmodels as readside;
#[doc(hidden)]
pub use ledger::readmodels::facts;
#[doc(hidden)]
pub use ledger::{answers as report, import};
#[doc(hidden)]
pub use model::{domain, encoding, rates, render as view, rules as validate};
#[doc(hidden)]
pub use runs::{batch, payment_index, reconcile, reperform};
#[doc(hidden)]
pub use tlog::{audit, chain, checkpoint, merkle, proofs};
