//! Runs wrk against a URL (pinned to core 1 when the server is pinned to core 0) and reads
//! its summary.

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

/// Connections wrk keeps open.
const CONNECTIONS: &str = "64";

pub(crate) struct WrkResult {
    pub(crate) requests: f64,
    pub(crate) rps: f64,
    pub(crate) p99_ms: f64,
    /// Responses other than 2xx/3xx (wrk's "Non-2xx or 3xx responses").
    pub(crate) non_2xx: f64,
    /// Connect, read, write and timeout errors (wrk's "Socket errors").
    pub(crate) socket_errors: f64,
}

pub(crate) fn run(sh: &Shell, url: &str, duration: &str, pinned: bool) -> anyhow::Result<WrkResult> {
    let args = ["-t1", "-c", CONNECTIONS, "-d", duration, "--latency", url];
    let output = if pinned {
        cmd!(sh, "taskset -c 1 wrk {args...}").quiet().read()?
    } else {
        cmd!(sh, "wrk {args...}").quiet().read()?
    };
    parse(&output)
}

pub(crate) fn parse(wrk: &str) -> anyhow::Result<WrkResult> {
    let line_value = |prefix: &str| wrk.lines().find_map(|line| line.trim().strip_prefix(prefix).map(str::trim));
    let rps = line_value("Requests/sec:").and_then(|v| v.parse().ok());
    let requests = wrk.lines().find_map(|line| line.trim().split_once(" requests in ")?.0.trim().parse().ok());
    let non_2xx = line_value("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0.0);
    // "Socket errors: connect 0, read 0, write 0, timeout 0"
    let socket_errors = line_value("Socket errors:")
        .map(|l| l.split(',').filter_map(|part| part.split_whitespace().last()?.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    let p99 = line_value("99%").context("no 99% latency")?;
    Ok(WrkResult {
        requests: requests.with_context(|| format!("no request count in wrk output:\n{wrk}"))?,
        rps: rps.with_context(|| format!("no Requests/sec in wrk output:\n{wrk}"))?,
        p99_ms: parse_latency_ms(p99)?,
        non_2xx,
        socket_errors,
    })
}

fn parse_latency_ms(value: &str) -> anyhow::Result<f64> {
    let split = value.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().with_context(|| format!("bad latency {value:?}"))?;
    Ok(match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => bail!("unknown latency unit in {value:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK_OUTPUT: &str = "Running 8s test @ http://127.0.0.1:1/\n  1 threads and 64 connections\n\
        \x20 Latency Distribution\n     50%  412.00us\n     75%  501.00us\n     90%  610.00us\n     99%    2.31ms\n\
        \x20 960000 requests in 8.00s, 120.00MB read\n  Non-2xx or 3xx responses: 12\n\
        Requests/sec: 119999.50\nTransfer/sec:     15.00MB\n";

    #[test]
    fn parses_wrk() {
        let parsed = parse(WRK_OUTPUT).expect("parses");
        assert!((parsed.rps - 119_999.5).abs() < 1e-6);
        assert!((parsed.requests - 960_000.0).abs() < 1e-6);
        assert!((parsed.p99_ms - 2.31).abs() < 1e-9);
        assert!((parsed.non_2xx - 12.0).abs() < 1e-9);
    }

    #[test]
    fn reads_microseconds_and_seconds() {
        assert!((parse_latency_ms("850.00us").expect("us") - 0.85).abs() < 1e-9);
        assert!((parse_latency_ms("1.50s").expect("s") - 1500.0).abs() < 1e-9);
        assert!(parse_latency_ms("3.00h").is_err());
    }
}
