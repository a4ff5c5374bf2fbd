//! The retry schedule: backon's capped exponential backoff with *full* jitter (a uniform
//! draw in `[0, step]`), from a random source that can be seeded, so tests can check it.
//!
//! backon's own jitter adds a draw in `[0, step)` on top of the step, which keeps retries
//! of many clients bunched near the step; full jitter spreads them over the whole range.

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use std::time::Duration;

/// How a [`Client`](crate::Client) retries.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 never retries.
    pub max_retries: usize,
    /// The first backoff step, before jitter.
    pub base_delay: Duration,
    /// The largest backoff step, before jitter.
    pub max_delay: Duration,
    /// The longest the client waits for one retry: a `Retry-After` or reset further away
    /// than this is treated as a quota the caller must hear about, not waited for.
    pub max_wait: Duration,
    /// Seeds the jitter, for reproducible schedules; `None` seeds from the OS.
    pub seed: Option<u64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_wait: Duration::from_secs(120),
            seed: None,
        }
    }
}

impl RetryPolicy {
    /// A fresh schedule for one request's retries.
    pub fn backoff(&self) -> FullJitter<ExponentialBackoff> {
        let rng = match self.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        let steps = ExponentialBuilder::default()
            .with_min_delay(self.base_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries)
            .build();
        FullJitter::new(steps, rng)
    }
}

/// Full jitter over any backoff schedule: each step `d` becomes a uniform draw in
/// `[0, d]`. It is itself a backon `Backoff` (an iterator of delays).
#[derive(Debug)]
pub struct FullJitter<B> {
    /// The un-jittered steps (and when to stop).
    steps: B,
    /// The jitter source.
    rng: fastrand::Rng,
}

impl<B> FullJitter<B> {
    /// Jitters `steps` with `rng`.
    pub fn new(steps: B, rng: fastrand::Rng) -> Self {
        Self { steps, rng }
    }

    /// A draw in `[0, 1]`, for callers that jitter a server's wait hint the same way.
    pub fn fraction(&mut self) -> f64 {
        self.rng.f64()
    }
}

impl<B: Iterator<Item = Duration>> Iterator for FullJitter<B> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let step = self.steps.next()?;
        Some(step.mul_f64(self.rng.f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(seed: u64) -> RetryPolicy {
        RetryPolicy {
            max_retries: 12,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_wait: Duration::from_secs(60),
            seed: Some(seed),
        }
    }

    #[test]
    fn a_seed_fixes_the_schedule() {
        let a: Vec<_> = policy(7).backoff().collect();
        let b: Vec<_> = policy(7).backoff().collect();
        let c: Vec<_> = policy(8).backoff().collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 12, "max_retries steps, then none");
    }

    #[test]
    fn delays_grow_stay_under_the_cap_and_are_jittered() {
        let p = policy(42);
        let mut caps = ExponentialBuilder::default()
            .with_min_delay(p.base_delay)
            .with_max_delay(p.max_delay)
            .with_max_times(p.max_retries)
            .build();
        let mut distinct = std::collections::BTreeSet::new();
        for (i, d) in p.backoff().enumerate() {
            let cap = caps.next().unwrap();
            assert!(d <= cap, "step {i}: {d:?} over its cap {cap:?}");
            assert!(cap <= p.max_delay);
            distinct.insert(d);
        }
        assert!(distinct.len() > 10, "jittered: {distinct:?}");

        // Over many seeds, the mean delay of each step grows until the cap binds, and
        // is about half the step (a uniform draw over [0, step]).
        let seeds = 400;
        let mut sums = [Duration::ZERO; 12];
        for seed in 0..seeds {
            for (i, d) in policy(seed).backoff().enumerate() {
                sums[i] += d;
            }
        }
        let means: Vec<f64> = sums
            .iter()
            .map(|s| s.as_secs_f64() / seeds as f64)
            .collect();
        for i in 1..6 {
            assert!(means[i] > means[i - 1] * 1.5, "step {i} grows: {means:?}");
        }
        for (i, m) in means.iter().enumerate() {
            let step = (0.1 * 2f64.powi(i as i32)).min(5.0);
            assert!((m / step - 0.5).abs() < 0.1, "step {i}: mean {m} of {step}");
        }
    }

    #[test]
    fn no_retries_no_steps() {
        let mut p = policy(1);
        p.max_retries = 0;
        assert_eq!(p.backoff().next(), None);
    }
}
