//! Keys for personal data, each derived from the signing key's seed (FORMAT.md, "Personal
//! data"): the identity key and the account key, under which identity numbers and bank
//! accounts are hashed for the chain, and the vault key, under which the personal-data
//! vault (`people::vault`) wraps each person's own key.
//!
//! Deriving them from the seed, as `seal` derives the state key, means they are kept
//! exactly as `signing.key` is (mode 0600, never exported): `init` creates them with it,
//! and no further file can be lost or leak on its own.
//!
//! Why a keyed hash and not a plain one: an identity number has 6 region digits (a few
//! thousand in use), a birth date (about 40,000 days in a century), 3 sequence digits and a
//! check character that follows from the rest: a few billion candidates in all, fewer once
//! the region and birth year are known. Anyone holding a plain BLAKE3 or SHA-256 of one
//! finds the number by trying them all, in minutes. A bank account of 12 to 19 digits
//! with a known bank prefix and a Luhn check digit is no harder. A hash keyed with a
//! secret of the ledger cannot be tried without the key, yet the same number gives the
//! same hash throughout one ledger, so duplicates and a death register can be matched.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::model::domain::ValueError;
use crate::people::identity::IdNumber;
use crate::people::mask::{mask, Field};

/// BLAKE3 `derive_key` context of the identity key: fixed and unique, as BLAKE3 asks.
const IDENTITY_KEY_CONTEXT: &str = "fundtrail 2026-12 identity v1";
/// BLAKE3 `derive_key` context of the account key.
const ACCOUNT_KEY_CONTEXT: &str = "fundtrail 2026-12 account v1";
/// BLAKE3 `derive_key` context of the vault key.
const VAULT_KEY_CONTEXT: &str = "fundtrail 2026-12 personal data vault v1";

/// Bytes of a key derived here, and of a keyed hash.
pub const DERIVED_KEY_LEN: usize = 32;

/// Digits of a bank account: the shortest domestic account numbers have 12, the longest
/// card numbers (ISO/IEC 7812) 19.
const ACCOUNT_DIGITS: std::ops::RangeInclusive<usize> = 12..=19;
/// Digits of an account kept in clear, as the masking function shows them.
const ACCOUNT_SHOWN_DIGITS: usize = 4;

/// A derived key: wiped from memory when dropped, never printed.
#[derive(Clone)]
struct DerivedKey(Zeroizing<[u8; DERIVED_KEY_LEN]>);

impl DerivedKey {
    fn derive(context: &str, seed: &[u8]) -> DerivedKey {
        DerivedKey(Zeroizing::new(blake3::derive_key(context, seed)))
    }

    fn keyed_hash(&self, bytes: &[u8]) -> [u8; DERIVED_KEY_LEN] {
        *blake3::keyed_hash(&self.0, bytes).as_bytes()
    }
}

/// Hashes identity numbers for the chain.
#[derive(Clone)]
pub struct IdentityKey(DerivedKey);

/// Hashes bank accounts for the chain.
#[derive(Clone)]
pub struct AccountKey(DerivedKey);

/// Wraps the keys of the personal-data vault.
#[derive(Clone)]
pub struct VaultKey(DerivedKey);

macro_rules! opaque_debug {
    ($($name:ident),*) => {$(
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }
    )*};
}
opaque_debug!(IdentityKey, AccountKey, VaultKey);

impl IdentityKey {
    /// The identity key of the signing key with this seed.
    pub fn derive(seed: &[u8]) -> IdentityKey {
        IdentityKey(DerivedKey::derive(IDENTITY_KEY_CONTEXT, seed))
    }

    /// BLAKE3 in keyed mode over the number's 18 ASCII characters (upper-case `X`).
    pub fn identity_hash(&self, id_number: &IdNumber) -> IdentityHash {
        IdentityHash(self.0.keyed_hash(id_number.expose().as_bytes()))
    }
}

impl AccountKey {
    /// The account key of the signing key with this seed.
    pub fn derive(seed: &[u8]) -> AccountKey {
        AccountKey(DerivedKey::derive(ACCOUNT_KEY_CONTEXT, seed))
    }

    /// BLAKE3 in keyed mode over the account's ASCII digits.
    pub fn account_hash(&self, account: &Account) -> AccountHash {
        AccountHash(self.0.keyed_hash(account.0.as_bytes()))
    }
}

impl VaultKey {
    /// The vault key of the signing key with this seed.
    pub fn derive(seed: &[u8]) -> VaultKey {
        VaultKey(DerivedKey::derive(VAULT_KEY_CONTEXT, seed))
    }

    /// The key bytes, for the vault's AEAD only.
    pub fn expose(&self) -> &[u8; DERIVED_KEY_LEN] {
        &self.0 .0
    }
}

macro_rules! keyed_hash_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name([u8; DERIVED_KEY_LEN]);

        impl $name {
            pub fn from_bytes(bytes: [u8; DERIVED_KEY_LEN]) -> $name {
                $name(bytes)
            }

            pub fn as_bytes(&self) -> &[u8; DERIVED_KEY_LEN] {
                &self.0
            }
        }

        /// Lowercase hex, 64 digits.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
}

keyed_hash_type!(
    /// The keyed hash of an identity number: what the chain holds of it. Equal numbers give
    /// equal hashes within one ledger; without the ledger's key it reveals nothing.
    IdentityHash
);
keyed_hash_type!(
    /// The keyed hash of a bank account: what the chain holds of it, with its last 4 digits.
    AccountHash
);

