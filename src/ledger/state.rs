//! The ledger's sealed state (FORMAT.md §3.2): the head, the budgets, the number of
//! enrolled households and the digest of the reference blocks, sealed together under the
//! state key in the same atomic batch that writes them. On open the seal is checked before
//! anything relies on the state; a state that fails it, or that a signed checkpoint
//! contradicts, leaves the ledger readable but refusing every write, its store untouched
//! for `verify`.

use serde::{Deserialize, Serialize};

use super::{meta_bytes, Head, HeadRecord, Ledger, LedgerError, META_BUDGETS, META_HEAD};
use crate::keys::{KeyError, SigningKeyFile};
use crate::seal::{Seal, StateKey, SEAL_LEN};
use crate::store::{ReferencesDigest, Store, StoreBatch};
use crate::validate::Budgets;

/// The seal record's meta name.
pub(super) const META_SEAL: &str = "seal";

/// The marker a large batch writes with its first chunk beyond the head, naming the head
/// it started from; the batch that moves the head removes it (FORMAT.md §3.2).
pub(super) const META_PENDING: &str = "pending";

/// Seal labels: each sealed thing has its own, so no seal opens another.
const STATE_LABEL: &str = "state";
const PENDING_LABEL: &str = "pending";

/// What the seal covers besides the head and budget records.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(super) struct SealRecord {
    /// Enrolled households: the household index has exactly this many entries.
    pub households: u64,
    /// The digest of the reference blocks through the head.
    pub references: ReferencesDigest,
    pub seal: [u8; SEAL_LEN],
}

impl SealRecord {
    /// The record sealing `head` and `budgets` (as stored) with the rest.
    pub fn new(
        key: &StateKey,
        head: &[u8],
        budgets: &[u8],
        households: u64,
        references: ReferencesDigest,
    ) -> SealRecord {
        let seal = state_seal(key, head, budgets, households, &references);
        SealRecord {
            households,
            references,
            seal: *seal.as_bytes(),
        }
    }

    fn holds(&self, key: &StateKey, head: &[u8], budgets: &[u8]) -> bool {
        state_seal(key, head, budgets, self.households, &self.references)
            == Seal::from_bytes(self.seal)
    }
}

fn state_seal(
    key: &StateKey,
    head: &[u8],
    budgets: &[u8],
    households: u64,
    references: &ReferencesDigest,
) -> Seal {
    key.seal(
        STATE_LABEL,
        &[
            head,
            budgets,
            &households.to_le_bytes(),
            references.as_bytes(),
        ],
    )
}

/// Puts the head, the budgets and their seal into `batch`.
pub(super) fn put_state(
    batch: &mut StoreBatch,
    key: &StateKey,
    head: &HeadRecord,
    budgets: &Budgets,
    households: u64,
    references: ReferencesDigest,
) {
    let head = meta_bytes(head);
    let budgets = meta_bytes(budgets);
    let seal = SealRecord::new(key, &head, &budgets, households, references);
    batch.put_meta(META_HEAD, head);
    batch.put_meta(META_BUDGETS, budgets);
    batch.put_meta(META_SEAL, meta_bytes(&seal));
}

/// The state key of the ledger in `store`'s directory: the signing key must be readable
/// and be the one whose public half `init` stored.
pub(super) fn read_state_key(
    store: &Store,
    verifier: &crate::checkpoint::VerifierKey,
) -> Result<StateKey, KeyError> {
    let key = SigningKeyFile::read(store.dir())?;
    let found = key.signer().verifier_key();
    if &found != verifier {
        return Err(KeyError::NotThisLedger {
            path: store.dir().join(crate::keys::KEY_FILE),
            found: found.to_string(),
            expected: verifier.to_string(),
        });
    }
    Ok(key.state_key())
}

/// Why the stored state cannot be trusted for writing, if it cannot: its seal does not
/// hold. Without the key (`None`) nothing can be checked, and nothing is written either.
pub(super) fn doubt_state(
    store: &Store,
    key: Option<&StateKey>,
    seal: Option<&SealRecord>,
) -> Result<Option<String>, LedgerError> {
    let Some(key) = key else {
        return Ok(None);
    };
    let Some(seal) = seal else {
        return Ok(Some("the ledger's state has no seal record".into()));
    };
    let head = store.meta(META_HEAD)?.unwrap_or_default();
    let budgets = store.meta(META_BUDGETS)?.unwrap_or_default();
    if !seal.holds(key, &head, &budgets) {
        return Ok(Some(
            "the head, budgets or index counts do not match their seal: they were changed \
             without the ledger's key"
                .into(),
        ));
    }
    Ok(None)
}

