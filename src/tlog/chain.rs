//! The hash chain (FORMAT.md, "Chain"): each event's hash covers the previous hash and the
//! event's stored record bytes, so changing, removing or reordering any event changes every
//! hash after it.
//!
//! [`ChainCheck`] is the pure verifier that both `verify` (over the store) and the offline
//! export verifier feed, so the two can never disagree about what a valid chain is.

use crate::model::domain::{EventHash, Seq};
use crate::model::encoding::peek_seq;

/// Domain-separation tag in front of every chain hash input, so a chain hash can never be
/// confused with a Merkle leaf or node hash (which start with 0x00 or 0x01).
pub const CHAIN_TAG: &[u8; 19] = b"fundtrail.event.v1\0";

/// Bytes of chain-hash input (tag, previous hash and record) hashed from one stack
/// buffer: one BLAKE3 chunk, 1,024 bytes, which holds nearly every record; a one-shot
/// `blake3::hash` of it skips the streaming hasher's setup, about 1% of `verify`'s CPU.
const CHAIN_INPUT_ON_STACK: usize = 1024;

/// `blake3(CHAIN_TAG ‖ prev ‖ record)`.
pub fn chain_hash(prev: &EventHash, record: &[u8]) -> EventHash {
    let head = CHAIN_TAG.len() + prev.as_bytes().len();
    let len = head + record.len();
    if len <= CHAIN_INPUT_ON_STACK {
        let mut input = [0u8; CHAIN_INPUT_ON_STACK];
        input[..CHAIN_TAG.len()].copy_from_slice(CHAIN_TAG);
        input[CHAIN_TAG.len()..head].copy_from_slice(prev.as_bytes());
        input[head..len].copy_from_slice(record);
        return EventHash::from_bytes(*blake3::hash(&input[..len]).as_bytes());
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(CHAIN_TAG);
    hasher.update(prev.as_bytes());
    hasher.update(record);
    EventHash::from_bytes(*hasher.finalize().as_bytes())
}

/// The first place a chain is wrong, with evidence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainFault {
    #[error("seq {expected} is missing: the next stored event is seq {found}")]
    Gap { expected: Seq, found: Seq },
    #[error("seq {seq}: the record says it is seq {in_record}")]
    SeqMismatch { seq: Seq, in_record: String },
    #[error("seq {seq}: hash mismatch: expected {expected}, found {found}")]
    HashMismatch {
        seq: Seq,
        expected: EventHash,
        found: EventHash,
    },
    #[error("the head says {expected_size} events ending in {expected_hash}, but the log has {found_size} ending in {found_hash}")]
    HeadMismatch {
        expected_size: u64,
        expected_hash: EventHash,
        found_size: u64,
        found_hash: EventHash,
    },
}

impl ChainFault {
    /// The first seq the fault concerns (for exit messages and tests).
    pub fn seq(&self) -> Seq {
        match self {
            ChainFault::Gap { expected, .. } => *expected,
            ChainFault::SeqMismatch { seq, .. } | ChainFault::HashMismatch { seq, .. } => *seq,
            ChainFault::HeadMismatch { found_size, .. } => Seq::new(found_size + 1),
        }
    }
}

/// Walks a chain from genesis, one stored event at a time.
#[derive(Debug, Clone)]
pub struct ChainCheck {
    next: Seq,
    prev: EventHash,
}

impl Default for ChainCheck {
    fn default() -> Self {
        ChainCheck {
            next: Seq::FIRST,
            prev: EventHash::GENESIS,
        }
    }
}

impl ChainCheck {
    /// Checks the next stored event: its key, the seq inside its record, and its hash.
    pub fn push(&mut self, key: Seq, stored: &EventHash, record: &[u8]) -> Result<(), ChainFault> {
        if key != self.next {
            return Err(ChainFault::Gap {
                expected: self.next,
                found: key,
            });
        }
        let expected = chain_hash(&self.prev, record);
        if expected != *stored {
            return Err(ChainFault::HashMismatch {
                seq: key,
                expected,
                found: *stored,
            });
        }
        match peek_seq(record) {
            Some(inner) if inner == key => {}
            other => {
                return Err(ChainFault::SeqMismatch {
                    seq: key,
                    in_record: other.map_or("unreadable".into(), |s| s.to_string()),
                })
            }
        }
        self.prev = expected;
        self.next = key.next();
        Ok(())
    }

    /// Events checked so far.
    pub fn size(&self) -> u64 {
        self.next.get() - 1
    }

    /// The hash of the last event checked (genesis when none).
    pub fn last_hash(&self) -> EventHash {
        self.prev
    }

    /// Compares the walked chain with the head the store or export claims.
    pub fn finish(&self, size: u64, hash: &EventHash) -> Result<(), ChainFault> {
        if self.size() == size && self.prev == *hash {
            return Ok(());
        }
        Err(ChainFault::HeadMismatch {
            expected_size: size,
            expected_hash: *hash,
            found_size: self.size(),
            found_hash: self.prev,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streaming form of the hash, as FORMAT.md states it.
    fn streamed(prev: &EventHash, record: &[u8]) -> EventHash {
        let mut hasher = blake3::Hasher::new();
        hasher.update(CHAIN_TAG);
        hasher.update(prev.as_bytes());
        hasher.update(record);
        EventHash::from_bytes(*hasher.finalize().as_bytes())
    }

    #[test]
    fn the_stack_buffer_and_the_streaming_hasher_agree_at_every_edge() {
        let prev = EventHash::from_bytes([7; 32]);
        let head = CHAIN_TAG.len() + 32;
        let edge = CHAIN_INPUT_ON_STACK - head;
        let lengths = [
            0,
            1,
            100,
            edge - 1,
            edge,
            edge + 1,
            2 * CHAIN_INPUT_ON_STACK + 5,
        ];
        for len in lengths {
            let record: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            assert_eq!(
                chain_hash(&prev, &record),
                streamed(&prev, &record),
                "record of {len} bytes"
            );
        }
    }
}
