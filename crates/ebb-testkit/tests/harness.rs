//! The harness's servers really start, answer, stop and restart.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ebb_testkit::{RedisServer, S3Server};

fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("write");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

#[test]
fn redis_answers_and_restarts_on_the_same_port() {
    let mut redis = RedisServer::start();
    assert!(redis.url().starts_with("redis://127.0.0.1:"));
    let addr = redis.addr();
    redis.stop();
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err(), "stopped means gone");
    redis.restart();
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok());
}

#[test]
fn s3_refuses_unsigned_requests() {
    let s3 = S3Server::start(&["ebb-test"]);
    let response = http_get(s3.addr(), "/ebb-test/some-key");
    assert!(response.starts_with("HTTP/1.1 403"), "SigV4 must be enforced: {response}");
    assert!(s3.env("ebb-test").iter().any(|(key, value)| *key == "AWS_ENDPOINT" && *value == s3.endpoint()));
}
