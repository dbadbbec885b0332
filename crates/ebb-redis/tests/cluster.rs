//! A real 6-node Redis Cluster: routing by slot, scripts on every master, failover.

use std::time::{Duration, Instant};

use ebb_redis::{Redis, RedisConfig, redis};
use ebb_testkit::RedisCluster;

fn handle(cluster: &RedisCluster) -> Redis {
    let env = cluster.env();
    let config = RedisConfig::from_lookup(|name| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
        .unwrap_or_else(|errors| panic!("{errors:?}"))
        .expect("configured");
    assert!(config.is_cluster());
    Redis::new(&config).expect("handle")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_scripts_and_transactions_follow_their_slots() {
    let cluster = RedisCluster::start();
    let redis = handle(&cluster);
    assert!(redis.is_cluster());
    for i in 0..200 {
        redis.query::<()>(redis::cmd("SET").arg(format!("key-{i}")).arg(i)).await.expect("set");
    }
    for i in (0..200).step_by(17) {
        let value: i64 = redis.query(redis::cmd("GET").arg(format!("key-{i}"))).await.expect("get");
        assert_eq!(value, i);
    }
    // A script on keys of every master: loaded on NOSCRIPT wherever it runs.
    let script = redis::Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    for i in 0..30 {
        let mut invocation = script.key(format!("counter-{i}"));
        invocation.arg(2);
        let value: i64 = redis.invoke(&invocation, Duration::from_secs(2)).await.expect("script");
        assert_eq!(value, 2);
    }
    // A transaction over hash-tagged keys stays in one slot.
    let mut pipe = redis::pipe();
    pipe.atomic().incr("queue:{jobs}:a", 1).incr("queue:{jobs}:b", 1);
    let (a, b): (i64, i64) =
        redis.run(Duration::from_secs(2), async |c| pipe.query_async(c).await).await.expect("transaction");
    assert_eq!((a, b), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_resume_within_seconds_when_a_master_dies() {
    let mut cluster = RedisCluster::start();
    let redis = handle(&cluster);
    redis.query::<()>(redis::cmd("SET").arg("survivor").arg("yes")).await.expect("set");
    let victim = cluster.master_of("survivor");
    cluster.kill(victim);
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(20);
    loop {
        match redis.query::<()>(redis::cmd("SET").arg("survivor").arg("again")).await {
            Ok(()) => break,
            Err(error) => eprintln!("{:?} after the kill: {error}", killed.elapsed()),
        }
        assert!(Instant::now() < deadline, "writes did not resume within 20 s of the master's death");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("writes resumed {:?} after the master died", killed.elapsed());
    assert_ne!(cluster.master_of("survivor"), victim, "a replica was promoted");
}
