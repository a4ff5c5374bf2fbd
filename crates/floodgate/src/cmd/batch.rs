//! `floodgate batch`: runs a file of requests against a rate-limited API through
//! `floodgate-client` (paced from the headers, retried, under a concurrency and rate cap)
//! and writes one result a line, in input order.
//!
//! A spent daily or monthly quota stops the batch (exit 2) with the time it resets; Ctrl-C
//! stops it (exit 130). Either way every finished result is in the output, and `--resume`
//! skips those lines on the next run. Requests in flight at a stop are not written.

mod input;
mod output;
mod progress;

use anyhow::Context;
use floodgate_client::{CapUnit, Client, ClientError, JobQueue, RateCap, RetryPolicy};
use futures_util::stream::{FuturesUnordered, StreamExt};
use output::OrderedOutput;
use progress::{Progress, Tally};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Exit status when a quota stopped the batch.
const EXIT_QUOTA: i32 = 2;
/// Exit status after Ctrl-C, as a shell reports a SIGINT.
const EXIT_INTERRUPTED: i32 = 130;

/// Arguments of `batch`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The API's base URL, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    url: String,
    /// The API key, sent as `Authorization: Bearer`.
    #[arg(long)]
    key: Option<String>,
    /// Requests, one JSON object a line: `{"method": "POST", "path": "/api/v1/txt2img",
    /// "body": {...}}` (`method` defaults to POST; optional `images` and `tokens` say what
    /// a request costs against such limits).
    #[arg(long)]
    input: PathBuf,
    /// Results, one JSON object a line, in input order: `line`, `status`, `attempts`,
    /// `rate_limited`, `latency_ms`, `body` (or `error`).
    #[arg(long)]
    output: PathBuf,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Your own cap, in `--rpm-unit`s per minute, below what the server allows.
    #[arg(long)]
    rpm: Option<NonZeroU32>,
    /// What `--rpm` counts: requests, images or tokens.
    #[arg(long, default_value = "requests")]
    rpm_unit: CapUnit,
    /// Skip the lines the output already holds a result for, and add to it.
    #[arg(long)]
    resume: bool,
    /// Send without pacing from the rate-limit headers (429s are still retried).
    #[arg(long)]
    no_pacing: bool,
    /// Retries of one request after its first attempt.
    #[arg(long, default_value_t = 8)]
    max_retries: usize,
    /// Longest wait for one retry, in seconds; a longer Retry-After stops the batch as a
    /// spent quota.
    #[arg(long, default_value_t = 120)]
    max_wait: u64,
}

/// Runs the batch; the process's exit status.
pub(crate) fn run(args: &Args) -> anyhow::Result<i32> {
    let jobs = input::read(&args.input)?;
    let done = if args.resume {
        output::finished_lines(&args.output)?
    } else {
        Default::default()
    };
    let todo: Vec<_> = jobs
        .into_iter()
        .filter(|j| !done.contains(&j.line))
        .collect();
    if args.resume {
        eprintln!(
            "resume: {} lines already in {}, {} to run",
            done.len(),
            args.output.display(),
            todo.len()
        );
    }
    let mut builder = Client::builder(&args.url)
        .pacing(!args.no_pacing)
        .retry(RetryPolicy {
            max_retries: args.max_retries,
            max_wait: Duration::from_secs(args.max_wait),
            ..RetryPolicy::default()
        });
    if let Some(key) = &args.key {
        builder = builder.key(key);
    }
    if let Some(rpm) = args.rpm {
        builder = builder.rate_cap(RateCap::per_minute(args.rpm_unit, rpm));
    }
    let client = builder.build()?;
    let out = OrderedOutput::open(
        &args.output,
        todo.iter().map(|j| j.line).collect(),
        args.resume,
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(drive(args, client, todo, out))
}

/// How a run ended.
enum End {
    Complete,
    Quota(floodgate_client::QuotaExhausted),
    Interrupted,
}

async fn drive(
    args: &Args,
    client: Client,
    todo: Vec<input::Job>,
    mut out: OrderedOutput,
) -> anyhow::Result<i32> {
    let total = todo.len() as u64;
    let queue = JobQueue::new(client.clone(), args.concurrency);
    let concurrency = args.concurrency.max(1);
    let mut pending = todo.into_iter();
    let mut running = FuturesUnordered::new();
    let mut tally = Tally::default();
    let mut progress = Progress::new(total);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let started = Instant::now();
    let mut end = End::Complete;
    loop {
        if matches!(end, End::Complete) {
            while running.len() < concurrency {
                let Some(job) = pending.next() else { break };
                let queue = queue.clone();
                running.push(async move {
                    let result = queue.run(&job.request).await;
                    (job.line, result)
                });
            }
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            Some((line, result)) = running.next() => {
                match &result {
                    Err(ClientError::QuotaExhausted(q)) => {
                        if matches!(end, End::Complete) {
                            end = End::Quota(q.clone());
                        }
                        continue;
                    }
                    Ok(r) if r.status.is_success() => tally.succeeded += 1,
                    _ => tally.failed += 1,
                }
                if attempts(&result) > 1 {
                    tally.retried += 1;
                }
                out.push(line, &output::record(line, &result))?;
                progress.update(tally, client.stats());
            }
            _ = tick.tick() => progress.update(tally, client.stats()),
            _ = &mut interrupt => {
                end = End::Interrupted;
                break;
            }
        }
    }
    // Requests still in flight (after Ctrl-C) are dropped unanswered.
    drop(running);
    progress.finish();
    out.finish()?;
    let elapsed = started.elapsed();
    let allowed = allowed_per_minute(&client, args);
    let allowed = allowed
        .as_ref()
        .map(|(rate, source)| (*rate, source.as_str()));
    eprintln!(
        "{}",
        progress::summary(tally, total, elapsed, client.stats(), allowed)
    );
    let not_run = total - tally.done();
    Ok(match end {
        End::Complete => 0,
        End::Quota(q) => {
            eprintln!(
                "stopped: {q}. {} lines finished, {not_run} not run; every finished result is in {}. Run again with --resume once the quota has reset.",
                tally.done(),
                args.output.display()
            );
            EXIT_QUOTA
        }
        End::Interrupted => {
            eprintln!(
                "interrupted: {} lines finished, {not_run} not run; every finished result is in {}. Run again with --resume to finish.",
                tally.done(),
                args.output.display()
            );
            EXIT_INTERRUPTED
        }
    })
}

/// Attempts a finished line took.
fn attempts(result: &Result<floodgate_client::ApiResponse, ClientError>) -> u32 {
    match result {
        Ok(r) => r.attempts,
        Err(ClientError::GaveUp { attempts, .. }) => *attempts,
        Err(ClientError::Transport { attempts, .. }) => *attempts,
        Err(_) => 1,
    }
}

/// The rate the batch was allowed, per minute: the tightest the headers reported or the
/// `--rpm` cap (in requests), whichever is lower.
fn allowed_per_minute(client: &Client, args: &Args) -> Option<(f64, String)> {
    let headers = client.allowed_rate().map(|(limit, window)| {
        (
            limit as f64 * 60.0 / window.as_secs_f64(),
            "rate-limit headers".to_owned(),
        )
    });
    let cap = args
        .rpm
        .filter(|_| args.rpm_unit == CapUnit::Requests)
        .map(|rpm| (f64::from(rpm.get()), "--rpm".to_owned()));
    match (headers, cap) {
        (Some(h), Some(c)) => Some(if c.0 < h.0 { c } else { h }),
        (h, c) => h.or(c),
    }
}
