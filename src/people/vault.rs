//! The personal-data vault: names and identity numbers, kept outside the hash-chained log
//! so that they can be erased (FORMAT.md §11.3).
//!
//! Each person's name and number are encrypted (XChaCha20-Poly1305) under a random key of
//! that person's own. The person keys are kept in the keys file, itself encrypted under
//! the vault key, which is derived from the signing key's seed (`keys::identity`): the
//! vault directory without `signing.key` reveals nothing. Erasing a person removes their
//! key and their ciphertext and keeps a marker that they were erased: what the chain holds
//! of them (the person id, role, dates and the keyed hash of the number) is unchanged, so
//! `verify`, totals and proofs are too. This is crypto-shredding.
//!
//! The vault lives in files under `<ledger dir>/vault/`, not in sled: a sled tree keeps
//! old versions of values in its log until it compacts, so an erased key could survive
//! there for an unknown time. Here every change rewrites the vault whole: the data file
//! under a new generation's name, then the keys file that names it, each written to a
//! temporary file, synced, renamed into place, and the directory synced. The keys file's
//! rename is the commit point: a crash leaves the old vault or the new one, never a mix,
//! and what a crash left behind is removed on the next open.
//!
//! Wiring (issue 12): the import of persons writes the vault first and appends the person
//! events after. An import the log refuses has its new entries forgotten again
//! ([`Vault::forget`]); a crash between the two leaves vault entries that no event names,
//! which the same import run again finds identical and leaves alone; the other order could
//! leave the chain, which is never rewritten, naming persons whose name and number were
//! lost. The person event carries `IdentityKey::identity_hash` of the number, never the
//! number. A person the chain names but the vault does not know (`Entry::Unknown`) is
//! damage to report, not an erasure.
//!
//! What erasure cannot reach: copies of the vault taken before it (backups), and blocks
//! of replaced files that the file system or the disk has not yet reused. Both are still
//! encrypted under the vault key, which only `signing.key` gives.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::keys::identity::VaultKey;
use crate::model::domain::{check_text, ValueError};
use crate::model::person::{PersonId, MAX_PERSON_ID_CHARS};
use crate::people::identity::{IdNumber, ID_NUMBER_LEN};
use crate::people::mask::{mask, Field};

/// The vault's directory inside the ledger directory.
pub const VAULT_DIR: &str = "vault";
/// The keys file's name: the person keys, and the generation and digest of the data file.
const KEYS_FILE: &str = "keys";
/// Data files are named by this prefix and their generation in 16 lowercase hex digits.
const DATA_FILE_PREFIX: &str = "data-";
/// What a file is written as before it is renamed into place.
const TEMP_SUFFIX: &str = ".tmp";
/// Owner read and write only, as `signing.key`: the files hold personal data, encrypted.
const FILE_MODE: u32 = 0o600;
/// Owner only, for the directory.
const DIR_MODE: u32 = 0o700;

/// The keys file's first bytes (format version 1); also its AEAD associated data.
const KEYS_MAGIC: &[u8; 8] = b"FTVKEYS1";
/// The data file's first bytes (format version 1).
const DATA_MAGIC: &[u8; 8] = b"FTVDATA1";

/// Bytes of an XChaCha20-Poly1305 key (a person key; the vault key is as long).
const KEY_LEN: usize = 32;
/// Bytes of an XChaCha20 nonce: random nonces this long never repeat in practice, so no
/// counter has to survive a crash.
const NONCE_LEN: usize = 24;
/// Bytes of a Poly1305 tag, appended to every ciphertext.
const TAG_LEN: usize = 16;
/// Bytes of a BLAKE3 digest.
const DIGEST_LEN: usize = 32;
/// The keys file's marker of a person whose key is present.
const SLOT_PRESENT: u8 = 1;
/// The keys file's marker of an erased person.
const SLOT_ERASED: u8 = 0;

/// Persons a vault holds: ten times the roll of 100,000 the benchmarks import, and more
/// than a thousand times the demo district's 873. Each change rewrites the vault whole,
/// which at this size takes seconds (examples/vault_put_many.rs measures it).
pub const MAX_PERSONS: usize = 1_000_000;
/// Characters of a name: room for long transliterated names with their `·` separators.
pub const MAX_NAME_CHARS: usize = 64;
/// Bytes of a name in UTF-8.
const MAX_NAME_BYTES: usize = MAX_NAME_CHARS * 4;

/// Bytes of one person in the keys file at most: id length, id, marker, key.
const MAX_KEYS_ENTRY_BYTES: usize = 1 + MAX_PERSON_ID_CHARS + 1 + KEY_LEN;
/// Bytes of the keys file before its entries: magic, nonce, generation, digest, count.
const KEYS_HEADER_BYTES: usize = KEYS_MAGIC.len() + NONCE_LEN + 8 + DIGEST_LEN + 4;
/// The largest keys file a vault of [`MAX_PERSONS`] writes; a larger file is refused
/// before it is read, so a wrong file cannot exhaust memory.
const MAX_KEYS_FILE_BYTES: usize = KEYS_HEADER_BYTES + MAX_PERSONS * MAX_KEYS_ENTRY_BYTES + TAG_LEN;
/// Bytes of one person's plaintext at most: name length, name, identity number.
const MAX_CLEAR_BYTES: usize = 2 + MAX_NAME_BYTES + ID_NUMBER_LEN;
/// Bytes of one person in the data file at most: id length, id, nonce, length, sealed.
const MAX_DATA_ENTRY_BYTES: usize =
    1 + MAX_PERSON_ID_CHARS + NONCE_LEN + 4 + MAX_CLEAR_BYTES + TAG_LEN;
