//! Setting a store up: passwords in the URL, bad URLs, unreachable servers.

mod support;

use floodgate_core::{Costs, LeaseId, Limit, Scope, Unit, Window};
use floodgate_redis::{ConnectError, RedisConfig, RedisStore};
use floodgate_store::{DecideRequest, Store, Subjects};
use std::time::{Duration, Instant};
use support::RedisServer;

async fn one_decision(store: &RedisStore) -> bool {
    let limits = [Limit::new(
        Scope::Key,
        Unit::Requests,
        Window::MINUTE,
        5,
        "m",
    )];
    let request = DecideRequest {
        subjects: Subjects {
            key: "k",
            account: "a",
        },
        limits: &limits,
        costs: &Costs::one_request(),
        lease: LeaseId(1),
        abuse: None,
    };
    store.decide(&request).await.unwrap().allowed()
}

#[tokio::test]
async fn a_password_travels_in_the_url() {
    let server = RedisServer::start_with_args(&["--requirepass", "s3cret"]);
    let url = format!("redis://:s3cret@127.0.0.1:{}", server.port());
    let store = RedisStore::connect(&RedisConfig::single(url))
        .await
        .unwrap();
    assert!(one_decision(&store).await);

    let wrong = format!("redis://:nope@127.0.0.1:{}", server.port());
    let error = RedisStore::connect(&RedisConfig::single(wrong))
        .await
        .unwrap_err();
    assert!(matches!(error, ConnectError::Unreachable(_)), "{error}");
    assert!(
        !error.to_string().contains("nope"),
        "no password in errors: {error}"
    );
}

#[tokio::test]
async fn bad_urls_and_empty_clusters_are_refused() {
    let error = RedisStore::connect(&RedisConfig::single("http://127.0.0.1:1"))
        .await
        .unwrap_err();
    assert!(matches!(error, ConnectError::InvalidUrl { .. }), "{error}");
    let error = RedisStore::connect(&RedisConfig::cluster(Vec::<String>::new()))
        .await
        .unwrap_err();
    assert_eq!(error, ConnectError::NoNodes);
}

#[tokio::test]
async fn an_unreachable_server_fails_promptly() {
    let timeout = Duration::from_millis(200);
    let url = format!("redis://127.0.0.1:{}", support::free_port());
    let started = Instant::now();
    let error = RedisStore::connect(&RedisConfig::single(url).with_timeout(timeout))
        .await
        .unwrap_err();
    assert!(matches!(error, ConnectError::Unreachable(_)), "{error}");
    assert!(
        started.elapsed() <= timeout * 4 + Duration::from_millis(250),
        "took {:?}",
        started.elapsed()
    );
}
