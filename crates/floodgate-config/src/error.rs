//! [`ConfigError`]: what went wrong, in which file, on which line.
//!
//! Every message a user sees reads `FILE:LINE: field: message`, whether it comes from the
//! TOML parser (unknown field, syntax) or from validation (unknown tier, bad limit), so
//! editors and CI logs can jump straight to the spot.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem at one place of a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as the caller named it.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// What is wrong, starting with the field it concerns.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file was read but is not a valid config; at least one diagnostic, in file order.
    #[error("{}", DisplayAll(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ConfigError {
    /// The diagnostics of an invalid config (empty for an I/O error).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Io { .. } => &[],
            ConfigError::Invalid(d) => d,
        }
    }
}

struct DisplayAll<'a>(&'a [Diagnostic]);

impl fmt::Display for DisplayAll<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Collects diagnostics while validation carries on, so one run reports every problem it
/// can find rather than the first one only.
#[derive(Debug)]
pub(crate) struct Diagnostics<'a> {
    file: &'a Path,
    text: &'a str,
    found: Vec<Diagnostic>,
}

impl<'a> Diagnostics<'a> {
    pub(crate) fn new(file: &'a Path, text: &'a str) -> Self {
        Self {
            file,
            text,
            found: Vec::new(),
        }
    }

    /// Records a problem at a byte span of the text.
    pub(crate) fn at(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let line = line_of(self.text, span.start);
        self.found.push(Diagnostic {
            file: self.file.to_path_buf(),
            line,
            message: message.into(),
        });
    }

    /// The 1-based line of a byte offset, to mention another place in a message.
    pub(crate) fn line(&self, offset: usize) -> usize {
        line_of(self.text, offset)
    }

    /// How many problems were recorded so far (to tell whether a step added one).
    pub(crate) fn len(&self) -> usize {
        self.found.len()
    }

    /// The collected problems as an error, in file order, or `Ok` if there were none.
    pub(crate) fn finish(mut self) -> Result<(), ConfigError> {
        if self.found.is_empty() {
            return Ok(());
        }
        self.found.sort_by_key(|d| d.line);
        Err(ConfigError::Invalid(self.found))
    }
}

/// The 1-based line holding byte `offset` of `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Turns the TOML parser's error into a `FILE:LINE: message` diagnostic.
pub(crate) fn from_toml(file: &Path, text: &str, err: &toml::de::Error) -> ConfigError {
    let line = err.span().map_or(1, |s| line_of(text, s.start));
    ConfigError::Invalid(vec![Diagnostic {
        file: file.to_path_buf(),
        line,
        // The parser's message may span lines ("invalid table header\nexpected ..."); one
        // diagnostic stays on one line so tools can parse `FILE:LINE: message`.
        message: err
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(": "),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based() {
        let text = "a\nb\nc";
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, 2), 2);
        assert_eq!(line_of(text, 4), 3);
        assert_eq!(line_of(text, 99), 3);
    }

    #[test]
    fn display_is_file_line_message() {
        let mut d = Diagnostics::new(Path::new("x.toml"), "a\nb\n");
        d.at(&(2..3), "tier 'premum' is not defined");
        let err = d.finish().unwrap_err();
        assert_eq!(err.to_string(), "x.toml:2: tier 'premum' is not defined");
    }
}