/// The largest data file a vault of [`MAX_PERSONS`] writes.
const MAX_DATA_FILE_BYTES: usize = DATA_MAGIC.len() + 8 + 4 + MAX_PERSONS * MAX_DATA_ENTRY_BYTES;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("{path}: {source}", path = .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} does not open with this ledger's vault key: the vault is not this ledger's (or signing.key is not), or the file was changed", path = .path.display())]
    NotThisLedger { path: PathBuf },
    #[error("{path}: malformed at byte {offset}: {reason}", path = .path.display())]
    Malformed {
        path: PathBuf,
        offset: usize,
        reason: String,
    },
    #[error("{path} is not the data file the keys file names: {reason}", path = .path.display())]
    DataMismatch { path: PathBuf, reason: String },
    #[error("{dir} holds data files but no keys file: the keys file was removed, so the vault cannot be opened and nothing is written", dir = .dir.display())]
    KeysMissing { dir: PathBuf },
    #[error("the vault record of person {person} does not open with its key: the vault was changed or is not this ledger's")]
    Undecryptable { person: PersonId },
    #[error("the vault record of person {person} is not a name and an identity number: {reason}")]
    CorruptRecord { person: PersonId, reason: String },
    #[error("person {0} was erased: personal data is not put back after an erasure")]
    Erased(PersonId),
    #[error("person {0} is not in the vault")]
    Unknown(PersonId),
    #[error("person {0} appears twice in one write")]
    Duplicate(PersonId),
    #[error("the vault would hold {count} persons, more than {MAX_PERSONS}")]
    TooMany { count: usize },
    #[error("no randomness for a new key: {0}")]
    Random(String),
    #[error("an earlier write of the vault failed part way, so what is on disk is not known here: open the vault again")]
    Failed,
}

/// A person's name and identity number in clear. Its Debug shows them masked.
#[derive(Clone, PartialEq, Eq)]
pub struct Clear {
    name: String,
    id_number: IdNumber,
}

impl std::fmt::Debug for Clear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clear")
            .field("name", &self.masked_name())
            .field("id_number", &self.id_number)
            .finish()
    }
}

impl Clear {
    /// A name (1 to [`MAX_NAME_CHARS`] characters, no line breaks or control characters)
    /// and a valid identity number. A message never repeats the name.
    pub fn new(name: &str, id_number: IdNumber) -> Result<Clear, ValueError> {
        let name = check_text(name.trim(), true)?;
        let chars = name.chars().count();
        if chars > MAX_NAME_CHARS {
            return Err(ValueError(format!(
                "a name has at most {MAX_NAME_CHARS} characters, not {chars}"
            )));
        }
        Ok(Clear { name, id_number })
    }

    /// The name in clear, for `person show --reveal` only.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id_number(&self) -> &IdNumber {
        &self.id_number
    }

    /// As every output shows the name: `王*芳`.
    pub fn masked_name(&self) -> String {
        mask(Field::Name, &self.name)
    }

    /// `name length (u16 LE) ‖ name ‖ the 18 characters of the number`.
    fn encode(&self) -> Zeroizing<Vec<u8>> {
        let name = self.name.as_bytes();
        let len = u16::try_from(name.len()).expect("Clear::new bounds a name to MAX_NAME_BYTES");
        let mut out = Zeroizing::new(Vec::with_capacity(2 + name.len() + ID_NUMBER_LEN));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(self.id_number.expose().as_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Clear, String> {
        let (len, rest) = bytes
            .split_at_checked(2)
            .ok_or("shorter than a name length")?;
        let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
        let (name, number) = rest.split_at_checked(len).ok_or("shorter than its name")?;
        let name = std::str::from_utf8(name).map_err(|_| "the name is not UTF-8")?;
        let number = std::str::from_utf8(number).map_err(|_| "the number is not ASCII")?;
        let id_number = IdNumber::parse(number).map_err(|e| e.to_string())?;
        Clear::new(name, id_number).map_err(|e| format!("the name {e}"))
    }
}

/// What the vault holds of one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Present(Clear),
    /// Erased: the key and the data are gone for good.
    Erased,
    /// Never put in this vault.
    Unknown,
}

/// A person's own key: random, wiped from memory when dropped, stored only under the
/// vault key.
#[derive(Clone)]
struct PersonKey(Zeroizing<[u8; KEY_LEN]>);

/// A person's encrypted name and number.
#[derive(Clone)]
struct Sealed {
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

#[derive(Clone)]
enum Slot {
    Present { key: PersonKey, sealed: Sealed },
    Erased,
}

/// The personal-data vault of one ledger. One process has a ledger open, and only it
/// opens the vault; `&mut self` makes its writes one at a time.
pub struct Vault {
    dir: PathBuf,
    key: VaultKey,
    /// The generation of the files on disk; 0 before the first write.
    generation: u64,
    slots: BTreeMap<PersonId, Slot>,
    /// Set when a write failed after it began to replace files.
    failed: bool,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Vault({}, {} persons)",
            self.dir.display(),
            self.slots.len()
        )
    }
}

/// The vault directory of a ledger directory.
pub fn vault_dir(ledger_dir: &Path) -> PathBuf {
    ledger_dir.join(VAULT_DIR)
}

impl Vault {
    /// Opens the vault in `dir`; without the directory, the vault is empty and the first
    /// write creates it. A vault that does not open is left exactly as it is; what an
    /// interrupted write left behind is removed only once the vault has opened.
    pub fn open(dir: &Path, key: VaultKey) -> Result<Vault, VaultError> {
        let mut vault = Vault {
            dir: dir.to_path_buf(),
            key,
            generation: 0,
            slots: BTreeMap::new(),
            failed: false,
        };
        match read_limited(&vault.dir.join(KEYS_FILE), MAX_KEYS_FILE_BYTES)? {
            Some(bytes) => vault.load(&bytes)?,
            None if vault.data_files()?.is_empty() => {}
            None => return Err(VaultError::KeysMissing { dir: vault.dir }),
        }
        vault.remove_leftovers()?;
        Ok(vault)
    }

    /// How many persons the vault knows, erased ones included.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// A person's name and number, or that they were erased or never put.
    pub fn get(&self, person: &PersonId) -> Result<Entry, VaultError> {
        match self.slots.get(person) {
            None => Ok(Entry::Unknown),
            Some(Slot::Erased) => Ok(Entry::Erased),
            Some(Slot::Present { key, sealed }) => {
                open_person(person, key, sealed).map(Entry::Present)
            }
        }
    }

    /// Puts the persons' names and numbers in one rewrite of the vault, each under a new
    /// key of its own. A person whose entry is already exactly this is left alone; when all
    /// are, nothing is written. Returns how many persons were written. Refuses the whole
    /// batch, writing nothing, when a person appears twice, was erased, or the vault would
    /// hold more than [`MAX_PERSONS`].
    pub fn put_many(&mut self, persons: &[(PersonId, Clear)]) -> Result<usize, VaultError> {
        self.check_writable()?;
        let mut slots = self.slots.clone();
        let mut seen = std::collections::BTreeSet::new();
        let mut written = 0;
        for (person, clear) in persons {
            if !seen.insert(person) {
                return Err(VaultError::Duplicate(person.clone()));
            }
            match self.get(person)? {
                Entry::Erased => return Err(VaultError::Erased(person.clone())),
                Entry::Present(old) if &old == clear => continue,
                Entry::Present(_) | Entry::Unknown => {}
            }
            slots.insert(person.clone(), seal_person(person, clear)?);
            written += 1;
        }
        if slots.len() > MAX_PERSONS {
            return Err(VaultError::TooMany { count: slots.len() });
        }
        if written > 0 {
            self.commit(slots)?;
        }
        Ok(written)
    }

