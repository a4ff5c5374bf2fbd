//! The `floodgate` binary: one executable for every role.
//!
//! Each subcommand lives in its own module under [`cmd`]; [`store`] builds the counter
//! store the config asks for and [`persist`] its state file; [`logging`] sets up the log
//! lines and [`reload`] the hot reload of `serve`; this file only parses the command line
//! and dispatches.

mod cmd;
mod logging;
mod persist;
mod reload;
mod store;

use clap::{Parser, Subcommand};

/// Every allocation of every role goes through mimalloc, which costs the gateway less CPU
/// per proxied request than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// floodgate: a rate-limit gateway for generative-AI APIs.
#[derive(Debug, Parser)]
#[command(name = "floodgate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the SHA-256 of an API key, as config files and the store hold it.
    HashKey(cmd::hash_key::Args),
    /// Validate a config file and print the limits it resolves to (exit 1 on errors).
    CheckConfig(cmd::check_config::Args),
    /// Serve a mock model API (images, chat with SSE, audio, embeddings, async video jobs)
    /// for demos, tests and benchmarks.
    MockUpstream(cmd::mock_upstream::Args),
    /// Run the gateway: authenticate, enforce every limit, and proxy to the model API.
    Serve(cmd::serve::Args),
    /// Run the mock model API and the gateway together, and print curl lines to try.
    Demo(cmd::demo::Args),
    /// Manage keys, tiers, overrides and abuse blocks of a running gateway through its
    /// admin API.
    Keys(cmd::keys::Args),
    /// Run a file of requests against a rate-limited API: paced, retried, in order.
    Batch(cmd::batch::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::HashKey(args) => cmd::hash_key::run(&args),
        Command::CheckConfig(args) => std::process::exit(cmd::check_config::run(&args)),
        Command::MockUpstream(args) => cmd::mock_upstream::run(&args),
        Command::Serve(args) => cmd::serve::run(&args),
        Command::Demo(args) => cmd::demo::run(&args),
        Command::Keys(args) => cmd::keys::run(&args),
        Command::Batch(args) => std::process::exit(cmd::batch::run(&args)?),
    }
}
