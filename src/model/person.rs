//! Persons, pure: the person id a district assigns, the role in the household, and the
//! agreement between an identity number and the role and birth date recorded with it
//! (issue 12 item 2). The number itself is `people::identity::IdNumber`; what the chain
//! keeps of it is a keyed hash (`keys::identity`), and the number in clear lives only in
//! the vault (`people::vault`).

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::model::domain::ValueError;
use crate::people::identity::{IdNumber, Sex};

/// Characters of a person id: as long as a household id, which districts build the same way.
pub const MAX_PERSON_ID_CHARS: usize = 32;

/// The name of the identity number's field, in files and messages alike.
pub const ID_NUMBER_FIELD: &str = "id_number";

/// A person's code, as the district assigns it: 1 to [`MAX_PERSON_ID_CHARS`] ASCII letters,
/// digits, `-` or `_`, so that it is safe in references, file names and URLs.
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

/// A person's place in a special family. Only parents are due the support allowance
/// (`model::eligibility`); children and others are recorded so the roll is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    Mother,
    Father,
    Child,
    Other,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 4] = [Role::Mother, Role::Father, Role::Child, Role::Other];

    /// Parses the English word or the Chinese one the district's forms use.
    pub fn parse(text: &str) -> Result<Role, ValueError> {
        match text {
            "mother" | "母亲" => Ok(Role::Mother),
            "father" | "父亲" => Ok(Role::Father),
            "child" | "子女" => Ok(Role::Child),
            "other" | "其他" => Ok(Role::Other),
            _ => Err(ValueError(format!(
                "{text:?} is not a role: mother, father, child or other (母亲, 父亲, 子女, 其他)"
            ))),
        }
    }

    /// The English word, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Mother => "mother",
            Role::Father => "father",
            Role::Child => "child",
            Role::Other => "other",
        }
    }

    /// The sex the role implies, where it implies one.
    pub fn expected_sex(self) -> Option<Sex> {
        match self {
            Role::Mother => Some(Sex::Female),
            Role::Father => Some(Sex::Male),
            Role::Child | Role::Other => None,
        }
    }

    /// Whether the role can be due the support allowance (issue 12 item 6).
    pub fn is_parent(self) -> bool {
        matches!(self, Role::Mother | Role::Father)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a valid identity number does not fit the person it was recorded with. The field
/// is always [`ID_NUMBER_FIELD`]; no message repeats the number, or the birth date it
/// holds, in clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentityMismatch {
    #[error("the birth date in the number (characters 7 to 14) differs from birth_date")]
    BirthDate,
    #[error("the sex digit (the 17th) says {}, but the role {role} is {}", sex_word(*found), sex_word(*expected))]
    Sex {
        role: Role,
        found: Sex,
        expected: Sex,
    },
}

impl IdentityMismatch {
    /// The field the mismatch is reported on.
    pub fn field(&self) -> &'static str {
        ID_NUMBER_FIELD
    }
}

/// Checks that `id_number` holds `birth_date` and a sex digit that agrees with `role`
/// where the role implies a sex. The birth date is checked first: a wrong date usually
/// means a wrong number, which the sex digit would only confuse.
pub fn check_identity(
    id_number: &IdNumber,
    role: Role,
    birth_date: NaiveDate,
) -> Result<(), IdentityMismatch> {
    if id_number.birth_date() != birth_date {
        return Err(IdentityMismatch::BirthDate);
    }
    match role.expected_sex() {
        Some(expected) if expected != id_number.sex() => Err(IdentityMismatch::Sex {
            role,
            found: id_number.sex(),
            expected,
        }),
        _ => Ok(()),
    }
}

fn sex_word(sex: Sex) -> &'static str {
    match sex {
        Sex::Male => "male",
        Sex::Female => "female",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GB 11643-1999's own example: born 1949-12-31, female.
    const FEMALE_1949: &str = "11010519491231002X";

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A valid number born 1960-01-01 with the given sequence (odd = male).
    fn number(first17: &str) -> IdNumber {
        IdNumber::complete(first17).unwrap()
    }

    #[test]
    fn person_ids_are_short_ascii_codes() {
        for good in ["P1", "a-b_c", &"x".repeat(MAX_PERSON_ID_CHARS)] {
            assert_eq!(PersonId::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "a b",
            "张三",
            "a/b",
            "a.b",
            &"x".repeat(MAX_PERSON_ID_CHARS + 1),
        ] {
            let err = PersonId::parse(bad).unwrap_err();
            assert!(err.0.contains("1 to 32 letters"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn roles_parse_in_english_and_chinese_and_print_in_english() {
        for (texts, role) in [
            (["mother", "母亲"], Role::Mother),
            (["father", "父亲"], Role::Father),
            (["child", "子女"], Role::Child),
            (["other", "其他"], Role::Other),
        ] {
            for text in texts {
                assert_eq!(Role::parse(text), Ok(role), "{text}");
            }
            assert_eq!(Role::parse(role.as_str()), Ok(role));
            assert_eq!(role.to_string(), texts[0]);
        }
        for bad in ["Mother", "mum", "", " mother", "母"] {
            assert!(Role::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_parents_imply_a_sex_and_are_parents() {
        assert_eq!(Role::Mother.expected_sex(), Some(Sex::Female));
        assert_eq!(Role::Father.expected_sex(), Some(Sex::Male));
        assert_eq!(Role::Child.expected_sex(), None);
        assert_eq!(Role::Other.expected_sex(), None);
        let parents: Vec<Role> = Role::ALL.into_iter().filter(|r| r.is_parent()).collect();
        assert_eq!(parents, [Role::Mother, Role::Father]);
    }

    #[test]
    fn a_number_that_fits_its_person_passes() {
        let id = IdNumber::parse(FEMALE_1949).unwrap();
        for role in [Role::Mother, Role::Child, Role::Other] {
            assert_eq!(check_identity(&id, role, date(1949, 12, 31)), Ok(()));
        }
        let male = number("53010319600101001");
        assert_eq!(
            check_identity(&male, Role::Father, date(1960, 1, 1)),
            Ok(())
        );
    }

    #[test]
    fn a_birth_date_that_differs_is_named_without_the_number() {
        let id = IdNumber::parse(FEMALE_1949).unwrap();
        let err = check_identity(&id, Role::Mother, date(1950, 12, 31)).unwrap_err();
        assert_eq!(err, IdentityMismatch::BirthDate);
        assert_eq!(err.field(), "id_number");
        let text = err.to_string();
        assert!(text.contains("differs from birth_date"), "{text}");
        assert!(!text.contains("1949") && !text.contains("002X"), "{text}");
    }

    #[test]
    fn a_sex_digit_that_contradicts_the_role_is_named() {
        let female = IdNumber::parse(FEMALE_1949).unwrap();
        let err = check_identity(&female, Role::Father, date(1949, 12, 31)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the sex digit (the 17th) says female, but the role father is male"
        );
        let male = number("53010319600101001");
        let err = check_identity(&male, Role::Mother, date(1960, 1, 1)).unwrap_err();
        assert_eq!(
            err,
            IdentityMismatch::Sex {
                role: Role::Mother,
                found: Sex::Male,
                expected: Sex::Female
            }
        );
        assert_eq!(err.field(), ID_NUMBER_FIELD);
        assert!(!err.to_string().contains("530103"), "{err}");
    }

    #[test]
    fn the_birth_date_is_reported_before_the_sex_digit() {
        let male = number("53010319600101001");
        assert_eq!(
            check_identity(&male, Role::Mother, date(1961, 1, 1)),
            Err(IdentityMismatch::BirthDate)
        );
    }
}
