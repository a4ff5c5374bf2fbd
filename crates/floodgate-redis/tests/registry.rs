//! The admin registry on Redis: records written by one registry are read by another, each
//! change bumps the account's generation, and a decision made at an older generation is
//! refused as stale without consuming anything (also on a cluster, where a global limit's
//! reservation is given back).

mod support;

use floodgate_core::{Costs, LeaseId, Limit, Scope, Unit, Window};
use floodgate_redis::{RedisConfig, RedisRegistry, RedisStore};
use floodgate_registry::{AccountRecord, KeyRecord, Registry};
use floodgate_store::{DecideRequest, Store, StoreError, Subjects};
use std::sync::Arc;
use support::{RedisCluster, RedisServer};

const SUBJECTS: Subjects<'static> = Subjects {
    key: "key-1",
    account: "acct:{1}",
};

async fn guarded_decisions(config: RedisConfig) {
    let store = Arc::new(RedisStore::connect(&config).await.unwrap());
    let writer = RedisRegistry::new(Arc::clone(&store));
    let reader = RedisRegistry::new(Arc::new(RedisStore::connect(&config).await.unwrap()));
    assert!(writer.shared());

    let limits = [
        Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 2, "m"),
        Limit::new(Scope::Global, Unit::Requests, Window::MINUTE, 2, "m"),
    ];
    let request = DecideRequest {
        subjects: SUBJECTS,
        limits: &limits,
        costs: &Costs::one_request(),
        lease: LeaseId(1),
        abuse: None,
    };
    // No records yet: generation 0.
    assert!(store.decide_at(&request, 0).await.unwrap().allowed());

    writer
        .put_account(&AccountRecord {
            id: SUBJECTS.account.into(),
            tier: Some("premium".into()),
            overrides: None,
        })
        .await
        .unwrap();
    let key = KeyRecord {
        sha256: "ab".repeat(32),
        account: SUBJECTS.account.into(),
        name: "k".into(),
        overrides: None,
        revoked: false,
        created: 1,
    };
    writer.put_key(&key).await.unwrap();

    let fresh = reader.load_account(SUBJECTS.account).await.unwrap();
    assert_eq!(fresh.generation, 2, "one bump a change");
    assert_eq!(fresh.account.unwrap().tier.as_deref(), Some("premium"));
    assert_eq!(fresh.keys, std::slice::from_ref(&key));
    assert_eq!(
        reader.account_of_key(&key.sha256).await.unwrap().as_deref(),
        Some(SUBJECTS.account)
    );
    assert_eq!(reader.account_of_key(&"cd".repeat(32)).await.unwrap(), None);
    let all = reader.load().await.unwrap();
    assert_eq!(all.generations[SUBJECTS.account], 2);
    assert_eq!(all.keys.len(), 1);

    // Stale twice: nothing consumed, the global reservation given back.
    for stale in [0, 1] {
        assert_eq!(
            store.decide_at(&request, stale).await,
            Err(StoreError::Stale)
        );
    }
    let decision = store.decide_at(&request, 2).await.unwrap();
    assert!(decision.allowed());
    assert_eq!(
        decision.dimensions[0].remaining, 0,
        "two of two used: one before, one now"
    );
    assert_eq!(decision.dimensions[1].remaining, 0);
    // The plain decision ignores generations.
    assert!(!store.decide(&request).await.unwrap().allowed());
}

#[tokio::test]
async fn one_server_refuses_stale_decisions() {
    let server = RedisServer::start();
    guarded_decisions(RedisConfig::single(server.url())).await;
}

#[tokio::test]
async fn a_cluster_refuses_stale_decisions_and_gives_reservations_back() {
    let cluster = RedisCluster::start();
    guarded_decisions(RedisConfig::cluster(cluster.urls())).await;
}
