//! `floodgate serve`: the gateway in front of a model API, configured by one file (its
//! `[store]` picks memory or Redis); the listening address and the upstream can be
//! overridden on the command line.

use anyhow::Context;
use floodgate_config::Config;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
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
}

/// Logs to standard error, at `info` unless `RUST_LOG` says otherwise.
pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A multi-threaded runtime with `threads` workers (one per core by default).
pub(crate) fn runtime(threads: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(threads) = threads {
        anyhow::ensure!(threads > 0, "--threads must be at least 1");
        builder.worker_threads(threads);
    }
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
    init_logging();
    let config = load(args)?;
    let listen = config.server.listen;
    let (state, background) = crate::store::open(config)?;
    let state = Arc::new(state);
    runtime(args.threads)?.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let started = background.start(&state);
        let served = floodgate_gateway::serve(listener, state, shutdown_signal())
            .await
            .context("serving the gateway");
        // Requests have drained: what they counted is saved before the process exits.
        background.finish(started)?;
        served
    })
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
        };
        let config = load(&args).unwrap();
        assert!(crate::store::gateway_state(config).is_err());
    }
}
