//! API tokens: a name, a role, and the hash of a secret. The secret is shown once, when the
//! token is issued; the ledger keeps only its BLAKE3 hash, in the meta record `tokens`
//! (FORMAT.md §3), so a copy of the database gives no one a working token.
//!
//! Pure apart from [`TokenRegistry::load`], [`TokenRegistry::save`] and [`random_secret`]:
//! time and randomness come in as arguments.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::ledger::{Ledger, LedgerError};

/// The meta record holding the registry.
pub const META_TOKENS: &str = "tokens";

/// First byte of the stored registry; a different layout gets a new number.
const TOKENS_VERSION: u8 = 1;

/// Random bytes in a secret: 256 bits, far beyond guessing, and what BLAKE3 outputs, so
/// the stored hash loses nothing.
pub const SECRET_BYTES: usize = 32;

/// Every secret starts with this, so a leaked one is recognisable in logs and scanners.
pub const SECRET_PREFIX: &str = "ft_";

/// A token's name is the actor recorded in every event appended with it; names are short
/// labels such as `clerk-tuodong-1` or `王芳`.
pub const MAX_NAME_CHARS: usize = 64;

/// What a token may do (README, "Roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Appends events and imports batches.
    Clerk,
    /// Reads totals, fund balances and household balances.
    Supervisor,
    /// Reads everything: the log, trails, proofs, checkpoints, exports, verification.
    Auditor,
    /// Issues and revokes tokens.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Clerk, Role::Supervisor, Role::Auditor, Role::Admin];

    pub fn code(self) -> &'static str {
        match self {
            Role::Clerk => "clerk",
            Role::Supervisor => "supervisor",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Result<Role, TokenError> {
        Role::ALL
            .into_iter()
            .find(|r| r.code() == text)
            .ok_or_else(|| {
                TokenError::BadRole(format!(
                    "{text:?} is not clerk, supervisor, auditor or admin"
                ))
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token name {0}")]
    BadName(String),
    #[error("role {0}")]
    BadRole(String),
    #[error("a token named {0} exists or existed; names are never reused, so each actor in the log means one token")]
    Exists(String),
    #[error("no token is named {0}")]
    Unknown(String),
    #[error("token {0} is already revoked")]
    AlreadyRevoked(String),
    #[error("token {0} is the last live admin token: revoking it would leave no one able to issue or revoke tokens over the API; issue another admin token first (`fundtrail token add NAME --role admin`)")]
    LastAdmin(String),
    #[error("the token registry does not decode: {0}")]
    Corrupt(String),
    #[error("no randomness for a token: {0}")]
    Random(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// One issued token, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEntry {
    pub role: Role,
    /// BLAKE3 of the secret's UTF-8 text.
    pub hash: [u8; 32],
    /// Microseconds since the Unix epoch.
    pub created_us: i64,
    pub revoked_us: Option<i64>,
}

/// A freshly issued secret. Not `Display`, and its `Debug` hides it, so it is printed only
/// where it is meant to be.
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Who presented a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

/// Every token ever issued, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRegistry {
    entries: BTreeMap<String, TokenEntry>,
}

impl TokenRegistry {
    pub fn load(ledger: &Ledger) -> Result<TokenRegistry, TokenError> {
        match ledger.tokens_record()? {
            None => Ok(TokenRegistry::default()),
            Some(bytes) => decode(&bytes),
        }
    }

    /// The registry's record bytes (FORMAT.md §3.1), for [`Ledger::save_tokens`].
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Writes the registry durably, with the state record that names it.
    pub fn save(&self, ledger: &mut Ledger) -> Result<(), TokenError> {
        Ok(ledger.save_tokens(encode(self))?)
    }

    pub fn entries(&self) -> &BTreeMap<String, TokenEntry> {
        &self.entries
    }

    /// Issues a token from `random` (use [`random_secret`]); returns its secret.
    pub fn issue(
        &mut self,
        name: &str,
        role: Role,
        now_us: i64,
        random: [u8; SECRET_BYTES],
    ) -> Result<Secret, TokenError> {
        check_name(name)?;
        if self.entries.contains_key(name) {
            return Err(TokenError::Exists(name.to_owned()));
        }
        let text = format!(
            "{SECRET_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
        );
        let entry = TokenEntry {
            role,
            hash: *blake3::hash(text.as_bytes()).as_bytes(),
            created_us: now_us,
            revoked_us: None,
        };
        self.entries.insert(name.to_owned(), entry);
        Ok(Secret(text))
    }

    /// Revokes a token; the last live admin token stays, so that someone can always
    /// manage tokens over the API.
    pub fn revoke(&mut self, name: &str, now_us: i64) -> Result<(), TokenError> {
        let live_admins = self.live_admins();
        let entry = self
            .entries
            .get_mut(name)
            .ok_or_else(|| TokenError::Unknown(name.to_owned()))?;
        if entry.revoked_us.is_some() {
            return Err(TokenError::AlreadyRevoked(name.to_owned()));
        }
        if entry.role == Role::Admin && live_admins == 1 {
            return Err(TokenError::LastAdmin(name.to_owned()));
        }
        entry.revoked_us = Some(now_us);
        Ok(())
    }

    /// How many admin tokens are not revoked.
    fn live_admins(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.role == Role::Admin && e.revoked_us.is_none())
            .count()
    }

    /// The live token whose secret this is. Every entry is compared, each in constant time
    /// (`blake3::Hash`'s equality), so timing tells nothing about which hash came close.
    pub fn authenticate(&self, presented: &str) -> Option<Caller> {
        let presented = blake3::hash(presented.as_bytes());
        let mut found = None;
        for (name, entry) in &self.entries {
            if presented == blake3::Hash::from(entry.hash) && entry.revoked_us.is_none() {
                found = Some(Caller {
                    name: name.clone(),
                    role: entry.role,
                });
            }
        }
        found
    }
}

/// Fresh randomness from the operating system.
pub fn random_secret() -> Result<[u8; SECRET_BYTES], TokenError> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::getrandom(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(bytes)
}

/// Names become actors in the log: printable, no spaces, bounded.
pub fn check_name(name: &str) -> Result<(), TokenError> {
    let count = name.chars().count();
    if !(1..=MAX_NAME_CHARS).contains(&count) {
        return Err(TokenError::BadName(format!(
            "must be 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.');
    if !name.chars().all(allowed) {
        return Err(TokenError::BadName(format!(
            "{name:?} may hold only letters, digits, '-', '_' and '.'"
        )));
    }
    Ok(())
}

fn encode(registry: &TokenRegistry) -> Vec<u8> {
    let mut bytes = vec![TOKENS_VERSION];
    bytes.extend(bincode::serialize(&registry.entries).expect("a map of plain structs serializes"));
    bytes
}

fn decode(bytes: &[u8]) -> Result<TokenRegistry, TokenError> {
    match bytes.split_first() {
        Some((&TOKENS_VERSION, rest)) => bincode::deserialize(rest)
            .map(|entries| TokenRegistry { entries })
            .map_err(|e| TokenError::Corrupt(e.to_string())),
        Some((version, _)) => Err(TokenError::Corrupt(format!("unknown version {version}"))),
        None => Err(TokenError::Corrupt("empty record".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_authenticates_its_token_until_it_is_revoked() {
        let mut registry = TokenRegistry::default();
        let secret = registry.issue("clerk-1", Role::Clerk, 5, [7; 32]).unwrap();
        assert!(secret.expose().starts_with(SECRET_PREFIX));
        assert_eq!(secret.expose().len(), SECRET_PREFIX.len() + 43);
        let caller = registry.authenticate(secret.expose()).unwrap();
        assert_eq!(
            (caller.name.as_str(), caller.role),
            ("clerk-1", Role::Clerk)
        );
        assert!(registry.authenticate("ft_wrong").is_none());
        registry.revoke("clerk-1", 6).unwrap();
        assert!(registry.authenticate(secret.expose()).is_none());
        assert!(matches!(
            registry.revoke("clerk-1", 7),
            Err(TokenError::AlreadyRevoked(_))
        ));
    }

    #[test]
    fn the_last_live_admin_token_cannot_be_revoked() {
        let mut registry = TokenRegistry::default();
        registry.issue("admin-1", Role::Admin, 1, [1; 32]).unwrap();
        registry.issue("clerk-1", Role::Clerk, 1, [2; 32]).unwrap();
        let err = registry.revoke("admin-1", 2).unwrap_err();
        assert!(
            matches!(err, TokenError::LastAdmin(ref n) if n == "admin-1"),
            "{err}"
        );
        assert!(
            err.to_string().contains("issue another admin token first"),
            "{err}"
        );
        assert_eq!(registry.entries()["admin-1"].revoked_us, None);
        // Other roles go whatever is left.
        registry.revoke("clerk-1", 3).unwrap();
        // With a second admin, either may go, but not both.
        registry.issue("admin-2", Role::Admin, 4, [3; 32]).unwrap();
        registry.revoke("admin-1", 5).unwrap();
        assert!(matches!(
            registry.revoke("admin-2", 6),
            Err(TokenError::LastAdmin(_))
        ));
        assert_eq!(registry.live_admins(), 1);
    }

    #[test]
    fn names_are_never_reused_and_only_the_hash_is_stored() {
        let mut registry = TokenRegistry::default();
        let secret = registry.issue("王芳", Role::Admin, 1, [1; 32]).unwrap();
        registry.issue("王芳-2", Role::Admin, 1, [4; 32]).unwrap();
        registry.revoke("王芳", 2).unwrap();
        assert!(matches!(
            registry.issue("王芳", Role::Admin, 3, [2; 32]),
            Err(TokenError::Exists(_))
        ));
        assert!(registry
            .issue("has space", Role::Clerk, 1, [3; 32])
            .is_err());
        let bytes = encode(&registry);
        assert_eq!(bytes[0], TOKENS_VERSION);
        let needle = secret.expose().as_bytes();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        assert_eq!(decode(&bytes).unwrap(), registry);
    }

    #[test]
    fn the_stored_bytes_are_as_format_md_describes() {
        let mut entries = BTreeMap::new();
        entries.insert(
            "a".to_string(),
            TokenEntry {
                role: Role::Auditor,
                hash: [7; 32],
                created_us: 5,
                revoked_us: Some(6),
            },
        );
        let mut expected = vec![1u8];
        expected.extend(1u64.to_le_bytes());
        expected.extend(1u64.to_le_bytes());
        expected.push(b'a');
        expected.extend(2u32.to_le_bytes());
        expected.extend([7u8; 32]);
        expected.extend(5i64.to_le_bytes());
        expected.push(1);
        expected.extend(6i64.to_le_bytes());
        assert_eq!(encode(&TokenRegistry { entries }), expected);
    }

    #[test]
    fn roles_parse_from_their_codes() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.code()).unwrap(), role);
        }
        assert!(Role::parse("root").is_err());
    }
}
