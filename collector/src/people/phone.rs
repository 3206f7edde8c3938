//! Phone numbers normalised so that the ways people write one number
//! match: `+34 600 000 000`, `0034 600-000-000`, `(+34) 600.000.000` and,
//! with `34` as the default country code, `600 000 000`, all become
//! `+34600000000`.
//!
//! The rules, in order (no numbering plan is consulted; see the README):
//! 1. spaces, dashes, dots, slashes and parentheses are left out;
//! 2. `+` and then digits: international, kept as it is;
//! 3. `00` and then digits: international, the `00` becomes `+`;
//! 4. other digits: a national number. With a default country code, its
//!    trunk prefix (`0` by default, as in `020 7946 0000`) is left out and
//!    the country code put before it; without one, the digits are kept as
//!    they are (and match only numbers written the same way);
//! 5. anything else (letters, `#`, a second `+`) is refused, and so is a
//!    number of fewer than 3 or more than 15 digits (the E.164 limit).

use std::fmt;

/// Fewest digits of a number.
const MIN_DIGITS: usize = 3;
/// Most digits of a number (E.164).
const MAX_DIGITS: usize = 15;

/// How national numbers are completed: the `[people]` section of the
/// collector's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhonePlan {
    /// Digits of the country code put before a national number, e.g. `34`
    /// (`None`: national numbers are kept as written).
    pub default_country_code: Option<String>,
    /// The trunk prefix left out of a national number before the country
    /// code is put on, e.g. `0` (empty: none, as in Italy or Spain, where
    /// a national number's leading 0 belongs to it).
    pub trunk_prefix: String,
}

impl Default for PhonePlan {
    /// No default country code; `0` as the trunk prefix.
    fn default() -> Self {
        PhonePlan {
            default_country_code: None,
            trunk_prefix: "0".to_owned(),
        }
    }
}

/// Why a text is not a phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneError {
    /// Nothing but separators.
    Empty,
    /// A character that is no digit nor separator.
    NotADigit(char),
    /// Too few or too many digits.
    Length(usize),
}

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhoneError::Empty => write!(f, "has no digits"),
            PhoneError::NotADigit(c) => write!(
                f,
                "has `{c}`: a number is digits, a leading + or 00, and spaces, dashes, dots or parentheses"
            ),
            PhoneError::Length(n) => write!(
                f,
                "has {n} digits; a phone number has {MIN_DIGITS} to {MAX_DIGITS}"
            ),
        }
    }
}

impl std::error::Error for PhoneError {}

/// Whether `c` is one of the separators people put in numbers.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '.' | '/' | '(' | ')')
}

/// `raw` without its separators.
fn compact(raw: &str) -> String {
    raw.chars().filter(|c| !is_separator(*c)).collect()
}

/// Whether `raw` is written like a phone number: digits, separators and
/// at most a leading `+`, with at least one digit. Lookups read such a
/// query as a number as well as a name.
pub fn looks_like_phone(raw: &str) -> bool {
    let c = compact(raw);
    let digits = c.strip_prefix('+').unwrap_or(&c);
    !digits.is_empty() && digits.chars().all(|ch| ch.is_ascii_digit())
}

/// `raw` as an extension is matched: its digits without separators;
/// `None` when it holds anything else.
pub fn extension_key(raw: &str) -> Option<String> {
    let c = compact(raw);
    (!c.is_empty() && c.len() <= MAX_DIGITS && c.chars().all(|ch| ch.is_ascii_digit())).then_some(c)
}

impl PhonePlan {
    /// A plan that puts `country_code` before national numbers, with `0`
    /// as the trunk prefix.
    pub fn with_country_code(country_code: &str) -> Self {
        PhonePlan {
            default_country_code: Some(country_code.to_owned()),
            trunk_prefix: "0".to_owned(),
        }
    }

