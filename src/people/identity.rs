//! Resident identity numbers (GB 11643-1999): 6-digit region, birth date `YYYYMMDD`,
//! 3-digit sequence whose last digit is odd for men and even for women, and an ISO 7064
//! MOD 11-2 check character. The number is personal data: it never leaves this type in
//! clear except through [`IdNumber::expose`], which the vault and the keyed hash use.

use chrono::NaiveDate;

use super::mask::{mask, Field};

/// Characters of an identity number.
pub const ID_NUMBER_LEN: usize = 18;
/// Characters of the legacy (pre-1999) number, refused with its own message.
const LEGACY_ID_NUMBER_LEN: usize = 15;
/// ISO 7064 MOD 11-2 weights of the first 17 digits: 2^(17 - i) mod 11.
const CHECK_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character for each remainder of the weighted sum mod 11.
const CHECK_CHARS: [u8; 11] = *b"10X98765432";
/// Province-level codes (the first two digits): the 31 mainland provinces, Taiwan (71),
/// and the residence permits of Hong Kong (81), Macao (82) and Taiwan (83) residents.
const PROVINCES: [u32; 35] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83,
];

/// Why a text is not an identity number. Messages never repeat the number in clear.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("a 15-digit identity number (the form used before 1999) is not accepted: use the 18-character number on the current card")]
    Legacy,
    #[error("an identity number has 18 characters, not {0}")]
    Length(usize),
    #[error("character {0} must be a digit (only the 18th may be X)")]
    NotDigit(usize),
    #[error("the region code does not start with a province code ({0:02} is none)")]
    Region(u32),
    #[error("characters 7 to 14 are not a birth date")]
    BirthDate,
    #[error("the check character is {found}, but the first 17 digits give {expected}")]
    CheckCharacter { expected: char, found: char },
}

/// Sex, from the 17th digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Male,
    Female,
}

/// A valid resident identity number, upper-case `X`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdNumber(String);

impl std::fmt::Debug for IdNumber {
    // Debug output reaches logs and panics: masked as every output is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdNumber({})", mask(Field::IdNumber, &self.0))
    }
}

impl IdNumber {
    /// Checks the length, digits, province, birth date and check character.
    pub fn parse(text: &str) -> Result<IdNumber, IdError> {
        let text = text.trim().to_ascii_uppercase();
        let len = text.chars().count();
        if len == LEGACY_ID_NUMBER_LEN && text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::Legacy);
        }
        if len != ID_NUMBER_LEN || !text.is_ascii() {
            return Err(IdError::Length(len));
        }
        let bytes = text.as_bytes();
        if let Some(i) = bytes[..17].iter().position(|b| !b.is_ascii_digit()) {
            return Err(IdError::NotDigit(i + 1));
        }
        if !(bytes[17].is_ascii_digit() || bytes[17] == b'X') {
            return Err(IdError::NotDigit(ID_NUMBER_LEN));
        }
        let province = digits(&bytes[..2]);
        if !PROVINCES.contains(&province) {
            return Err(IdError::Region(province));
        }
        let expected = check_character(bytes);
        if expected != bytes[17] {
            return Err(IdError::CheckCharacter {
                expected: char::from(expected),
                found: char::from(bytes[17]),
            });
        }
        let number = IdNumber(text);
        number.birth_date_checked()?;
        Ok(number)
    }

    /// The birth date in characters 7 to 14.
    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date_checked()
            .expect("parse accepted only numbers with a valid birth date")
    }

    fn birth_date_checked(&self) -> Result<NaiveDate, IdError> {
        let b = self.0.as_bytes();
        let year = i32::try_from(digits(&b[6..10])).map_err(|_| IdError::BirthDate)?;
        NaiveDate::from_ymd_opt(year, digits(&b[10..12]), digits(&b[12..14]))
            .ok_or(IdError::BirthDate)
    }

    /// From the 17th digit: odd for men, even for women.
    pub fn sex(&self) -> Sex {
        match self.0.as_bytes()[16] % 2 {
            1 => Sex::Male,
            _ => Sex::Female,
        }
    }

    /// As every output shows it: `530103********1234`.
    pub fn masked(&self) -> String {
        mask(Field::IdNumber, &self.0)
    }

    /// The number whose first 17 characters are `first17`, completed with its check
    /// character, then checked as [`IdNumber::parse`] checks: for generated rolls (the
    /// demo, benchmarks, tests).
    pub fn complete(first17: &str) -> Result<IdNumber, IdError> {
        let bytes = first17.as_bytes();
        if bytes.len() != ID_NUMBER_LEN - 1 {
            return Err(IdError::Length(first17.chars().count() + 1));
        }
        if let Some(i) = bytes.iter().position(|b| !b.is_ascii_digit()) {
            return Err(IdError::NotDigit(i + 1));
        }
        let check = char::from(check_character(bytes));
        IdNumber::parse(&format!("{first17}{check}"))
    }

    /// The number in clear, for the keyed hash and the encrypted vault only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The decimal value of ASCII digits (callers checked they are digits).
