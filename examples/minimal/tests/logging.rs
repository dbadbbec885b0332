//! Logs as platforms ingest them (`EBB_LOG_FORMAT=json`), and the log filter changed at run
//! time through `/loglevel` on the metrics listener, never on the public port.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use ebb_testkit::{ServiceProcess, poll_until};

const BIN: &str = env!("CARGO_BIN_EXE_example-minimal");
/// What the listener logs at debug level when a connection sends something that is not HTTP.
const DEBUG_LINE: &str = "connection ended with an error";

fn start() -> ServiceProcess {
    let env = [
        ("EBB_LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "info".to_owned()),
        ("EBB_SHUTDOWN_DELAY", "0s".to_owned()),
    ];
    ServiceProcess::start(BIN, &env)
}

/// A connection that sends garbage: hyper refuses it, and the listener logs that at debug.
fn send_garbage(service: &ServiceProcess) {
    let mut stream = TcpStream::connect(service.app).expect("connect");
    let _ = stream.write_all(b"NOT HTTP AT ALL\r\n\r\n");
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = std::io::Read::read(&mut stream, &mut [0u8; 256]);
}

fn log_level(service: &ServiceProcess, method: reqwest::Method, body: &str) -> (u16, String) {
    let url = format!("http://{}/loglevel", service.metrics);
    let response =
        reqwest::blocking::Client::new().request(method, url).body(body.to_owned()).send().expect("loglevel");
    (response.status().as_u16(), response.text().expect("body"))
}

#[test]
fn json_lines_carry_the_fields() {
    let service = start();
    let log = service.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON line: {line}")))
        .collect();
    let listening = lines.iter().find(|line| line["fields"]["message"] == "listening").expect("the listening line");
    assert_eq!(listening["level"], "INFO");
    assert_eq!(listening["fields"]["app_addr"], service.app.to_string());
    assert!(listening["timestamp"].is_string(), "{listening}");
}

#[test]
fn the_log_filter_changes_at_run_time_on_the_metrics_port_only() {
    let service = start();
    assert_eq!(log_level(&service, reqwest::Method::GET, ""), (200, "info\n".to_owned()));
    send_garbage(&service);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!service.log().contains(DEBUG_LINE), "a debug line at info:\n{}", service.log());

    assert_eq!(log_level(&service, reqwest::Method::PUT, "debug"), (200, "debug\n".to_owned()));
    send_garbage(&service);
    poll_until("the debug line", Duration::from_secs(5), || service.log().contains(DEBUG_LINE).then_some(()));

    assert_eq!(log_level(&service, reqwest::Method::PUT, "info").0, 200);
    let seen = service.log().matches(DEBUG_LINE).count();
    send_garbage(&service);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(service.log().matches(DEBUG_LINE).count(), seen, "debug lines after going back to info");

    assert!(service.log().contains("log filter replaced"), "the change itself is logged:\n{}", service.log());
    let (status, _) = log_level(&service, reqwest::Method::PUT, &"x".repeat(5000));
    assert_eq!(status, 413, "a directive is a line, not a document");
    let (status, text) = log_level(&service, reqwest::Method::PUT, "ebb_server=[{");
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("not a RUST_LOG directive"), "{text}");
    assert_eq!(log_level(&service, reqwest::Method::GET, "").1, "info\n", "a refused directive changes nothing");
    // Not on the public port.
    let public = reqwest::blocking::Client::new()
        .put(format!("http://{}/loglevel", service.app))
        .body("trace")
        .send()
        .expect("public port");
    assert_eq!(public.status().as_u16(), 404);
}
