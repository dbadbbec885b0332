//! A rolling restart behind an L4 balancer, as kube-proxy balances: no retries, no
//! redispatch, connections pinned to a replica until they close. Replicas that send
//! `Connection: close` during the shutdown delay lose nothing; the negative control, with
//! no delay, must lose requests, or this test could not see the failure at all.

use std::time::Duration;

use ebb_testkit::{Replicas, TcpBalancer, WrkReport, http_status, poll_until, tool_or_skip, wrk};

const BIN: &str = env!("CARGO_BIN_EXE_example-minimal");
const REPLICAS: usize = 3;
/// The balancer's health check interval, as a kubelet readiness probe's period.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

fn rolling_restart(delay: Duration) -> (WrkReport, Vec<(Option<i32>, String)>) {
    let haproxy = tool_or_skip("haproxy", "rolling_restart").expect("checked by the caller");
    let wrk_binary = tool_or_skip("wrk", "rolling_restart").expect("checked by the caller");
    let env = [("EBB_SHUTDOWN_DELAY", format!("{}ms", delay.as_millis())), ("EBB_SHUTDOWN_TIMEOUT", "10s".to_owned())];
    let mut replicas = Replicas::start(BIN, &env, REPLICAS);
    let balancer = TcpBalancer::start(&haproxy, &replicas.addrs, CHECK_INTERVAL, 1);
    let url = format!("http://{}/", balancer.addr);
    poll_until("the balancer to pass requests", Duration::from_secs(10), || {
        http_status(&url).filter(|status| *status == 200)
    });
    // Long enough to cover every replacement: delay + exit + start + the balancer's rise.
    let per_replica = delay + CHECK_INTERVAL + Duration::from_millis(1500);
    let duration = Duration::from_secs(2) + per_replica * u32::try_from(REPLICAS).unwrap_or(3);
    let load = std::thread::spawn(move || wrk(&wrk_binary, &url, 32, duration));
    std::thread::sleep(Duration::from_secs(1));
    let exits = replicas.rolling_restart(CHECK_INTERVAL + Duration::from_millis(500));
    let report = load.join().expect("wrk thread");
    (report, exits)
}

#[test]
fn a_rolling_restart_behind_an_l4_balancer_loses_no_request() {
    if tool_or_skip("haproxy", "rolling_restart").is_none() || tool_or_skip("wrk", "rolling_restart").is_none() {
        return;
    }
    let (report, exits) = rolling_restart(Duration::from_secs(3));
    eprintln!("rolling restart, delay 3s: {report:?}");
    for (code, log) in &exits {
        assert_eq!(*code, Some(0), "a replica did not shut down cleanly:\n{log}");
    }
    assert!(report.requests > 1000, "too little load to prove anything: {report:?}");
    assert_eq!((report.socket_errors, report.non_2xx), (0, 0), "requests lost: {report:?}");

    // Negative control: the same restart without a delay must lose requests.
    let (control, _) = rolling_restart(Duration::ZERO);
    eprintln!("negative control, delay 0s: {control:?}");
    assert!(
        control.socket_errors + control.non_2xx > 0,
        "with EBB_SHUTDOWN_DELAY=0s nothing was lost: this test cannot see lost requests ({control:?})"
    );
}
