//! The transparency log, pure: the hash chain (`chain`), RFC 9162 Merkle trees
//! (`merkle`), signed notes and verifier keys (`note`), the checkpoint a note signs
//! (`checkpoint`), one entry's c2sp tlog-proof text (`tlog_proof`), proof documents and
//! their offline verification (`proofs`), and the whole-log audit that `verify` and the
//! export verifier share (`audit`). Storage is the store's and the ledger's concern.

pub mod audit;
pub mod chain;
pub mod checkpoint;
pub mod merkle;
pub mod note;
pub mod proofs;
pub mod tlog_proof;