    /// Erases a person: their key and their encrypted data are removed for good, and the
    /// vault remembers that they were erased. Erasing an erased person writes nothing.
    pub fn erase(&mut self, person: &PersonId) -> Result<(), VaultError> {
        self.check_writable()?;
        match self.slots.get(person) {
            None => Err(VaultError::Unknown(person.clone())),
            Some(Slot::Erased) => Ok(()),
            Some(Slot::Present { .. }) => {
                let mut slots = self.slots.clone();
                slots.insert(person.clone(), Slot::Erased);
                self.commit(slots)
            }
        }
    }

    /// Forgets persons whose events were never recorded (an import the log refused after
    /// their data was put here): their entries go without a trace, not as erasures. Erased
    /// and unknown persons are left as they are. Returns how many were forgotten.
    pub fn forget(&mut self, persons: &[PersonId]) -> Result<usize, VaultError> {
        self.check_writable()?;
        let mut slots = self.slots.clone();
        let mut forgotten = 0;
        for person in persons {
            if matches!(slots.get(person), Some(Slot::Present { .. })) {
                slots.remove(person);
                forgotten += 1;
            }
        }
        if forgotten > 0 {
            self.commit(slots)?;
        }
        Ok(forgotten)
    }

    fn check_writable(&self) -> Result<(), VaultError> {
        if self.failed {
            Err(VaultError::Failed)
        } else {
            Ok(())
        }
    }

    /// Writes `slots` as the next generation; the vault in memory changes only once the
    /// keys file naming it is in place.
    fn commit(&mut self, slots: BTreeMap<PersonId, Slot>) -> Result<(), VaultError> {
        let generation = self.generation + 1;
        let files = Files::encode(&self.key, generation, &slots)?;
        let result = self.create_dir().and_then(|()| self.write_files(&files));
        if result.is_err() {
            self.failed = true;
            return result;
        }
        let previous = data_file_name(self.generation);
        self.generation = generation;
        self.slots = slots;
        // The new vault is committed; an old data file that cannot be removed now is
        // removed on the next open, and holds nothing readable without its keys.
        let _ = fs::remove_file(self.dir.join(previous));
        Ok(())
    }

    /// Creates the directory on the first write, durably: its entry in the ledger
    /// directory is synced before any file in it counts.
    fn create_dir(&self) -> Result<(), VaultError> {
        if self.dir.is_dir() {
            return Ok(());
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(&self.dir)
            .map_err(io(&self.dir))?;
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        sync_dir(parent)
    }

    fn write_files(&self, files: &Files) -> Result<(), VaultError> {
        files
            .steps()
            .iter()
            .try_for_each(|step| step.run(&self.dir))
    }

    fn load(&mut self, keys_bytes: &[u8]) -> Result<(), VaultError> {
        let keys_path = self.dir.join(KEYS_FILE);
        let keys = decode_keys(&keys_path, &self.key, keys_bytes)?;
        let data_path = self.dir.join(data_file_name(keys.generation));
        let data = match read_limited(&data_path, MAX_DATA_FILE_BYTES)? {
            Some(data) => data,
            None => {
                return Err(VaultError::DataMismatch {
                    path: data_path,
                    reason: "it does not exist".into(),
                })
            }
        };
        if blake3::hash(&data).as_bytes() != &keys.data_digest {
            return Err(VaultError::DataMismatch {
                path: data_path,
                reason: "its digest differs from the one the keys file holds (it was changed or replaced)".into(),
            });
        }
        let mut sealed = decode_data(&data_path, keys.generation, &data)?;
        self.slots = join_slots(&data_path, keys.slots, &mut sealed)?;
        self.generation = keys.generation;
        Ok(())
    }

    /// Data files on disk, temporary ones excluded.
    fn data_files(&self) -> Result<Vec<String>, VaultError> {
        Ok(self
            .file_names()?
            .into_iter()
            .filter(|n| n.starts_with(DATA_FILE_PREFIX) && !n.ends_with(TEMP_SUFFIX))
            .collect())
    }

    /// The names of the files in the directory; none when there is no directory.
    fn file_names(&self) -> Result<Vec<String>, VaultError> {
        let mut names = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
            other => other.map_err(io(&self.dir))?,
        };
        for entry in entries {
            let entry = entry.map_err(io(&self.dir))?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }

    /// Removes temporary files and data files of other generations: what a write that
    /// was interrupted, or whose last removal failed, left behind. Other files are kept.
    fn remove_leftovers(&self) -> Result<(), VaultError> {
        let current = data_file_name(self.generation);
        for name in self.file_names()? {
            let stale = name.ends_with(TEMP_SUFFIX)
                || (name.starts_with(DATA_FILE_PREFIX) && name != current);
            if stale {
                let path = self.dir.join(&name);
                fs::remove_file(&path).map_err(io(&path))?;
            }
        }
        Ok(())
    }
}

/// `data-` and the generation in 16 lowercase hex digits.
fn data_file_name(generation: u64) -> String {
    format!("{DATA_FILE_PREFIX}{generation:016x}")
}

/// The two files of one generation, encoded.
struct Files {
    generation: u64,
    keys: Vec<u8>,
    data: Vec<u8>,
}

/// One step of a rewrite; a crash between any two leaves the old vault or the new one.
enum Step<'a> {
    /// Writes `<name>.tmp` and syncs it.
    Write(String, &'a [u8]),
    /// Renames `<name>.tmp` to `<name>` and syncs the directory.
    Publish(String),
}

impl Step<'_> {
    fn run(&self, dir: &Path) -> Result<(), VaultError> {
        match self {
            Step::Write(name, bytes) => write_temp(dir, name, bytes),
            Step::Publish(name) => publish(dir, name),
        }
    }
}

impl Files {
    /// The data file, then the keys file that names it: the keys file's rename is the
    /// commit point.
    fn steps(&self) -> [Step<'_>; 4] {
        let data = data_file_name(self.generation);
        [
            Step::Write(data.clone(), &self.data),
            Step::Publish(data),
            Step::Write(KEYS_FILE.to_owned(), &self.keys),
            Step::Publish(KEYS_FILE.to_owned()),
        ]
    }

