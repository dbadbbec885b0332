//! Request ids and trace context in the logs, as platforms read them: JSON lines captured
//! from the process. Secrets in `authorization` and `cookie` never reach a log line; the
//! search for them first finds a value planted where it must be logged, so a search that
//! cannot find anything (an empty capture, a wrong needle) fails.

use ebb_testkit::ServiceProcess;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_example-minimal");
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SECRET_TOKEN: &str = "sekrit-token-5d1f0c";
const SECRET_COOKIE: &str = "sekrit-cookie-9a7e21";
/// Shaped like the secrets, sent as the request id of the same request: its access line
/// must hold it.
const PLANTED: &str = "sekrit-planted-3c9b07";

fn start(extra: &[(&'static str, &str)]) -> ServiceProcess {
    let mut env = vec![
        ("EBB_LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "debug".to_owned()),
        ("EBB_SHUTDOWN_DELAY", "0s".to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    ServiceProcess::start(BIN, &env)
}

fn access_lines(service: &ServiceProcess) -> Vec<Value> {
    service
        .log()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["target"] == "access")
        .collect()
}

fn wait_for_access_lines(service: &ServiceProcess, count: usize) -> Vec<Value> {
    ebb_testkit::poll_until("the access log lines", std::time::Duration::from_secs(5), || {
        let lines = access_lines(service);
        (lines.len() >= count).then_some(lines)
    })
}

#[test]
fn the_request_id_and_trace_id_are_echoed_and_in_every_line_and_secrets_are_in_none() {
    let service = start(&[("EBB_ACCESS_LOG", "true"), ("EBB_REQUEST_TIMEOUT", "200ms")]);
    let client = reqwest::blocking::Client::new();
    let response = client
        .get(service.url("/"))
        .header("x-request-id", PLANTED)
        .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
        .header("authorization", format!("Bearer {SECRET_TOKEN}"))
        .header("cookie", format!("session={SECRET_COOKIE}"))
        .send()
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], PLANTED);

    // No id: one is made, and answered.
    let made = client.get(service.url("/")).send().expect("request");
    let made_id = made.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    assert!(made_id.len() == 32 && made_id.bytes().all(|b| b.is_ascii_hexdigit()), "{made_id}");
    // A request the request timeout cuts (503) still has its id and its line.
    let cut = client.get(service.url("/slow?ms=2000")).header("x-request-id", "req-cut").send().expect("request");
    assert_eq!(cut.status(), 503);
    assert_eq!(cut.headers()["x-request-id"], "req-cut");
    // Probes are not access-logged.
    assert_eq!(client.get(service.url("/readyz")).send().expect("probe").status(), 200);

    let lines = wait_for_access_lines(&service, 3);
    let first = &lines[0];
    assert_eq!(first["span"]["request_id"], PLANTED, "{first}");
    assert_eq!(first["span"]["trace_id"], TRACE_ID, "{first}");
    assert_eq!(first["fields"]["route"], "/");
    assert_eq!(first["fields"]["status"], 200);
    assert!(first["fields"]["latency_ms"].is_number(), "{first}");
    assert_eq!(lines[1]["span"]["request_id"], made_id.as_str());
    assert!(lines[1]["span"]["trace_id"].is_null(), "no traceparent, no trace id: {}", lines[1]);
    assert_eq!(lines[2]["span"]["request_id"], "req-cut");
    assert_eq!(lines[2]["fields"]["status"], 503);
    assert!(lines.iter().all(|line| line["fields"]["route"] != "/readyz"), "{lines:?}");

    let log = service.log();
    // Control: the search finds the planted value, in the access line of that request.
    let planted = lines_holding(&log, PLANTED);
    assert!(
        planted.iter().any(|line| line.contains("\"target\":\"access\"")),
        "the search did not find the planted request id in its access line:\n{log}"
    );
    for secret in [SECRET_TOKEN, SECRET_COOKIE] {
        let leaked = lines_holding(&log, secret);
        assert!(leaked.is_empty(), "a secret reached the logs:\n{}", leaked.join("\n"));
    }
}

/// The lines of `log` that hold `value`: the one search for planted and secret values.
fn lines_holding<'a>(log: &'a str, value: &str) -> Vec<&'a str> {
    log.lines().filter(|line| line.contains(value)).collect()
}

