//! Exclusive connections: a blocking read on one never delays the shared connection, and a
//! read the caller gave up on is closed with its connection, so it swallows no entry. Each
//! claim has its control: the same thing done the unprotected way fails.

use std::time::Duration;

use ebb_redis::redis::streams::StreamReadReply;
use ebb_redis::redis::{self, Cmd};
use ebb_redis::{Error, Redis, RedisConfig};
use ebb_testkit::RedisServer;

const STREAM: &str = "ebb:{exclusive-test}";
const GROUP: &str = "workers";

fn handle(server: &RedisServer) -> Redis {
    let config = RedisConfig::from_url(&server.url()).expect("url").with_timeout(Duration::from_millis(500));
    Redis::new(&config).expect("handle")
}

async fn create_group(redis: &Redis) {
    let mut create = redis::cmd("XGROUP");
    create.arg("CREATE").arg(STREAM).arg(GROUP).arg("$").arg("MKSTREAM");
    redis.query::<()>(&create).await.expect("group");
}

fn read(consumer: &str, block: Duration) -> Cmd {
    let mut read = redis::cmd("XREADGROUP");
    read.arg("GROUP").arg(GROUP).arg(consumer).arg("COUNT").arg(1);
    read.arg("BLOCK").arg(u64::try_from(block.as_millis()).expect("ms")).arg("STREAMS").arg(STREAM).arg(">");
    read
}

async fn add(redis: &Redis, job: &str) {
    redis.query::<String>(redis::cmd("XADD").arg(STREAM).arg("*").arg("job").arg(job)).await.expect("xadd");
}

fn jobs(reply: Option<StreamReadReply>) -> usize {
    reply.map_or(0, |reply| reply.keys.iter().map(|key| key.ids.len()).sum())
}

async fn pending_of(redis: &Redis, consumer: &str) -> u64 {
    let mut pending = redis::cmd("XPENDING");
    pending.arg(STREAM).arg(GROUP).arg("-").arg("+").arg(10).arg(consumer);
    let entries: Vec<redis::Value> = redis.query(&pending).await.expect("xpending");
    entries.len() as u64
}

