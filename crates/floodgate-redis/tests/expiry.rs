//! A hash's TTL only ever grows, and both records of its expiry (`~e` in ms, and `~x` in
//! ns for instances of the previous version during a rolling upgrade) say what the TTL
//! says, so that no writer shortens a TTL that another set for longer-lived state.

mod support;

use floodgate_core::{Costs, LeaseId, Limit, Scope, Unit, Window};
use floodgate_redis::{RedisConfig, RedisStore};
use floodgate_store::{DecideRequest, Store, Subjects};
use support::RedisServer;

const SUBJECTS: Subjects<'static> = Subjects {
    key: "key-1",
    account: "acct-1",
};
const HASH: &str = "fg:{acct-1}:k:key-1";

async fn decide(store: &RedisStore) {
    let limits = [Limit::new(
        Scope::Key,
        Unit::Requests,
        Window::SECOND,
        10,
        "m1",
    )];
    let request = DecideRequest {
        subjects: SUBJECTS,
        limits: &limits,
        costs: &Costs::one_request(),
        lease: LeaseId(1),
        abuse: None,
    };
    assert!(store.decide(&request).await.unwrap().allowed());
}

fn number(text: &str) -> i64 {
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {text:?}"))
}

/// The server's time in ms and the hash's TTL, read in one script so that no time
/// passes between them.
fn clock_and_ttl(server: &RedisServer) -> (i64, i64) {
    let script = "local t = redis.call('TIME') \
                  return { t[1] * 1000 + math.floor(t[2] / 1000), redis.call('PTTL', KEYS[1]) }";
    let out = server.cli(&["eval", script, "1", HASH]);
    let mut lines = out.lines().map(number);
    let clock = lines.next().expect("the time");
    (clock, lines.next().expect("the TTL"))
}

#[tokio::test]
async fn both_expiry_records_match_the_ttl_and_a_longer_ttl_is_kept() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&RedisConfig::single(server.url()))
        .await
        .unwrap();
    decide(&store).await;

    // 100 ms of a 10-per-second limit, then 2 s: the TTL and both records agree.
    let (now_ms, ttl) = clock_and_ttl(&server);
    assert!((1..=2_100).contains(&ttl), "TTL {ttl} ms");
    let at_ms = number(&server.cli(&["hget", HASH, "~e"]));
    let at_ns = number(&server.cli(&["hget", HASH, "~x"]));
    assert!(
        (at_ns / 1_000_000 - at_ms).abs() <= 1,
        "~e = {at_ms} ms, ~x = {at_ns} ns"
    );
    assert!(
        (at_ms - (now_ms + ttl)).abs() <= 2,
        "~e {at_ms} ms is the TTL's end ({now_ms} + {ttl} ms)"
    );

    // Another writer gave the hash a longer TTL (longer-lived state) without recording
    // it in ~e: the next decision moves the expiry, and must not shorten the TTL.
    server.cli(&["hdel", HASH, "~e"]);
    server.cli(&["pexpire", HASH, "600000"]);
    decide(&store).await;
    let kept = number(&server.cli(&["pttl", HASH]));
    assert!(kept > 590_000, "the longer TTL was shortened to {kept} ms");
    assert!(
        server.cli(&["hexists", HASH, "~e"]).trim() == "1",
        "~e written again"
    );
}
