//! Raw option values before interpretation, and glib's number syntax.
//!
//! Both the command line ([`super::args`]) and the config file
//! ([`super::ini`]) produce [`Settings`]; [`Settings::overlay`] applies the
//! command line on top of the file, which is what rtpengine achieves by parsing
//! its command line a second time after loading the file.

use std::collections::BTreeMap;

use super::error::{ConfigError, Origin};
use super::options::{ArgKind, OptionSpec};

/// A parsed but not yet interpreted option value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A flag that was given (flags can only be switched on, as in glib).
    Flag(bool),
    /// An integer option.
    Int(i32),
    /// A floating-point option.
    Double(f64),
    /// A string option.
    Str(String),
    /// A string-array option, in order of appearance.
    List(Vec<String>),
}

/// One option's value and where it was set.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The value.
    pub value: Value,
    /// Where it was set (the last occurrence for overriding kinds).
    pub origin: Origin,
}

/// Option values keyed by long name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// Values by long option name.
    pub values: BTreeMap<&'static str, Setting>,
}

impl Settings {
    /// Records one occurrence of `spec`: lists accumulate, everything else
    /// keeps the last occurrence (glib semantics).
    pub fn set(&mut self, spec: &'static OptionSpec, value: Value, origin: Origin) {
        match (self.values.get_mut(spec.long), value) {
            (
                Some(Setting {
                    value: Value::List(old),
                    origin: o,
                }),
                Value::List(new),
            ) => {
                old.extend(new);
                *o = origin;
            }
            (_, value) => {
                self.values.insert(spec.long, Setting { value, origin });
            }
        }
    }

    /// Returns `self` with every option present in `top` replaced by `top`'s
    /// value. Lists are replaced, not merged: a command-line `-i` replaces
    /// the file's `interface` line, as in rtpengine.
    pub fn overlay(mut self, top: Settings) -> Settings {
        for (k, v) in top.values {
            self.values.insert(k, v);
        }
        self
    }

    /// The setting for `long`, if given.
    pub fn get(&self, long: &str) -> Option<&Setting> {
        self.values.get(long)
    }
}

/// Builds a [`ConfigError::BadValue`].
pub(crate) fn bad(
    option: &str,
    value: &str,
    reason: impl Into<String>,
    origin: &Origin,
) -> ConfigError {
    ConfigError::BadValue {
        option: option.to_owned(),
        value: value.to_owned(),
        reason: reason.into(),
        origin: origin.clone(),
    }
}

/// Parses an integer the way `strtol` does for the given base (0 = C prefix
/// rules: `0x` hex, leading `0` octal), returning the value and the unparsed
/// rest. Leading whitespace is skipped, as `strtol` does.
fn strtol(s: &str, base0: bool) -> Option<(i64, &str)> {
    let t = s.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if base0 && (t.starts_with("0x") || t.starts_with("0X")) {
        (16, &t[2..])
    } else if base0 && t.starts_with('0') && t.len() > 1 {
        (8, &t[1..])
    } else {
        (10, t)
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    if end == 0 {
        // "0" alone was taken as octal prefix above only when followed by more
        // characters; here a bare prefix without digits is invalid.
        return None;
    }
    let mut v: i64 = 0;
    for c in digits[..end].chars() {
        let d = i64::from(c.to_digit(radix)?);
        v = v.checked_mul(i64::from(radix))?.checked_add(d)?;
        if v > i64::from(u32::MAX) + 1 {
            return None; // far out of i32 range; stop before i64 overflow
        }
    }
    Some((if neg { -v } else { v }, &digits[end..]))
}

/// Parses a command-line integer like glib's `parse_int`: `strtol(s, 0)`,
/// the whole string must be consumed, and the value must fit a C `int`.
pub fn parse_cli_int(s: &str) -> Result<i32, String> {
    match strtol(s, true) {
        Some((v, "")) => i32::try_from(v).map_err(|_| "integer out of range".to_owned()),
        Some((_, rest)) => Err(format!("trailing characters {rest:?} after the number")),
        None => Err("not an integer".to_owned()),
    }
}

/// Parses a config-file integer like GKeyFile: base 10, and anything after
/// the digits must start with whitespace (GKeyFile ignores the rest).
pub fn parse_ini_int(s: &str) -> Result<i32, String> {
    match strtol(s, false) {
        Some((v, rest))
            if rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_whitespace()) =>
        {
            i32::try_from(v).map_err(|_| "integer out of range".to_owned())
        }
        Some((_, rest)) => Err(format!("trailing characters {rest:?} after the number")),
        None => Err("not an integer".to_owned()),
    }
}

