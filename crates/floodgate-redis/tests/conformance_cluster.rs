//! The store conformance suite, unchanged, against a real 3-primary Redis Cluster.

mod support;

use floodgate_redis::RedisConfig;
use std::sync::OnceLock;
use support::{RedisCluster, RedisHarness};

/// One cluster for the whole suite: cases use subjects of their own.
fn cluster() -> &'static RedisCluster {
    static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
    CLUSTER.get_or_init(RedisCluster::start)
}

floodgate_store::conformance_tests!(
    RedisHarness::connect(RedisConfig::cluster(cluster().urls())).await
);
