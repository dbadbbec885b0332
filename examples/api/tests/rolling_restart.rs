//! A rolling restart of three example-api replicas sharing Redis, behind an L4 balancer
//! (HAProxy `mode tcp`, no retries, no redispatch), under keep-alive load and a client doing
//! authenticated uploads: no request fails and every upload reads back whole. The negative
//! control, without a shutdown delay, must fail requests, or the test could not see it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ebb_testkit::{RedisServer, Replicas, TcpBalancer, TempDir, WrkReport, http_status, poll_until, tool_or_skip, wrk};

const BIN: &str = env!("CARGO_BIN_EXE_example-api");
const CHECK_INTERVAL: Duration = Duration::from_secs(1);
const UPLOAD: usize = 64 * 1024;

/// What the uploading client saw.
#[derive(Debug, Default)]
struct Uploads {
    sent: usize,
    failed: Vec<String>,
    lost: Vec<String>,
}

fn body(n: usize) -> Vec<u8> {
    (0..UPLOAD).map(|i| u8::try_from((i * 31 + n) % 251).unwrap_or(0)).collect()
}

/// Logs in, then uploads one object after another until `stop`, then reads each back.
async fn upload_until(base: String, stop: Arc<AtomicBool>) -> Uploads {
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{base}/login"))
        .json(&serde_json::json!({"username": "ada", "password": "lovelace"}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200, "login failed");
    let cookie =
        login.headers()["set-cookie"].to_str().expect("cookie").split(';').next().unwrap_or_default().to_owned();
    let mut uploads = Uploads::default();
    while !stop.load(Ordering::Relaxed) {
        let key = format!("rolling/{}", uploads.sent);
        let sent =
            http.put(format!("{base}/files/{key}")).header("cookie", &cookie).body(body(uploads.sent)).send().await;
        match sent {
            Ok(response) if response.status() == 201 => {}
            Ok(response) => uploads.failed.push(format!("{key}: {}", response.status())),
            Err(error) => uploads.failed.push(format!("{key}: {error}")),
        }
        uploads.sent += 1;
    }
    for n in 0..uploads.sent {
        let key = format!("rolling/{n}");
        let got = http.get(format!("{base}/files/{key}")).send().await;
        let whole = match got {
            Ok(response) if response.status() == 200 => {
                response.bytes().await.is_ok_and(|bytes| bytes[..] == body(n)[..])
            }
            _ => false,
        };
        if !whole && !uploads.failed.iter().any(|failed| failed.starts_with(&format!("{key}:"))) {
            uploads.lost.push(key);
        }
    }
    uploads
}

fn rolling_restart(delay: Duration) -> (WrkReport, Uploads) {
    let haproxy = tool_or_skip("haproxy", "example-api rolling_restart").expect("checked by the caller");
    let wrk_binary = tool_or_skip("wrk", "example-api rolling_restart").expect("checked by the caller");
    let redis = RedisServer::start();
    let objects = TempDir::new("ebb-rolling-objects");
    let env = [
        ("REDIS_URL", redis.url()),
        ("EBB_OFFLOAD_DIR", objects.path().display().to_string()),
        ("EBB_SHUTDOWN_DELAY", format!("{}ms", delay.as_millis())),
        ("EBB_SHUTDOWN_TIMEOUT", "10s".to_owned()),
        // In TCP mode every request comes from the balancer's address.
        ("EBB_RATELIMIT_RATE", "off".to_owned()),
        ("EBB_DEMO_USERNAME", "ada".to_owned()),
        ("EBB_DEMO_PASSWORD", "lovelace".to_owned()),
        ("EBB_SESSION_COOKIE_SECURE", "false".to_owned()),
    ];
    let mut replicas = Replicas::start(BIN, &env, 3);
    let balancer = TcpBalancer::start(&haproxy, &replicas.addrs, CHECK_INTERVAL, 1);
    let base = format!("http://{}", balancer.addr);
    poll_until("the balancer to pass requests", Duration::from_secs(10), || {
        http_status(&format!("{base}/")).filter(|status| *status == 200)
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let uploads = runtime.spawn(upload_until(base.clone(), stop.clone()));
    let per_replica = delay + CHECK_INTERVAL + Duration::from_millis(2000);
    let duration = Duration::from_secs(2) + per_replica * 3;
    let url = format!("{base}/");
    let load = std::thread::spawn(move || wrk(&wrk_binary, &url, 32, duration));
    std::thread::sleep(Duration::from_secs(1));
    let exits = replicas.rolling_restart(CHECK_INTERVAL + Duration::from_millis(500));
    let report = load.join().expect("wrk thread");
    stop.store(true, Ordering::Relaxed);
    let uploads = runtime.block_on(uploads).expect("uploads");
    if !delay.is_zero() {
        for (code, log) in &exits {
            assert_eq!(*code, Some(0), "a replica did not shut down cleanly:\n{log}");
        }
    }
    (report, uploads)
}

#[test]
fn a_rolling_restart_behind_an_l4_balancer_loses_no_request_and_no_upload() {
    if tool_or_skip("haproxy", "example-api rolling_restart").is_none()
        || tool_or_skip("wrk", "example-api rolling_restart").is_none()
    {
        return;
    }
    let (report, uploads) = rolling_restart(Duration::from_secs(3));
    eprintln!(
        "rolling restart, delay 3s: {report:?}; uploads {}, failed {:?}, lost {:?}",
        uploads.sent, uploads.failed, uploads.lost
    );
    assert!(report.requests > 1000 && uploads.sent > 20, "too little load: {report:?}, {} uploads", uploads.sent);
    assert_eq!((report.socket_errors, report.non_2xx), (0, 0), "requests lost: {report:?}");
    assert!(
        uploads.failed.is_empty() && uploads.lost.is_empty(),
        "uploads failed {:?}, lost {:?}",
        uploads.failed,
        uploads.lost
    );

    let (control, control_uploads) = rolling_restart(Duration::ZERO);
    eprintln!("negative control, delay 0s: {control:?}; uploads failed {}", control_uploads.failed.len());
    assert!(
        control.socket_errors + control.non_2xx + control_uploads.failed.len() as u64 > 0,
        "with EBB_SHUTDOWN_DELAY=0s nothing failed: this test cannot see lost requests"
    );
}
