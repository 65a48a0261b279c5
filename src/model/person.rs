//! Persons: their ids and roles. (Minimal; the full module replaces this.)

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::domain::ValueError;

/// Person ids are short codes like household ids.
pub const MAX_PERSON_ID_CHARS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PersonId(String);

impl PersonId {
    pub fn parse(text: &str) -> Result<PersonId, ValueError> {
        let ok_len = (1..=MAX_PERSON_ID_CHARS).contains(&text.chars().count());
        let ok_chars = text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok_len && ok_chars {
            Ok(PersonId(text.to_owned()))
        } else {
            Err(ValueError(format!(
                "{text:?} is not 1 to {MAX_PERSON_ID_CHARS} letters, digits, '-' or '_'"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Mother,
    Father,
    Child,
    Other,
}

impl Role {
    pub fn parse(text: &str) -> Result<Role, ValueError> {
        match text {
            "mother" | "母亲" => Ok(Role::Mother),
            "father" | "父亲" => Ok(Role::Father),
            "child" | "子女" => Ok(Role::Child),
            "other" | "其他" => Ok(Role::Other),
            _ => Err(ValueError(format!(
                "{text:?} is not a role: mother, father, child or other"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Mother => "mother",
            Role::Father => "father",
            Role::Child => "child",
            Role::Other => "other",
        }
    }
}
