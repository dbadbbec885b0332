//! Redis Sentinel: the handle finds the master through the sentinels, follows a failover
//! with one redial, and reaches a TLS set with a client certificate, with the master's
//! credentials and the sentinels' own.

#![cfg(feature = "sentinel")]

use std::time::{Duration, Instant};

use ebb_redis::redis;
use ebb_redis::{Redis, RedisConfig};
use ebb_testkit::RedisSentinel;

fn handle(set: &RedisSentinel) -> Redis {
    let env = set.env();
    let config = RedisConfig::from_lookup(|name| env.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()))
        .expect("valid")
        .expect("set")
        .with_timeout(Duration::from_millis(500));
    assert!(config.is_sentinel());
    Redis::new(&config).expect("handle")
}

async fn role(redis: &Redis) -> String {
    let info: String = redis.query(redis::cmd("INFO").arg("replication")).await.expect("info");
    info.lines().find_map(|line| line.strip_prefix("role:")).unwrap_or_default().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_follow_a_failover_to_the_new_master() {
    let mut set = RedisSentinel::start_with_sentinel_password();
    let redis = handle(&set);
    let _: i64 = redis.query(redis::cmd("INCR").arg("counter")).await.expect("incr on the master");
    assert_eq!(role(&redis).await, "master");
    // The replica has the write before the master dies.
    let _: i64 = redis.query(redis::cmd("WAIT").arg(1).arg(1000)).await.expect("wait");

    let old = set.kill_master();
    let killed = Instant::now();
    let mut failures = 0;
    let value: i64 = loop {
        match redis.query(redis::cmd("INCR").arg("counter")).await {
            Ok(value) => break value,
            Err(error) => {
                failures += 1;
                assert!(!error.to_string().contains("secret"), "{error}");
            }
        }
        // README says "about 2.5 s" (2.3–3.1 s measured); the bound is twice that.
        assert!(killed.elapsed() < Duration::from_secs(5), "no new master within 5 s ({failures} failures)");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("writes resumed {:?} after the master was killed ({failures} commands failed)", killed.elapsed());
    assert!(failures >= 1, "the failover was not felt: the test proved nothing");
    assert_eq!(value, 2, "the new master holds the acknowledged write");
    assert_ne!(set.master_addr(), old);
    assert_eq!(role(&redis).await, "master");
}

/// A requested failover keeps the old master alive and demotes it: the handle must leave it
/// (its writes would fail with READONLY) for the new master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demoted_master_is_left_for_the_new_one() {
    let set = RedisSentinel::start();
    let redis = handle(&set);
    let _: () = redis.query(redis::cmd("SET").arg("k").arg("v")).await.expect("set");
    let old = set.master_addr();
    set.failover();
    set.wait_for_new_master(old, Duration::from_secs(20));
    let started = Instant::now();
    loop {
        if redis.query::<()>(redis::cmd("SET").arg("k").arg("w")).await.is_ok() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "writes did not move to the new master");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(role(&redis).await, "master");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_set_with_client_certificates_is_reached() {
    let set = RedisSentinel::start_mutual_tls();
    let redis = handle(&set);
    // The first ping pays two TLS handshakes (a sentinel, then the master): on a busy
    // machine that can pass the 500 ms the failover tests need, so it may be retried.
    let started = std::time::Instant::now();
    while let Err(error) = redis.ping().await {
        assert!(started.elapsed() < Duration::from_secs(10), "ping over TLS through the sentinels: {error}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(role(&redis).await, "master");
    #[cfg(feature = "exclusive")]
    {
        let mut lane = redis.exclusive();
        let _: String = lane.query(&redis::cmd("PING")).await.expect("an exclusive connection too");
    }
}
