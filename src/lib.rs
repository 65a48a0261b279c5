//! fundtrail: a tamper-evident, event-sourced audit ledger for subsidy funds.
//!
//! ARCHITECTURE.md is the map; FORMAT.md describes every stored, hashed or exported byte.

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

pub mod audit;
pub mod batch;
pub mod chain;
pub mod checkpoint;
pub mod cli;
pub mod demo;
pub mod demo_data;
pub mod domain;
pub mod encoding;
pub mod evidence;
pub mod export;
pub mod facts;
pub mod http;
pub mod import;
pub mod json_object;
pub mod keys;
pub mod ledger;
pub mod merkle;
pub mod payment_index;
pub mod people;
pub mod proofs;
pub mod rates;
pub mod readside;
pub mod reconcile;
pub mod reperform;
pub mod report;
pub mod seal;
pub mod store;
pub mod tokens;
pub mod validate;
pub mod view;
