//! The ledger's sealed state (FORMAT.md §3.2): the head, the budgets, the number of
//! enrolled households and the digest of the reference blocks, one record sealed under
//! the state key and written in the same atomic batch as the events it describes. On open
//! the seal is checked before anything relies on the state; a state that fails it, or
//! that a signed checkpoint contradicts, leaves the ledger readable but refusing every
//! write, its store untouched for `verify`.
//!
//! Every write also carries a sealed *pending marker* naming the head it starts from,
//! written with its entries and removed by the record that moves the head: entries beyond
//! the head that such a marker explains are an unfinished write, never acknowledged.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::registries::{Registries, SealedCounts};
use super::trails::TrailDirectory;
use super::{meta_bytes, Head, HeadRecord, Ledger, LedgerError};
use crate::keys::seal::{StateKey, SEAL_LEN};
use crate::keys::{KeyError, SigningKeyFile};
use crate::model::rules::Budgets;
use crate::store::{ReferencesDigest, Store, StoreBatch};

/// The state record's meta name: one key, so that sled writes it whole or not at all.
pub(super) const META_STATE: &str = "state";

/// Seal labels: each sealed thing has its own, so no seal opens another.
pub(super) const STATE_LABEL: &str = "state";
const PENDING_LABEL: &str = "pending";

/// What a state record whose seal does not hold says.
const UNSEALED_STATE: &str = "the head, budgets or index counts do not match their seal: \
     they were changed without the ledger's key";

/// The state the write rules rely on, stored as one sealed record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct StateRecord {
    pub head: HeadRecord,
    pub budgets: Budgets,
    /// Enrolled households: the household index has exactly this many entries.
    pub households: u64,
    /// The digest of the reference blocks through the head.
    pub references: ReferencesDigest,
    /// BLAKE3 of the token registry record as stored (its bytes and seal), or zeros when
    /// there is none: a registry put back from an older copy no longer matches.
    pub tokens: [u8; 32],
    /// People events (persons, life events, erasures): the people index has exactly this
    /// many entries.
    pub people: u64,
    /// Per shard of the household trail summaries, BLAKE3 of its record as stored
    /// (FORMAT.md §3.2): binds every household's count and digest of its trail entries.
    pub trails: TrailDirectory,
    /// The seq of every rate event, in order: the rates table without a scan of the
    /// reference index (FORMAT.md §3.2).
    pub rates: Vec<u64>,
}

/// Decodes a state record (its seal was checked on the stored bytes).
fn decode_state(bytes: &[u8]) -> Result<StateRecord, bincode::Error> {
    bincode::deserialize(bytes)
}

/// The stored state, and why it cannot be trusted for writing, if it cannot.
pub(super) struct LoadedState {
    pub record: StateRecord,
    pub doubt: Option<String>,
}

/// Reads the state record; its seal is checked when `key` is given. Without the key the
/// record is read as stored, for reading only (nothing is written without the key).
pub(super) fn read_state(
    store: &Store,
    key: Option<&StateKey>,
) -> Result<LoadedState, LedgerError> {
    let stored = store
        .meta(META_STATE)?
        .ok_or_else(|| LedgerError::Corrupt("the ledger has no state record".into()))?;
    let doubt = match key.map(|key| key.unwrap(STATE_LABEL, &stored)) {
        Some(Err(_)) => Some(UNSEALED_STATE.to_string()),
        _ => None,
    };
    let bytes = stored
        .len()
        .checked_sub(SEAL_LEN)
        .map(|len| &stored[..len])
        .ok_or_else(|| LedgerError::Corrupt("the state record is shorter than its seal".into()))?;
    let record =
        decode_state(bytes).map_err(|e| LedgerError::Corrupt(format!("the state record: {e}")))?;
    Ok(LoadedState { record, doubt })
}

/// Puts the sealed state record into `batch`.
pub(super) fn put_state(batch: &mut StoreBatch, key: &StateKey, state: &StateRecord) {
    batch.put_meta(META_STATE, key.wrap(STATE_LABEL, meta_bytes(state)));
}

