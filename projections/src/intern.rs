//! Name tables: each distinct household, program, sub-district and community
//! name gets a small integer id, so the hot maps have `Copy` keys and the
//! fold allocates nothing per payment.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::hash::BuildHasher;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ProjectionError;

/// An id minted by an [`Interner`]; `u32` because ids index a `Vec` and four
/// billion distinct names is far beyond any district.
pub(crate) trait Id: Copy {
    fn from_index(index: u32) -> Self;
    fn index(self) -> usize;
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub(crate) struct $name(u32);

        impl Id for $name {
            fn from_index(index: u32) -> Self {
                $name(index)
            }
            fn index(self) -> usize {
                // u32 -> usize is lossless on every target this crate supports (>= 32-bit).
                self.0 as usize
            }
        }
    };
}

id_type!(
    /// A household, by its id string.
    HouseholdId
);
id_type!(
    /// A program, by its code.
    ProgramId
);
id_type!(
    /// A sub-district, by name.
    SubdistrictId
);
id_type!(
    /// A person, by id (the findings fold).
    PersonId
);
id_type!(
    /// A payee account, by the keyed hash of its number (the findings fold).
    AccountId
);
id_type!(
    /// A community, by (sub-district, name): names repeat across sub-districts.
    CommunityId
);

/// A name's bytes, as the [`Interner`] keeps and compares them. Two names are equal
/// exactly when their bytes are, so the bytes stand in for the name in every lookup.
pub(crate) trait NameBytes {
    fn name_bytes(&self) -> Cow<'_, [u8]>;
}

impl NameBytes for str {
    fn name_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}

impl NameBytes for String {
    fn name_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}

impl NameBytes for [u8; 32] {
    fn name_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}

/// A community: its sub-district's id in 4 fixed bytes, then its name. Interned once per
/// enrollment, so the copy costs nothing that shows.
impl NameBytes for (SubdistrictId, String) {
    fn name_bytes(&self) -> Cow<'_, [u8]> {
        let mut bytes = Vec::with_capacity(4 + self.1.len());
        bytes.extend_from_slice(&self.0 .0.to_le_bytes());
        bytes.extend_from_slice(self.1.as_bytes());
        Cow::Owned(bytes)
    }
}

/// A two-way table between names and ids. Ids are dense and handed out in
/// first-seen order, so replaying the same facts yields the same table.
///
/// The lookup side keeps every name's bytes one after another in one block, and a table
/// of ids hashed by those bytes, each slot with where its bytes lie: 12 bytes a slot,
/// where a map of owned names took 32, kept each name twice and sent each lookup to a
/// separate heap block for the text. At 16,000 households the map was about 1.3 MB and
/// its lookups, one or more per payment in every fold, took 0.44 s of `verify`'s CPU at
/// a million events; the block and the table are about half the size, and the lookups
/// 0.28 s (benches/README.md). The names stay in a list by id, for [`Interner::name`].
///
/// Serialized as the list of names in id order (the lookup side is rebuilt on load).
#[derive(Clone)]
pub(crate) struct Interner<K, I> {
    names: Vec<K>,
    /// Every name's bytes, in id order.
    bytes: Vec<u8>,
    /// The ids and where their bytes lie, by the hash of those bytes.
    table: hashbrown::HashTable<Slot>,
    state: foldhash::fast::RandomState,
    marker: PhantomData<I>,
}

impl<K, I> Default for Interner<K, I> {
    fn default() -> Self {
        Interner {
            names: Vec::new(),
            bytes: Vec::new(),
            table: hashbrown::HashTable::new(),
            state: foldhash::fast::RandomState::default(),
            marker: PhantomData,
        }
    }
}

/// Equal when the names are, in the same order: the rest follows from them.
impl<K: PartialEq, I> PartialEq for Interner<K, I> {
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names
    }
}

impl<K: Eq, I> Eq for Interner<K, I> {}

impl<K: fmt::Debug, I> fmt::Debug for Interner<K, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interner")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl<K: NameBytes + Clone, I: Id> Interner<K, I> {
    /// The id of a name already in the table.
    pub(crate) fn get<Q>(&self, name: &Q) -> Option<I>
    where
        K: Borrow<Q>,
        Q: NameBytes + ?Sized,
    {
        let bytes = name.name_bytes();
        self.find(self.state.hash_one(&*bytes), &bytes)
            .map(|slot| I::from_index(slot.id))
    }

    /// The id `name` has, or would get from [`Interner::intern`], without
    /// changing the table (so a fact can be checked before anything is written).
    pub(crate) fn resolve<Q>(&self, name: &Q) -> Result<I, ProjectionError>
    where
        K: Borrow<Q>,
        Q: NameBytes + ?Sized,
    {
        match self.get(name) {
            Some(id) => Ok(id),
            None => self.next_id(),
        }
    }

    /// The id of `name`, adding it to the table if new.
    pub(crate) fn intern(&mut self, name: K) -> Result<I, ProjectionError> {
        let bytes = name.name_bytes();
        let hash = self.state.hash_one(&*bytes);
        if let Some(slot) = self.find(hash, &bytes) {
            return Ok(I::from_index(slot.id));
        }
        let slot = Slot {
            id: index_u32(self.names.len())?,
            start: index_u32(self.bytes.len())?,
            len: index_u32(bytes.len())?,
        };
        self.bytes.extend_from_slice(&bytes);
        drop(bytes);
        self.names.push(name);
        let Self {
            bytes,
            table,
            state,
            ..
        } = self;
        table.insert_unique(hash, slot, |slot| state.hash_one(slot.of(bytes)));
        Ok(I::from_index(slot.id))
    }

    /// The name behind an id this table minted.
    pub(crate) fn name(&self, id: I) -> &K {
        self.names
            .get(id.index())
            .expect("ids are only minted by this interner and never removed")
    }

    /// Every name, indexed by id.
    pub(crate) fn names(&self) -> &[K] {
        &self.names
    }

    fn find(&self, hash: u64, bytes: &[u8]) -> Option<Slot> {
        self.table
            .find(hash, |slot| slot.of(&self.bytes) == bytes)
            .copied()
    }

    fn next_id(&self) -> Result<I, ProjectionError> {
        index_u32(self.names.len()).map(I::from_index)
    }
}

