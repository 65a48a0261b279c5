//! Request bodies: one event object or an array of them, each object's members distinct
//! (`crate::model::json_object`: a repeated member could be read as another event).

use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::model::json_object::{members_of, Members};

/// The visits of every JSON scalar, each answering `$value`: a scalar where an object is
/// wanted is the caller's to refuse, with its own message.
macro_rules! scalars_are {
    ($value:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

/// One element of an events body: an object, or anything else, which its row refuses.
#[derive(Debug)]
pub enum Item {
    Object(Members),
    Other,
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Item, D::Error> {
        deserializer.deserialize_any(ItemVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = Item;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Item, A::Error> {
        members_of(map).map(Item::Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Item::Other)
    }

    scalars_are!(Item::Other);
}

/// An events body: one event object, or an array of them.
#[derive(Debug)]
pub enum Events {
    One(Members),
    Many(Vec<Item>),
    /// Neither an object nor an array.
    Neither,
}

impl<'de> Deserialize<'de> for Events {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Events, D::Error> {
        deserializer.deserialize_any(EventsVisitor)
    }
}

struct EventsVisitor;

impl<'de> Visitor<'de> for EventsVisitor {
    type Value = Events;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event object or an array of them")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Events, A::Error> {
        members_of(map).map(Events::One)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Events, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Item>()? {
            items.push(item);
        }
        Ok(Events::Many(items))
    }

    scalars_are!(Events::Neither);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_member_is_refused_in_any_event_of_the_body() {
        let err = serde_json::from_str::<Events>(r#"[{"a": 1}, {"b": 1, "b": 2}]"#)
            .expect_err("a repeated member in the second event");
        assert!(err.to_string().contains("\"b\" appears twice"), "{err}");
        assert!(serde_json::from_str::<Events>(r#"{"a": 1, "a": 1}"#).is_err());
    }

    #[test]
    fn objects_arrays_and_other_values_are_told_apart() {
        let one = serde_json::from_str::<Events>(r#"{"a": "1"}"#).expect("an object");
        assert!(matches!(one, Events::One(Members(m)) if m.len() == 1));
        let many = serde_json::from_str::<Events>(r#"[{"a": "1"}, 5, [1, {"x": 1}], null]"#)
            .expect("an array");
        let Events::Many(items) = many else {
            panic!("an array is many events")
        };
        assert!(matches!(items[0], Item::Object(_)));
        assert!(items[1..].iter().all(|i| matches!(i, Item::Other)));
        for neither in ["5", "\"text\"", "null", "true"] {
            let parsed = serde_json::from_str::<Events>(neither).expect("valid JSON");
            assert!(matches!(parsed, Events::Neither), "{neither}");
        }
    }
}
