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

/// Why an identity number does not fit the person's other fields; never names the number.
pub fn check_identity(
    number: &crate::people::identity::IdNumber,
    role: Role,
    birth_date: chrono::NaiveDate,
) -> Result<(), ValueError> {
    use crate::people::identity::Sex;
    if number.birth_date() != birth_date {
        return Err(ValueError(format!(
            "its birth date (characters 7 to 14) is {}, but birth_date is {birth_date}",
            number.birth_date()
        )));
    }
    let expected = match role {
        Role::Mother => Some(Sex::Female),
        Role::Father => Some(Sex::Male),
        Role::Child | Role::Other => None,
    };
    match expected {
        Some(sex) if sex != number.sex() => Err(ValueError(format!(
            "its 17th digit says {}, but the role is {}",
            match number.sex() {
                Sex::Male => "male (odd)",
                Sex::Female => "female (even)",
            },
            role.as_str()
        ))),
        _ => Ok(()),
    }
}
