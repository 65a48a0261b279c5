//! JSON objects whose member names are all distinct: the one check behind the proof
//! documents' and exports' `fields` (FORMAT.md §8) and the HTTP request bodies.
//!
//! serde_json keeps the last of repeated members. A reader that keeps the first one (a
//! client, a proxy, a log, another verifier) would then see another event than the
//! ledger records or proves (`"amount": "1.00"` … `"amount": "2.00"`), so a repeated
//! member is refused. Pure.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

/// A JSON object with distinct member names.
#[derive(Debug)]
pub struct Members(pub Map<String, Value>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Members, D::Error> {
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// For `#[serde(deserialize_with = "unique_members")]` on a `Map<String, Value>` field.
pub fn unique_members<'de, D>(deserializer: D) -> Result<Map<String, Value>, D::Error>
where
    D: Deserializer<'de>,
{
    Members::deserialize(deserializer).map(|Members(members)| members)
}

/// The members of an object whose opening brace a visitor has already read.
pub fn members_of<'de, A: MapAccess<'de>>(map: A) -> Result<Members, A::Error> {
    MembersVisitor.visit_map(map)
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
        let mut members = Map::new();
        while let Some((name, value)) = map.next_entry::<String, Value>()? {
            if members.contains_key(&name) {
                return Err(de::Error::custom(format!(
                    "the member {name:?} appears twice"
                )));
            }
            members.insert(name, value);
        }
        Ok(Members(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Doc {
        #[serde(deserialize_with = "unique_members")]
        fields: Map<String, Value>,
    }

    #[test]
    fn a_repeated_member_is_refused() {
        let err = serde_json::from_str::<Members>(r#"{"a": "1", "b": 2, "a": "3"}"#)
            .expect_err("a repeated member");
        assert!(err.to_string().contains("\"a\" appears twice"), "{err}");
        let err = serde_json::from_str::<Doc>(r#"{"fields": {"actor": "a", "actor": "b"}}"#)
            .expect_err("a repeated member in a field");
        assert!(err.to_string().contains("\"actor\" appears twice"), "{err}");
    }

    #[test]
    fn distinct_members_are_kept_in_order_and_non_objects_refused() {
        let Members(members) =
            serde_json::from_str(r#"{"b": 1, "a": {"a": 2}}"#).expect("distinct members");
        assert_eq!(members.keys().collect::<Vec<_>>(), ["b", "a"]);
        let doc: Doc = serde_json::from_str(r#"{"fields": {}}"#).expect("an empty object");
        assert!(doc.fields.is_empty());
        for not_object in ["[]", "5", "\"text\"", "null"] {
            let err = serde_json::from_str::<Members>(not_object).expect_err(not_object);
            assert!(err.to_string().contains("a JSON object"), "{err}");
        }
    }
}
