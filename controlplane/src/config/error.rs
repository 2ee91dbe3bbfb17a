//! Errors from option, config-file and interface parsing.
//!
//! Every variant names what the operator has to fix: the option as written
//! (`--tos`, `-T`), the offending value, and for config-file problems the file
//! and 1-based line. `main` prints the error and exits non-zero, as rtpengine
//! does for a bad command line.

use std::path::PathBuf;

/// Where a value came from, so a bad value in the config file is reported with
/// its file and line rather than as if typed on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The command line.
    CommandLine,
    /// A line of the config file.
    File {
        /// The config file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::CommandLine => f.write_str("command line"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
        }
    }
}

/// Why the daemon configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An option that rtpengine(8) does not have either.
    #[error("unknown option {0}")]
    UnknownOption(String),
    /// A short option glued to its value (`-L7`): glib, and so rtpengine,
    /// reads the value from the next argument only.
    #[error("unknown option -{unknown} in {group}: write -{option} VALUE (a short option takes its value from the next argument)")]
    GluedShortValue {
        /// The argument as given, e.g. `-L7`.
        group: String,
        /// The option that takes a value, e.g. `L`.
        option: char,
        /// The character glib would reject, e.g. `7`.
        unknown: char,
    },
    /// An option that needs a value ended the command line.
    #[error("missing value for option {0}")]
    MissingValue(String),
    /// A value that does not parse or is out of range.
    #[error("bad value {value:?} for option --{option} ({origin}): {reason}")]
    BadValue {
        /// Long option name.
        option: String,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
        /// Command line or file:line.
        origin: Origin,
    },
    /// A syntax error in the config file.
    #[error("{}:{line}: {reason}", path.display())]
    ConfigFile {
        /// The config file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// The config file could not be read (an explicitly named file must
    /// exist; only the default file may be absent).
    #[error("cannot read config file {}: {source}", path.display())]
    ConfigRead {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file has no `[section]` to read, which rtpengine treats as fatal.
    #[error("config file {} has no [{section}] section (see --config-section)", path.display())]
    ConfigSectionMissing {
        /// The config file.
        path: PathBuf,
        /// The section looked for.
        section: String,
    },
    /// An `--interface` form we recognise but cannot act on yet.
    #[error("--interface {value:?}: {reason}")]
    InterfaceNotSupported {
        /// The interface specification as given.
        value: String,
        /// What is missing.
        reason: String,
    },
    /// An interface whose name or address matched nothing on this host.
    #[error("--interface {value:?}: {reason}")]
    InterfaceUnresolved {
        /// The interface specification as given.
        value: String,
        /// Why it resolved to no address.
        reason: String,
    },
    /// No `--interface` was given.
    #[error("missing option --interface (at least one local address for media is required)")]
    NoInterface,
    /// None of the control-protocol listeners was given.
    #[error("missing option --listen-ng, --listen-tcp-ng, --listen-udp or --listen-tcp")]
    NoListener,
    /// `--port-min` above `--port-max`, or a port outside 1..=65535.
    #[error("invalid media port range {min}-{max}: need 1 <= --port-min <= --port-max <= 65535")]
    PortRange {
        /// `--port-min` as given.
        min: i64,
        /// `--port-max` as given.
        max: i64,
    },
}
