//! The memory store under real OS threads with the clock frozen: racing callers on one
//! key admit exactly the limit, and decisions spanning key, account and global subjects
//! (locked in shard order) never deadlock and stay exact in every scope.

use floodgate_core::{Costs, FakeClock, LeaseId, Limit, Scope, Unit, Window};
use floodgate_store::{DecideRequest, MemoryStore, Subjects};
use std::sync::{Arc, Barrier};
use std::thread;

const THREADS: usize = 8;

/// Runs `attempts` decisions on each of `THREADS` threads started together; `call` gets
/// the thread and attempt numbers and says whether it was admitted. Returns the admitted
/// count per thread.
fn race(attempts: usize, call: impl Fn(usize, usize) -> bool + Sync) -> Vec<usize> {
    let barrier = Barrier::new(THREADS);
    thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (barrier, call) = (&barrier, &call);
                s.spawn(move || {
                    barrier.wait();
                    (0..attempts).filter(|&i| call(t, i)).count()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread ran"))
            .collect()
    })
}

fn store() -> MemoryStore {
    MemoryStore::new(Arc::new(FakeClock::at_new_year()))
}

#[test]
fn threads_on_one_key_admit_exactly_max() {
    let store = store();
    let limits = [
        Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 1_000, "m"),
        Limit::new(Scope::Key, Unit::Tokens, Window::DAY, 1_000_000, "m"),
    ];
    let costs = Costs::zero().with(Unit::Requests, 1).with(Unit::Tokens, 7);
    let admitted = race(5_000, |_, _| {
        store
            .decide_now(&DecideRequest {
                subjects: Subjects {
                    key: "k",
                    account: "a",
                },
                limits: &limits,
                costs: &costs,
                lease: LeaseId(0),
                abuse: None,
            })
            .allowed()
    });
    assert_eq!(admitted.iter().sum::<usize>(), 1_000, "{admitted:?}");
    let seen = store.inspect_now(
        &Subjects {
            key: "k",
            account: "a",
        },
        &limits,
    );
    assert_eq!(seen.dimensions[0].remaining, 0);
    assert_eq!(seen.dimensions[1].remaining, 1_000_000 - 7_000);
}

#[test]
fn decisions_across_key_account_and_global_are_exact_and_never_deadlock() {
    const KEYS: usize = 64;
    const ACCOUNTS: usize = 8;
    let store = store();
    let limits = [
        Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 40, "m"),
        Limit::new(Scope::Account, Unit::Requests, Window::MINUTE, 250, "m"),
        Limit::new(Scope::Global, Unit::Requests, Window::DAY, 1_500, "m"),
    ];
    let keys: Vec<String> = (0..KEYS).map(|k| format!("key-{k}")).collect();
    let accounts: Vec<String> = (0..ACCOUNTS).map(|a| format!("account-{a}")).collect();
    let one = Costs::zero().with(Unit::Requests, 1);
    let subjects = |k: usize| Subjects {
        key: &keys[k],
        account: &accounts[k % ACCOUNTS],
    };
    // Each thread walks the keys in its own order, so lock sets overlap in every way.
    let admitted = race(4_000, |t, i| {
        let k = (i * (2 * t + 1) + t * 7) % KEYS;
        store
            .decide_now(&DecideRequest {
                subjects: subjects(k),
                limits: &limits,
                costs: &one,
                lease: LeaseId(0),
                abuse: None,
            })
            .allowed()
    });
    // 64 keys x 40 = 2,560 by key; 8 accounts x 250 = 2,000 by account; 1,500 globally.
    assert_eq!(admitted.iter().sum::<usize>(), 1_500, "{admitted:?}");
    let mut by_account = [0u64; ACCOUNTS];
    for k in 0..KEYS {
        let seen = store.inspect_now(&subjects(k), &limits);
        let used_by_key = seen.dimensions[0].used();
        assert!(used_by_key <= 40);
        by_account[k % ACCOUNTS] += used_by_key;
        assert_eq!(seen.dimensions[2].remaining, 0, "the global quota is spent");
    }
    for (a, used) in by_account.iter().enumerate() {
        let seen = store.inspect_now(&subjects(a), &limits);
        assert_eq!(
            seen.dimensions[1].used(),
            *used,
            "account {a} counts its keys' use"
        );
        assert!(*used <= 250);
    }
}