/// Waits (at most 3 s) until the server counts `count` blocked clients.
async fn blocked_clients(redis: &Redis, count: usize) {
    let needle = format!("blocked_clients:{count}\r");
    let reached = async {
        loop {
            let info: String = redis.query(redis::cmd("INFO").arg("clients")).await.expect("info");
            if info.contains(&needle) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(3), reached).await.expect("blocked clients within 3 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_answer_while_eight_exclusive_reads_block() {
    let server = RedisServer::start();
    let redis = handle(&server);
    create_group(&redis).await;
    let block = Duration::from_secs(5);
    let mut readers = tokio::task::JoinSet::new();
    for n in 0..8 {
        let mut lane = redis.exclusive();
        readers.spawn(
            async move { lane.blocking::<Option<StreamReadReply>>(&read(&format!("c{n}"), block), block).await },
        );
    }
    blocked_clients(&redis, 8).await;
    for _ in 0..100 {
        redis.ping().await.expect("a PING answers on the shared connection");
    }
    // Ordering, not timing: every PING was answered while the reads still blocked.
    assert_eq!(readers.len(), 8);
    assert!(readers.try_join_next().is_none(), "a blocking read ended before the pings: the test proved nothing");
    for n in 0..8 {
        add(&redis, &format!("job-{n}")).await;
    }
    let mut taken = 0;
    while let Some(outcome) = readers.join_next().await {
        taken += jobs(outcome.expect("task").expect("read"));
    }
    assert_eq!(taken, 8, "each blocked reader took one job");
}

/// The control: the same blocking read on the shared multiplexed connection holds up the
/// PING queued behind it until the read ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_a_blocking_read_on_the_shared_connection_stalls_it() {
    let server = RedisServer::start();
    let redis = handle(&server);
    create_group(&redis).await;
    let mut shared = redis.connection().await.expect("shared connection");
    let block = Duration::from_millis(1500);
    let reader = tokio::spawn(async move {
        let _: Option<StreamReadReply> = read("c0", block).query_async(&mut shared).await.expect("read");
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let asked = std::time::Instant::now();
    let ping = redis.run(Duration::from_secs(5), async |c| redis::cmd("PING").query_async::<String>(c).await).await;
    // A lower bound only: the server holds the read for 1.5 s, the PING queued behind it.
    let waited = asked.elapsed();
    assert!(waited >= Duration::from_secs(1), "the PING was answered after {waited:?}, while the read blocked");
    ping.expect("the PING answers after the read");
    reader.await.expect("reader");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_read_is_closed_so_it_swallows_no_entry() {
    let server = RedisServer::start();
    let redis = handle(&server);
    create_group(&redis).await;
    let mut lane = redis.exclusive();
    let block = Duration::from_secs(10);
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        lane.blocking::<Option<StreamReadReply>>(&read("a", block), block),
    )
    .await;
    assert!(gave_up.is_err(), "the read was still blocked when abandoned");
    // The server drops the read with its connection.
    blocked_clients(&redis, 0).await;
    add(&redis, "job-1").await;
    let taken =
        lane.blocking::<Option<StreamReadReply>>(&read("b", Duration::from_secs(1)), Duration::from_secs(1)).await;
    assert_eq!(jobs(taken.expect("the lane reconnects")), 1, "the next reader got the entry");
    assert_eq!(pending_of(&redis, "a").await, 0, "nothing went to the abandoned read");

    // A read that times out on the client is closed as well (Redis frozen for longer than
    // the lane's bound): the lane answers on a new connection, and the old one is gone. (A
    // read the frozen server already holds may still take an entry as it wakes: TCP cannot
    // recall a sent command. That entry stays pending until its lease runs out and is then
    // taken over, as a dead consumer's would be.)
    let before: i64 = lane.query(&redis::cmd("CLIENT").arg("ID").to_owned()).await.expect("client id");
    let short = Duration::from_millis(100);
    server.pause();
    let timed_out = lane.blocking::<Option<StreamReadReply>>(&read("a", short), short).await;
    server.resume();
    assert!(matches!(timed_out, Err(Error::Timeout(_))), "{timed_out:?}");
    let after: i64 = lane.query(&redis::cmd("CLIENT").arg("ID").to_owned()).await.expect("client id");
    assert_ne!(before, after, "the lane reused the connection of a read it gave up on");
    let closed = async {
        loop {
            let list: String = redis.query(redis::cmd("CLIENT").arg("LIST")).await.expect("client list");
            if !list.lines().any(|line| line.starts_with(&format!("id={before} "))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(3), closed).await.expect("the old connection was closed");
}

/// The control: a connection kept open after its read was abandoned keeps the read alive on
/// the server, which hands the next entry to nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_an_abandoned_read_on_a_kept_connection_swallows_the_next_entry() {
    let server = RedisServer::start();
    let redis = handle(&server);
    create_group(&redis).await;
    let client = redis::Client::open(server.url()).expect("client");
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let mut kept = client.get_multiplexed_async_connection_with_config(&config).await.expect("connect");
    let block = Duration::from_secs(10);
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        read("a", block).query_async::<Option<StreamReadReply>>(&mut kept),
    )
    .await;
    assert!(gave_up.is_err());
    add(&redis, "job-1").await;
    let taken: Option<StreamReadReply> = redis.query(&read("b", Duration::from_millis(200))).await.unwrap_or(None);
    assert_eq!(jobs(taken), 0, "the entry reached the next reader: the control shows no swallowed entry");
    assert_eq!(pending_of(&redis, "a").await, 1, "the abandoned read took the entry");
    drop(kept);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_is_bounded_and_says_so() {
    let server = RedisServer::start();
    let config = RedisConfig::from_url(&server.url())
        .expect("url")
        .with_timeout(Duration::from_millis(300))
        .with_exclusive_connections(1);
    let redis = Redis::new(&config).expect("handle");
    let mut first = redis.exclusive();
    let _: String = first.query(&redis::cmd("PING")).await.expect("first holds the only connection");
    let mut second = redis.exclusive();
    let refused = second.query::<String>(&redis::cmd("PING")).await.expect_err("no second connection");
    assert!(refused.to_string().contains("all 1 exclusive connections"), "{refused}");
    drop(first);
    let _: String = second.query(&redis::cmd("PING")).await.expect("the returned connection is reused");
}