#[test]
fn the_access_log_is_off_unless_asked_for_and_ids_are_always_on() {
    let service = start(&[]);
    let response = reqwest::blocking::get(service.url("/")).expect("request");
    assert_eq!(response.headers()["x-request-id"].len(), 32);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(access_lines(&service).is_empty(), "{}", service.log());
}

#[test]
fn an_unusable_request_id_is_replaced_not_logged() {
    let service = start(&[("EBB_ACCESS_LOG", "true")]);
    let client = reqwest::blocking::Client::new();
    let answered = |sent: &str| {
        let response = client.get(service.url("/")).header("x-request-id", sent).send().expect("request");
        response.headers()["x-request-id"].to_str().expect("ascii").to_owned()
    };
    // The edge README states: 1 to 128 characters are kept, one more is replaced.
    let longest = format!("{}{}", "k".repeat(127), "8");
    let too_long = format!("{}{}", "r".repeat(128), "9");
    let forged = "a}:_INFO_forged=1";
    let huge = "x".repeat(500);
    assert_eq!(answered(&longest), longest, "128 characters are kept");
    let replaced: Vec<String> = [too_long.as_str(), &huge, forged].map(answered).to_vec();
    for id in &replaced {
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()), "replaced by {id}");
    }

    let lines = wait_for_access_lines(&service, 4);
    assert_eq!(lines[0]["span"]["request_id"], longest.as_str(), "the kept id is in its line");
    for (line, id) in lines[1..].iter().zip(&replaced) {
        assert_eq!(line["span"]["request_id"], id.as_str());
    }
    let log = service.log();
    // The control: the log holds the kept id, so the search below can find a 128-character id.
    assert!(log.contains(&longest), "{log}");
    assert!(!log.contains(&"r".repeat(128)), "a 129-character id went into the logs");
    assert!(!log.contains(&huge), "a 500-byte id went into the logs");
    assert!(!log.contains(forged), "an id with a brace and `=` went into the logs");
}

#[test]
fn the_access_line_names_the_route_template_never_the_raw_path_and_the_length() {
    let service = start(&[("EBB_ACCESS_LOG", "true")]);
    let client = reqwest::blocking::Client::new();
    let raw = "/items/secret-7f3a9c";
    let response = client.get(service.url(raw)).header("x-request-id", "req-item").send().expect("request");
    assert_eq!(response.status(), 200);
    let length: u64 = response.headers()["content-length"].to_str().expect("ascii").parse().expect("a length");
    assert_eq!(response.text().expect("body"), "item secret-7f3a9c\n", "the route saw the raw path");
    // A made-up path is named `unmatched`, never by its path either.
    let unmatched = client.get(service.url("/nope/secret-b4d1e0")).send().expect("request");
    assert_eq!(unmatched.status(), 404);

    let lines = wait_for_access_lines(&service, 2);
    let item = &lines[0];
    assert_eq!(item["span"]["request_id"], "req-item", "{item}");
    assert_eq!(item["fields"]["method"], "GET", "{item}");
    assert_eq!(item["fields"]["route"], "/items/{id}", "{item}");
    assert_eq!(item["fields"]["status"], 200, "{item}");
    assert_eq!(item["fields"]["bytes"], length, "{item}");
    assert_eq!(length, 19);
    assert!(item["fields"]["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{item}");
    assert_eq!(lines[1]["fields"]["route"], "unmatched", "{}", lines[1]);
    assert_eq!(lines[1]["fields"]["status"], 404, "{}", lines[1]);
    let log = service.log();
    assert!(log.contains("req-item"), "the search below reads the lines checked above:\n{log}");
    assert!(!log.contains("secret-7f3a9c") && !log.contains("secret-b4d1e0"), "a raw path reached the log:\n{log}");
}
