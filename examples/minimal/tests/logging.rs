//! Logs as platforms ingest them (`EBB_LOG_FORMAT=json`), and the log filter changed at run
//! time through `/loglevel` on the metrics listener, never on the public port.

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::ffi::OsStrExt;
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

/// Requests for [`stuck_log`]: their access lines (about 150 bytes each) fill the pipe
/// (64 KiB), the test's reader buffer and the log writer's two buffers (2 x 256 KiB)
/// several times over.
const REQUESTS: usize = 8_000;

/// A service with the access log on and a 3 s shutdown deadline, sent [`REQUESTS`]
/// requests, each answered (a stuck writer would block the thread answering).
fn stuck_log(stall: bool) -> (ServiceProcess, reqwest::blocking::Client) {
    let env = [
        ("EBB_ACCESS_LOG", "true".to_owned()),
        ("EBB_SHUTDOWN_DELAY", "0s".to_owned()),
        ("EBB_SHUTDOWN_TIMEOUT", "3s".to_owned()),
    ];
    let service = ServiceProcess::start(BIN, &env);
    if stall {
        service.stall_log();
    }
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(2)).build().expect("client");
    for sent in 0..REQUESTS {
        match client.get(service.url("/")).send() {
            Ok(response) => assert_eq!(response.status(), 200, "request {sent}"),
            Err(error) => panic!("request {sent} not answered in 2 s: {error:?}"),
        }
    }
    (service, client)
}

fn dropped_lines(service: &ServiceProcess, client: &reqwest::blocking::Client) -> f64 {
    let text = client.get(service.metrics_url()).send().expect("scrape").text().expect("text");
    let line = text.lines().find(|line| line.starts_with("log_lines_dropped_total ")).expect("the counter");
    line.rsplit(' ').next().and_then(|value| value.parse().ok()).expect("a number")
}

/// A log pipe nobody drains (a stalled log agent) costs log lines, counted, never the
/// process: every request is answered, `/livez` answers, and SIGTERM ends it within the
/// deadline. (Without the bounded writer, the runtime threads block in `write(2)` and the
/// process outlives a 3 s deadline by more than 15 s: see the negative control in
/// `ebb-server`'s `logging::writer` tests.)
#[test]
fn a_log_pipe_nobody_reads_costs_lines_not_the_process() {
    let (mut service, client) = stuck_log(true);
    assert!(dropped_lines(&service, &client) > 0.0, "the lines that did not fit are counted");
    let livez = client.get(format!("http://{}/livez", service.metrics)).send().expect("/livez answers");
    assert_eq!(livez.status(), 200);
    service.signal("TERM");
    let exit = service.wait_exit(Duration::from_secs(15));
    assert_eq!(exit.code, Some(0), "{exit:?}");
    assert!(exit.elapsed < Duration::from_secs(4), "within the deadline and the watchdog's grace: {exit:?}");
}

/// Control: the same load with the log drained loses no line.
#[test]
fn a_drained_log_pipe_gets_every_line() {
    let (mut service, client) = stuck_log(false);
    assert_eq!(dropped_lines(&service, &client), 0.0);
    service.signal("TERM");
    assert_eq!(service.wait_exit(Duration::from_secs(10)).code, Some(0));
    let access_lines =
        || service.log().lines().filter(|line| line.contains("access") && line.contains("status=200")).count();
    poll_until("every access line", Duration::from_secs(5), || (access_lines() == REQUESTS).then_some(()));
}

/// A `RUST_LOG` that is not a filter stops the start (it used to be ignored: the process
/// logged at `info`), as does one that is not UTF-8; control: a valid one starts.
#[test]
fn a_bad_rust_log_stops_the_start() {
    let (exit, log) =
        ServiceProcess::run_to_exit(BIN, &[("RUST_LOG", "info,ebb_server=[{".to_owned())], Duration::from_secs(10));
    assert_eq!(exit.code, Some(78), "{log}");
    assert!(log.contains("RUST_LOG=\"info,ebb_server=[{\" is invalid: expected comma-separated directives"), "{log}");

    let not_utf8 = std::process::Command::new(BIN)
        .env("RUST_LOG", std::ffi::OsStr::from_bytes(b"info,\xff"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&not_utf8.stderr);
    assert_eq!(not_utf8.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("RUST_LOG is invalid (value not shown): expected UTF-8"), "{stderr}");

    let service = ServiceProcess::start(BIN, &[("RUST_LOG", "info,ebb_server=debug,hyper=warn".to_owned())]);
    assert_eq!(log_level(&service, reqwest::Method::GET, "").1, "ebb_server=debug,hyper=warn,info\n");
}
