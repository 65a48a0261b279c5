//! Name tables: each distinct household, program, sub-district and community
//! name gets a small integer id, so the hot maps have `Copy` keys and the
//! fold allocates nothing per payment.

use std::borrow::Borrow;
use std::hash::Hash;
use std::marker::PhantomData;

use rustc_hash::FxHashMap;
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

/// A two-way table between names and ids. Ids are dense and handed out in
/// first-seen order, so replaying the same facts yields the same table.
///
/// Serialized as the list of names in id order (the lookup index is rebuilt on load).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Interner<K: Hash + Eq, I> {
    ids: FxHashMap<K, u32>,
    names: Vec<K>,
    marker: PhantomData<I>,
}

impl<K: Hash + Eq, I> Default for Interner<K, I> {
    fn default() -> Self {
        Interner {
            ids: FxHashMap::default(),
            names: Vec::new(),
            marker: PhantomData,
        }
    }
}

impl<K: Hash + Eq + Clone, I: Id> Interner<K, I> {
    /// The id of a name already in the table.
    pub(crate) fn get<Q>(&self, name: &Q) -> Option<I>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.ids.get(name).map(|&index| I::from_index(index))
    }

    /// The id `name` has, or would get from [`Interner::intern`], without
    /// changing the table (so a fact can be checked before anything is written).
    pub(crate) fn resolve<Q>(&self, name: &Q) -> Result<I, ProjectionError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.get(name) {
            Some(id) => Ok(id),
            None => self.next_id(),
        }
    }

    /// The id of `name`, adding it to the table if new.
    pub(crate) fn intern(&mut self, name: K) -> Result<I, ProjectionError> {
        if let Some(id) = self.get(&name) {
            return Ok(id);
        }
        let id = self.next_id()?;
        let index = self.names.len();
        self.ids.insert(name.clone(), index_u32(index)?);
        self.names.push(name);
        Ok(id)
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

    fn next_id(&self) -> Result<I, ProjectionError> {
        index_u32(self.names.len()).map(I::from_index)
    }
}

impl<K: Hash + Eq + Serialize, I> Serialize for Interner<K, I> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.names.serialize(serializer)
    }
}

impl<'de, K, I> Deserialize<'de> for Interner<K, I>
where
    K: Hash + Eq + Clone + Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<K>::deserialize(deserializer)?;
        let mut ids = FxHashMap::default();
        ids.reserve(names.len());
        for (index, name) in names.iter().enumerate() {
            let index = index_u32(index).map_err(serde::de::Error::custom)?;
            if ids.insert(name.clone(), index).is_some() {
                return Err(serde::de::Error::custom(
                    "a name appears twice in a name table",
                ));
            }
        }
        Ok(Interner {
            ids,
            names,
            marker: PhantomData,
        })
    }
}

fn index_u32(index: usize) -> Result<u32, ProjectionError> {
    u32::try_from(index).map_err(|_| ProjectionError::Overflow { what: "name table" })
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
