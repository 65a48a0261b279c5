//! The byte layout of event blocks and reference blocks (FORMAT.md §3): pure, so that the
//! store, the tests that tamper with a store, and the benches share one codec.
//!
//! sled's cost is per key (a 1,000-event batch took 2.8 ms as 1,000 keys and 0.6 ms as 16
//! keys of 64 events), so the log is stored as blocks of consecutive events, each block
//! written once by the batch that appends its events and never rewritten.

/// Events in one block at most. A batch closes its last block early; the next batch starts
/// a new one. At 64 a block of typical records is about 12 KiB.
pub const EVENT_BLOCK_EVENTS: usize = 64;

/// Length of an event hash at the front of an event entry.
pub const HASH_LEN: usize = 32;

const RECORD_LEN_BYTES: usize = 4;
const REFERENCE_LEN_BYTES: usize = 2;

/// Why an entry of a block cannot be read: the entry's index in the block and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockFault {
    pub index: usize,
    pub reason: String,
}

/// One event entry, borrowed from its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventEntry<'a> {
    pub hash: &'a [u8; HASH_LEN],
    pub record: &'a [u8],
}

/// Appends an event entry: `hash ‖ record length (u32 LE) ‖ record`.
pub fn push_event(block: &mut Vec<u8>, hash: &[u8; HASH_LEN], record: &[u8]) {
    push_event_with(block, |out| out.extend_from_slice(record), |_| *hash);
}

/// Appends an event entry whose record `write` appends in place, and whose hash `hash`
/// computes from the record bytes written; returns the hash. The record is encoded
/// straight into the block, never into a buffer of its own.
pub fn push_event_with(
    block: &mut Vec<u8>,
    write: impl FnOnce(&mut Vec<u8>),
    hash: impl FnOnce(&[u8]) -> [u8; HASH_LEN],
) -> [u8; HASH_LEN] {
    let entry = block.len();
    let record_at = entry + HASH_LEN + RECORD_LEN_BYTES;
    block.resize(record_at, 0);
    write(block);
    let record = &block[record_at..];
    let len = u32::try_from(record.len()).expect("a record is far below 4 GiB");
    let digest = hash(record);
    block[entry..entry + HASH_LEN].copy_from_slice(&digest);
    block[entry + HASH_LEN..record_at].copy_from_slice(&len.to_le_bytes());
    digest
}

/// Appends a reference entry: `length (u16 LE) ‖ UTF-8 bytes`.
pub fn push_reference(block: &mut Vec<u8>, reference: &str) {
    let len = u16::try_from(reference.len()).expect("references are at most 64 characters");
    block.extend_from_slice(&len.to_le_bytes());
    block.extend_from_slice(reference.as_bytes());
}

/// The entries of an event block in order; after a fault, nothing more.
pub fn event_entries(block: &[u8]) -> impl Iterator<Item = Result<EventEntry<'_>, BlockFault>> {
    Entries::new(block, |rest| {
        let (hash, rest) = take(rest, HASH_LEN, "a hash")?;
        let (len, rest) = take(rest, RECORD_LEN_BYTES, "a record length")?;
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        if len == 0 {
            return Err("the record is empty".to_string());
        }
        let (record, rest) = take(rest, len, "the record")?;
        let hash = hash.try_into().expect("HASH_LEN bytes");
        Ok((EventEntry { hash, record }, rest))
    })
}

/// The references of a reference block in order; after a fault, nothing more.
pub fn reference_entries(block: &[u8]) -> impl Iterator<Item = Result<&str, BlockFault>> {
    Entries::new(block, |rest| {
        let (len, rest) = take(rest, REFERENCE_LEN_BYTES, "a reference length")?;
        let len = u16::from_le_bytes(len.try_into().expect("2 bytes")) as usize;
        let (text, rest) = take(rest, len, "the reference")?;
        let text = std::str::from_utf8(text).map_err(|_| "the reference is not UTF-8")?;
        Ok((text, rest))
    })
}

