//! A connection that goes silent while new ones would work (a frozen middlebox) is replaced
//! within about a second.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use ebb_redis::{Redis, RedisConfig};
use ebb_testkit::{FreezingProxy, RedisServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_replaced_and_commands_resume() {
    let server = RedisServer::start();
    let proxy = FreezingProxy::start(server.addr());
    let url = format!("redis://{}/", proxy.addr());
    let redis = Redis::new(&RedisConfig::from_url(&url).expect("url").with_timeout(Duration::from_millis(100)))
        .expect("handle");
    redis.ping().await.expect("ping before");

    // The control: a raw connection opened before the freeze never answers again, so the
    // handle's old connection is really dead and only a new one can help.
    let mut raw = std::net::TcpStream::connect(proxy.addr()).expect("raw");
    raw.write_all(b"PING\r\n").expect("write");
    let mut pong = [0u8; 7];
    raw.read_exact(&mut pong).expect("answered before the freeze");

    proxy.freeze();
    let frozen = Instant::now();
    let mut failures = 0;
    loop {
        match redis.ping().await {
            Ok(()) => break,
            Err(_) => failures += 1,
        }
        assert!(frozen.elapsed() < Duration::from_secs(2), "commands did not resume within 2 s");
    }
    eprintln!("resumed {:?} after the freeze ({failures} commands failed)", frozen.elapsed());
    assert!(failures >= 1, "the freeze was not felt: the test proved nothing");

    raw.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
    raw.write_all(b"PING\r\n").expect("write");
    assert!(raw.read_exact(&mut pong).is_err(), "the frozen connection answered: the proxy did not freeze it");
}