    fn encode(
        key: &VaultKey,
        generation: u64,
        slots: &BTreeMap<PersonId, Slot>,
    ) -> Result<Files, VaultError> {
        let data = encode_data(generation, slots);
        let digest = blake3::hash(&data);
        let keys = encode_keys(key, generation, digest.as_bytes(), slots)?;
        Ok(Files {
            generation,
            keys,
            data,
        })
    }
}

/// A count or length as u32 LE: counts are bounded by [`MAX_PERSONS`], lengths by
/// [`MAX_CLEAR_BYTES`].
fn u32_le(n: usize) -> [u8; 4] {
    u32::try_from(n)
        .expect("vault counts and lengths are bounded far below 2^32")
        .to_le_bytes()
}

fn push_id(out: &mut Vec<u8>, person: &PersonId) {
    let id = person.as_str().as_bytes();
    out.push(u8::try_from(id.len()).expect("a person id has at most 32 ASCII characters"));
    out.extend_from_slice(id);
}

/// `FTVDATA1 ‖ generation u64 ‖ count u32 ‖ per present person, in id order: id length u8
/// ‖ id ‖ nonce ‖ sealed length u32 ‖ sealed`.
fn encode_data(generation: u64, slots: &BTreeMap<PersonId, Slot>) -> Vec<u8> {
    let present: Vec<(&PersonId, &Sealed)> = slots
        .iter()
        .filter_map(|(p, s)| match s {
            Slot::Present { sealed, .. } => Some((p, sealed)),
            Slot::Erased => None,
        })
        .collect();
    let mut out = Vec::with_capacity(DATA_MAGIC.len() + 12 + present.len() * 100);
    out.extend_from_slice(DATA_MAGIC);
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&u32_le(present.len()));
    for (person, sealed) in present {
        push_id(&mut out, person);
        out.extend_from_slice(&sealed.nonce);
        out.extend_from_slice(&u32_le(sealed.ciphertext.len()));
        out.extend_from_slice(&sealed.ciphertext);
    }
    out
}

/// `FTVKEYS1 ‖ nonce ‖ XChaCha20-Poly1305(vault key, nonce, plaintext, aad = FTVKEYS1)`,
/// the plaintext being `generation u64 ‖ data digest ‖ count u32 ‖ per person, in id
/// order: id length u8 ‖ id ‖ 1 ‖ key, or id length u8 ‖ id ‖ 0 when erased`.
fn encode_keys(
    key: &VaultKey,
    generation: u64,
    digest: &[u8; DIGEST_LEN],
    slots: &BTreeMap<PersonId, Slot>,
) -> Result<Vec<u8>, VaultError> {
    let mut plain = Zeroizing::new(Vec::with_capacity(44 + slots.len() * MAX_KEYS_ENTRY_BYTES));
    plain.extend_from_slice(&generation.to_le_bytes());
    plain.extend_from_slice(digest);
    plain.extend_from_slice(&u32_le(slots.len()));
    for (person, slot) in slots {
        push_id(&mut plain, person);
        match slot {
            Slot::Present { key, .. } => {
                plain.push(SLOT_PRESENT);
                plain.extend_from_slice(&key.0[..]);
            }
            Slot::Erased => plain.push(SLOT_ERASED),
        }
    }
    let nonce = random::<NONCE_LEN>()?;
    let sealed = cipher(key.expose())
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: KEYS_MAGIC,
            },
        )
        .expect("XChaCha20-Poly1305 encrypts any message under 256 GiB");
    let mut out = Vec::with_capacity(KEYS_MAGIC.len() + NONCE_LEN + sealed.len());
    out.extend_from_slice(KEYS_MAGIC);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// A keys file, decrypted.
struct Keys {
    generation: u64,
    data_digest: [u8; DIGEST_LEN],
    /// `None` for an erased person.
    slots: Vec<(PersonId, Option<PersonKey>)>,
}

fn decode_keys(path: &Path, key: &VaultKey, bytes: &[u8]) -> Result<Keys, VaultError> {
    let mut outer = Reader::new(path, bytes, 0);
    outer.magic(KEYS_MAGIC)?;
    let nonce = outer.take(NONCE_LEN, "the nonce")?;
    let sealed = outer.rest();
    if sealed.len() < TAG_LEN {
        return Err(outer.malformed("truncated: shorter than an authentication tag"));
    }
    let plain = cipher(key.expose())
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: KEYS_MAGIC,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| VaultError::NotThisLedger {
            path: path.to_path_buf(),
        })?;
    // The stream cipher keeps offsets: plaintext byte i is file byte (magic + nonce + i).
    let mut r = Reader::new(path, &plain, KEYS_MAGIC.len() + NONCE_LEN);
    let generation = r.u64("the generation")?;
    let data_digest = r.array::<DIGEST_LEN>("the data digest")?;
    let count = r.count("the person count")?;
    let mut slots = Vec::with_capacity(count);
    for _ in 0..count {
        let person = r.person_id(slots.last().map(|(p, _)| p))?;
        let key = match r.u8("a key marker")? {
            SLOT_PRESENT => Some(PersonKey(Zeroizing::new(
                r.array::<KEY_LEN>("a person key")?,
            ))),
            SLOT_ERASED => None,
            other => {
                return Err(r.malformed_before(1, &format!("key marker {other} is neither 0 nor 1")))
            }
        };
        slots.push((person, key));
    }
    r.end()?;
    Ok(Keys {
        generation,
        data_digest,
        slots,
    })
}

fn decode_data(
    path: &Path,
    generation: u64,
    bytes: &[u8],
) -> Result<BTreeMap<PersonId, Sealed>, VaultError> {
    let mut r = Reader::new(path, bytes, 0);
    r.magic(DATA_MAGIC)?;
    let found = r.u64("the generation")?;
    if found != generation {
        return Err(r.malformed_before(
            8,
            &format!("generation {found}, but the keys file names {generation}"),
        ));
    }
    let count = r.count("the person count")?;
    let mut sealed = BTreeMap::new();
    let mut last: Option<PersonId> = None;
    for _ in 0..count {
        let person = r.person_id(last.as_ref())?;
        let nonce = r.array::<NONCE_LEN>("a nonce")?;
        let len = r.u32("a sealed length")?;
        if !(TAG_LEN..=MAX_CLEAR_BYTES + TAG_LEN).contains(&len) {
            return Err(r.malformed_before(4, &format!("a sealed length of {len} bytes")));
        }
        let ciphertext = r.take(len, "a sealed record")?.to_vec();
        last = Some(person.clone());
        sealed.insert(person, Sealed { nonce, ciphertext });
    }
    r.end()?;
    Ok(sealed)
}

