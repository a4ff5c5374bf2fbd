//! The store conformance suite, unchanged, against one real redis-server.

mod support;

use floodgate_redis::RedisConfig;
use std::sync::OnceLock;
use support::{RedisHarness, RedisServer};

/// One server for the whole suite: cases use subjects of their own.
fn server() -> &'static RedisServer {
    static SERVER: OnceLock<RedisServer> = OnceLock::new();
    SERVER.get_or_init(RedisServer::start)
}

floodgate_store::conformance_tests!(
    RedisHarness::connect(RedisConfig::single(server().url())).await
);
