//! Progress while a batch runs (an `indicatif` bar with rate and ETA on a terminal, a
//! plain line every few seconds otherwise, both on standard error) and the summary at the
//! end.

use floodgate_client::StatsSnapshot;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often the plain progress line is printed.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Counts of finished lines.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    /// Answered 2xx.
    pub(crate) succeeded: u64,
    /// Answered otherwise, or given up on.
    pub(crate) failed: u64,
    /// Needed more than one attempt.
    pub(crate) retried: u64,
}

impl Tally {
    pub(crate) fn done(&self) -> u64 {
        self.succeeded + self.failed
    }
}

/// The progress display.
pub(crate) enum Progress {
    Bar(ProgressBar),
    Plain {
        total: u64,
        started: Instant,
        last: Instant,
    },
}

impl Progress {
    /// A bar when standard error is a terminal, plain lines otherwise.
    pub(crate) fn new(total: u64) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{bar:40.cyan/blue} {pos}/{len} {per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            Self::Bar(bar)
        } else {
            let now = Instant::now();
            Self::Plain {
                total,
                started: now,
                last: now,
            }
        }
    }

    /// Shows where the batch stands.
    pub(crate) fn update(&mut self, tally: Tally, stats: StatsSnapshot) {
        match self {
            Self::Bar(bar) => {
                bar.set_position(tally.done());
                bar.set_message(format!(
                    "failed {} 429s {}",
                    tally.failed, stats.rate_limited
                ));
            }
            Self::Plain {
                total,
                started,
                last,
            } => {
                if last.elapsed() < PLAIN_EVERY {
                    return;
                }
                *last = Instant::now();
                let done = tally.done();
                let secs = started.elapsed().as_secs_f64();
                let rate = done as f64 / secs.max(1e-9);
                let eta = (*total - done.min(*total)) as f64 / rate.max(1e-9);
                eprintln!(
                    "progress: {done}/{total} ({:.0}%), {rate:.1}/s, failed {}, 429s {}, eta {eta:.0}s",
                    100.0 * done as f64 / (*total).max(1) as f64,
                    tally.failed,
                    stats.rate_limited
                );
            }
        }
    }

    /// Removes the bar, if any.
    pub(crate) fn finish(self) {
        if let Self::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// The end-of-run summary.
pub(crate) fn summary(
    tally: Tally,
    total: u64,
    elapsed: Duration,
    stats: StatsSnapshot,
    allowed_per_min: Option<(f64, &str)>,
) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let effective = tally.done() as f64 * 60.0 / secs;
    let mut s = format!(
        "done: {} of {total} lines in {secs:.1} s\n  succeeded {}, failed {}, retried {}, 429s seen {}\n  effective rate {effective:.1}/min",
        tally.done(),
        tally.succeeded,
        tally.failed,
        tally.retried,
        stats.rate_limited,
    );
    match allowed_per_min {
        // A run shorter than the window may ride on the limit's burst, which a rate
        // comparison would report as thousands of percent.
        Some((allowed, source)) if secs < 60.0 => s.push_str(&format!(
            "; allowed {allowed:.1}/min ({source}), not compared: the run was shorter than a minute"
        )),
        Some((allowed, source)) => s.push_str(&format!(
            "; allowed {allowed:.1}/min ({source}): {:.1}%",
            100.0 * effective / allowed
        )),
        None => s.push_str("; allowed: unknown (no rate-limit headers, no --rpm)"),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_compares_rates() {
        let tally = Tally {
            succeeded: 95,
            failed: 5,
            retried: 3,
        };
        let stats = StatsSnapshot {
            rate_limited: 4,
            ..StatsSnapshot::default()
        };
        let s = summary(
            tally,
            120,
            Duration::from_secs(60),
            stats,
            Some((125.0, "headers")),
        );
        assert_eq!(
            s,
            "done: 100 of 120 lines in 60.0 s\n  succeeded 95, failed 5, retried 3, 429s seen 4\n  effective rate 100.0/min; allowed 125.0/min (headers): 80.0%"
        );
    }

    #[test]
    fn a_run_shorter_than_a_minute_is_not_compared_with_a_per_minute_rate() {
        let tally = Tally {
            succeeded: 200,
            failed: 0,
            retried: 0,
        };
        let s = summary(
            tally,
            200,
            Duration::from_millis(100),
            StatsSnapshot::default(),
            Some((300.0, "rate-limit headers")),
        );
        assert!(
            s.ends_with("allowed 300.0/min (rate-limit headers), not compared: the run was shorter than a minute"),
            "{s}"
        );
    }
}
