//! A receipt's compact form (FORMAT.md §14.2): its tlog-proof as bytes, in base45
//! (RFC 9285) behind a prefix, so that it is all QR alphanumeric characters (5.5 bits a
//! character against 8 a byte in byte mode). The field lines are left out: the verifier
//! shows the fields the proven record gives. Pure.

use super::{malformed, ReceiptFault};
use crate::tlog::merkle::{Digest, HASH_LEN};
use crate::tlog::tlog_proof::{TlogProof, MAX_PROOF_HASHES};

/// What a compact receipt starts with: the format and its version, in QR alphanumeric
/// characters.
pub const PREFIX: &str = "FTR1:";

/// The base45 alphabet (RFC 9285 §4): exactly the QR alphanumeric characters.
const ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// The compact form of a tlog-proof: `PREFIX ‖ base45(bytes)`, the bytes being
/// `index (u64 BE) ‖ len(extra) (u16 BE) ‖ extra ‖ count (u8) ‖ count × 32 hash bytes ‖
/// the checkpoint note (UTF-8)`.
pub fn encode(proof: &TlogProof) -> Result<String, ReceiptFault> {
    let extra = proof.extra.as_deref().unwrap_or_default();
    let extra_len = u16::try_from(extra.len())
        .map_err(|_| malformed("the record is too long for a compact receipt"))?;
    let count = u8::try_from(proof.hashes.len())
        .map_err(|_| malformed("too many proof hashes for a compact receipt"))?;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&proof.index.to_be_bytes());
    bytes.extend_from_slice(&extra_len.to_be_bytes());
    bytes.extend_from_slice(extra);
    bytes.push(count);
    for hash in &proof.hashes {
        bytes.extend_from_slice(hash);
    }
    bytes.extend_from_slice(proof.checkpoint.as_bytes());
    Ok(format!("{PREFIX}{}", base45_encode(&bytes)))
}

/// The tlog-proof a compact form holds; its extra data is never empty.
pub fn decode(text: &str) -> Result<TlogProof, ReceiptFault> {
    let body = text
        .strip_prefix(PREFIX)
        .ok_or_else(|| malformed(format!("a compact receipt starts with {PREFIX}")))?;
    let bytes = base45_decode(body).map_err(|e| malformed(format!("compact receipt: {e}")))?;
    let mut rest = bytes.as_slice();
    let index = u64::from_be_bytes(take_array(&mut rest, "index")?);
    let extra_len = usize::from(u16::from_be_bytes(take_array(&mut rest, "extra length")?));
    let extra = take(&mut rest, extra_len, "extra data")?.to_vec();
    let [count] = take_array::<1>(&mut rest, "hash count")?;
    if usize::from(count) > MAX_PROOF_HASHES {
        return Err(malformed(format!(
            "compact receipt: {count} proof hashes, more than {MAX_PROOF_HASHES}"
        )));
    }
    let hashes = (0..count)
        .map(|_| take_array::<HASH_LEN>(&mut rest, "proof hash"))
        .collect::<Result<Vec<Digest>, _>>()?;
    let checkpoint = String::from_utf8(rest.to_vec())
        .map_err(|_| malformed("compact receipt: the checkpoint note is not UTF-8"))?;
    Ok(TlogProof {
        extra: Some(extra),
        index,
        hashes,
        checkpoint,
    })
}

fn take<'b>(rest: &mut &'b [u8], n: usize, what: &str) -> Result<&'b [u8], ReceiptFault> {
    if rest.len() < n {
        return Err(malformed(format!(
            "compact receipt: the {what} is cut short"
        )));
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn take_array<const N: usize>(rest: &mut &[u8], what: &str) -> Result<[u8; N], ReceiptFault> {
    let bytes = take(rest, N, what)?;
    Ok(bytes.try_into().expect("take returned exactly N bytes"))
}

/// RFC 9285: each two bytes `a, b` as three characters `c, d, e` with
/// `a·256 + b = c + d·45 + e·45²`; a last single byte as two.
pub fn base45_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() / 2 * 3 + 2);
    for chunk in bytes.chunks(2) {
        let (mut n, digits) = match chunk {
            [a, b] => (u32::from(*a) * 256 + u32::from(*b), 3),
            [a] => (u32::from(*a), 2),
            _ => unreachable!("chunks(2) yields one or two bytes"),
        };
        for _ in 0..digits {
            let digit = usize::try_from(n % 45).expect("a digit below 45 fits a usize");
            out.push(char::from(ALPHABET[digit]));
            n /= 45;
        }
    }
    out
}

/// The bytes of a base45 text; refuses a character outside the alphabet, a dangling
/// character, and a group whose value is too large for its bytes (RFC 9285 §4.2).
pub fn base45_decode(text: &str) -> Result<Vec<u8>, String> {
    let values = text
        .chars()
        .map(|c| {
            let found = ALPHABET.iter().position(|&a| char::from(a) == c);
            found.ok_or_else(|| format!("{c:?} is not a base45 character"))
        })
        .collect::<Result<Vec<usize>, _>>()?;
    let mut out = Vec::with_capacity(values.len() / 3 * 2 + 1);
    for group in values.chunks(3) {
        let n = group.iter().rev().fold(0usize, |n, &v| n * 45 + v);
        match group.len() {
            3 if n <= 0xFFFF => {
                let pair = u16::try_from(n).expect("checked to be at most 0xFFFF");
                out.extend_from_slice(&pair.to_be_bytes());
            }
            2 if n <= 0xFF => out.push(u8::try_from(n).expect("checked to be at most 0xFF")),
            1 => return Err("a dangling character at the end".into()),
            _ => return Err(format!("the group {n} is too large for its bytes")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base45_matches_rfc_9285_examples() {
        assert_eq!(base45_encode(b"AB"), "BB8");
        assert_eq!(base45_encode(b"Hello!!"), "%69 VD92EX0");
        assert_eq!(base45_encode(b"base-45"), "UJCLQE7W581");
        assert_eq!(base45_decode("QED8WEX0").unwrap(), b"ietf!");
        assert_eq!(base45_decode("").unwrap(), b"");
    }

    #[test]
    fn base45_refuses_bad_text() {
        assert!(base45_decode("GGW").unwrap_err().contains("too large"));
        assert!(base45_decode("ab").unwrap_err().contains("not a base45"));
        assert!(base45_decode("BB8B").unwrap_err().contains("dangling"));
        assert!(base45_decode("ZZ").unwrap_err().contains("too large"));
    }

    #[test]
    fn compact_round_trips_and_refuses_cut_short() {
        let proof = TlogProof {
            extra: Some(vec![7; 40]),
            index: 41,
            hashes: vec![[1; 32], [2; 32]],
            checkpoint: "o\n42\nroot\n\n\u{2014} o sig\n".into(),
        };
        let text = encode(&proof).unwrap();
        assert!(text.starts_with(PREFIX));
        assert!(text.chars().all(|c| ALPHABET.contains(&(c as u8))));
        assert_eq!(decode(&text).unwrap(), proof);
        let bytes = base45_decode(&text[PREFIX.len()..]).unwrap();
        let cut = format!("{PREFIX}{}", base45_encode(&bytes[..20]));
        assert!(decode(&cut).unwrap_err().to_string().contains("cut short"));
        assert!(decode("FTR2:BB8")
            .unwrap_err()
            .to_string()
            .contains("starts with"));
    }
}
