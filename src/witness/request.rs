//! The body of a c2sp.org/tlog-witness `add-checkpoint` request: `old <size>`, zero or more
//! base64 consistency proof hashes, an empty line, then the signed checkpoint. Pure.

use crate::tlog::checkpoint::{decode_hash, parse_decimal};
use crate::tlog::merkle::Digest;
use crate::tlog::proofs::MAX_CONSISTENCY_HASHES;

/// The first line's prefix.
const OLD_SIZE_PREFIX: &str = "old ";

/// A parsed request. The note is still unverified text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the client believes the witness cosigned last.
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Digest>,
    /// The signed checkpoint note, verbatim.
    pub note: String,
}

impl AddCheckpoint {
    /// Parses a request body; the reason of a refusal names the line.
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, String> {
        let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
        let mut rest = text;
        let mut next_line = |number: usize| -> Result<&str, String> {
            let (line, after) = rest
                .split_once('\n')
                .ok_or_else(|| format!("line {number} does not end in a newline"))?;
            rest = after;
            Ok(line)
        };
        let first = next_line(1)?;
        let old = first
            .strip_prefix(OLD_SIZE_PREFIX)
            .ok_or("line 1 is not `old <size>`")?;
        let old_size = parse_decimal(old, "old size").map_err(|e| format!("line 1: {e}"))?;
        let mut proof = Vec::new();
        for number in 2.. {
            let line = next_line(number)?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_CONSISTENCY_HASHES {
                return Err(format!(
                    "more than {MAX_CONSISTENCY_HASHES} consistency proof lines"
                ));
            }
            let hash = decode_hash(line, "consistency proof hash")
                .map_err(|e| format!("line {number}: {e}"))?;
            proof.push(hash);
        }
        if rest.is_empty() {
            return Err("no checkpoint after the empty line".into());
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            note: rest.to_string(),
        })
    }

    /// The checkpoint's origin: the note's first line, before its signature is checked
    /// (the witness needs it to choose the key, and answers 404 for an unknown one).
    pub fn origin(&self) -> &str {
        self.note.split('\n').next().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &str = "log.example\n2\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} log.example AAAA\n";
    const HASH: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    #[test]
    fn a_request_parses_into_its_three_parts() {
        let body = format!("old 1\n{HASH}\n{HASH}\n\n{NOTE}");
        let request = AddCheckpoint::parse(body.as_bytes()).unwrap();
        assert_eq!(request.old_size, 1);
        assert_eq!(request.proof, vec![[0; 32], [0; 32]]);
        assert_eq!(request.note, NOTE);
        assert_eq!(request.origin(), "log.example");
        let empty = AddCheckpoint::parse(format!("old 0\n\n{NOTE}").as_bytes()).unwrap();
        assert!(empty.proof.is_empty());
    }

    #[test]
    fn malformed_requests_say_which_line() {
        let too_long = format!("old 1\n{}\n{NOTE}", format!("{HASH}\n").repeat(64));
        let cases: [(&[u8], &str); 9] = [
            (b"", "line 1 does not end in a newline"),
            (b"old 1", "line 1 does not end in a newline"),
            (b"new 1\n\nx\n", "line 1 is not `old <size>`"),
            (
                b"old 01\n\nx\n",
                "line 1: old size \"01\" has a leading zero",
            ),
            (
                b"old -1\n\nx\n",
                "line 1: old size \"-1\" is not a decimal number",
            ),
            (
                b"old 1\nnot base64\n\nx\n",
                "line 2: consistency proof hash",
            ),
            (b"old 1\n\n", "no checkpoint after the empty line"),
            (b"old 1\n\xff\n\nx\n", "the body is not UTF-8"),
            (too_long.as_bytes(), "more than 63 consistency proof lines"),
        ];
        for (body, reason) in cases {
            let err = AddCheckpoint::parse(body).unwrap_err();
            assert!(err.contains(reason), "{body:?}: {err}");
        }
        let short_hash = format!("old 1\n{}\n\n{NOTE}", &HASH[4..]);
        assert!(AddCheckpoint::parse(short_hash.as_bytes())
            .unwrap_err()
            .starts_with("line 2"));
    }
}