/// An id in the lookup table, with where its name's bytes lie: a lookup that finds the
/// slot goes straight to the bytes. `u32`s, since a name table's bytes stay far below
/// 4 GiB (an interned name costs more memory elsewhere than its bytes here).
#[derive(Clone, Copy, Debug)]
struct Slot {
    id: u32,
    start: u32,
    len: u32,
}

impl Slot {
    fn of(self, bytes: &[u8]) -> &[u8] {
        // u32 -> usize is lossless on every target this crate supports (>= 32-bit).
        let start = self.start as usize;
        &bytes[start..start + self.len as usize]
    }
}

impl<K: Serialize, I> Serialize for Interner<K, I> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.names.serialize(serializer)
    }
}

impl<'de, K, I> Deserialize<'de> for Interner<K, I>
where
    K: NameBytes + Clone + Deserialize<'de>,
    I: Id,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<K>::deserialize(deserializer)?;
        let mut table = Interner::default();
        for name in names {
            let before = table.names.len();
            table.intern(name).map_err(serde::de::Error::custom)?;
            if table.names.len() == before {
                return Err(serde::de::Error::custom(
                    "a name appears twice in a name table",
                ));
            }
        }
        Ok(table)
    }
}

fn index_u32(index: usize) -> Result<u32, ProjectionError> {
    u32::try_from(index).map_err(|_| ProjectionError::Overflow { what: "name table" })
}

/// The most numbers a [`HouseholdNumbers`] remembers: a number beyond it is looked up by
/// name each time, so a caller's numbers cannot make the table grow without bound (a
/// replay numbers the households it enrolled, far fewer).
const MAX_HOUSEHOLD_NUMBERS: u32 = 1 << 24;

/// No id yet for this number.
const UNSEEN: u32 = u32::MAX;

/// A fold's household ids by numbers its caller gives the households: the ledger's replay
/// of its log numbers each household once and hands the number on with every payment
/// it decodes, so a fold behind it indexes this vector instead of hashing the name and
/// comparing its bytes (100 to 180 ns a lookup at 15,000 households, once per payment
/// in each fold). A number is taken for a name the first time it comes, by the name's
/// own lookup; the caller must give one number to one name only, as the replay does.
#[derive(Clone, Debug, Default)]
pub struct HouseholdNumbers {
    /// By number: the id of the household given it, or [`UNSEEN`].
    ids: Vec<u32>,
}

impl HouseholdNumbers {
    pub fn new() -> HouseholdNumbers {
        HouseholdNumbers::default()
    }

    /// The id `table` gave `household`, which the caller numbered `number`: by the number
    /// once the name has been found under it. `None` if `table` does not hold the name
    /// (nothing is remembered then, as the name may be added later).
    pub(crate) fn id(
        &mut self,
        number: u32,
        household: &str,
        table: &Interner<String, HouseholdId>,
    ) -> Option<HouseholdId> {
        // u32 -> usize is lossless on every target this crate supports (>= 32-bit).
        let at = number as usize;
        if let Some(&id) = self.ids.get(at).filter(|&&id| id != UNSEEN) {
            return Some(HouseholdId(id));
        }
        let id = table.get(household)?;
        self.remember(number, id);
        Some(id)
    }

    /// Notes that `number` is the household `id`.
    pub(crate) fn remember(&mut self, number: u32, id: HouseholdId) {
        if number >= MAX_HOUSEHOLD_NUMBERS {
            return;
        }
        let at = number as usize;
        if self.ids.len() <= at {
            self.ids.resize(at + 1, UNSEEN);
        }
        self.ids[at] = id.0;
    }
}

/// Every name table the read models share.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Names {
    pub(crate) households: Interner<String, HouseholdId>,
    pub(crate) programs: Interner<String, ProgramId>,
    pub(crate) subdistricts: Interner<String, SubdistrictId>,
    pub(crate) communities: Interner<(SubdistrictId, String), CommunityId>,
}