/// A bank account number: 12 to 19 ASCII digits. Personal data: its Debug shows it
/// masked, and only [`Account::last4`] and [`Account::masked`] leave this type.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Account(String);

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Account({})", self.masked())
    }
}

impl Account {
    /// Parses the digits; surrounding blanks are ignored, inner ones are not. A message
    /// never repeats the number.
    pub fn parse(text: &str) -> Result<Account, ValueError> {
        let text = text.trim();
        if let Some(i) = text.chars().position(|c| !c.is_ascii_digit()) {
            return Err(ValueError(format!(
                "an account number is digits only (character {} is not a digit)",
                i + 1
            )));
        }
        if !ACCOUNT_DIGITS.contains(&text.len()) {
            return Err(ValueError(format!(
                "an account number has {} to {} digits, not {}",
                ACCOUNT_DIGITS.start(),
                ACCOUNT_DIGITS.end(),
                text.len()
            )));
        }
        Ok(Account(text.to_owned()))
    }

    /// The last 4 digits, which the chain keeps beside the hash so a clerk can tell
    /// accounts apart.
    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - ACCOUNT_SHOWN_DIGITS..]
    }

    /// As every output shows it: `************1234`.
    pub fn masked(&self) -> String {
        mask(Field::Account, &self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: [u8; 32] = [7; 32];

    #[test]
    fn one_number_gives_one_hash_per_ledger_and_another_in_another_ledger() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        let same = IdNumber::parse("11010519491231002x").unwrap();
        let key = IdentityKey::derive(&SEED);
        assert_eq!(key.identity_hash(&id), key.identity_hash(&same));
        let other_ledger = IdentityKey::derive(&[8; 32]);
        assert_ne!(key.identity_hash(&id), other_ledger.identity_hash(&id));
        let plain = blake3::hash(id.expose().as_bytes());
        assert_ne!(key.identity_hash(&id).as_bytes(), plain.as_bytes());
    }

    #[test]
    fn the_keys_are_distinct_and_match_the_documented_derivation() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        let account = Account::parse("110105194912310020").unwrap();
        let identity = IdentityKey::derive(&SEED).identity_hash(&id);
        let as_account = AccountKey::derive(&SEED).account_hash(&account);
        assert_ne!(identity.as_bytes(), as_account.as_bytes(), "keys differ");
        let expected = blake3::keyed_hash(
            &blake3::derive_key("fundtrail 2026-12 identity v1", &SEED),
            b"11010519491231002X",
        );
        assert_eq!(identity.as_bytes(), expected.as_bytes());
        assert_eq!(identity.to_string(), expected.to_hex().as_str());
        let vault = VaultKey::derive(&SEED);
        assert_eq!(
            vault.expose(),
            &blake3::derive_key("fundtrail 2026-12 personal data vault v1", &SEED)
        );
    }

    #[test]
    fn the_keys_are_kept_with_the_signing_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::keys::SigningKeyFile::generate("example.org/log").unwrap();
        key.write(dir.path()).unwrap();
        let back = crate::keys::SigningKeyFile::read(dir.path()).unwrap();
        let id = IdNumber::parse("11010519491231002X").unwrap();
        let account = Account::parse("6222020200112233445").unwrap();
        assert_eq!(
            key.identity_key().identity_hash(&id),
            back.identity_key().identity_hash(&id)
        );
        assert_eq!(
            key.account_key().account_hash(&account),
            back.account_key().account_hash(&account)
        );
        assert_eq!(key.vault_key().expose(), back.vault_key().expose());
        let other = crate::keys::SigningKeyFile::generate("example.org/log").unwrap();
        assert_ne!(
            key.identity_key().identity_hash(&id),
            other.identity_key().identity_hash(&id)
        );
    }

    #[test]
    fn hashes_print_as_hex_and_keys_not_at_all() {
        let hash = IdentityHash::from_bytes([0xab; 32]);
        assert_eq!(hash.to_string(), "ab".repeat(32));
        assert_eq!(
            format!("{hash:?}"),
            format!("IdentityHash({})", "ab".repeat(32))
        );
        assert_eq!(
            format!("{:?}", IdentityKey::derive(&SEED)),
            "IdentityKey(..)"
        );
        assert_eq!(format!("{:?}", AccountKey::derive(&SEED)), "AccountKey(..)");
        assert_eq!(format!("{:?}", VaultKey::derive(&SEED)), "VaultKey(..)");
    }

    #[test]
    fn accounts_keep_their_last_four_digits_and_print_masked() {
        let account = Account::parse(" 6222020200112233445 ").unwrap();
        assert_eq!(account.last4(), "3445");
        assert_eq!(account.masked(), "************3445");
        assert_eq!(format!("{account:?}"), "Account(************3445)");
        let key = AccountKey::derive(&SEED);
        assert_eq!(
            key.account_hash(&account),
            key.account_hash(&Account::parse("6222020200112233445").unwrap())
        );
    }

    #[test]
    fn bad_accounts_are_refused_without_repeating_them() {
        for (text, reason) in [
            ("62220202001", "12 to 19 digits, not 11"),
            ("62220202001122334455", "12 to 19 digits, not 20"),
            ("", "not 0"),
            ("6222 0202 0011 2233", "character 5 is not a digit"),
            ("622202020011223３", "character 16 is not a digit"),
            ("-622202020011", "character 1"),
        ] {
            let err = Account::parse(text).unwrap_err().to_string();
            assert!(err.contains(reason), "{text:?}: {err}");
            assert!(!err.contains("622202"), "{err}");
        }
    }
}