/// The state key of the ledger in `store`'s directory: the signing key must be readable
/// and be the one whose public half `init` stored.
pub(super) fn read_state_key(
    store: &Store,
    verifier: &crate::tlog::note::VerifierKey,
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

impl Ledger {
    /// Checks, before anything is written, that no signed checkpoint covers events beyond
    /// the head, and deals with what lies beyond it: an unfinished write is removed when
    /// its sealed marker names exactly this head (kill -9 and a full disk are normal
    /// weather, and a checkpoint per write would double the syncs); anything else beyond
    /// the head is left for `verify`, and the ledger refuses to write.
    pub(super) fn settle_beyond_head(&mut self) -> Result<(), LedgerError> {
        if let Some(doubt) = self.checkpoint_beyond_head()? {
            self.damaged = Some(doubt);
            return Ok(());
        }
        let beyond = self
            .view
            .store
            .blocks_from(self.view.head.size_seq_next())?;
        let Some(first) = beyond.first() else {
            return Ok(());
        };
        if self.pending_names_head()? {
            return self.discard_uncommitted();
        }
        self.damaged = Some(format!(
            "{} event or reference block(s) from seq {first} lie beyond the head (seq {}), \
             and no sealed marker of an unfinished write from the head explains them; \
             nothing was removed (`fundtrail verify` shows them; `fundtrail \
             discard-beyond-head` removes them if the latest signed checkpoint is the head)",
            beyond.len(),
            self.view.head.size
        ));
        Ok(())
    }

    /// Removes what lies beyond the head on an operator's word, when the state's seal
    /// holds, no checkpoint lies beyond the head, and the latest signed checkpoint is the
    /// head: it proves the committed log ended there when it was signed. (A sealed marker
    /// naming the head would have had the entries removed on open.) Returns the number of
    /// blocks removed.
    pub fn discard_beyond_head(&mut self) -> Result<usize, LedgerError> {
        let refuse = |doubt: String| LedgerError::Corrupt(format!("{doubt}; nothing was removed"));
        let state = read_state(&self.view.store, Some(self.key()?))?;
        if let Some(doubt) = state.doubt {
            return Err(refuse(doubt));
        }
        if let Some(doubt) = self.checkpoint_beyond_head()? {
            return Err(refuse(doubt));
        }
        if !self.checkpoint_is_head()? {
            return Err(refuse(format!(
                "no signed checkpoint is of exactly the head (seq {}), so nothing proves that \
                 what lies beyond it was never committed",
                self.view.head.size
            )));
        }
        let blocks = self
            .view
            .store
            .blocks_from(self.view.head.size_seq_next())?
            .len();
        self.discard_uncommitted()?;
        self.sealed_counts = SealedCounts {
            households: state.record.households,
            people: state.record.people,
        };
        self.registries = OnceLock::from(Registries::load(&self.view, self.sealed_counts)?);
        self.damaged = None;
        Ok(blocks)
    }

    /// Why a stored checkpoint of a size beyond the head forbids writing, if one exists.
    fn checkpoint_beyond_head(&self) -> Result<Option<String>, LedgerError> {
        match self.view.store.last_checkpoint()? {
            Some((size, _)) if size > self.view.head.size => Ok(Some(format!(
                "a checkpoint of {size} events is stored, but the head says {} events: the \
                 events it covers must not be discarded or overwritten",
                self.view.head.size
            ))),
            _ => Ok(None),
        }
    }

    /// Whether the latest stored checkpoint is signed by this log for exactly the head.
    fn checkpoint_is_head(&self) -> Result<bool, LedgerError> {
        let Some((size, bytes)) = self.view.store.last_checkpoint()? else {
            return Ok(false);
        };
        if size != self.view.head.size {
            return Ok(false);
        }
        Ok(self
            .view
            .open_stored(size, bytes)
            .is_ok_and(|signed| signed.checkpoint.root == self.view.root))
    }

    /// Whether a sealed pending marker names exactly the head.
    fn pending_names_head(&self) -> Result<bool, LedgerError> {
        let (Ok(key), Some(stored)) = (&self.view.state_key, self.view.store.pending()?) else {
            return Ok(false);
        };
        let base: Option<Head> = key
            .unwrap(PENDING_LABEL, &stored)
            .ok()
            .and_then(|bytes| bincode::deserialize(bytes).ok());
        Ok(base == Some(self.view.head))
    }

    /// The sealed marker a write carries with its entries: the head it starts from.
    pub(super) fn pending_marker(&self) -> Result<Vec<u8>, LedgerError> {
        Ok(self.key()?.wrap(PENDING_LABEL, meta_bytes(&self.view.head)))
    }

    /// The state key; a ledger without one refuses to write before it gets here.
    pub(super) fn key(&self) -> Result<&crate::keys::seal::StateKey, LedgerError> {
        self.view.sealing_key()
    }
}
