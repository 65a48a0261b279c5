//! People: the persons of a household, their identity numbers and the one masking rule
//! that every output showing personal data goes through.

pub mod identity;
pub mod mask;
pub mod roll;
pub mod vault;
