//! `floodgate mock-upstream`: serves the mock model API of `floodgate-mock`, so the
//! gateway can be tried, tested and benchmarked with no real provider behind it.

use anyhow::Context;
use floodgate_mock::MockOptions;
use std::net::SocketAddr;
use std::time::Duration;

/// Arguments of `mock-upstream`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// Seconds an async job (a path containing `video`) takes to reach its final state.
    #[arg(long, default_value_t = 2.0)]
    job_seconds: f64,
    /// Milliseconds added to every answer, to stand in for inference time.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Worker threads; defaults to one per core. Benchmarks set it to share cores fairly
    /// with the processes under test.
    #[arg(long)]
    threads: Option<usize>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let job_duration = Duration::try_from_secs_f64(args.job_seconds)
        .with_context(|| format!("--job-seconds {} is not a duration", args.job_seconds))?;
    let options = MockOptions {
        job_duration,
        latency: (args.latency_ms > 0).then(|| Duration::from_millis(args.latency_ms)),
        ..MockOptions::default()
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(threads) = args.threads {
        anyhow::ensure!(threads > 0, "--threads must be at least 1");
        runtime.worker_threads(threads);
    }
    runtime.build()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        eprintln!(
            "mock upstream listening on http://{}",
            listener.local_addr()?
        );
        let shutdown = async {
            // If the handler cannot be installed the mock runs until it is killed,
            // which is what a benchmark does anyway.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        floodgate_mock::serve(listener, options, shutdown)
            .await
            .context("serving the mock upstream")
    })
}
