//! The byte layout of event blocks and reference blocks (FORMAT.md §3): pure, so that the
//! store, the tests that tamper with a store, and the benches share one codec.
//!
//! sled's cost is per key (a 1,000-event batch took 2.8 ms as 1,000 keys and 0.6 ms as 16
//! keys of 64 events), so the log is stored as blocks of consecutive events, each block
//! written once by the batch that appends its events and never rewritten.
//!
//! Because a block is written once, it is also compressed once (LZ4), when its batch writes
//! it: about 0.4 of its bytes at 1,000,000 events, at a cost of one compression per 64
//! events rather than one per rewrite of a sled page. A stored value is a form byte and
//! the block's bytes in that form ([`encode_stored`], [`decode_stored`]); everything
//! else (the entries, the seals, the reference digest) is over the block's own bytes.

use std::borrow::Cow;
use std::cell::RefCell;

/// Events in one block at most. A batch closes its last block early; the next batch starts
/// a new one. At 64 a block of typical records is about 12 KiB.
pub const EVENT_BLOCK_EVENTS: usize = 64;

/// Length of an event hash at the front of an event entry.
pub const HASH_LEN: usize = 32;

const RECORD_LEN_BYTES: usize = 4;
const REFERENCE_LEN_BYTES: usize = 2;

/// The form byte of a stored block whose bytes follow as they are.
pub const STORED_PLAIN: u8 = 0x00;

/// The form byte of a stored block whose bytes follow LZ4-compressed: the block's length
/// (u32 LE), then one LZ4 block (lz4_flex's block format, the reference LZ4 block format).
/// Written by layout 5; read, never written, by this one.
pub const STORED_LZ4: u8 = 0x01;

/// The form byte of a stored block whose bytes follow Zstandard-compressed: the block's
/// length (u32 LE), then one Zstandard frame (RFC 8878).
pub const STORED_ZSTD: u8 = 0x02;

/// The Zstandard level blocks are written at. At 1,000,000 events level 1 stored the
/// event blocks in 72.8 MB where LZ4 took 87.9 (their 32-byte hashes do not compress),
/// and compressed them as fast as lz4_flex did; levels 2 to 5 kept them in no fewer
/// bytes at up to 3.5 times the time (benches/README.md, "Scale").
const ZSTD_LEVEL: i32 = 1;

const STORED_LENGTH_BYTES: usize = 4;

/// The largest block a compressed value may declare, in bytes: 64 events of the largest
/// record (16 KiB, MAX_RECORD_BYTES) with their framing are 1,050,880 bytes. A value
/// declaring more is damage, and is refused before any memory is reserved for it. A larger
/// block (which the ledger never writes) is stored plain.
pub const MAX_STORED_BLOCK_BYTES: usize = 2 * 1024 * 1024;

thread_local! {
    /// One Zstandard context per thread: making one per block would cost an allocation of
    /// its tables per 64 events.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// The stored value of a block: Zstandard-compressed when that is shorter, plain otherwise
/// (a block of one small event does not shrink).
pub fn encode_stored(block: &[u8]) -> Vec<u8> {
    if block.len() <= MAX_STORED_BLOCK_BYTES {
        let len = u32::try_from(block.len()).expect("at most MAX_STORED_BLOCK_BYTES");
        let mut value = Vec::with_capacity(1 + STORED_LENGTH_BYTES + block.len());
        value.push(STORED_ZSTD);
        value.extend_from_slice(&len.to_le_bytes());
        if compress_into(block, &mut value) && value.len() < 1 + block.len() {
            return value;
        }
    }
    let mut value = Vec::with_capacity(1 + block.len());
    value.push(STORED_PLAIN);
    value.extend_from_slice(block);
    value
}

/// Appends `block` compressed to `out`; `false` when the compressor failed (it can only
/// run out of memory), in which case the block is stored plain.
fn compress_into(block: &[u8], out: &mut Vec<u8>) -> bool {
    COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let compressor = match cell.as_mut() {
            Some(compressor) => compressor,
            None => match zstd::bulk::Compressor::new(ZSTD_LEVEL) {
                Ok(made) => cell.insert(made),
                Err(_) => return false,
            },
        };
        match compressor.compress(block) {
            Ok(frame) => {
                out.extend_from_slice(&frame);
                true
            }
            Err(_) => false,
        }
    })
}

/// The block a stored value holds, or why it holds none: the value is empty, of an unknown
/// form, or does not decompress to exactly the length it declares.
pub fn decode_stored(value: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    let Some((&form, rest)) = value.split_first() else {
        return Err("the stored value is empty".to_string());
    };
    match form {
        STORED_PLAIN => Ok(Cow::Borrowed(rest)),
        STORED_LZ4 => decompress(rest, Codec::Lz4).map(Cow::Owned),
        STORED_ZSTD => decompress(rest, Codec::Zstd).map(Cow::Owned),
        other => Err(format!(
            "the stored value has an unknown form byte {other:#04x}"
        )),
    }
}

/// The compressions a stored value may be in.
#[derive(Clone, Copy)]
enum Codec {
    Lz4,
    Zstd,
}