/// Parses a floating-point value (`strtod`-like: leading whitespace allowed).
pub fn parse_double(s: &str) -> Result<f64, String> {
    let t = s.trim_start_matches(|c: char| c.is_ascii_whitespace());
    t.parse::<f64>().map_err(|_| "not a number".to_owned())
}

/// Parses a GKeyFile boolean: exactly `true`/`1` or `false`/`0`
/// (case-sensitive), trailing whitespace ignored.
pub fn parse_ini_bool(s: &str) -> Result<bool, String> {
    match s.trim_end() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

/// Parses a command-line value of `spec`'s kind.
pub fn parse_cli_value(spec: &'static OptionSpec, raw: &str) -> Result<Value, ConfigError> {
    let origin = Origin::CommandLine;
    Ok(match spec.kind {
        ArgKind::Flag => Value::Flag(true),
        ArgKind::Int => {
            Value::Int(parse_cli_int(raw).map_err(|r| bad(spec.long, raw, r, &origin))?)
        }
        ArgKind::Double => {
            Value::Double(parse_double(raw).map_err(|r| bad(spec.long, raw, r, &origin))?)
        }
        ArgKind::Str => Value::Str(raw.to_owned()),
        ArgKind::List => Value::List(vec![raw.to_owned()]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_ints_follow_strtol_base_0() {
        assert_eq!(parse_cli_int("-1"), Ok(-1));
        assert_eq!(parse_cli_int("+5"), Ok(5));
        assert_eq!(parse_cli_int("0x10"), Ok(16));
        assert_eq!(parse_cli_int("010"), Ok(8));
        assert_eq!(parse_cli_int("0"), Ok(0));
        assert_eq!(parse_cli_int(" 12"), Ok(12));
        assert!(parse_cli_int("12 ").is_err());
        assert!(parse_cli_int("08").is_err());
        assert!(parse_cli_int("").is_err());
        assert!(parse_cli_int("abc").is_err());
        assert!(parse_cli_int("99999999999").is_err());
        assert_eq!(parse_cli_int("2147483647"), Ok(i32::MAX));
        assert_eq!(parse_cli_int("-2147483648"), Ok(i32::MIN));
    }

    #[test]
    fn ini_ints_are_base_10_with_lenient_tail() {
        assert_eq!(parse_ini_int("010"), Ok(10));
        assert_eq!(parse_ini_int("-1  "), Ok(-1));
        assert_eq!(parse_ini_int("12 abc"), Ok(12));
        assert!(parse_ini_int("0x1").is_err());
        assert!(parse_ini_int("").is_err());
    }

    #[test]
    fn ini_bools_are_case_sensitive() {
        assert_eq!(parse_ini_bool("true"), Ok(true));
        assert_eq!(parse_ini_bool("1 "), Ok(true));
        assert_eq!(parse_ini_bool("0"), Ok(false));
        assert!(parse_ini_bool("True").is_err());
        assert!(parse_ini_bool("yes").is_err());
    }

    #[test]
    fn doubles() {
        assert_eq!(parse_double(" 1.5"), Ok(1.5));
        assert_eq!(parse_double("1e1"), Ok(10.0));
        assert!(parse_double("1,5").is_err());
    }
}
