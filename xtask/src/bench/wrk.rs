//! Runs wrk against a URL (pinned to core 1 when the server is pinned to core 0) and reads
//! its summary.

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use super::measured::positive;

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
    let number = |what: &str, text: &str| -> anyhow::Result<f64> {
        text.trim().parse().with_context(|| format!("wrk's {what} {text:?} is not a number:\n{wrk}"))
    };
    let rps = line_value("Requests/sec:").with_context(|| format!("no Requests/sec in wrk output:\n{wrk}"))?;
    let requests = wrk
        .lines()
        .find_map(|line| Some(line.trim().split_once(" requests in ")?.0))
        .with_context(|| format!("no request count in wrk output:\n{wrk}"))?;
    // wrk prints these two lines only when they are not zero: absent is 0, garbled an error.
    let non_2xx = line_value("Non-2xx or 3xx responses:").map_or(Ok(0.0), |v| number("non-2xx count", v))?;
    // "Socket errors: connect 0, read 0, write 0, timeout 0"
    let socket_errors = match line_value("Socket errors:") {
        None => 0.0,
        Some(line) => line
            .split(',')
            .map(|part| number("socket error count", part.split_whitespace().last().unwrap_or_default()))
            .sum::<anyhow::Result<f64>>()?,
    };
    let p99 = line_value("99%").context("no 99% latency")?;
    Ok(WrkResult {
        // A run that completed no request measured nothing: every ratio over it is broken.
        requests: positive("wrk's request count", number("request count", requests)?)?,
        rps: positive("wrk's requests/s", number("requests/s", rps)?)?,
        p99_ms: positive("wrk's p99 latency (ms)", parse_latency_ms(p99)?)?,
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
    fn a_run_that_measured_nothing_is_refused() {
        let idle = WRK_OUTPUT.replace("960000 requests", "0 requests").replace("119999.50", "0.00");
        assert!(parse(&idle).is_err(), "0 requests");
        let garbled = WRK_OUTPUT.replace("Non-2xx or 3xx responses: 12", "Non-2xx or 3xx responses: many");
        assert!(parse(&garbled).is_err(), "a count that does not parse");
        let errors = format!("{WRK_OUTPUT}  Socket errors: connect 0, read 3, write 0, timeout 2\n");
        assert!((parse(&errors).expect("parses").socket_errors - 5.0).abs() < 1e-9);
    }

    #[test]
    fn reads_microseconds_and_seconds() {
        assert!((parse_latency_ms("850.00us").expect("us") - 0.85).abs() < 1e-9);
        assert!((parse_latency_ms("1.50s").expect("s") - 1500.0).abs() < 1e-9);
        assert!(parse_latency_ms("3.00h").is_err());
    }
}
