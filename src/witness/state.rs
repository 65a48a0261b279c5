//! The witness directory (FORMAT.md, "Witnesses and cosignatures"): its key file, the logs
//! it trusts, its lock, and the latest cosigned checkpoint of each log, each replaced
//! atomically and durably. The IO shell around the pure core.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::keys::{generate_seed, read_private_file, write_private_file, KeyError};
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::note::{VerifierKey, MAX_NOTE_BYTES, SEED_LEN};
use crate::witness::cosign::{CosignError, Cosigner, COSIGNATURE_TYPE};
use crate::witness::decide::TrustedLogs;

/// The witness's Ed25519 key, mode 0600 from creation.
pub const WITNESS_KEY_FILE: &str = "witness.key";

/// The logs the witness cosigns for: one verifier key per line.
pub const TRUSTED_LOGS_FILE: &str = "trusted-logs";

/// Held (an exclusive `flock`) by the one `witness serve` process of a directory: two
/// would each keep their own idea of the latest checkpoints.
pub const LOCK_FILE: &str = "LOCK";

/// One file per log, named by the lowercase hex SHA-256 of its origin (the protocol's
/// "origin hash"), holding the latest checkpoint cosigned for it.
pub const LOGS_DIR: &str = "logs";

/// Suffix of a file being written before it is renamed into place (`<name>.<pid>.tmp`);
/// one left by a kill is removed when the witness starts.
const TEMP_SUFFIX: &str = ".tmp";

/// A trusted-logs file of 1 MiB holds about 10,000 keys, far more than a witness serves;
/// the limit stops a wrong file from being read whole.
const MAX_TRUSTED_LOGS_BYTES: u64 = 1024 * 1024;

/// A stored checkpoint is a note the witness accepted (at most [`MAX_NOTE_BYTES`]) with
/// its own cosignature line added.
const MAX_STATE_BYTES: u64 = 2 * MAX_NOTE_BYTES as u64;

/// What the first lines of the trusted-logs file say.
const TRUSTED_LOGS_HEADER: &str = "# The logs this witness cosigns for: one verifier key per line \
(`fundtrail witness trust DIR --log VKEY`); read when `witness serve` starts.\n";

/// Everything that can go wrong with a witness directory.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("{path}: {source}", path = .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("no witness key at {path} (`fundtrail witness init DIR --name NAME` makes one)", path = .0.display())]
    NoKey(PathBuf),
    #[error("{path} already holds a witness key; a witness keeps its key for life", path = .0.display())]
    Exists(PathBuf),
    #[error("{path}:{line}: {reason}", path = .path.display())]
    Malformed {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("witness name: {0}")]
    Name(CosignError),
    #[error("log verifier key: {0}")]
    LogKey(String),
    #[error("{path} is in use by another witness process{}", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default(), path = .path.display())]
    InUse { path: PathBuf, pid: Option<u32> },
    #[error("the operating system gave no randomness for a key seed: {0}")]
    Randomness(getrandom::Error),
}

pub(crate) fn io_err(path: &Path) -> impl Fn(std::io::Error) -> WitnessError + '_ {
    move |source| WitnessError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates the directory and the witness's key; the key's verifier key is returned.
pub fn init(dir: &Path, name: &str) -> Result<Cosigner, WitnessError> {
    let seed = generate_seed().map_err(WitnessError::Randomness)?;
    let cosigner = Cosigner::from_seed(name, &seed).map_err(WitnessError::Name)?;
    fs::create_dir_all(dir.join(LOGS_DIR)).map_err(io_err(dir))?;
    let path = dir.join(WITNESS_KEY_FILE);
    if path.exists() {
        return Err(WitnessError::Exists(path));
    }
    match write_private_file(&path, &format!("{}\n", key_text(&cosigner, &seed))) {
        Err(KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(WitnessError::Exists(path))
        }
        other => other.map(|()| cosigner).map_err(WitnessError::from),
    }
}

/// `PRIVATE+KEY+<name>+<key id>+<base64(0x04 ‖ seed)>`: the signer key form of
/// golang.org/x/mod/sumdb/note, with the cosignature's signature type and key id.
fn key_text(cosigner: &Cosigner, seed: &[u8; SEED_LEN]) -> String {
    let mut encoded = Vec::with_capacity(1 + SEED_LEN);
    encoded.push(COSIGNATURE_TYPE);
    encoded.extend_from_slice(seed);
    format!(
        "PRIVATE+KEY+{}+{:08x}+{}",
        cosigner.name(),
        cosigner.verifier_key().key_id(),
        BASE64.encode(encoded)
    )
}