impl Ledger {
    /// Checks, before anything is written, that no signed checkpoint covers events beyond
    /// the head, and deals with what lies beyond it: the chunks of a large batch that never
    /// committed are discarded only when that batch's sealed marker names this head and
    /// the latest signed checkpoint is this head; anything else beyond the head is left
    /// for `verify`, and the ledger refuses to write.
    pub(super) fn settle_beyond_head(&mut self) -> Result<(), LedgerError> {
        if let Some(doubt) = self.checkpoint_beyond_head()? {
            self.damaged = Some(doubt);
            return Ok(());
        }
        let beyond = self.store.blocks_from(self.head.size_seq_next())?;
        let Some(first) = beyond.first() else {
            return Ok(());
        };
        if self.pending_base()? == Some(self.head) && self.checkpoint_is_head()? {
            return self.discard_uncommitted();
        }
        self.damaged = Some(format!(
            "{} event or reference block(s) from seq {first} lie beyond the head (seq {}), \
             and no sealed marker of an interrupted batch with a checkpoint at the head \
             proves they were never committed; nothing was removed (`fundtrail verify` \
             shows them; `fundtrail discard-beyond-head` removes them if the latest \
             checkpoint is the head)",
            beyond.len(),
            self.head.size
        ));
        Ok(())
    }

    /// Removes what lies beyond the head on an operator's word, when the latest signed
    /// checkpoint proves that the committed log ended at the head when it was signed and
    /// the state's seal holds. Returns the number of blocks removed.
    pub fn discard_beyond_head(&mut self) -> Result<usize, LedgerError> {
        let seal: Option<SealRecord> = super::read_meta(&self.store, META_SEAL)?;
        if let Some(doubt) = doubt_state(&self.store, Some(self.key()?), seal.as_ref())? {
            return Err(LedgerError::Corrupt(format!(
                "{doubt}; nothing was removed"
            )));
        }
        if let Some(doubt) = self.checkpoint_beyond_head()? {
            return Err(LedgerError::Corrupt(format!(
                "{doubt}; nothing was removed"
            )));
        }
        if !self.checkpoint_is_head()? {
            return Err(LedgerError::Corrupt(format!(
                "no signed checkpoint is of exactly the head (seq {}), so nothing proves \
                 that what lies beyond it was never committed; nothing was removed",
                self.head.size
            )));
        }
        let blocks = self.store.blocks_from(self.head.size_seq_next())?.len();
        self.discard_uncommitted()?;
        self.households = self.load_households()?;
        self.damaged = None;
        self.check_household_count(seal.as_ref());
        Ok(blocks)
    }

    /// Why a stored checkpoint of a size beyond the head forbids writing, if one exists.
    fn checkpoint_beyond_head(&self) -> Result<Option<String>, LedgerError> {
        match self.store.last_checkpoint()? {
            Some((size, _)) if size > self.head.size => Ok(Some(format!(
                "a checkpoint of {size} events is stored, but the head says {} events: the \
                 events it covers must not be discarded or overwritten",
                self.head.size
            ))),
            _ => Ok(None),
        }
    }

    /// Whether the latest stored checkpoint is signed by this log for exactly the head.
    fn checkpoint_is_head(&self) -> Result<bool, LedgerError> {
        let Some((size, bytes)) = self.store.last_checkpoint()? else {
            return Ok(false);
        };
        if size != self.head.size {
            return Ok(false);
        }
        Ok(self
            .view
            .open_stored(size, bytes)
            .is_ok_and(|signed| signed.checkpoint.root == self.view.root))
    }

    /// The head a large batch started from, from its sealed marker, if there is one.
    fn pending_base(&self) -> Result<Option<Head>, LedgerError> {
        let (Ok(key), Some(stored)) = (&self.view.state_key, self.store.meta(META_PENDING)?) else {
            return Ok(None);
        };
        Ok(key
            .unwrap(PENDING_LABEL, &stored)
            .ok()
            .and_then(|bytes| bincode::deserialize(bytes).ok()))
    }

    /// The sealed marker a large batch writes with its first chunk.
    pub(super) fn pending_marker(&self) -> Result<Vec<u8>, LedgerError> {
        Ok(self.key()?.wrap(PENDING_LABEL, meta_bytes(&self.head)))
    }

    /// The state key; a ledger without one refuses to write before it gets here.
    pub(super) fn key(&self) -> Result<&StateKey, LedgerError> {
        self.view.sealing_key()
    }

    /// Checks the household index against the sealed count.
    pub(super) fn check_household_count(&mut self, sealed: Option<&SealRecord>) {
        let Some(sealed) = sealed else { return };
        let found = self.households.len() as u64;
        if self.damaged.is_none() && found != sealed.households {
            self.damaged = Some(format!(
                "the household index lists {found} households, the sealed state {}: an entry \
                 was added or removed without the ledger's key",
                sealed.households
            ));
        }
    }

    /// Before a large batch writes chunks beyond the head: the latest checkpoint must be
    /// the head, so that an interrupted batch's chunks can be told from committed events.
    pub(super) fn checkpoint_the_head(&mut self) -> Result<(), LedgerError> {
        if !self.checkpoint_is_head()? {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Seals the current in-memory state as the stored one (the batch that writes it must
    /// hold the same head and budgets).
    pub(super) fn seal_state(
        &self,
        batch: &mut StoreBatch,
        head: &HeadRecord,
        budgets: &Budgets,
        households: u64,
        references: ReferencesDigest,
    ) -> Result<(), LedgerError> {
        put_state(batch, self.key()?, head, budgets, households, references);
        Ok(())
    }
}
