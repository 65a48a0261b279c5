//! The log's signing key file, `signing.key` in the ledger directory (FORMAT.md §7.4): made
//! once by `init`, read to sign checkpoints, never exported. The keys that seal derived
//! state (`seal`) and protect personal data (`identity`) are derived from its seed.
//!
//! The text is the signer key format of golang.org/x/mod/sumdb/note
//! (`PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>`), so the key name (the log's
//! origin) travels with the seed and existing signed-note tools can use the file.

pub mod identity;
pub mod seal;
pub mod tokens;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::tlog::checkpoint::CheckpointError;
use crate::tlog::note::{LogSigner, ED25519_SIGNATURE_TYPE, SEED_LEN};

/// The key file's name inside the ledger directory.
pub const KEY_FILE: &str = "signing.key";

/// Owner read and write only: whoever reads the key can sign checkpoints auditors trust.
pub const KEY_FILE_MODE: u32 = 0o600;

/// Permission bits of group and others; any of them set means the key may have leaked.
const GROUP_OTHER_BITS: u32 = 0o077;

/// A key file is about 100 bytes; the limit stops a wrong path from reading a large file.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// The first two fields of a note signer key.
const SIGNER_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Hostname-like prefix of default origins; `.local` is reserved for names that mean
/// nothing outside one site, which is what a default is.
const DEFAULT_ORIGIN_PREFIX: &str = "fundtrail.local/";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("origin {origin:?} cannot name a log: {source}")]
    InvalidOrigin {
        origin: String,
        source: CheckpointError,
    },
    #[error("the operating system gave no randomness for a key seed: {0}")]
    Randomness(getrandom::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no signing key at {0} (`fundtrail init` makes one with a new ledger)")]
    Missing(PathBuf),
    /// The key was not readable when the ledger was opened, so sealed state cannot be
    /// checked or written.
    #[error("the ledger's state is sealed with its signing key, which could not be read when it was opened ({reason}); nothing was written")]
    Unavailable { reason: String },
    #[error("{path} can be read by group or others (mode {mode:o}); run `chmod 600 {path}` and consider the key leaked", path = .path.display())]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{path} is not a signing key: {reason}", path = .path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("{path} is not this ledger's key: it signs as {found}, the ledger's key is {expected}", path = .path.display())]
    NotThisLedger {
        path: PathBuf,
        found: String,
        expected: String,
    },
}

/// A signing key with the log name it signs for.
pub struct SigningKeyFile {
    seed: [u8; SEED_LEN],
    signer: LogSigner,
}

impl std::fmt::Debug for SigningKeyFile {
    // Never print the seed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKeyFile({:?})", self.signer)
    }
}

/// A fresh random Ed25519 seed from the operating system, for a new signing key (made
/// nowhere else).
pub fn generate_seed() -> Result<[u8; SEED_LEN], getrandom::Error> {
    let mut seed = [0u8; SEED_LEN];
    getrandom::getrandom(&mut seed)?;
    Ok(seed)
}

impl SigningKeyFile {
    /// A fresh key for the log `origin`.
    pub fn generate(origin: &str) -> Result<SigningKeyFile, KeyError> {
        let seed = generate_seed().map_err(KeyError::Randomness)?;
        let signer =
            LogSigner::from_seed(origin, &seed).map_err(|source| KeyError::InvalidOrigin {
                origin: origin.to_string(),
                source,
            })?;
        Ok(SigningKeyFile { seed, signer })
    }

    pub fn signer(&self) -> &LogSigner {
        &self.signer
    }

    /// The key that seals the ledger's derived state, derived from this key's seed.
    pub fn state_key(&self) -> crate::keys::seal::StateKey {
        crate::keys::seal::StateKey::derive(&self.seed)
    }

    /// The key that hashes identity numbers for the chain, derived from this key's seed.
    pub fn identity_key(&self) -> identity::IdentityKey {
        identity::IdentityKey::derive(&self.seed)
    }

    /// The key that hashes bank accounts for the chain, derived from this key's seed.
    pub fn account_key(&self) -> identity::AccountKey {
        identity::AccountKey::derive(&self.seed)
    }

    /// The key that wraps the personal-data vault's keys, derived from this key's seed.
    pub fn vault_key(&self) -> identity::VaultKey {
        identity::VaultKey::derive(&self.seed)
    }

    /// `PRIVATE+KEY+<name>+<8 hex digit key id>+<base64(0x01 ‖ seed)>`.
    pub fn to_text(&self) -> String {
        let mut encoded = Vec::with_capacity(1 + SEED_LEN);
        encoded.push(ED25519_SIGNATURE_TYPE);
        encoded.extend_from_slice(&self.seed);
        format!(
            "{SIGNER_KEY_PREFIX}{}+{:08x}+{}",
            self.signer.name(),
            self.signer.verifier_key().key_id(),
            BASE64.encode(encoded)
        )
    }