impl Names {
    pub(crate) fn program(&self, id: ProgramId) -> &str {
        self.programs.name(id)
    }

    pub(crate) fn subdistrict(&self, id: SubdistrictId) -> &str {
        self.subdistricts.name(id)
    }

    /// The sub-district a community belongs to.
    pub(crate) fn community_subdistrict(&self, id: CommunityId) -> SubdistrictId {
        self.communities.name(id).0
    }

    pub(crate) fn community(&self, id: CommunityId) -> &str {
        &self.communities.name(id).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_name_and_no_other() {
        let mut table: Interner<String, HouseholdId> = Interner::default();
        let names = ["H1", "H10", "H", "", "区1"];
        for (i, name) in names.iter().enumerate() {
            let id = table.intern((*name).to_owned()).unwrap();
            assert_eq!(id.index(), i);
        }
        for (i, name) in names.iter().enumerate() {
            assert_eq!(table.get(*name).map(Id::index), Some(i), "{name:?}");
            assert_eq!(table.name(HouseholdId(i as u32)), name);
        }
        for absent in ["H2", "H1H", "H0", "1H", "区"] {
            assert_eq!(table.get(absent), None, "{absent:?}");
        }
        // A name seen again keeps its id and adds nothing.
        assert_eq!(table.intern("H10".to_owned()).unwrap().index(), 1);
        assert_eq!(table.names().len(), names.len());
        assert_eq!(table.resolve("H10").unwrap().index(), 1);
        assert_eq!(table.resolve("new").unwrap().index(), names.len());
        assert_eq!(table.get("new"), None, "resolve changes nothing");
    }

    #[test]
    fn household_numbers_find_a_name_by_its_number_once_found_by_name() {
        let mut table: Interner<String, HouseholdId> = Interner::default();
        let mut numbers = HouseholdNumbers::new();
        // Not in the table yet: not found, and nothing remembered.
        assert_eq!(numbers.id(3, "H3", &table), None);
        assert!(numbers.ids.is_empty());
        for name in ["H0", "H1", "H2", "H3"] {
            table.intern(name.to_owned()).unwrap();
        }
        assert_eq!(numbers.id(3, "H3", &table), Some(HouseholdId(3)));
        assert_eq!(numbers.ids, vec![UNSEEN, UNSEEN, UNSEEN, 3]);
        // Remembered: found by the number alone from now on.
        assert_eq!(numbers.id(3, "any name", &table), Some(HouseholdId(3)));
        assert_eq!(numbers.id(0, "H1", &table), Some(HouseholdId(1)));
        assert_eq!(numbers.id(0, "H2", &table), Some(HouseholdId(1)));
        // A number beyond the limit is looked up by name every time.
        let far = MAX_HOUSEHOLD_NUMBERS;
        assert_eq!(numbers.id(far, "H2", &table), Some(HouseholdId(2)));
        assert_eq!(numbers.id(far, "H0", &table), Some(HouseholdId(0)));
        assert_eq!(numbers.ids.len(), 4);
    }

    #[test]
    fn stays_findable_as_it_grows() {
        let mut table: Interner<String, PersonId> = Interner::default();
        for i in 0..5_000u32 {
            table.intern(format!("P{i}")).unwrap();
        }
        for i in (0..5_000u32).step_by(7) {
            assert_eq!(table.get(format!("P{i}").as_str()), Some(PersonId(i)));
        }
        assert_eq!(table.get("P5000"), None);
    }

    #[test]
    fn a_community_is_its_subdistrict_and_its_name() {
        let mut table: Interner<(SubdistrictId, String), CommunityId> = Interner::default();
        let a = table.intern((SubdistrictId(0), "East".into())).unwrap();
        let b = table.intern((SubdistrictId(1), "East".into())).unwrap();
        assert_ne!(a, b);
        assert_eq!(table.get(&(SubdistrictId(1), "East".to_owned())), Some(b));
        assert_eq!(table.get(&(SubdistrictId(2), "East".to_owned())), None);
        assert_eq!(table.get(&(SubdistrictId(0), "Eas".to_owned())), None);
    }

    #[test]
    fn accounts_are_found_by_their_hash() {
        let mut table: Interner<[u8; 32], AccountId> = Interner::default();
        let id = table.intern([9; 32]).unwrap();
        assert_eq!(table.get(&[9; 32]), Some(id));
        assert_eq!(table.get(&[8; 32]), None);
    }

    #[test]
    fn round_trips_as_its_list_of_names_and_refuses_a_repeat() {
        let mut table: Interner<String, ProgramId> = Interner::default();
        for name in ["b", "a", "c"] {
            table.intern(name.to_owned()).unwrap();
        }
        let bytes = bincode::serialize(&table).unwrap();
        assert_eq!(bytes, bincode::serialize(&vec!["b", "a", "c"]).unwrap());
        let back: Interner<String, ProgramId> = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back, table);
        assert_eq!(back.get("c"), Some(ProgramId(2)));
        let repeated = bincode::serialize(&vec!["b", "a", "b"]).unwrap();
        let err = bincode::deserialize::<Interner<String, ProgramId>>(&repeated).unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");
    }
}
