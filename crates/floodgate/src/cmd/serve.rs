//! `floodgate serve`: the gateway in front of a model API, configured by one file (its
//! `[store]` picks memory or Redis); the listening address, the upstream and the log
//! format can be overridden on the command line.
//!
//! It runs until SIGTERM or Ctrl-C: then it stops accepting connections, lets the
//! requests and streams in flight finish for up to `[server] shutdown_timeout`, and
//! exits 0. SIGHUP and changes of the file reload the config (see [`crate::reload`]).

use crate::reload::{self, Reloader};
use anyhow::Context;
use floodgate_config::{Config, LogFormat, MetricsEndpoint};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Arguments of `serve`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    /// The config file.
    #[arg(long)]
    config: PathBuf,
    /// Address to listen on (overrides `server.listen`).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// The model API to forward to, e.g. `http://127.0.0.1:9000` (overrides
    /// `server.upstream`).
    #[arg(long)]
    upstream: Option<String>,
    /// Worker threads; defaults to one per core. Benchmarks set it to share cores fairly
    /// with the processes around the gateway.
    #[arg(long)]
    threads: Option<usize>,
    /// Log lines as `text` or `json` (overrides `server.log_format`).
    #[arg(long, value_parser = floodgate_config::log_format)]
    log_format: Option<LogFormat>,
}

/// Logs to standard error as text (for `demo`; `serve` follows its config).
pub(crate) fn init_logging() {
    crate::logging::init(LogFormat::Text);
}

/// A runtime with `threads` workers (one per core by default). One worker gets tokio's
/// current-thread scheduler: with a single worker there is no one to steal work from or
/// wake, and the work-stealing scheduler's hand-offs between the I/O driver and the worker
/// cost CPU on every request.
pub(crate) fn runtime(threads: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let threads = match threads {
        Some(threads) => {
            anyhow::ensure!(threads > 0, "--threads must be at least 1");
            threads
        }
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.enable_all();
    Ok(builder.build()?)
}

/// Completes on Ctrl-C or SIGTERM, so both an operator and a service manager stop the
/// server gracefully.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Loads the config and applies the command-line overrides.
fn load(args: &Args) -> anyhow::Result<Config> {
    let mut config = Config::load(&args.config)?;
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Some(upstream) = &args.upstream {
        config.server.upstream = Some(upstream.clone());
    }
    anyhow::ensure!(
        config.server.upstream.is_some(),
        "{}: no upstream: set server.upstream or pass --upstream",
        args.config.display()
    );
    Ok(config)
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    // read first: a change after this is one the reloader installs
    let loaded = std::fs::read(&args.config).ok();
    let config = load(args)?;
    crate::logging::init(args.log_format.unwrap_or(config.server.log_format));
    let listen = config.server.listen;
    let metrics = config.server.metrics;
    let drain_for = config.server.shutdown_timeout;
    let (state, background) = crate::store::open(config)?;
    let state = Arc::new(state);
    runtime(args.threads)?.block_on(async {
        // Before anything else: until its handler is installed, SIGHUP ends the process.
        let hangups = reload::hangups();
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let started = background.start(&state);
        let (stop, stopping) = watch::channel(false);
        if let MetricsEndpoint::Listen(addr) = metrics {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the metrics listener {addr}"))?;
            tokio::spawn(floodgate_gateway::serve_metrics(
                listener,
                Arc::clone(&state),
                stopped(stopping.clone()),
            ));
        }
        let reload_args = args.clone();
        let reloader = Reloader::new(
            args.config.clone(),
            move || load(&reload_args),
            Arc::clone(&state),
            loaded,
        );
        tokio::spawn(reloader.run(hangups));
        tokio::spawn(async move {
            shutdown_signal().await;
            stop.send_replace(true);
        });
        let serving =
            floodgate_gateway::serve(listener, Arc::clone(&state), stopped(stopping.clone()));
        let deadline = async {
            stopped(stopping).await;
            tokio::time::sleep(drain_for).await;
        };
        tokio::select! {
            served = serving => served.context("serving the gateway")?,
            () = deadline => tracing::warn!(
                timeout_ms = duration_ms(drain_for),
                "shutdown timeout: cutting the requests still in flight"
            ),
        }
        // Every request has ended (or was cut): what they counted is saved before the
        // process exits.
        background.finish(started)?;
        tracing::info!(store = state.store().name(), "stopped");
        Ok(())
    })
}

/// Completes once `stopping` turns true.
async fn stopped(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> PathBuf {
        [env!("CARGO_MANIFEST_DIR"), "..", "..", "examples", name]
            .iter()
            .collect()
    }

    #[test]
    fn flags_override_the_file() {
        let args = Args {
            config: example("provider-b.toml"),
            listen: Some("127.0.0.1:18080".parse().unwrap()),
            upstream: Some("http://127.0.0.1:19000".into()),
            threads: None,
            log_format: None,
        };
        let config = load(&args).unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:18080".parse().unwrap());
        assert_eq!(
            config.server.upstream.as_deref(),
            Some("http://127.0.0.1:19000")
        );

        let file_only = Args {
            listen: None,
            upstream: None,
            ..args
        };
        let config = load(&file_only).unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            config.server.upstream.as_deref(),
            Some("http://127.0.0.1:9000")
        );
    }

    #[test]
    fn a_bad_upstream_is_refused_before_serving() {
        let args = Args {
            config: example("provider-b.toml"),
            listen: None,
            upstream: Some("ftp://nowhere".into()),
            threads: None,
            log_format: None,
        };
        let config = load(&args).unwrap();
        assert!(crate::store::gateway_state(config).is_err());
    }
}
