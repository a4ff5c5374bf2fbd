//! `floodgate hash-key KEY`: prints the hash a config file stores instead of the raw key.

use anyhow::Context;
use floodgate_config::KeyHash;
use std::io::Read;

/// Arguments of `hash-key`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The raw API key, or `-` to read it from standard input (keeps it out of shell
    /// history and the process list).
    key: String,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let raw = if args.key == "-" {
        let mut buf = String::new();
        std::io::stdin()
            .read_to_string(&mut buf)
            .context("reading the key from standard input")?;
        buf.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        args.key.clone()
    };
    anyhow::ensure!(!raw.is_empty(), "the key is empty");
    println!("{}", KeyHash::of(&raw).to_hex());
    Ok(())
}
