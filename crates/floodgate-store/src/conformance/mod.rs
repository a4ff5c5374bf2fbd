//! The store conformance suite: one set of cases that every [`Store`] must pass.
//!
//! A backend's test file implements [`Harness`] (or uses [`MemoryHarness`]) and expands
//! [`conformance_tests!`](crate::conformance_tests) once, which writes one `#[tokio::test]`
//! per case:
//!
//! ```text
//! floodgate_store::conformance_tests!(floodgate_store::conformance::MemoryHarness::fake());
//! ```
//!
//! The harness expression is evaluated inside each async test, so it may `.await`. The
//! test crate needs `tokio` (with `macros` and `rt-multi-thread`) as a dev-dependency.
//!
//! Every case works whether the store's clock is a fake that only moves when told or a
//! server's real clock: windows are short (1 s rolling limits, 1 s lease TTLs, 1 s blocks)
//! and the harness advances just past them, while exact counts are taken on limits whose
//! refill interval (at least 3.6 s a unit) dwarfs the few milliseconds a case's calls
//! take. A whole run against a real clock sleeps about 6 s in total. Subjects and buckets
//! are unique per case and per process, so cases may share one backend, even a server
//! that outlives the run.

mod cases_decide;
mod cases_leases;
mod cases_scopes;
mod cases_settle;
mod memory;

pub use cases_decide::{
    admits_exactly_max_then_denies, calendar_reset_is_reported, cost_above_max_never_fits,
    denial_names_the_longest_wait, rejection_consumes_nothing_in_any_dimension,
    rolling_limit_refills_after_the_window,
};
pub use cases_leases::{
    abuse_blocks_after_too_many_failures, abuse_failures_spread_out_never_block,
    lease_transfer_keeps_the_slot_under_the_new_id, leases_acquire_deny_release_renew_expire,
};
pub use cases_scopes::{
    account_limits_are_shared_by_its_keys, concurrent_callers_admit_exactly_max,
    keys_never_see_each_others_usage, shadow_limits_never_deny,
};
pub use cases_settle::{inspect_consumes_nothing_and_matches_decide, settle_refunds_and_charges};
pub use memory::MemoryHarness;

use crate::request::{DecideRequest, Inspection, Subjects};
use crate::store::Store;
use async_trait::async_trait;
use floodgate_core::{AbuseRule, Costs, Decision, LeaseId, Limit, Nanos, Scope, Unit, Window};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a backend's test provides to run the suite.
#[async_trait]
pub trait Harness: Send + Sync {
    /// The store under test (the same one on every call).
    fn store(&self) -> Arc<dyn Store>;

    /// Moves the store's clock forward by at least `by`: a fake clock is advanced, a
    /// server clock is waited for.
    async fn advance(&self, by: Duration);

    /// Whether the store's clock stands still between [`advance`](Self::advance) calls.
    /// When it does not, cases allow [`REAL_TIME_SLACK`] on times they read back.
    fn frozen(&self) -> bool;
}

/// How far a real clock may move during the few calls a case checks one time over.
pub const REAL_TIME_SLACK: Duration = Duration::from_millis(250);

/// Expands into one `#[tokio::test]` per conformance case, each running on a harness
/// built by the given expression (evaluated in the async test, so it may `.await`).
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr) => {
        $crate::conformance_tests!(@cases $harness;
            admits_exactly_max_then_denies,
            rejection_consumes_nothing_in_any_dimension,
            denial_names_the_longest_wait,
            cost_above_max_never_fits,
            rolling_limit_refills_after_the_window,
            calendar_reset_is_reported,
            settle_refunds_and_charges,
            inspect_consumes_nothing_and_matches_decide,
            leases_acquire_deny_release_renew_expire,
            lease_transfer_keeps_the_slot_under_the_new_id,
            abuse_blocks_after_too_many_failures,
            abuse_failures_spread_out_never_block,
            shadow_limits_never_deny,
            keys_never_see_each_others_usage,
            account_limits_are_shared_by_its_keys,
            concurrent_callers_admit_exactly_max
        );
    };
    (@cases $harness:expr; $($case:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let harness = $harness;
                $crate::conformance::$case(&harness).await;
            }
        )+
    };
}