/// Pairs each present person's key with their data; both files must name the same persons.
fn join_slots(
    data_path: &Path,
    keys: Vec<(PersonId, Option<PersonKey>)>,
    sealed: &mut BTreeMap<PersonId, Sealed>,
) -> Result<BTreeMap<PersonId, Slot>, VaultError> {
    let mismatch = |reason: String| VaultError::DataMismatch {
        path: data_path.to_path_buf(),
        reason,
    };
    let mut slots = BTreeMap::new();
    for (person, key) in keys {
        let slot = match key {
            None => Slot::Erased,
            Some(key) => {
                let sealed = sealed
                    .remove(&person)
                    .ok_or_else(|| mismatch(format!("it has no record of person {person}")))?;
                Slot::Present { key, sealed }
            }
        };
        slots.insert(person, slot);
    }
    match sealed.keys().next() {
        Some(person) => Err(mismatch(format!("it holds a record of person {person}, whom the keys file does not name or names as erased"))),
        None => Ok(slots),
    }
}

fn cipher(key: &[u8; KEY_LEN]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.into())
}

fn random<const N: usize>() -> Result<[u8; N], VaultError> {
    let mut bytes = [0; N];
    getrandom::getrandom(&mut bytes).map_err(|e| VaultError::Random(e.to_string()))?;
    Ok(bytes)
}

/// A new key and nonce for the person; associated data is the person id, so a record
/// moved to another person does not open.
fn seal_person(person: &PersonId, clear: &Clear) -> Result<Slot, VaultError> {
    let key = PersonKey(Zeroizing::new(random::<KEY_LEN>()?));
    let nonce = random::<NONCE_LEN>()?;
    let plain = clear.encode();
    let ciphertext = cipher(&key.0)
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: person.as_str().as_bytes(),
            },
        )
        .expect("XChaCha20-Poly1305 encrypts any message under 256 GiB");
    Ok(Slot::Present {
        key,
        sealed: Sealed { nonce, ciphertext },
    })
}