/// The event block of these `(hash, record)` entries, for tools and tests that rewrite a
/// store as an insider could.
pub fn event_block(entries: &[(&[u8; HASH_LEN], &[u8])]) -> Vec<u8> {
    let mut block = Vec::new();
    for (hash, record) in entries {
        push_event(&mut block, hash, record);
    }
    block
}

fn take<'a>(bytes: &'a [u8], len: usize, what: &str) -> Result<(&'a [u8], &'a [u8]), String> {
    if bytes.len() < len {
        return Err(format!(
            "the block ends {} bytes into {what} of {len} bytes",
            bytes.len()
        ));
    }
    Ok(bytes.split_at(len))
}

type Parse<'a, T> = fn(&'a [u8]) -> Result<(T, &'a [u8]), String>;

/// Walks a block entry by entry with one entry parser.
struct Entries<'a, T> {
    rest: &'a [u8],
    index: usize,
    failed: bool,
    parse: Parse<'a, T>,
}

impl<'a, T> Entries<'a, T> {
    fn new(block: &'a [u8], parse: Parse<'a, T>) -> Entries<'a, T> {
        Entries {
            rest: block,
            index: 0,
            failed: false,
            parse,
        }
    }
}

impl<'a, T> Iterator for Entries<'a, T> {
    type Item = Result<T, BlockFault>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        let index = self.index;
        self.index += 1;
        match (self.parse)(self.rest) {
            Ok((entry, rest)) => {
                self.rest = rest;
                Some(Ok(entry))
            }
            Err(reason) => {
                self.failed = true;
                Some(Err(BlockFault { index, reason }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_entries_round_trip() {
        let mut block = Vec::new();
        push_event(&mut block, &[1; 32], b"abc");
        push_event(&mut block, &[2; 32], b"de");
        assert_eq!(block.len(), 2 * (32 + 4) + 5);
        assert_eq!(&block[32..36], &[3, 0, 0, 0]);
        let entries: Vec<_> = event_entries(&block).map(Result::unwrap).collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            (entries[0].hash, entries[0].record),
            (&[1; 32], &b"abc"[..])
        );
        assert_eq!((entries[1].hash, entries[1].record), (&[2; 32], &b"de"[..]));
        assert_eq!(event_block(&[(&[1; 32], b"abc"), (&[2; 32], b"de")]), block);
    }

    #[test]
    fn a_cut_event_block_names_the_entry_and_stops() {
        let mut block = Vec::new();
        push_event(&mut block, &[1; 32], b"abc");
        push_event(&mut block, &[2; 32], b"de");
        block.pop();
        let entries: Vec<_> = event_entries(&block).collect();
        assert_eq!(entries.len(), 2);
        assert!(entries[0].is_ok());
        let fault = entries[1].clone().unwrap_err();
        assert_eq!(fault.index, 1);
        assert!(
            fault.reason.contains("the record of 2 bytes"),
            "{}",
            fault.reason
        );
    }

    #[test]
    fn an_empty_record_is_a_fault() {
        let block = event_block(&[(&[1; 32], b"")]);
        let fault = event_entries(&block).next().unwrap().unwrap_err();
        assert_eq!(fault.index, 0);
        assert_eq!(fault.reason, "the record is empty");
    }

    #[test]
    fn reference_entries_round_trip_and_fail_on_bad_utf8() {
        let mut block = Vec::new();
        push_reference(&mut block, "BANK-1");
        push_reference(&mut block, "领款-2");
        let refs: Vec<_> = reference_entries(&block).map(Result::unwrap).collect();
        assert_eq!(refs, ["BANK-1", "领款-2"]);
        let bad = [1, 0, 0xff];
        let fault = reference_entries(&bad).next().unwrap().unwrap_err();
        assert_eq!(fault.reason, "the reference is not UTF-8");
    }
}
