//! The domain, pure: the values a clerk records and their limits (`domain`), the stored
//! record and its one encoding (`encoding`), the write-side rules (`rules`), the rates
//! table (`rates`), and records rendered as JSON fields and text tables (`render`).

pub mod domain;
pub mod encoding;
pub mod rates;
pub mod render;
pub mod rules;