fn decompress(rest: &[u8], codec: Codec) -> Result<Vec<u8>, String> {
    let (len, compressed) = take(rest, STORED_LENGTH_BYTES, "the block length")?;
    let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
    if len > MAX_STORED_BLOCK_BYTES {
        return Err(format!(
            "the compressed block declares {len} bytes, more than a block holds \
             ({MAX_STORED_BLOCK_BYTES})"
        ));
    }
    let mut block = vec![0; len];
    let written = match codec {
        Codec::Lz4 => {
            lz4_flex::block::decompress_into(compressed, &mut block).map_err(|e| e.to_string())
        }
        Codec::Zstd => zstd_decompress_into(compressed, &mut block),
    };
    match written {
        Ok(written) if written == len => Ok(block),
        Ok(written) => Err(format!(
            "the compressed block gives {written} bytes where it declares {len}"
        )),
        Err(e) => Err(format!("the compressed block does not decompress: {e}")),
    }
}

/// Decompresses one Zstandard frame into `block`, which is as long as the block declares:
/// a frame that would give more is refused, never written past it.
fn zstd_decompress_into(frame: &[u8], block: &mut [u8]) -> Result<usize, String> {
    DECOMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let decompressor = match cell.as_mut() {
            Some(decompressor) => decompressor,
            None => cell.insert(zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?),
        };
        decompressor
            .decompress_to_buffer(frame, block)
            .map_err(|e| e.to_string())
    })
}

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

    fn sample_block() -> Vec<u8> {
        let mut block = Vec::new();
        for i in 0..8u8 {
            let record = format!("record {i}: a payment of 100.00 to household PL-000{i}");
            push_event(&mut block, &[i; 32], record.as_bytes());
        }
        block
    }

    #[test]
    fn a_block_stored_compressed_reads_back_byte_identical() {
        let block = sample_block();
        let value = encode_stored(&block);
        assert_eq!(value[0], STORED_ZSTD);
        assert!(value.len() < block.len(), "{} bytes", value.len());
        assert_eq!(decode_stored(&value).unwrap().as_ref(), &block[..]);
    }

    /// The value of `block` as layout 5 stored it: LZ4.
    fn lz4_value(block: &[u8]) -> Vec<u8> {
        let mut value = vec![STORED_LZ4];
        value.extend_from_slice(&(block.len() as u32).to_le_bytes());
        value.extend_from_slice(&lz4_flex::block::compress(block));
        value
    }

    #[test]
    fn a_block_layout_5_stored_with_lz4_still_reads_back() {
        let block = sample_block();
        assert_eq!(
            decode_stored(&lz4_value(&block)).unwrap().as_ref(),
            &block[..]
        );
        let mut cut = lz4_value(&block);
        cut.truncate(cut.len() - 3);
        assert!(decode_stored(&cut).is_err());
    }

    #[test]
    fn a_block_that_does_not_shrink_is_stored_plain() {
        let hash: [u8; 32] = std::array::from_fn(|i| (i * 37 % 251) as u8);
        let block = event_block(&[(&hash, b"x")]);
        let value = encode_stored(&block);
        assert_eq!(value[0], STORED_PLAIN);
        assert_eq!(&value[1..], &block[..]);
        assert!(matches!(decode_stored(&value).unwrap(), Cow::Borrowed(b) if b == block));
    }

    #[test]
    fn a_damaged_stored_value_is_refused_with_its_reason() {
        assert_eq!(decode_stored(&[]).unwrap_err(), "the stored value is empty");
        let unknown = decode_stored(&[3, 1, 2]).unwrap_err();
        assert!(unknown.contains("unknown form byte 0x03"), "{unknown}");
        for form in [STORED_LZ4, STORED_ZSTD] {
            let mut huge = vec![form];
            huge.extend_from_slice(&u32::MAX.to_le_bytes());
            let refused = decode_stored(&huge).unwrap_err();
            assert!(refused.contains("more than a block holds"), "{refused}");
        }
        let mut cut = encode_stored(&sample_block());
        cut.truncate(cut.len() - 3);
        let refused = decode_stored(&cut).unwrap_err();
        assert!(refused.contains("does not decompress"), "{refused}");
        for change in [1i64, -1] {
            let mut other = encode_stored(&sample_block());
            let declared = u32::from_le_bytes(other[1..5].try_into().unwrap());
            let declared = declared.checked_add_signed(change as i32).unwrap();
            other[1..5].copy_from_slice(&declared.to_le_bytes());
            assert!(decode_stored(&other).is_err(), "declared {change:+}");
        }
    }

    /// Every single-byte change of a compressed block either fails to decode or decodes to
    /// some bytes, which the entry parser takes: never a panic, in either compressed form.
    /// (Neither form is written with a checksum: bytes other than the block's are refused
    /// by its seal on a read and by the chain in `verify`, see the store's tests.) A
    /// changed form byte or length is always refused or read as other bytes.
    #[test]
    fn every_byte_flipped_in_a_compressed_block_is_refused_or_decodes_without_panic() {
        let block = sample_block();
        for value in [encode_stored(&block), lz4_value(&block)] {
            flip_every_byte(&block, &value);
        }
    }

    fn flip_every_byte(block: &[u8], value: &[u8]) {
        let mut refused = 0;
        for at in 0..value.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut damaged = value.to_vec();
                damaged[at] ^= flip;
                match decode_stored(&damaged) {
                    Err(_) => refused += 1,
                    Ok(decoded) => {
                        if at < 1 + STORED_LENGTH_BYTES {
                            assert_ne!(decoded.as_ref(), block, "byte {at} ^ {flip:#x}");
                        }
                        event_entries(&decoded).for_each(drop);
                    }
                }
            }
        }
        assert!(refused > 0);
    }

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