fn open_person(person: &PersonId, key: &PersonKey, sealed: &Sealed) -> Result<Clear, VaultError> {
    let plain = cipher(&key.0)
        .decrypt(
            XNonce::from_slice(&sealed.nonce),
            Payload {
                msg: &sealed.ciphertext,
                aad: person.as_str().as_bytes(),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| VaultError::Undecryptable {
            person: person.clone(),
        })?;
    Clear::decode(&plain).map_err(|reason| VaultError::CorruptRecord {
        person: person.clone(),
        reason,
    })
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> VaultError + '_ {
    move |source| VaultError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The file's bytes, `None` when it does not exist, refused unread when larger than `max`.
fn read_limited(path: &Path, max: usize) -> Result<Option<Vec<u8>>, VaultError> {
    let file = match File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        other => other.map_err(io(path))?,
    };
    let len = file.metadata().map_err(io(path))?.len();
    let limit = u64::try_from(max).unwrap_or(u64::MAX);
    if len > limit {
        return Err(VaultError::Malformed {
            path: path.to_path_buf(),
            offset: max,
            reason: format!(
                "the file is {len} bytes, more than a vault of {MAX_PERSONS} persons writes"
            ),
        });
    }
    let mut bytes = Vec::new();
    // Bounded again: the file could grow between the check and the read.
    file.take(limit).read_to_end(&mut bytes).map_err(io(path))?;
    Ok(Some(bytes))
}

/// Writes `<name>.tmp` with mode 0600 and syncs it.
fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), VaultError> {
    let path = dir.join(format!("{name}{TEMP_SUFFIX}"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(&path)
        .map_err(io(&path))?;
    file.write_all(bytes).map_err(io(&path))?;
    file.sync_all().map_err(io(&path))
}

/// Renames `<name>.tmp` to `<name>` and syncs the directory, so the rename is durable
/// before anything that depends on it is written.
fn publish(dir: &Path, name: &str) -> Result<(), VaultError> {
    let path = dir.join(name);
    fs::rename(dir.join(format!("{name}{TEMP_SUFFIX}")), &path).map_err(io(&path))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), VaultError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Reads a vault file front to back, naming the file offset of whatever is wrong.
struct Reader<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
    /// The file offset of `bytes[0]`.
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(path: &'a Path, bytes: &'a [u8], base: usize) -> Reader<'a> {
        Reader {
            path,
            bytes,
            pos: 0,
            base,
        }
    }

    fn malformed(&self, reason: &str) -> VaultError {
        self.malformed_before(0, reason)
    }

    /// The fault of the value whose `len` bytes were just read.
    fn malformed_before(&self, len: usize, reason: &str) -> VaultError {
        VaultError::Malformed {
            path: self.path.to_path_buf(),
            offset: self.base + self.pos - len,
            reason: reason.to_owned(),
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], VaultError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        let Some(end) = end else {
            return Err(self.malformed(&format!(
                "truncated: {what} needs {n} bytes, {} are left",
                self.bytes.len() - self.pos
            )));
        };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], VaultError> {
        let bytes = self.take(N, what)?;
        Ok(bytes.try_into().expect("take returned N bytes"))
    }

    fn u8(&mut self, what: &str) -> Result<u8, VaultError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<usize, VaultError> {
        let n = u32::from_le_bytes(self.array(what)?);
        Ok(usize::try_from(n).expect("a u32 fits a usize on the platforms fundtrail runs on"))
    }

    fn u64(&mut self, what: &str) -> Result<u64, VaultError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn count(&mut self, what: &str) -> Result<usize, VaultError> {
        let count = self.u32(what)?;
        if count > MAX_PERSONS {
            return Err(
                self.malformed_before(4, &format!("{count} persons, more than {MAX_PERSONS}"))
            );
        }
        Ok(count)
    }

    fn magic(&mut self, magic: &[u8; 8]) -> Result<(), VaultError> {
        let found = self.take(magic.len(), "the format tag")?;
        if found == magic {
            Ok(())
        } else {
            Err(self.malformed_before(
                magic.len(),
                &format!("it does not start with {}", String::from_utf8_lossy(magic)),
            ))
        }
    }

    /// A person id, which must come after `previous` in byte order.
    fn person_id(&mut self, previous: Option<&PersonId>) -> Result<PersonId, VaultError> {
        let len = usize::from(self.u8("a person id length")?);
        let bytes = self.take(len, "a person id")?;
        let text = std::str::from_utf8(bytes).unwrap_or("");
        let person = PersonId::parse(text)
            .map_err(|e| self.malformed_before(len, &format!("not a person id: {e}")))?;
        if previous.is_some_and(|p| p.as_str() >= person.as_str()) {
            return Err(
                self.malformed_before(len, &format!("person {person} is out of order or repeated"))
            );
        }
        Ok(person)
    }

    fn rest(&mut self) -> &'a [u8] {
        let out = &self.bytes[self.pos..];
        self.pos = self.bytes.len();
        out
    }

    fn end(&self) -> Result<(), VaultError> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(self.malformed(&format!(
                "{} bytes after the last person",
                self.bytes.len() - self.pos
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: [u8; 32] = [9; 32];

    fn key() -> VaultKey {
        VaultKey::derive(&SEED)
    }

    fn pid(text: &str) -> PersonId {
        PersonId::parse(text).unwrap()
    }

    /// A valid identity number from its first 17 digits.
    fn number(first17: &str) -> IdNumber {
        IdNumber::complete(first17).unwrap()
    }

    fn clear(name: &str, first17: &str) -> Clear {
        Clear::new(name, number(first17)).unwrap()
    }

    /// Two persons with names and numbers that occur nowhere else.
    fn alice_and_bob() -> [(PersonId, Clear); 2] {
        [
            (pid("P-1"), clear("欧阳秀芳", "53010319600101002")),
            (pid("P-2"), clear("王建国", "53010319580303001")),
        ]
    }

    /// Every file under `dir`, by name.
    fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().into_string().unwrap(),
                    fs::read(e.path()).unwrap(),
                )
            })
            .collect()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn key_of(vault: &Vault, person: &PersonId) -> [u8; KEY_LEN] {
        match &vault.slots[person] {
            Slot::Present { key, .. } => *key.0,
            Slot::Erased => panic!("{person} is erased"),
        }
    }

    #[test]
    fn persons_put_read_back_also_after_reopening() {
        use std::os::unix::fs::PermissionsExt;
        let ledger = tempfile::tempdir().unwrap();
        let dir = vault_dir(ledger.path());
        let mut vault = Vault::open(&dir, key()).unwrap();
        assert!(vault.is_empty());
        assert!(!dir.exists(), "opening writes nothing");
        let persons = alice_and_bob();
        assert_eq!(vault.put_many(&persons).unwrap(), 2);
        let mode = fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, DIR_MODE);
        let vault = Vault::open(&dir, key()).unwrap();
        assert_eq!(vault.len(), 2);
        for (person, clear) in &persons {
            assert_eq!(vault.get(person).unwrap(), Entry::Present(clear.clone()));
        }
        assert_eq!(vault.get(&pid("P-3")).unwrap(), Entry::Unknown);
        let names: Vec<String> = files(&dir).into_keys().collect();
        assert_eq!(names, ["data-0000000000000001", "keys"]);
        for path in fs::read_dir(&dir).unwrap() {
            let mode = path.unwrap().metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o777, FILE_MODE);
        }
    }

    #[test]
    fn an_identical_put_writes_nothing_and_a_changed_one_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let mut vault = Vault::open(dir.path(), key()).unwrap();
        let persons = alice_and_bob();
        vault.put_many(&persons).unwrap();
        let before = files(dir.path());
        assert_eq!(vault.put_many(&persons).unwrap(), 0);
        assert_eq!(files(dir.path()), before, "nothing rewritten");

        let renamed = (pid("P-2"), clear("王建民", "53010319580303001"));
        assert_eq!(
            vault
                .put_many(&[persons[0].clone(), renamed.clone()])
                .unwrap(),
            1
        );
        let vault = Vault::open(dir.path(), key()).unwrap();
        assert_eq!(vault.get(&renamed.0).unwrap(), Entry::Present(renamed.1));
        assert_eq!(vault.generation, 2);
    }

    #[test]
    fn names_and_numbers_are_never_in_clear_and_an_erased_person_leaves_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        let mut vault = Vault::open(dir.path(), key()).unwrap();
        let [(alice, alice_clear), bob] = alice_and_bob();
        vault
            .put_many(&[(alice.clone(), alice_clear.clone()), bob.clone()])
            .unwrap();
        let alice_key = key_of(&vault, &alice);
        let needles: [&[u8]; 4] = [
            alice_clear.name().as_bytes(),
            alice_clear.id_number().expose().as_bytes(),
            bob.1.name().as_bytes(),
            bob.1.id_number().expose().as_bytes(),
        ];
        for (name, bytes) in files(dir.path()) {
            for needle in needles {
                assert!(
                    !contains(&bytes, needle),
                    "{name} holds personal data in clear"
                );
            }
            assert!(
                !contains(&bytes, &alice_key),
                "{name} holds a person key in clear"
            );
        }

        vault.erase(&alice).unwrap();
        assert_eq!(vault.get(&alice).unwrap(), Entry::Erased);
        let vault = Vault::open(dir.path(), key()).unwrap();
        assert_eq!(vault.get(&alice).unwrap(), Entry::Erased);
        assert_eq!(vault.get(&bob.0).unwrap(), Entry::Present(bob.1.clone()));
        let on_disk = files(dir.path());
        assert_eq!(
            on_disk.len(),
            2,
            "the old data file is gone: {:?}",
            on_disk.keys()
        );
        for (name, bytes) in &on_disk {
            for needle in [&needles[0], &needles[1], &&alice_key[..]] {
                assert!(
                    !contains(bytes, needle),
                    "{name} still holds the erased person"
                );
            }
        }
        // Not even under the vault key: the decrypted keys file has no key for her.
        let keys = decode_keys(Path::new("keys"), &key(), &on_disk["keys"]).unwrap();
        let plain: Vec<u8> = keys
            .slots
            .iter()
            .flat_map(|(_, k)| k.as_ref().map(|k| k.0.to_vec()).unwrap_or_default())
            .collect();
        assert!(!contains(&plain, &alice_key));
        assert!(keys.slots.iter().any(|(p, k)| p == &alice && k.is_none()));
        let sealed = decode_data(
            Path::new("data"),
            keys.generation,
            &on_disk["data-0000000000000002"],
        )
        .unwrap();
        assert!(!sealed.contains_key(&alice), "her ciphertext is gone too");
    }

    #[test]
    fn forgetting_removes_entries_without_a_trace_and_leaves_erasures() {
        let dir = tempfile::tempdir().unwrap();
        let mut vault = Vault::open(dir.path(), key()).unwrap();
        let (a, b) = (pid("P-1"), pid("P-2"));
        vault.put_many(&alice_and_bob()).unwrap();
        vault.erase(&b).unwrap();
        assert_eq!(
            vault.forget(&[a.clone(), b.clone(), pid("P-3")]).unwrap(),
            1
        );
        let vault = Vault::open(dir.path(), key()).unwrap();
        assert_eq!(vault.get(&a).unwrap(), Entry::Unknown);
        assert_eq!(vault.get(&b).unwrap(), Entry::Erased);
    }

    #[test]
    fn an_erased_person_is_not_put_back_and_erasing_twice_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut vault = Vault::open(dir.path(), key()).unwrap();
        let persons = alice_and_bob();
        vault.put_many(&persons).unwrap();
        vault.erase(&persons[0].0).unwrap();
        let after_erase = files(dir.path());
        vault.erase(&persons[0].0).unwrap();
        assert_eq!(files(dir.path()), after_erase);
        assert!(matches!(
            vault.put_many(&persons),
            Err(VaultError::Erased(p)) if p == persons[0].0
        ));
        assert!(matches!(
            vault.erase(&pid("nobody")),
            Err(VaultError::Unknown(p)) if p.as_str() == "nobody"
        ));
        assert_eq!(files(dir.path()), after_erase, "refusals write nothing");
    }

    #[test]
    fn a_batch_naming_a_person_twice_is_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut vault = Vault::open(dir.path(), key()).unwrap();
        let [alice, bob] = alice_and_bob();
        let twice = [
            alice.clone(),
            bob,
            (alice.0.clone(), clear("李四", "53010319700101001")),
        ];
        let err = vault.put_many(&twice).unwrap_err();
        assert_eq!(err.to_string(), "person P-1 appears twice in one write");
        assert!(vault.is_empty());
        assert!(files(dir.path()).is_empty());
    }

    #[test]
    fn another_ledgers_key_does_not_open_the_vault() {
        let dir = tempfile::tempdir().unwrap();
        Vault::open(dir.path(), key())
            .unwrap()
            .put_many(&alice_and_bob())
            .unwrap();
        let before = files(dir.path());
        let err = Vault::open(dir.path(), VaultKey::derive(&[1; 32])).unwrap_err();
        assert!(matches!(&err, VaultError::NotThisLedger { path } if path.ends_with("keys")));
        assert!(err.to_string().contains("is not this ledger's"), "{err}");
        assert_eq!(files(dir.path()), before);
    }

    /// Applies `damage` to a vault of two persons and returns the error of opening it,
    /// after checking the failed open left every file as it was.
    fn open_damaged(damage: impl FnOnce(&Path)) -> VaultError {
        let dir = tempfile::tempdir().unwrap();
        Vault::open(dir.path(), key())
            .unwrap()
            .put_many(&alice_and_bob())
            .unwrap();
        fs::write(dir.path().join("keys.tmp"), b"left over").unwrap();
        damage(dir.path());
        let before = files(dir.path());
        let err = Vault::open(dir.path(), key()).unwrap_err();
        assert_eq!(
            files(dir.path()),
            before,
            "a vault that does not open is left alone"
        );
        err
    }

    const DATA_1: &str = "data-0000000000000001";

    fn edit(path: PathBuf, change: impl FnOnce(&mut Vec<u8>)) {
        let mut bytes = fs::read(&path).unwrap();
        change(&mut bytes);
        fs::write(path, bytes).unwrap();
    }

    #[test]
    fn a_damaged_keys_file_is_refused_naming_the_offset() {
        let err = open_damaged(|d| edit(d.join("keys"), |b| b.truncate(5)));
        assert!(
            matches!(&err, VaultError::Malformed { offset: 0, .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("keys: malformed at byte 0: truncated"),
            "{err}"
        );

        let err = open_damaged(|d| edit(d.join("keys"), |b| b[3] ^= 1));
        assert!(
            err.to_string().contains("does not start with FTVKEYS1"),
            "{err}"
        );

        let err = open_damaged(|d| edit(d.join("keys"), |b| b.truncate(40)));
        assert!(
            err.to_string()
                .contains("shorter than an authentication tag"),
            "{err}"
        );

        for at in [KEYS_MAGIC.len(), 40, 60] {
            let err = open_damaged(|d| edit(d.join("keys"), |b| b[at] ^= 0x80));
            assert!(
                matches!(err, VaultError::NotThisLedger { .. }),
                "byte {at}: {err}"
            );
        }
        let err = open_damaged(|d| edit(d.join("keys"), |b| b.truncate(b.len() - 1)));
        assert!(matches!(err, VaultError::NotThisLedger { .. }), "{err}");
    }

    #[test]
    fn a_damaged_or_missing_data_file_is_refused() {
        let err = open_damaged(|d| edit(d.join(DATA_1), |b| b.truncate(b.len() - 3)));
        assert!(matches!(err, VaultError::DataMismatch { .. }), "{err}");
        assert!(err.to_string().contains("its digest differs"), "{err}");

        let err = open_damaged(|d| edit(d.join(DATA_1), |b| b[30] ^= 1));
        assert!(matches!(err, VaultError::DataMismatch { .. }), "{err}");

        let err = open_damaged(|d| fs::remove_file(d.join(DATA_1)).unwrap());
        assert!(
            err.to_string().contains(
                "data-0000000000000001 is not the data file the keys file names: it does not exist"
            ),
            "{err}"
        );

        let err = open_damaged(|d| fs::remove_file(d.join("keys")).unwrap());
        assert!(matches!(err, VaultError::KeysMissing { .. }), "{err}");
    }

    #[test]
    fn an_oversized_file_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        Vault::open(dir.path(), key())
            .unwrap()
            .put_many(&alice_and_bob())
            .unwrap();
        let data = fs::File::options()
            .append(true)
            .open(dir.path().join(DATA_1))
            .unwrap();
        // Sparse: no disk space is used.
        let len = MAX_DATA_FILE_BYTES as u64 + 1;
        data.set_len(len).unwrap();
        let err = Vault::open(dir.path(), key()).unwrap_err();
        assert!(
            matches!(&err, VaultError::Malformed { offset, .. } if *offset == MAX_DATA_FILE_BYTES),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("more than a vault of 1000000 persons writes"),
            "{err}"
        );
        assert_eq!(data.metadata().unwrap().len(), len, "left as it was");
    }

    /// A keys file of this plaintext, sealed as `encode_keys` seals one.
    fn keys_file(plain: &[u8]) -> Vec<u8> {
        let nonce = [5; NONCE_LEN];
        let sealed = cipher(key().expose())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: KEYS_MAGIC,
                },
            )
            .unwrap();
        [&KEYS_MAGIC[..], &nonce, &sealed].concat()
    }

    #[test]
    fn a_malformed_keys_file_names_the_file_offset_of_the_fault() {
        let header = [
            &[1, 0, 0, 0, 0, 0, 0, 0][..],
            &[0; DIGEST_LEN],
            &2u32.to_le_bytes(),
        ]
        .concat();
        let at = KEYS_MAGIC.len() + NONCE_LEN + header.len();
        for (entries, offset, reason) in [
            (
                vec![&[1u8, b'B', 0][..], &[1, b'A', 0]],
                at + 4,
                "person A is out of order",
            ),
            (
                vec![&[1u8, b'A', 0][..], &[1, b'/', 0]],
                at + 4,
                "not a person id",
            ),
            (
                vec![&[1u8, b'A', 7][..]],
                at + 2,
                "key marker 7 is neither 0 nor 1",
            ),
            (
                vec![&[1u8, b'A', 0][..], &[1, b'B', 0], &[9]],
                at + 6,
                "1 bytes after the last person",
            ),
            (
                vec![&[1u8, b'A', 1][..], &[0; 5]],
                at + 3,
                "truncated: a person key needs 32 bytes, 5 are left",
            ),
        ] {
            let plain = [header.clone(), entries.concat()].concat();
            let err = decode_keys(Path::new("keys"), &key(), &keys_file(&plain))
                .err()
                .unwrap();
            assert!(
                matches!(&err, VaultError::Malformed { offset: o, reason: r, .. } if *o == offset && r.contains(reason)),
                "{err}"
            );
        }
    }

    #[test]
    fn a_crash_at_any_step_leaves_the_old_or_the_new_vault() {
        let [alice, bob] = alice_and_bob();
        let steps = Files::steps(&Files {
            generation: 0,
            keys: vec![],
            data: vec![],
        })
        .len();
        for done in 0..=steps {
            let dir = tempfile::tempdir().unwrap();
            let mut vault = Vault::open(dir.path(), key()).unwrap();
            vault.put_many(std::slice::from_ref(&alice)).unwrap();
            // The rewrite that erases Alice and adds Bob, interrupted after `done` steps.
            let mut slots = vault.slots.clone();
            slots.insert(alice.0.clone(), Slot::Erased);
            slots.insert(bob.0.clone(), seal_person(&bob.0, &bob.1).unwrap());
            let files_2 = Files::encode(&vault.key, 2, &slots).unwrap();
            for step in &files_2.steps()[..done] {
                step.run(dir.path()).unwrap();
            }
            drop(vault);

            let vault = Vault::open(dir.path(), key()).unwrap();
            let (alice_now, bob_now, current) = if done == steps {
                (
                    Entry::Erased,
                    Entry::Present(bob.1.clone()),
                    "data-0000000000000002",
                )
            } else {
                (Entry::Present(alice.1.clone()), Entry::Unknown, DATA_1)
            };
            assert_eq!(
                vault.get(&alice.0).unwrap(),
                alice_now,
                "after {done} steps"
            );
            assert_eq!(vault.get(&bob.0).unwrap(), bob_now, "after {done} steps");
            let names: Vec<String> = files(dir.path()).into_keys().collect();
            assert_eq!(
                names,
                [current, "keys"],
                "leftovers removed after {done} steps"
            );
        }
    }

    #[test]
    fn a_failed_write_keeps_the_old_vault_and_refuses_more_writes_until_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let mut vault = Vault::open(dir.path(), key()).unwrap();
        let [alice, bob] = alice_and_bob();
        vault.put_many(std::slice::from_ref(&alice)).unwrap();
        // A directory where the keys file's temporary file goes: its write fails.
        fs::create_dir(dir.path().join("keys.tmp")).unwrap();
        let err = vault.put_many(std::slice::from_ref(&bob)).unwrap_err();
        assert!(
            matches!(&err, VaultError::Io { path, .. } if path.ends_with("keys.tmp")),
            "{err}"
        );
        assert_eq!(vault.get(&bob.0).unwrap(), Entry::Unknown);
        assert!(matches!(vault.erase(&alice.0), Err(VaultError::Failed)));
        fs::remove_dir(dir.path().join("keys.tmp")).unwrap();

        let mut vault = Vault::open(dir.path(), key()).unwrap();
        assert_eq!(vault.get(&alice.0).unwrap(), Entry::Present(alice.1));
        assert_eq!(vault.get(&bob.0).unwrap(), Entry::Unknown);
        assert_eq!(vault.put_many(&[bob]).unwrap(), 1);
    }

    #[test]
    fn a_record_does_not_open_under_another_persons_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut vault = Vault::open(dir.path(), key()).unwrap();
        let [alice, bob] = alice_and_bob();
        vault.put_many(&[alice.clone(), bob.clone()]).unwrap();
        let moved = vault.slots[&alice.0].clone();
        vault.slots.insert(bob.0.clone(), moved);
        let err = vault.get(&bob.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the vault record of person P-2 does not open with its key: the vault was changed or is not this ledger's"
        );
    }

    #[test]
    fn clear_data_is_checked_and_prints_masked() {
        let c = clear("欧阳秀芳", "53010319600101002");
        let debug = format!("{c:?}");
        assert!(
            debug.contains("欧*芳") && debug.contains("530103********"),
            "{debug}"
        );
        assert!(
            !debug.contains("秀") && !debug.contains("19600101"),
            "{debug}"
        );
        assert_eq!(c.masked_name(), "欧*芳");
        let id = number("53010319600101002");
        assert!(Clear::new("  ", id.clone()).is_err());
        assert!(Clear::new("王\n芳", id.clone()).is_err());
        let long = "王".repeat(MAX_NAME_CHARS + 1);
        let err = Clear::new(&long, id.clone()).unwrap_err().to_string();
        assert_eq!(err, "a name has at most 64 characters, not 65");
        let longest = "王".repeat(MAX_NAME_CHARS);
        let c = Clear::new(&longest, id).unwrap();
        assert_eq!(Clear::decode(&c.encode()).unwrap(), c);
    }
}