    /// Parses the text form; the key id must match the name and key.
    pub fn parse(text: &str) -> Result<SigningKeyFile, String> {
        let rest = text
            .strip_prefix(SIGNER_KEY_PREFIX)
            .ok_or("it does not start with PRIVATE+KEY+")?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("it is not PRIVATE+KEY+<name>+<id>+<key>".into());
        };
        let encoded = BASE64.decode(key).map_err(|_| "the key is not base64")?;
        let seed = match encoded.split_first() {
            Some((&ED25519_SIGNATURE_TYPE, seed)) => <[u8; SEED_LEN]>::try_from(seed)
                .map_err(|_| format!("the seed is {} bytes, not {SEED_LEN}", seed.len()))?,
            _ => return Err("the key is not an Ed25519 key (type 0x01)".into()),
        };
        let signer = LogSigner::from_seed(name, &seed).map_err(|e| e.to_string())?;
        let computed = format!("{:08x}", signer.verifier_key().key_id());
        if id != computed {
            return Err(format!("key id {id} does not match its key ({computed})"));
        }
        Ok(SigningKeyFile { seed, signer })
    }

    /// Writes `dir/signing.key`, created with mode 0600 in the same system call (it is
    /// never readable by others, not even for an instant) and never over an existing file.
    pub fn write(&self, dir: &Path) -> Result<(), KeyError> {
        write_private_file(&dir.join(KEY_FILE), &format!("{}\n", self.to_text()))
    }

    /// Reads `dir/signing.key`, refusing a file that group or others can read.
    pub fn read(dir: &Path) -> Result<SigningKeyFile, KeyError> {
        let path = dir.join(KEY_FILE);
        let text = read_private_file(&path)?;
        SigningKeyFile::parse(text.trim_end())
            .map_err(|reason| KeyError::Malformed { path, reason })
    }
}

/// Creates `path` with mode 0600 in the same system call (never readable by others, not
/// even for an instant), never over an existing file, writes `text`, and makes the file
/// and its directory entry durable. The ledger's signing key and a witness's key
/// (`witness`) are written this way.
pub fn write_private_file(path: &Path, text: &str) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(KEY_FILE_MODE)
        .open(path)
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)
}

/// Reads a key file written by [`write_private_file`] (at most [`MAX_KEY_FILE_BYTES`]),
/// refusing one that group or others can read.
pub fn read_private_file(path: &Path) -> Result<String, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = match File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeyError::Missing(path.to_path_buf()))
        }
        other => other.map_err(io)?,
    };
    let mode = file.metadata().map_err(io)?.permissions().mode();
    if mode & GROUP_OTHER_BITS != 0 {
        return Err(KeyError::TooOpen {
            path: path.to_path_buf(),
            mode: mode & 0o777,
        });
    }
    let mut text = String::new();
    file.take(MAX_KEY_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(io)?;
    Ok(text)
}

/// The origin `init` chooses when none is given: `fundtrail.local/<directory name>`, with
/// characters a key name may not hold (spaces, `+`, controls) and any other punctuation
/// replaced by `-`.
pub fn default_origin(dir: &Path) -> String {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let name: String = absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = if name.is_empty() { "ledger" } else { &name };
    format!("{DEFAULT_ORIGIN_PREFIX}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::checkpoint::{open_note, Checkpoint};

    #[test]
    fn fresh_seeds_sign_and_verify() {
        let (a, b) = (generate_seed().unwrap(), generate_seed().unwrap());
        assert_ne!(a, b);
        let origin = "fundtrail.example/ledger";
        let signer = LogSigner::from_seed(origin, &a).unwrap();
        let checkpoint = Checkpoint {
            origin: origin.into(),
            size: 20852163,
            root: [0xab; 32],
        };
        let signed = signer.sign(&checkpoint).unwrap();
        assert_eq!(
            open_note(&signed, &signer.verifier_key()).unwrap(),
            checkpoint
        );
    }

    /// golang.org/x/mod/sumdb/note's published signer key for PeterNeumann
    /// (testdata/note/SOURCE).
    const PETER_SKEY: &str = include_str!("../../testdata/note/PeterNeumann.skey");
    const PETER_VKEY: &str = include_str!("../../testdata/note/PeterNeumann.vkey");

    #[test]
    fn the_published_signer_key_parses_and_round_trips() {
        let key = SigningKeyFile::parse(PETER_SKEY).unwrap();
        assert_eq!(key.signer().verifier_key().to_string(), PETER_VKEY);
        assert_eq!(key.to_text(), PETER_SKEY);
        assert!(!format!("{key:?}").contains("AYEK"));
    }

    #[test]
    fn damaged_signer_keys_are_refused() {
        for bad in [
            "",
            "PRIVATE+KEY+PeterNeumann",
            "PUBLIC+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            "PRIVATE+KEY+PeterNeumanm+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            "PRIVATE+KEY+PeterNeumann+c74f20a3+AoEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDF",
            "PRIVATE+KEY+Peter Neumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        ] {
            assert!(SigningKeyFile::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_key_file_is_private_from_creation_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKeyFile::generate("example.org/log").unwrap();
        key.write(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, KEY_FILE_MODE);
        let back = SigningKeyFile::read(dir.path()).unwrap();
        assert_eq!(
            back.signer().verifier_key(),
            key.signer().verifier_key(),
            "the key read back is the key written"
        );
        assert!(matches!(key.write(dir.path()), Err(KeyError::Io { .. })));

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            SigningKeyFile::read(dir.path()),
            Err(KeyError::TooOpen { mode: 0o640, .. })
        ));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            SigningKeyFile::read(dir.path()),
            Err(KeyError::Missing(_))
        ));
    }

    #[test]
    fn bad_origins_are_refused_and_defaults_are_valid_names() {
        assert!(matches!(
            SigningKeyFile::generate("two words"),
            Err(KeyError::InvalidOrigin { .. })
        ));
        assert!(SigningKeyFile::generate("a+b").is_err());
        for dir in ["/srv/ledger 2024+x", "/srv/盘龙区", "/", "rel/dir"] {
            let origin = default_origin(Path::new(dir));
            assert!(origin.starts_with(DEFAULT_ORIGIN_PREFIX), "{origin}");
            SigningKeyFile::generate(&origin).unwrap();
        }
        assert_eq!(
            default_origin(Path::new("/srv/ledger 2024+x")),
            "fundtrail.local/ledger-2024-x"
        );
    }
}
