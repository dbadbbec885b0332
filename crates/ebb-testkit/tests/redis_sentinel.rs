//! The Sentinel set really fails over: a killed master is replaced by its replica within
//! seconds, a restarted node rejoins, and the TLS and password variants start.

use std::time::{Duration, Instant};

use ebb_testkit::RedisSentinel;

#[test]
fn a_killed_master_is_replaced_by_its_replica_and_rejoins_as_one() {
    let mut set = RedisSentinel::start();
    assert_eq!(set.master_name(), "mymaster");
    let [first, replica] = set.data_addrs()[..] else { panic!("a master and a replica") };
    assert_eq!(set.master_addr(), first, "the first node is the master the sentinels name");
    assert_eq!(set.urls().split(',').count(), 3);
    assert!(set.urls().split(',').all(|url| url.starts_with("redis://127.0.0.1:")), "{}", set.urls());
    let env = set.env();
    assert!(env.contains(&("REDIS_SENTINEL_URLS", set.urls())));
    assert!(env.contains(&("REDIS_SENTINEL_MASTER", "mymaster".to_owned())));

    // Written on the master and acknowledged by the replica, so the promotion keeps it.
    assert_eq!(set.data_command(first, &["SET", "survivor", "yes"]).as_deref(), Some("OK"));
    assert_eq!(set.data_command(first, &["WAIT", "1", "2000"]).as_deref(), Some("1"));

    let killed = set.kill_master();
    assert_eq!(killed, first);
    let started = Instant::now();
    let promoted = set.wait_for_new_master(killed, Duration::from_secs(15));
    let took = started.elapsed();
    eprintln!("sentinel failover after SIGKILL took {took:?} (down-after 1 s)");
    assert_eq!(promoted, replica);
    assert_eq!(set.data_command(promoted, &["GET", "survivor"]).as_deref(), Some("yes"));
    assert!(took < Duration::from_secs(10), "failover took {took:?}");

    // The old master comes back as a replica, and a requested failover hands it the role again.
    let started = Instant::now();
    set.restart(killed);
    eprintln!("the old master rejoined as a replica in {:?}", started.elapsed());
    assert_eq!(set.master_addr(), promoted);
    let started = Instant::now();
    set.failover();
    assert_eq!(set.wait_for_new_master(promoted, Duration::from_secs(15)), killed);
    eprintln!("requested SENTINEL FAILOVER took {:?}", started.elapsed());
}

#[test]
fn tls_sentinels_name_a_tls_master() {
    let set = RedisSentinel::start_tls();
    assert!(set.urls().split(',').all(|url| url.starts_with("rediss://ebb-app:")), "TLS URLs");
    let ca = set.ca_file().expect("a CA");
    assert!(set.env().contains(&("EBB_REDIS_CA_FILE", ca.display().to_string())));
    let master = set.master_addr();
    assert_eq!(set.data_command(master, &["SET", "over", "tls"]).as_deref(), Some("OK"));
    // Replication runs over TLS as well.
    assert_eq!(set.data_command(master, &["WAIT", "1", "2000"]).as_deref(), Some("1"));
}

#[test]
fn mutual_tls_sentinels_require_a_client_certificate() {
    let set = RedisSentinel::start_mutual_tls();
    let (cert, _) = set.client_certificate().expect("a client certificate");
    assert!(set.env().contains(&("EBB_REDIS_CLIENT_CERT_FILE", cert.display().to_string())));
    let master = set.master_addr();
    assert_eq!(set.data_command(master, &["PING"]).as_deref(), Some("PONG"));
    // Negative control: the same sentinel without a client certificate is refused.
    let sentinel = set.sentinel_addrs()[0];
    let refused = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &sentinel.port().to_string(), "--tls", "--cacert"])
        .arg(set.ca_file().expect("a CA"))
        .arg("PING")
        .output()
        .expect("redis-cli");
    assert!(
        !String::from_utf8_lossy(&refused.stdout).contains("PONG"),
        "a sentinel answered without a client certificate"
    );
}

#[test]
fn passwords_guard_the_master_and_the_sentinels_apart() {
    let set = RedisSentinel::start_with_sentinel_password();
    assert!(set.urls().split(',').all(|url| url.starts_with("redis://:data-s3cret")), "the master's password");
    assert!(set.env().contains(&("REDIS_SENTINEL_PASSWORD", ebb_testkit::SENTINEL_OWN_PASSWORD.to_owned())));
    let master = set.master_addr();
    assert_eq!(set.data_command(master, &["PING"]).as_deref(), Some("PONG"));
    // Negative control: without the password the sentinel refuses.
    let sentinel = set.sentinel_addrs()[0];
    let refused = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &sentinel.port().to_string(), "PING"])
        .output()
        .expect("redis-cli");
    assert!(String::from_utf8_lossy(&refused.stdout).contains("NOAUTH"), "a sentinel answered without its password");
}

#[test]
fn a_password_guards_the_master_while_the_sentinels_stay_open() {
    let set = RedisSentinel::start_with_password();
    assert!(!set.env().iter().any(|(key, _)| *key == "REDIS_SENTINEL_PASSWORD"), "the sentinels need none");
    let master = set.master_addr();
    assert_eq!(set.data_command(master, &["PING"]).as_deref(), Some("PONG"));
    // Negative control: without the password the master refuses.
    let refused = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &master.port().to_string(), "PING"])
        .output()
        .expect("redis-cli");
    assert!(String::from_utf8_lossy(&refused.stdout).contains("NOAUTH"), "the master answered without its password");
}
