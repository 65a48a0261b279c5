//! The integration tests of the fundtrail crate: one test binary, so the crate is linked
//! once rather than once per file. Each module holds the tests of one area, through the
//! public API and through the `fundtrail` binary; `support` holds what they share.

mod support;

mod allowance;
mod audit;
mod block_store;
mod chain_props;
mod cli;
mod crash;
mod dashboard;
mod demo;
mod disk_full;
mod findings_maintained;
mod findings_resolve;
mod format;
mod golden;
mod group_commit;
mod household_lookup;
mod http_api;
mod http_concurrency;
mod http_findings;
mod http_hostile;
mod http_people;
mod import;
mod independent_verifier;
mod insider_readmodels;
mod insider_state;
mod insider_trail;
mod ledger_log;
mod masking;
mod openapi;
mod payment_gate;
mod people;
mod readmodels;
mod receipts;
mod reconcile;
mod recoveries;
mod roster;
mod rules;
mod serve_sigterm;
mod serve_snapshots;
mod simulate;
mod tamper;
mod tokens;
mod trail_props;
mod witness;
mod witness_ledger;
mod witness_quorum;
mod witness_server;
mod witness_signing;
