//! One grammar for every variable: each duration, size and boolean variable of every part is
//! fed the same spellings through its crate's public `from_lookup`, and each must accept
//! and refuse exactly the same ones (the grammar is `ebb_core::env`'s; the values chosen
//! lie inside every variable's bounds, so only the grammar decides).

use ebb_server::ebb_offload::OffloadConfig;
use ebb_server::ebb_ratelimit::RateLimitConfig;
use ebb_server::ebb_redis::RedisConfig;
use ebb_server::ebb_session::{JwtConfig, SessionConfig};
use ebb_server::ebb_shutdown::ShutdownConfig;
use ebb_server::{Limits, ServerConfig};

/// Reads one variable (with whatever companions it needs) and says whether it was taken;
/// a refusal must name the variable.
type Reader = fn(&'static str, &str) -> Result<(), String>;

fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
}

fn text<E: std::fmt::Display>(errors: Vec<E>) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

fn shutdown(variable: &'static str, value: &str) -> Result<(), String> {
    // The delay must stay below the timeout: keep the other one out of the way.
    let other =
        if variable == "EBB_SHUTDOWN_DELAY" { ("EBB_SHUTDOWN_TIMEOUT", "1h") } else { ("EBB_SHUTDOWN_DELAY", "0s") };
    ShutdownConfig::from_lookup(vars(&[(variable, value), other])).map(drop).map_err(text)
}

fn redis(variable: &'static str, value: &str) -> Result<(), String> {
    RedisConfig::from_lookup(vars(&[(variable, value), ("REDIS_URL", "redis://127.0.0.1:6379")]))
        .map(drop)
        .map_err(text)
}

fn ratelimit(variable: &'static str, value: &str) -> Result<(), String> {
    RateLimitConfig::from_lookup(vars(&[(variable, value)])).map(drop).map_err(text)
}

fn offload(variable: &'static str, value: &str) -> Result<(), String> {
    OffloadConfig::from_lookup(vars(&[(variable, value)])).map(drop).map_err(text)
}

fn session(variable: &'static str, value: &str) -> Result<(), String> {
    SessionConfig::from_lookup(vars(&[(variable, value)])).map(drop).map_err(text)
}

fn jwt(variable: &'static str, value: &str) -> Result<(), String> {
    let secret = "s".repeat(32);
    JwtConfig::from_lookup(vars(&[(variable, value), ("EBB_JWT_SECRET", &secret)])).map(drop).map_err(text)
}

fn limits(variable: &'static str, value: &str) -> Result<(), String> {
    Limits::from_lookup(&vars(&[(variable, value)])).map(drop).map_err(text)
}

fn server(variable: &'static str, value: &str) -> Result<(), String> {
    ServerConfig::from_lookup(vars(&[(variable, value)])).map(drop).map_err(|errors| errors.to_string())
}

/// Every duration variable; each accepts at least 1s to 10s.
const DURATIONS: &[(&str, Reader)] = &[
    ("EBB_SHUTDOWN_DELAY", shutdown),
    ("EBB_SHUTDOWN_TIMEOUT", shutdown),
    ("EBB_REDIS_TIMEOUT", redis),
    ("EBB_RATELIMIT_TIMEOUT", ratelimit),
    ("EBB_OFFLOAD_URL_EXPIRY", offload),
    ("EBB_SESSION_TTL", session),
    ("EBB_JWT_LEEWAY", jwt),
    ("EBB_HEADER_READ_TIMEOUT", limits),
    ("EBB_IDLE_TIMEOUT", limits),
    ("EBB_REQUEST_TIMEOUT", limits),
    ("EBB_BODY_TIMEOUT", limits),
    ("EBB_HTTP2_KEEPALIVE", limits),
];

/// Every size variable; each accepts at least 40MiB (one upload's default footprint) to 1GiB.
const SIZES: &[(&str, Reader)] = &[
    ("EBB_MAX_BODY_SIZE", limits),
    ("EBB_OFFLOAD_MAX_SIZE", offload),
    ("EBB_OFFLOAD_PART_SIZE", offload),
    ("EBB_OFFLOAD_MEMORY_BUDGET", offload),
];

/// Every boolean variable.
const BOOLS: &[(&str, Reader)] = &[
    ("EBB_ACCESS_LOG", server),
    ("EBB_RATELIMIT_SHADOW", ratelimit),
    ("EBB_RATELIMIT_LEGACY_HEADERS", ratelimit),
    ("EBB_SESSION_COOKIE_SECURE", session),
];

const GOOD_DURATIONS: &[&str] = &["1s", "10s", "1500ms", " 2s ", "2s 500ms", "1s500ms", "3sec", "5seconds", "0.1m"];
const BAD_DURATIONS: &[&str] = &["soon", "5", "-1s", "s", "1 fortnight", "500000000000y"];

const GOOD_SIZES: &[&str] = &[
    "104857600",
    "104857600B",
    "104857600 b",
    "100MiB",
    "100 MiB",
    "100mib",
    "100MIB",
    "100MB",
    "100mb",
    "1GiB",
    "1GB",
    "102400KiB",
    "102400kb",
    " 64MiB ",
];
const BAD_SIZES: &[&str] =
    &["lots", "MiB", "100M", "100 megabytes", "1.5GiB", "-100MiB", "+100MiB", "100MiBs", "99999999999999999999GiB"];

const GOOD_BOOLS: &[&str] = &["true", "false", "TRUE", "1", "0", "yes", "No", "on", "OFF", " true "];
const BAD_BOOLS: &[&str] = &["maybe", "2", "y", "enabled", "truthy"];

fn check(kind: &str, variables: &[(&'static str, Reader)], good: &[&str], bad: &[&str]) {
    let mut failures = Vec::new();
    for (variable, read) in variables {
        for value in good {
            if let Err(error) = read(variable, value) {
                failures.push(format!("{variable}={value:?} refused: {error}"));
            }
        }
        for value in bad {
            match read(variable, value) {
                Ok(()) => failures.push(format!("{variable}={value:?} accepted")),
                Err(error) if !error.contains(variable) => {
                    failures.push(format!("{variable}={value:?}: the error does not name it: {error}"));
                }
                Err(_) => {}
            }
        }
    }
    assert!(failures.is_empty(), "{kind}: every variable must read the same grammar:\n{}", failures.join("\n"));
}

#[test]
fn every_duration_variable_reads_the_same_grammar() {
    check("durations", DURATIONS, GOOD_DURATIONS, BAD_DURATIONS);
}

#[test]
fn every_size_variable_reads_the_same_grammar() {
    check("sizes", SIZES, GOOD_SIZES, BAD_SIZES);
}

#[test]
fn every_bool_variable_reads_the_same_grammar() {
    check("booleans", BOOLS, GOOD_BOOLS, BAD_BOOLS);
}