    /// `raw` normalised for matching (see the module's rules).
    pub fn normalise(&self, raw: &str) -> Result<String, PhoneError> {
        let c = compact(raw);
        if c.is_empty() {
            return Err(PhoneError::Empty);
        }
        let (international, digits) = if let Some(rest) = c.strip_prefix('+') {
            (true, rest)
        } else if let Some(rest) = c.strip_prefix("00") {
            (true, rest)
        } else {
            (false, c.as_str())
        };
        if let Some(bad) = digits.chars().find(|ch| !ch.is_ascii_digit()) {
            return Err(PhoneError::NotADigit(bad));
        }
        let out = match (&self.default_country_code, international) {
            (_, true) => format!("+{digits}"),
            (Some(cc), false) => {
                let national = if self.trunk_prefix.is_empty() {
                    digits
                } else {
                    digits.strip_prefix(&self.trunk_prefix).unwrap_or(digits)
                };
                format!("+{cc}{national}")
            }
            (None, false) => digits.to_owned(),
        };
        let n = out.trim_start_matches('+').len();
        if !(MIN_DIGITS..=MAX_DIGITS).contains(&n) {
            return Err(PhoneError::Length(n));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ways_of_writing_one_spanish_number_all_match() {
        let plan = PhonePlan {
            default_country_code: Some("34".into()),
            trunk_prefix: String::new(),
        };
        for raw in [
            "+34 600 000 000",
            "0034600000000",
            "600000000",
            "600-000-000",
            "(+34) 600.000.000",
            " +34 (600) 00 00 00 ",
            "0034 600/000/000",
        ] {
            assert_eq!(plan.normalise(raw).as_deref(), Ok("+34600000000"), "{raw}");
        }
    }

    #[test]
    fn a_trunk_zero_is_left_out_before_the_country_code_goes_on() {
        let uk = PhonePlan::with_country_code("44");
        assert_eq!(
            uk.normalise("020 7946 0000").as_deref(),
            Ok("+442079460000")
        );
        assert_eq!(
            uk.normalise("+44 20 7946 0000").as_deref(),
            Ok("+442079460000")
        );
        // `00` is the international prefix, not a trunk zero.
        assert_eq!(
            uk.normalise("0044 20 7946 0000").as_deref(),
            Ok("+442079460000")
        );
    }

    #[test]
    fn without_a_country_code_national_numbers_stay_as_written() {
        let plan = PhonePlan::default();
        assert_eq!(plan.normalise("600 000 000").as_deref(), Ok("600000000"));
        assert_eq!(
            plan.normalise("+34 600 000 000").as_deref(),
            Ok("+34600000000")
        );
        assert_eq!(
            plan.normalise("0034600000000").as_deref(),
            Ok("+34600000000")
        );
    }

    #[test]
    fn what_is_not_a_number_is_refused_saying_why() {
        let plan = PhonePlan::with_country_code("34");
        assert_eq!(plan.normalise(" - ( ) "), Err(PhoneError::Empty));
        assert_eq!(
            plan.normalise("600 000 00x"),
            Err(PhoneError::NotADigit('x'))
        );
        assert_eq!(plan.normalise("+34+600"), Err(PhoneError::NotADigit('+')));
        assert_eq!(plan.normalise("600#1"), Err(PhoneError::NotADigit('#')));
        assert_eq!(plan.normalise("+12"), Err(PhoneError::Length(2)));
        assert_eq!(
            plan.normalise("+1234567890123456"),
            Err(PhoneError::Length(16))
        );
        let e = plan.normalise("call me").unwrap_err().to_string();
        assert!(e.contains("`c`"), "{e}");
    }

    #[test]
    fn phone_like_queries_and_extensions() {
        assert!(looks_like_phone("+34 600 000 000"));
        assert!(looks_like_phone("2041"));
        assert!(!looks_like_phone("ws-01000"));
        assert!(!looks_like_phone("maria"));
        assert!(!looks_like_phone("+"));
        assert!(!looks_like_phone("--"));
        assert_eq!(extension_key(" 20-41 ").as_deref(), Some("2041"));
        assert_eq!(extension_key("+2041"), None);
        assert_eq!(extension_key("x2041"), None);
        assert_eq!(extension_key(""), None);
    }
}
