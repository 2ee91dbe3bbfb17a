//! The config file: GKeyFile (`.ini`) syntax, one section read.
//!
//! Grammar as GKeyFile parses it: `#` comment lines, `[section]` headers
//! (repeated headers merge), `key = value` with whitespace around the key and
//! before the value dropped, the last duplicate key winning, `\s \n \t \r \\`
//! escapes in values, `;`-separated lists with `\;` for a literal `;`. A key
//! line before the first header is an error. Keys are long option names;
//! flags take `true`/`false`/`1`/`0`. Keys that are not rtpengine options are
//! ignored with a warning, as rtpengine ignores them silently; localized keys
//! (`key[de]`) are ignored.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::{ConfigError, Origin};
use super::options::{self, ArgKind};
use super::settings::{bad, parse_double, parse_ini_bool, parse_ini_int, Settings, Value};

/// One section of a config file, interpreted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IniSection {
    /// Option values from the section.
    pub settings: Settings,
    /// Notes for the operator (ignored keys).
    pub warnings: Vec<String>,
}

/// Parses config-file `text` (read from `path`, used in messages) and returns
/// the options of `[section]`. A missing section is an error, as in rtpengine.
pub fn parse_ini(text: &str, path: &Path, section: &str) -> Result<IniSection, ConfigError> {
    let syntax = |line: usize, reason: &str| ConfigError::ConfigFile {
        path: path.to_owned(),
        line,
        reason: reason.to_owned(),
    };
    let mut current: Option<String> = None;
    let mut found = false;
    // key -> (raw value, line); the last occurrence wins.
    let mut raw: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for (idx, line) in text.lines().enumerate() {
        let lineno = idx + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some(rest) = t.strip_prefix('[') {
            let name = rest
                .trim_end()
                .strip_suffix(']')
                .filter(|n| !n.is_empty() && !n.contains(['[', ']']))
                .ok_or_else(|| syntax(lineno, "malformed section header"))?;
            found |= name == section;
            current = Some(name.to_owned());
            continue;
        }
        let Some((key, value)) = t.split_once('=') else {
            return Err(syntax(
                lineno,
                "expected `key = value`, `[section]` or a # comment",
            ));
        };
        let key = key.trim_end();
        if key.is_empty() {
            return Err(syntax(lineno, "empty key"));
        }
        let Some(cur) = &current else {
            return Err(syntax(lineno, "key outside any [section]"));
        };
        if cur == section {
            raw.insert(key.to_owned(), (value.trim_start().to_owned(), lineno));
        }
    }
    if !found {
        return Err(ConfigError::ConfigSectionMissing {
            path: path.to_owned(),
            section: section.to_owned(),
        });
    }

    let mut out = IniSection::default();
    for (key, (value, line)) in raw {
        let origin = Origin::File {
            path: path.to_owned(),
            line,
        };
        if key.contains('[') || options::is_meta(&key) {
            continue; // localized key or config-file/section/help/version: rtpengine never reads them
        }
        let Some(spec) = options::by_long(&key) else {
            out.warnings.push(format!(
                "{origin}: {key:?} is not an rtpengine option, ignored"
            ));
            continue;
        };
        let parsed = match spec.kind {
            ArgKind::Flag => parse_ini_bool(&value).map(Value::Flag),
            ArgKind::Int => parse_ini_int(&value).map(Value::Int),
            ArgKind::Double => parse_double(&value).map(Value::Double),
            ArgKind::Str => unescape(&value).map(Value::Str),
            ArgKind::List => split_list(&value).map(Value::List),
        };
        let v = parsed.map_err(|r| bad(spec.long, &value, r, &origin))?;
        // `flag = false` is the same as not giving the flag: glib flags can only be set.
        if v != Value::Flag(false) {
            out.settings.set(spec, v, origin);
        }
    }
    Ok(out)
}

/// Decodes GKeyFile escapes.
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push(' '),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(';') => out.push(';'),
            Some(other) => return Err(format!("invalid escape sequence \\{other}")),
            None => return Err("value ends in a lone backslash".to_owned()),
        }
    }
    Ok(out)
}

/// Splits a `;`-separated list (`\;` is a literal `;`), trimming each element
/// and dropping empty ones, so `a;b;` and `a; b ; ` both mean `[a, b]`.
fn split_list(s: &str) -> Result<Vec<String>, String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push('\\');
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ';' => items.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    items.push(cur);
    items
        .iter()
        .map(|i| unescape(i.trim()))
        .filter(|i| !matches!(i, Ok(s) if s.is_empty()))
        .collect()
}

