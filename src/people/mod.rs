//! People: the persons of a household, their identity numbers, the one masking rule
//! that every output showing personal data goes through, and the vault that keeps names
//! and numbers outside the chain, erasable.

pub mod identity;
pub mod mask;
pub mod vault;
