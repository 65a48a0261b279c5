//! The domain, pure: the values a clerk records and their limits (`domain`), the stored
//! record and its one encoding (`encoding`), the write-side rules (`rules`), the rates
//! table (`rates`), records rendered as JSON fields and text tables (`render`), and JSON
//! objects whose members are distinct (`json_object`), persons and their roles (`person`),
//! who is due the support allowance in a month (`eligibility`), recoveries against a
//! finding's receivable (`recovery`), the bucketed fingerprint table of the reference
//! lookups (`fingerprints`), the keyed digests that stand for a reference or a body in
//! memory (`keyed`), and ascending lists kept as their differences (`ascending`).

pub mod ascending;
pub mod domain;
pub mod eligibility;
pub mod encoding;
pub mod fingerprints;
pub mod json_object;
pub mod keyed;
pub mod people;
pub mod person;
pub mod rates;
pub mod recovery;
pub mod render;
pub mod rules;
