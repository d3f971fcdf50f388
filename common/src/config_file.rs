//! Loading a TOML config file into a typed config, with errors that name the
//! file, the key and what was expected, before any port is bound.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A config that can check its cross-field rules after parsing.
pub trait Validate: Sized {
    /// The checked form handed to the rest of the program.
    type Valid;

    /// Checks the rules serde cannot express (required fields, ranges,
    /// relations between fields). Returns the first problem found.
    fn validate(self) -> Result<Self::Valid, KeyError>;
}

/// A problem with one key of a config, found by [`Validate::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    /// The dotted path of the key, e.g. `failover.heartbeat_ms` or `chains[1].rpc`.
    pub key: String,
    /// What was wrong and what was expected.
    pub message: String,
}

impl KeyError {
    /// A problem with `key`.
    pub fn new(key: impl Into<String>, message: impl fmt::Display) -> Self {
        Self {
            key: key.into(),
            message: message.to_string(),
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key `{}`: {}", self.key, self.message)
    }
}

/// Why a config file could not be used. Every variant names the file; fix
/// the file and start again.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, permissions).
    #[error("config {path}: cannot read the file: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config {path}{}: {message}", line_suffix(*.line))]
    Syntax {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the problem, where known.
        line: Option<usize>,
        /// What the TOML parser said.
        message: String,
    },
    /// A key is unknown, missing, of the wrong type or breaks a rule.
    #[error("config {path}{}: key `{key}`: {message}", line_suffix(*.line))]
    Key {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the problem, where known.
        line: Option<usize>,
        /// The dotted path of the key.
        key: String,
        /// What was wrong and what was expected.
        message: String,
    },
}

impl ConfigError {
    /// A rule broken by the key in `err`, found after parsing (for example
    /// while loading the credentials the config names).
    pub fn at(path: &Path, err: KeyError) -> Self {
        ConfigError::Key {
            path: path.to_owned(),
            line: None,
            key: err.key,
            message: err.message,
        }
    }
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|line| format!(" line {line}")).unwrap_or_default()
}

/// Reads, parses and validates a config file.
pub fn load<T>(path: &Path) -> Result<T::Valid, ConfigError>
where
    T: DeserializeOwned + Validate,
{
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse::<T>(path, &text)
}

/// Parses and validates config text; `path` is only used in errors.
pub fn parse<T>(path: &Path, text: &str) -> Result<T::Valid, ConfigError>
where
    T: DeserializeOwned + Validate,
{
    let parsed: T = deserialize(path, text)?;
    parsed.validate().map_err(|err| ConfigError::at(path, err))
}

fn deserialize<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let key = err.path().to_string();
        let inner = err.into_inner();
        let line = inner.span().map(|span| line_of(text, span.start));
        let message = inner.message().trim().to_owned();
        if key.is_empty() || key == "." {
            ConfigError::Syntax {
                path: path.to_owned(),
                line,
                message,
            }
        } else {
            ConfigError::Key {
                path: path.to_owned(),
                line,
                key,
                message,
            }
        }
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Helpers shared by the configs' `validate()`.
pub mod check {
    use super::KeyError;
    use std::path::Path;

    /// A path that must be given.
    pub fn required_path(key: &str, path: &Path) -> Result<(), KeyError> {
        if path.as_os_str().is_empty() {
            return Err(KeyError::new(
                key,
                "is required: give a file or folder path",
            ));
        }
        Ok(())
    }

    /// A number that must lie in `min..=max`.
    pub fn in_range<N>(key: &str, value: N, min: N, max: N) -> Result<(), KeyError>
    where
        N: PartialOrd + std::fmt::Display + Copy,
    {
        if value < min || value > max {
            return Err(KeyError::new(
                key,
                format!("{value} is out of range: expected {min} to {max}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
        #[serde(default)]
        inner: Inner,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(default)]
        count: u32,
    }

    impl Validate for Sample {
        type Valid = Sample;
        fn validate(self) -> Result<Sample, KeyError> {
            if self.inner.count > 10 {
                return Err(KeyError::new("inner.count", "must be at most 10"));
            }
            Ok(self)
        }
    }

    fn parse_sample(text: &str) -> Result<Sample, ConfigError> {
        parse::<Sample>(Path::new("/etc/x.toml"), text)
    }

    #[test]
    fn accepts_a_good_file() {
        let sample = parse_sample("name = \"a\"\n[inner]\ncount = 3\n").expect("valid");
        assert_eq!((sample.name.as_str(), sample.inner.count), ("a", 3));
    }

    #[test]
    fn names_the_file_the_key_and_the_line_of_an_unknown_key() {
        let err = parse_sample("name = \"a\"\n[inner]\ncuont = 3\n").expect_err("unknown key");
        let text = err.to_string();
        assert!(
            text.starts_with("config /etc/x.toml line 3: key `inner"),
            "{text}"
        );
        assert!(text.contains("unknown field `cuont`"), "{text}");
        assert!(text.contains("count"), "{text}");
    }

    #[test]
    fn names_the_key_of_a_wrong_type() {
        let err = parse_sample("name = \"a\"\n[inner]\ncount = \"three\"\n").expect_err("type");
        let text = err.to_string();
        assert!(text.contains("key `inner.count`"), "{text}");
    }

    #[test]
    fn reports_syntax_errors_with_their_line() {
        let err = parse_sample("name = \"a\"\n[inner\n").expect_err("syntax");
        assert!(
            matches!(err, ConfigError::Syntax { line: Some(2), .. }),
            "{err}"
        );
    }

    #[test]
    fn reports_validation_errors_with_the_key() {
        let err = parse_sample("name = \"a\"\n[inner]\ncount = 11\n").expect_err("rule");
        assert_eq!(
            err.to_string(),
            "config /etc/x.toml: key `inner.count`: must be at most 10"
        );
    }

    #[test]
    fn reports_a_missing_file() {
        let err = load::<Sample>(Path::new("/nonexistent/mevfleet.toml")).expect_err("missing");
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err.to_string().contains("/nonexistent/mevfleet.toml"));
    }
}