/// Reads the witness's key, refusing one that group or others can read.
pub fn read_key(dir: &Path) -> Result<Cosigner, WitnessError> {
    let path = dir.join(WITNESS_KEY_FILE);
    let text = match read_private_file(&path) {
        Err(KeyError::Missing(_)) => return Err(WitnessError::NoKey(path)),
        other => other?,
    };
    parse_key(text.trim_end()).map_err(|reason| WitnessError::Malformed {
        path,
        line: 1,
        reason,
    })
}

fn parse_key(text: &str) -> Result<Cosigner, String> {
    let rest = text
        .strip_prefix("PRIVATE+KEY+")
        .ok_or("it does not start with PRIVATE+KEY+")?;
    let mut parts = rest.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("it is not PRIVATE+KEY+<name>+<key id>+<key>".into());
    };
    let encoded = BASE64.decode(key).map_err(|_| "the key is not base64")?;
    let seed: [u8; SEED_LEN] = match encoded.split_first() {
        Some((&COSIGNATURE_TYPE, seed)) => seed
            .try_into()
            .map_err(|_| format!("the seed is {} bytes, not {SEED_LEN}", seed.len()))?,
        _ => return Err("the key is not a cosignature key (type 0x04)".into()),
    };
    let cosigner = Cosigner::from_seed(name, &seed).map_err(|e| e.to_string())?;
    let computed = format!("{:08x}", cosigner.verifier_key().key_id());
    if id != computed {
        return Err(format!("key id {id} does not match its key ({computed})"));
    }
    Ok(cosigner)
}

/// The logs the witness trusts; none when the file does not exist yet.
pub fn read_trusted(dir: &Path) -> Result<TrustedLogs, WitnessError> {
    let path = dir.join(TRUSTED_LOGS_FILE);
    let text = match read_limited(&path, MAX_TRUSTED_LOGS_BYTES) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TrustedLogs::default()),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let mut logs = TrustedLogs::default();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = VerifierKey::parse(line).map_err(|e| WitnessError::Malformed {
            path: path.clone(),
            line: number + 1,
            reason: e.to_string(),
        })?;
        logs.add(key);
    }
    Ok(logs)
}

/// Adds a log's key to the trusted ones; false when it was trusted already. The file is
/// replaced whole (atomically, durably), so a kill leaves the old list or the new one.
pub fn trust(dir: &Path, key: &str) -> Result<(VerifierKey, bool), WitnessError> {
    read_key(dir)?;
    let key = VerifierKey::parse(key.trim()).map_err(|e| WitnessError::LogKey(e.to_string()))?;
    let mut logs = read_trusted(dir)?;
    if !logs.add(key.clone()) {
        return Ok((key, false));
    }
    let mut text = TRUSTED_LOGS_HEADER.to_string();
    for key in logs.keys() {
        text.push_str(&format!("{key}\n"));
    }
    replace_durably(dir, TRUSTED_LOGS_FILE, text.as_bytes())?;
    Ok((key, true))
}

/// Takes the directory's lock for the life of the returned file, and removes the
/// temporary files a kill may have left.
pub fn lock(dir: &Path) -> Result<File, WitnessError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path))?;
    if let Err(e) = file.try_lock() {
        let pid = fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse().ok());
        return match e {
            fs::TryLockError::WouldBlock => Err(WitnessError::InUse { path, pid }),
            fs::TryLockError::Error(e) => Err(io_err(&path)(e)),
        };
    }
    file.set_len(0).map_err(io_err(&path))?;
    writeln!(file, "{}", std::process::id()).map_err(io_err(&path))?;
    remove_temporaries(&dir.join(LOGS_DIR))?;
    Ok(file)
}