/// One case's view of the store: its own subjects and bucket, and short-hand calls.
pub(crate) struct Case<'h, H: Harness + ?Sized> {
    pub(crate) harness: &'h H,
    pub(crate) store: Arc<dyn Store>,
    /// A key unique to this case and run.
    pub(crate) key: String,
    /// The key's account, unique to this case and run.
    pub(crate) account: String,
    /// Bucket of every limit, so global counters are unique to the case too.
    pub(crate) bucket: String,
}

impl<'h, H: Harness + ?Sized> Case<'h, H> {
    pub(crate) fn new(harness: &'h H, name: &str) -> Self {
        let unique = unique(name);
        Self {
            harness,
            store: harness.store(),
            key: format!("{unique}-key"),
            account: format!("{unique}-account"),
            bucket: format!("{unique}-model"),
        }
    }

    pub(crate) fn subjects(&self) -> Subjects<'_> {
        Subjects {
            key: &self.key,
            account: &self.account,
        }
    }

    /// A limit on this case's bucket.
    pub(crate) fn limit(&self, scope: Scope, unit: Unit, window: Window, max: u64) -> Limit {
        Limit::new(scope, unit, window, max, &self.bucket)
    }

    /// A limit on a second bucket of this case, for two limits of one (unit, window).
    pub(crate) fn limit_in(
        &self,
        bucket: &str,
        scope: Scope,
        unit: Unit,
        window: Window,
        max: u64,
    ) -> Limit {
        Limit::new(
            scope,
            unit,
            window,
            max,
            &format!("{}-{bucket}", self.bucket),
        )
    }

    pub(crate) async fn decide(&self, limits: &[Limit], costs: Costs) -> Decision {
        self.decide_as(self.subjects(), limits, costs, LeaseId(0), None)
            .await
    }

    pub(crate) async fn decide_as(
        &self,
        subjects: Subjects<'_>,
        limits: &[Limit],
        costs: Costs,
        lease: LeaseId,
        abuse: Option<&AbuseRule>,
    ) -> Decision {
        let request = DecideRequest {
            subjects,
            limits,
            costs: &costs,
            lease,
            abuse,
        };
        self.store.decide(&request).await.expect("store answers")
    }

    pub(crate) async fn inspect(&self, limits: &[Limit]) -> Inspection {
        self.inspect_as(self.subjects(), limits).await
    }

    pub(crate) async fn inspect_as(&self, subjects: Subjects<'_>, limits: &[Limit]) -> Inspection {
        self.store
            .inspect(&subjects, limits)
            .await
            .expect("store answers")
    }

    /// The remaining units of each dimension, read without consuming.
    pub(crate) async fn remaining(&self, limits: &[Limit]) -> Vec<u64> {
        remaining_of(&self.inspect(limits).await.dimensions)
    }

    /// Tolerance on times read back: none on a frozen clock.
    pub(crate) fn slack(&self) -> Nanos {
        if self.harness.frozen() {
            0
        } else {
            nanos(REAL_TIME_SLACK)
        }
    }

    /// Asserts `actual` is `expected` less at most the slack (time only shortens waits).
    pub(crate) fn assert_wait(&self, actual: Option<Nanos>, expected: Nanos, what: &str) {
        let actual = actual.unwrap_or_else(|| panic!("{what}: expected a wait, got none"));
        assert!(
            actual <= expected && actual + self.slack() >= expected,
            "{what}: wait {actual} ns, expected {expected} ns (slack {} ns)",
            self.slack()
        );
    }
}

/// A name no other case or run uses.
fn unique(name: &str) -> String {
    static RUN: OnceLock<u64> = OnceLock::new();
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let run = *RUN.get_or_init(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{name}-{}-{run:x}-{seq}", std::process::id())
}

pub(crate) fn remaining_of(dimensions: &[floodgate_core::DimensionStatus]) -> Vec<u64> {
    dimensions.iter().map(|d| d.remaining).collect()
}

pub(crate) fn nanos(d: Duration) -> Nanos {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A request costing `n` of `unit` and nothing else.
pub(crate) fn cost(unit: Unit, n: u64) -> Costs {
    Costs::zero().with(unit, n)
}

/// Rolling one-hour window: a unit refills every 3.6 s or more for maxima up to 1,000,
/// so counts read back stay exact however slow the backend is.
pub(crate) const HOUR: Window = Window::HOUR;

/// A rolling window of one second, short enough to wait out on a real clock.
pub(crate) const ONE_SECOND: Window = Window::SECOND;

/// Just past one second: what cases advance to see a 1 s window or TTL pass.
pub(crate) const PAST_ONE_SECOND: Duration = Duration::from_millis(1_100);
