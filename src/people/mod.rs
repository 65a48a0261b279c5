//! People: the persons of a household, their identity numbers, the one masking rule
//! that every output showing personal data goes through, the vault that keeps names
//! and numbers outside the chain, erasable, and the roll's workflows (`roll`).

pub mod deaths;
pub mod identity;
pub mod mask;
pub mod roll;
pub mod vault;