fn digits(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(0, |n, b| n * 10 + u32::from(b.saturating_sub(b'0')))
}

/// The ISO 7064 MOD 11-2 check character of the first 17 digits.
fn check_character(bytes: &[u8]) -> u8 {
    let sum: u32 = bytes[..17]
        .iter()
        .zip(CHECK_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    CHECK_CHARS[(sum % 11) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_is_completed_with_its_check_character() {
        let number = IdNumber::complete("53010319491231002").unwrap();
        assert_eq!(IdNumber::parse(number.expose()).unwrap(), number);
        assert!(matches!(
            IdNumber::complete("5301031949123100"),
            Err(IdError::Length(17))
        ));
        assert!(matches!(
            IdNumber::complete("5301031949123100a"),
            Err(IdError::NotDigit(17))
        ));
        assert!(matches!(
            IdNumber::complete("99010319491231002"),
            Err(IdError::Region(99))
        ));
    }

    /// Appends the check character to 17 digits.
    pub(crate) fn with_check(first17: &str) -> String {
        let mut text = first17.to_string();
        text.push(char::from(check_character(first17.as_bytes())));
        text
    }

    #[test]
    fn the_published_example_is_valid() {
        // GB 11643-1999's own example.
        let id = IdNumber::parse("11010519491231002X").expect("valid");
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.masked(), "110105********002X");
        assert_eq!(format!("{id:?}"), "IdNumber(110105********002X)");
    }

    #[test]
    fn a_lower_case_x_is_read_as_upper_case() {
        let id = IdNumber::parse("11010519491231002x").expect("valid");
        assert_eq!(id.expose(), "11010519491231002X");
    }

    #[test]
    fn the_sex_digit_is_odd_for_men() {
        let id = IdNumber::parse(&with_check("53010319600101001")).unwrap();
        assert_eq!(id.sex(), Sex::Male);
    }

    #[test]
    fn each_fault_has_its_own_message() {
        assert_eq!(
            IdNumber::parse("11010519491231002"),
            Err(IdError::Length(17))
        );
        assert_eq!(IdNumber::parse("110105491231002"), Err(IdError::Legacy));
        assert_eq!(
            IdNumber::parse("11010519491231002Y"),
            Err(IdError::NotDigit(18))
        );
        assert_eq!(
            IdNumber::parse("1101A519491231002X"),
            Err(IdError::NotDigit(5))
        );
        assert_eq!(
            IdNumber::parse("110105194912310021"),
            Err(IdError::CheckCharacter {
                expected: 'X',
                found: '1'
            })
        );
        assert_eq!(
            IdNumber::parse(&with_check("99010519491231002")),
            Err(IdError::Region(99))
        );
        assert_eq!(
            IdNumber::parse(&with_check("53010319600230001")),
            Err(IdError::BirthDate)
        );
    }

    #[test]
    fn no_message_repeats_the_number() {
        let text = "110105194912310021";
        let err = IdNumber::parse(text).unwrap_err().to_string();
        assert!(!err.contains("1949"), "{err}");
    }
}
