//! The transparency log, pure: the hash chain (`chain`), RFC 9162 Merkle trees
//! (`merkle`), signed-note checkpoints and verifier keys (`checkpoint`), proof documents
//! and their offline verification (`proofs`), and the whole-log audit that `verify` and
//! the export verifier share (`audit`). Storage is the ledger's concern.

pub mod audit;
pub mod chain;
pub mod checkpoint;
pub mod merkle;
pub mod proofs;