/// Renders settings as a config file section; used by tests to check that
/// both front ends agree.
pub fn render(section: &str, settings: &Settings) -> String {
    let escape = |s: &str| {
        let mut o = String::new();
        for (i, c) in s.chars().enumerate() {
            match c {
                ' ' if i == 0 => o.push_str("\\s"),
                '\\' => o.push_str("\\\\"),
                '\n' => o.push_str("\\n"),
                '\t' => o.push_str("\\t"),
                '\r' => o.push_str("\\r"),
                ';' => o.push_str("\\;"),
                c => o.push(c),
            }
        }
        o
    };
    let mut out = format!("[{section}]\n");
    for (k, s) in &settings.values {
        let v = match &s.value {
            Value::Flag(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Double(d) => d.to_string(),
            Value::Str(v) => escape(v),
            Value::List(l) => l.iter().map(|v| escape(v)).collect::<Vec<_>>().join(";"),
        };
        out.push_str(&format!("{k} = {v}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<IniSection, ConfigError> {
        parse_ini(
            text,
            Path::new("/etc/rtpengine/rtpengine.conf"),
            "rtpengine",
        )
    }

    fn get(s: &IniSection, k: &str) -> Option<Value> {
        s.settings.get(k).map(|s| s.value.clone())
    }

    #[test]
    fn basic_section() {
        let s = parse(
            "# comment\n[other]\ntable = 5\n[rtpengine]\n  table = -1  \r\ninterface = internal/10.0.0.1;external/192.0.2.1!198.51.100.1 ; \n\
             foreground = true\nlog-stderr = false\nmax-load = 1.5\n[rtpengine]\ntos = 184\ntos=46\nrecording-dir = /var/spool/rtpengine\n",
        )
        .expect("parses");
        assert_eq!(get(&s, "table"), Some(Value::Int(-1)));
        assert_eq!(
            get(&s, "interface"),
            Some(Value::List(vec![
                "internal/10.0.0.1".into(),
                "external/192.0.2.1!198.51.100.1".into()
            ]))
        );
        assert_eq!(get(&s, "foreground"), Some(Value::Flag(true)));
        assert_eq!(get(&s, "log-stderr"), None);
        assert_eq!(get(&s, "tos"), Some(Value::Int(46)));
        assert_eq!(get(&s, "max-load"), Some(Value::Double(1.5)));
        let origin = &s.settings.get("tos").expect("tos").origin;
        assert_eq!(origin.to_string(), "/etc/rtpengine/rtpengine.conf:12");
    }

    #[test]
    fn unknown_keys_warn() {
        let s = parse("[rtpengine]\nmyser-pass = mysql\ntable[de] = 1\n").expect("parses");
        assert_eq!(s.warnings.len(), 1);
        assert!(s.warnings[0].contains("myser-pass"));
    }

    #[test]
    fn errors_carry_file_and_line() {
        let e = parse("[rtpengine]\n\nforeground = True\n").expect_err("bad bool");
        let msg = e.to_string();
        assert!(
            msg.contains("--foreground") && msg.contains("rtpengine.conf:3"),
            "{msg}"
        );
        let e = parse("[rtpengine]\ntos =\n").expect_err("empty int");
        assert!(e.to_string().contains("--tos"));
        let e = parse("[rtpengine]\ntable = 0x1\n").expect_err("hex in file");
        assert!(e.to_string().contains("--table"));
        let e = parse("table = 1\n[rtpengine]\n").expect_err("no group");
        assert!(matches!(e, ConfigError::ConfigFile { line: 1, .. }), "{e}");
        let e = parse("[rtpengine]\njunk\n").expect_err("junk");
        assert!(matches!(e, ConfigError::ConfigFile { line: 2, .. }), "{e}");
        let e = parse("[other]\ntable = 1\n").expect_err("section");
        assert!(matches!(e, ConfigError::ConfigSectionMissing { .. }));
        let e = parse("[rtpengine]\nrecording-method = \\q\n").expect_err("escape");
        assert!(e.to_string().contains("--recording-method"));
    }

    #[test]
    fn escapes_and_lists() {
        let s =
            parse("[rtpengine]\nmysql-query = select\\sx \\\\ %llu\ncn-payload = 20;40\\;1;;60\n")
                .expect("parses");
        assert_eq!(
            get(&s, "mysql-query"),
            Some(Value::Str("select x \\ %llu".into()))
        );
        assert_eq!(
            get(&s, "cn-payload"),
            Some(Value::List(vec!["20".into(), "40;1".into(), "60".into()]))
        );
    }
}