fn remove_temporaries(logs: &Path) -> Result<(), WitnessError> {
    fs::create_dir_all(logs).map_err(io_err(logs))?;
    for entry in fs::read_dir(logs).map_err(io_err(logs))? {
        let path = entry.map_err(io_err(logs))?.path();
        if path.to_string_lossy().ends_with(TEMP_SUFFIX) {
            fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

/// The protocol's origin hash: lowercase hex of SHA-256(origin).
pub fn origin_hash(origin: &str) -> String {
    hex::encode(Sha256::digest(origin.as_bytes()))
}

/// The stored note of the log whose origin hash is `hash` (64 lowercase hex digits), if
/// the witness ever cosigned one.
pub fn read_note(dir: &Path, hash: &str) -> Result<Option<String>, WitnessError> {
    let path = dir.join(LOGS_DIR).join(hash);
    match read_limited(&path, MAX_STATE_BYTES) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// The latest checkpoint cosigned for `origin`, `None` when never. A file that cannot be
/// read or parsed is an error, never "never": that would let a fork through.
pub fn read_latest(dir: &Path, origin: &str) -> Result<Option<Checkpoint>, WitnessError> {
    let Some(note) = read_note(dir, &origin_hash(origin))? else {
        return Ok(None);
    };
    let path = dir.join(LOGS_DIR).join(origin_hash(origin));
    let bad = |reason: String| WitnessError::Malformed {
        path: path.clone(),
        line: 1,
        reason,
    };
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| bad("no blank line before the signatures".into()))?;
    let checkpoint = Checkpoint::parse_body(&note[..=split]).map_err(|e| bad(e.to_string()))?;
    if checkpoint.origin != origin {
        return Err(bad(format!(
            "it is the checkpoint of {:?}",
            checkpoint.origin
        )));
    }
    Ok(Some(checkpoint))
}

/// Stores the cosigned note of `origin`: written to a temporary file, synced, renamed over
/// the old one, and the directory synced, so a kill at any moment leaves the old note or
/// the new one, and the new one is on disk before the caller answers.
pub fn write_latest(dir: &Path, origin: &str, note: &str) -> Result<(), WitnessError> {
    replace_durably(&dir.join(LOGS_DIR), &origin_hash(origin), note.as_bytes())
}

pub(crate) fn replace_durably(dir: &Path, name: &str, contents: &[u8]) -> Result<(), WitnessError> {
    // Named by the process too: two `witness trust` at once never write one temp file.
    let temp = dir.join(format!("{name}.{}{TEMP_SUFFIX}", std::process::id()));
    let target = dir.join(name);
    let mut file = File::create(&temp).map_err(io_err(&temp))?;
    file.write_all(contents).map_err(io_err(&temp))?;
    file.sync_all().map_err(io_err(&temp))?;
    drop(file);
    fs::rename(&temp, &target).map_err(io_err(&target))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

fn read_limited(path: &Path, limit: u64) -> std::io::Result<String> {
    let mut text = String::new();
    File::open(path)?.take(limit).read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::note::LogSigner;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn init_writes_a_private_key_once_and_it_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let witness = dir.path().join("w");
        let made = init(&witness, "witness.example/w1").unwrap();
        let mode = fs::metadata(witness.join(WITNESS_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            read_key(&witness).unwrap().verifier_key(),
            made.verifier_key()
        );
        assert!(matches!(
            init(&witness, "witness.example/w1"),
            Err(WitnessError::Exists(_))
        ));
        assert!(matches!(
            init(&dir.path().join("x"), "two words"),
            Err(WitnessError::Name(_))
        ));
        assert!(matches!(read_key(dir.path()), Err(WitnessError::NoKey(_))));
        fs::set_permissions(
            witness.join(WITNESS_KEY_FILE),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        assert!(matches!(
            read_key(&witness),
            Err(WitnessError::Key(KeyError::TooOpen { .. }))
        ));
    }

    #[test]
    fn trust_adds_each_key_once_and_refuses_bad_keys() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), "w1").unwrap();
        let log = LogSigner::from_seed("log.example", &[3; SEED_LEN])
            .unwrap()
            .verifier_key();
        assert!(trust(dir.path(), &log.to_string()).unwrap().1);
        assert!(!trust(dir.path(), &log.to_string()).unwrap().1);
        assert!(read_trusted(dir.path()).unwrap().knows("log.example"));
        assert!(matches!(
            trust(dir.path(), "log.example+00000000+AA=="),
            Err(WitnessError::LogKey(_))
        ));
        fs::write(dir.path().join(TRUSTED_LOGS_FILE), "# note\n\nnot a key\n").unwrap();
        assert!(matches!(
            read_trusted(dir.path()),
            Err(WitnessError::Malformed { line: 3, .. })
        ));
    }

    #[test]
    fn the_latest_checkpoint_is_replaced_whole_and_a_damaged_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), "w1").unwrap();
        let left = dir.path().join(LOGS_DIR).join("abc.77.tmp");
        fs::write(&left, "half a note").unwrap();
        let _lock = lock(dir.path()).unwrap();
        assert!(!left.exists(), "a temporary file a kill left is removed");
        assert!(matches!(lock(dir.path()), Err(WitnessError::InUse { .. })));
        assert_eq!(read_latest(dir.path(), "log.example").unwrap(), None);
        let note =
            "log.example\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} w1 x\n";
        write_latest(dir.path(), "log.example", note).unwrap();
        assert_eq!(
            read_latest(dir.path(), "log.example")
                .unwrap()
                .unwrap()
                .size,
            3
        );
        let file = dir.path().join(LOGS_DIR).join(origin_hash("log.example"));
        assert_eq!(fs::read_to_string(&file).unwrap(), note);
        fs::write(&file, "log.example\n3\n").unwrap();
        assert!(matches!(
            read_latest(dir.path(), "log.example"),
            Err(WitnessError::Malformed { .. })
        ));
        assert_eq!(
            origin_hash("example.com/behind-the-sofa"),
            hex::encode(Sha256::digest(b"example.com/behind-the-sofa"))
        );
    }
}
