//! The command-line grammar, matching glib's `GOptionContext` as used by
//! rtpengine.
//!
//! Rules (checked against rtpengine 10.5):
//! - `--opt=value` and `--opt value`; the next argument is taken as the value
//!   even if it starts with `-` (so `-t -1` works). No abbreviations.
//! - `-o value`; short flags group (`-fE`), and a value-taking short option in
//!   a group takes the next argument (`-ft -1`). `-ovalue` is *not* accepted:
//!   glib reads the rest of the group as more short options.
//! - A flag given as `--flag=anything` is switched on; glib ignores the value.
//! - A lone `-` is a positional argument; `--` makes every later argument
//!   positional. rtpengine ignores positionals, so do we (with a warning).
//! - Repeating a non-list option keeps the last value.

use super::error::{ConfigError, Origin};
use super::options::{self, ArgKind};
use super::settings::{parse_cli_value, Settings, Value};

/// What the command line asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandLine {
    /// Option values, including `config-file` and `config-section`.
    pub settings: Settings,
    /// `--help`, `-h` or `-?` was given.
    pub help: bool,
    /// `--version` or `-v` was given.
    pub version: bool,
    /// Notes for the operator (ignored values and arguments).
    pub warnings: Vec<String>,
}

/// Parses `args` (without `argv[0]`).
pub fn parse_args(args: &[String]) -> Result<CommandLine, ConfigError> {
    let mut cl = CommandLine::default();
    let mut i = 0;
    let mut only_positional = false;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        if only_positional || arg == "-" || !arg.starts_with('-') {
            cl.warnings
                .push(format!("ignoring non-option argument {arg:?}"));
            continue;
        }
        if arg == "--" {
            only_positional = true;
            continue;
        }
        if let Some(body) = arg.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            if matches!(name, "help" | "help-all") {
                cl.help = true;
                continue;
            }
            let spec = options::by_long(name)
                .ok_or_else(|| ConfigError::UnknownOption(format!("--{name}")))?;
            let value = if spec.kind == ArgKind::Flag {
                if let Some(v) = inline {
                    cl.warnings.push(format!(
                        "--{name}={v}: a flag takes no value; --{name} is switched on (as in rtpengine)"
                    ));
                }
                Value::Flag(true)
            } else {
                let raw = match inline {
                    Some(v) => v,
                    None => {
                        let v = args
                            .get(i)
                            .ok_or_else(|| ConfigError::MissingValue(format!("--{name}")))?;
                        i += 1;
                        v.as_str()
                    }
                };
                parse_cli_value(spec, raw)?
            };
            record(&mut cl, spec, value);
            continue;
        }
        // A group of short options, e.g. "-fE" or "-ft" (value from next argument).
        let group = &arg[1..];
        let chars: Vec<char> = group.chars().collect();
        for (pos, &c) in chars.iter().enumerate() {
            if c == 'h' || c == '?' {
                cl.help = true;
                continue;
            }
            let Some(spec) = options::by_short(c) else {
                // Give the glued-value hint when the previous char took a value.
                if let Some(prev) = pos.checked_sub(1).and_then(|p| chars.get(p)) {
                    if options::by_short(*prev).is_some_and(|s| s.takes_value()) {
                        return Err(ConfigError::GluedShortValue {
                            group: arg.to_owned(),
                            option: *prev,
                            unknown: c,
                        });
                    }
                }
                return Err(ConfigError::UnknownOption(format!("-{c}")));
            };
            if spec.takes_value() {
                if let Some(&next) = chars.get(pos + 1) {
                    if options::by_short(next).is_none() {
                        return Err(ConfigError::GluedShortValue {
                            group: arg.to_owned(),
                            option: c,
                            unknown: next,
                        });
                    }
                }
            }
            let value = if spec.takes_value() {
                let raw = args
                    .get(i)
                    .ok_or_else(|| ConfigError::MissingValue(format!("-{c}")))?;
                i += 1;
                parse_cli_value(spec, raw)?
            } else {
                Value::Flag(true)
            };
            record(&mut cl, spec, value);
        }
    }
    Ok(cl)
}

