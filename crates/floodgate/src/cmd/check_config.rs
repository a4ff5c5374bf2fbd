//! `floodgate check-config FILE`: validates a config and prints the limits it resolves to.
//!
//! Exit status 0 with the summary on standard output, or 1 with every `FILE:LINE: message`
//! on standard error, so it fits in CI and pre-commit hooks.

use floodgate_config::{summary, Config};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `check-config`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The config file to check.
    file: PathBuf,
}

/// Checks the file and returns the process exit status: 0 valid, 1 invalid or unreadable.
pub(crate) fn run(args: &Args) -> i32 {
    match Config::load(&args.file) {
        Ok(config) => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not a config problem: the status stays 0.
            let _ = out.write_all(summary::summary(&config).as_bytes());
            let _ = out.flush();
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
