//! The one masking function: every output that shows a person (tables, CSV, JSON, the
//! dashboard, exports, log lines) shows personal data only through it, so no two outputs
//! reveal different parts of a field that could be pieced together.

/// Characters shown at the start of an identity number: the region code.
const ID_SHOWN_PREFIX: usize = 6;
/// Characters shown at the end of an identity number, and digits shown of an account.
const SHOWN_SUFFIX: usize = 4;
/// The masking character.
const MASK: char = '*';
/// Masked positions of an account number: fixed, so the mask does not tell its length.
const ACCOUNT_MASK_LEN: usize = 12;

/// Which kind of personal data a field is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// A resident identity number: the region and the last 4 characters.
    IdNumber,
    /// A person's name: the surname and the last character.
    Name,
    /// A bank account: the last 4 digits.
    Account,
    /// The last four digits of an account, as the chain keeps them: shown behind the
    /// same fixed mask as [`Field::Account`]; anything but four digits is masked whole.
    AccountLast4,
}

/// `value` as every output shows it.
pub fn mask(field: Field, value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    match field {
        Field::IdNumber => mask_middle(&chars, ID_SHOWN_PREFIX, SHOWN_SUFFIX),
        Field::Name => mask_name(&chars),
        Field::Account => {
            let shown = tail(&chars, SHOWN_SUFFIX);
            let mut out: String = std::iter::repeat_n(MASK, ACCOUNT_MASK_LEN).collect();
            out.extend(shown);
            out
        }
        Field::AccountLast4 => {
            let digits = chars.len() == SHOWN_SUFFIX && chars.iter().all(char::is_ascii_digit);
            let shown: &[char] = if digits { &chars } else { &[] };
            std::iter::repeat_n(MASK, ACCOUNT_MASK_LEN)
                .chain(shown.iter().copied())
                .collect()
        }
    }
}

/// The last `n` characters, or none when the value is not longer than `n` (a short value
/// is masked whole rather than shown whole).
fn tail(chars: &[char], n: usize) -> &[char] {
    if chars.len() > n {
        &chars[chars.len() - n..]
    } else {
        &[]
    }
}

fn mask_middle(chars: &[char], prefix: usize, suffix: usize) -> String {
    if chars.len() <= prefix + suffix {
        return std::iter::repeat_n(MASK, chars.len()).collect();
    }
    let hidden = chars.len() - prefix - suffix;
    chars[..prefix]
        .iter()
        .copied()
        .chain(std::iter::repeat_n(MASK, hidden))
        .chain(chars[chars.len() - suffix..].iter().copied())
        .collect()
}

/// `王*芳` for three characters or more, `王*` for two, `*` for one.
fn mask_name(chars: &[char]) -> String {
    match chars {
        [] => String::new(),
        [_] => MASK.to_string(),
        [first, _] => format!("{first}{MASK}"),
        [first, .., last] => format!("{first}{MASK}{last}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_numbers_show_the_region_and_the_last_four() {
        assert_eq!(
            mask(Field::IdNumber, "53010319600101123X"),
            "530103********123X"
        );
        assert_eq!(mask(Field::IdNumber, "1234567890"), "**********");
    }

    #[test]
    fn names_show_the_surname_and_the_last_character() {
        assert_eq!(mask(Field::Name, "王小芳"), "王*芳");
        assert_eq!(mask(Field::Name, "王芳"), "王*");
        assert_eq!(mask(Field::Name, "欧阳小芳"), "欧*芳");
        assert_eq!(mask(Field::Name, "芳"), "*");
        assert_eq!(mask(Field::Name, ""), "");
    }

    #[test]
    fn accounts_show_the_last_four_digits_behind_a_fixed_mask() {
        assert_eq!(
            mask(Field::Account, "6222020200112233445"),
            "************3445"
        );
        assert_eq!(mask(Field::Account, "622202020011"), "************0011");
        assert_eq!(mask(Field::Account, "1234"), "************");
        assert_eq!(mask(Field::AccountLast4, "3445"), "************3445");
        assert_eq!(mask(Field::AccountLast4, "34456"), "************");
        assert_eq!(mask(Field::AccountLast4, "34a5"), "************");
    }
}