fn record(cl: &mut CommandLine, spec: &'static options::OptionSpec, value: Value) {
    match spec.long {
        "version" => cl.version = true,
        _ => cl.settings.set(spec, value, Origin::CommandLine),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn get(cl: &CommandLine, k: &str) -> Option<Value> {
        cl.settings.get(k).map(|s| s.value.clone())
    }

    #[test]
    fn issue_command_line() {
        let cl = parse_args(&argv(
            "--config-file=none -t -1 -i 203.0.113.1 -i 2001:db8:4321::1 -n 2223 -c 12345 -f -L 7 -E -u 2222",
        ))
        .expect("parses");
        assert_eq!(get(&cl, "config-file"), Some(Value::Str("none".into())));
        assert_eq!(get(&cl, "table"), Some(Value::Int(-1)));
        assert_eq!(
            get(&cl, "interface"),
            Some(Value::List(vec![
                "203.0.113.1".into(),
                "2001:db8:4321::1".into()
            ]))
        );
        assert_eq!(get(&cl, "listen-ng"), Some(Value::Str("2223".into())));
        assert_eq!(get(&cl, "listen-cli"), Some(Value::Str("12345".into())));
        assert_eq!(get(&cl, "listen-udp"), Some(Value::Str("2222".into())));
        assert_eq!(get(&cl, "log-level"), Some(Value::Int(7)));
        assert_eq!(get(&cl, "foreground"), Some(Value::Flag(true)));
        assert_eq!(get(&cl, "log-stderr"), Some(Value::Flag(true)));
        assert!(cl.warnings.is_empty());
    }

    #[test]
    fn long_forms() {
        let cl =
            parse_args(&argv("--tos=184 --timeout 30 --table --5")).expect_err("--5 is a value");
        assert!(matches!(cl, ConfigError::BadValue { ref option, .. } if option == "table"));
        let cl =
            parse_args(&argv("--tos=184 --timeout 30 --pidfile=/run/x=y.pid")).expect("parses");
        assert_eq!(get(&cl, "tos"), Some(Value::Int(184)));
        assert_eq!(get(&cl, "timeout"), Some(Value::Int(30)));
        assert_eq!(get(&cl, "pidfile"), Some(Value::Str("/run/x=y.pid".into())));
    }

    #[test]
    fn short_groups() {
        let cl = parse_args(&argv("-fEt -1")).expect("parses");
        assert_eq!(get(&cl, "table"), Some(Value::Int(-1)));
        assert_eq!(get(&cl, "foreground"), Some(Value::Flag(true)));
        let e = parse_args(&argv("-L7")).expect_err("glued value");
        assert!(
            matches!(
                e,
                ConfigError::GluedShortValue {
                    option: 'L',
                    unknown: '7',
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("-L7"));
        let e = parse_args(&argv("-t-1")).expect_err("glued value");
        assert!(matches!(
            e,
            ConfigError::GluedShortValue { option: 't', .. }
        ));
    }

    #[test]
    fn last_value_wins_lists_accumulate() {
        let cl = parse_args(&argv("-n 1 -n 2 -i a -i b --interface=c")).expect("parses");
        assert_eq!(get(&cl, "listen-ng"), Some(Value::Str("2".into())));
        assert_eq!(
            get(&cl, "interface"),
            Some(Value::List(vec!["a".into(), "b".into(), "c".into()]))
        );
    }

    #[test]
    fn flags_with_values_and_positionals() {
        let cl = parse_args(&argv("--foreground=false - foo -- -f --bogus")).expect("parses");
        assert_eq!(get(&cl, "foreground"), Some(Value::Flag(true)));
        assert_eq!(get(&cl, "log-stderr"), None);
        assert_eq!(cl.warnings.len(), 5, "{:?}", cl.warnings);
    }

    #[test]
    fn errors_name_the_option() {
        let e = parse_args(&argv("--bogus")).expect_err("unknown");
        assert_eq!(e.to_string(), "unknown option --bogus");
        let e = parse_args(&argv("-Z")).expect_err("unknown");
        assert_eq!(e.to_string(), "unknown option -Z");
        let e = parse_args(&argv("--foregroundx")).expect_err("no abbreviations either way");
        assert!(e.to_string().contains("--foregroundx"));
        let e = parse_args(&argv("--table")).expect_err("missing");
        assert_eq!(e.to_string(), "missing value for option --table");
        let e = parse_args(&argv("-f -T")).expect_err("missing");
        assert_eq!(e.to_string(), "missing value for option -T");
        let e = parse_args(&argv("--tos=abc")).expect_err("bad");
        assert!(e.to_string().contains("--tos"), "{e}");
        let e = parse_args(&argv("--max-load=1,5")).expect_err("bad");
        assert!(e.to_string().contains("--max-load"), "{e}");
    }

    #[test]
    fn help_and_version() {
        assert!(parse_args(&argv("--help")).expect("ok").help);
        assert!(parse_args(&argv("-h")).expect("ok").help);
        assert!(parse_args(&argv("-v")).expect("ok").version);
        assert!(parse_args(&argv("--version")).expect("ok").version);
    }

    #[test]
    fn every_option_parses_long_and_short() {
        for spec in options::OPTIONS {
            let value = match spec.kind {
                ArgKind::Flag => None,
                ArgKind::Int => Some("1"),
                ArgKind::Double => Some("1.5"),
                ArgKind::Str | ArgKind::List => Some("x"),
            };
            let mut long = vec![format!("--{}", spec.long)];
            long.extend(value.map(str::to_owned));
            parse_args(&long).unwrap_or_else(|e| panic!("--{}: {e}", spec.long));
            if let Some(v) = value {
                parse_args(&[format!("--{}={v}", spec.long)])
                    .unwrap_or_else(|e| panic!("--{}: {e}", spec.long));
            }
            if let Some(c) = spec.short {
                let mut short = vec![format!("-{c}")];
                short.extend(value.map(str::to_owned));
                parse_args(&short).unwrap_or_else(|e| panic!("-{c}: {e}"));
            }
        }
    }
}
