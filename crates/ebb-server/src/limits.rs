//! The edge's timeouts and caps: what a slow, stalled or hostile client may hold, each with
//! a default a platform team would choose, a bound, and an environment variable.

use std::time::Duration;

use ebb_core::env::{DurationBounds, Env, Errors, SizeBounds};

use crate::config::ConfigError;

/// `EBB_HEADER_READ_TIMEOUT`: time from a connection's first byte (or from accept) to a
/// complete request head.
pub const ENV_HEADER_READ_TIMEOUT: &str = "EBB_HEADER_READ_TIMEOUT";
/// `EBB_IDLE_TIMEOUT`: how long a keep-alive connection may wait for its next request.
pub const ENV_IDLE_TIMEOUT: &str = "EBB_IDLE_TIMEOUT";
/// `EBB_REQUEST_TIMEOUT`: time from the request head to the response head (streaming
/// routes exempt).
pub const ENV_REQUEST_TIMEOUT: &str = "EBB_REQUEST_TIMEOUT";
/// `EBB_BODY_TIMEOUT`: the longest pause between two pieces of a request body.
pub const ENV_BODY_TIMEOUT: &str = "EBB_BODY_TIMEOUT";
/// `EBB_MAX_BODY_SIZE`: the largest request body of a non-streaming route.
pub const ENV_MAX_BODY_SIZE: &str = "EBB_MAX_BODY_SIZE";
/// `EBB_MAX_CONNECTIONS`: connections open at once on the application listener.
pub const ENV_MAX_CONNECTIONS: &str = "EBB_MAX_CONNECTIONS";
/// `EBB_MAX_IN_FLIGHT`: requests being handled at once; more are shed with 503.
pub const ENV_MAX_IN_FLIGHT: &str = "EBB_MAX_IN_FLIGHT";
/// `EBB_MAX_CONNECTIONS_PER_CLIENT`: connections one client may hold open at once.
pub const ENV_MAX_CONNECTIONS_PER_CLIENT: &str = "EBB_MAX_CONNECTIONS_PER_CLIENT";
/// `EBB_MAX_IN_FLIGHT_PER_CLIENT`: requests of one client being handled at once; more get 429.
pub const ENV_MAX_IN_FLIGHT_PER_CLIENT: &str = "EBB_MAX_IN_FLIGHT_PER_CLIENT";
/// `EBB_BODY_MIN_RATE`: the slowest a request body of a non-streaming route may arrive, in
/// bytes per second, judged over [`BODY_RATE_WINDOW`].
pub const ENV_BODY_MIN_RATE: &str = "EBB_BODY_MIN_RATE";
/// `EBB_BODY_DEADLINE`: the longest a non-streaming route's request body may take in all.
pub const ENV_BODY_DEADLINE: &str = "EBB_BODY_DEADLINE";
/// The window over which [`Limits::body_min_rate`] is judged: a body must bring the rate
/// times this many bytes in every such window of waiting (time the handler spends between
/// reads is not counted).
pub const BODY_RATE_WINDOW: Duration = Duration::from_secs(10);
/// Probe requests one client may have in flight at once on the application port (the
/// kubelet probes the metrics port, which has no such bound).
pub const PROBES_IN_FLIGHT_PER_CLIENT: usize = 4;
/// `EBB_HTTP2_KEEPALIVE`: interval of HTTP/2 keep-alive pings (and how long one may go
/// unanswered before the connection is closed).
pub const ENV_HTTP2_KEEPALIVE: &str = "EBB_HTTP2_KEEPALIVE";

/// Caps and timeouts of the application listener and the request path.
///
/// Every value has a bound checked by [`Limits::from_lookup`]; out-of-range values are
/// start-up errors naming the variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Default 10 s (at most 5 min). Slowloris protection: a client trickling a request head
    /// is closed after this long. Applies to HTTP/1.
    pub header_read_timeout: Duration,
    /// Default 75 s (at most 1 h). Must exceed the idle timeout of the load balancer in
    /// front (AWS ALB 60 s; GCP's is 600 s: set 620 s there), or the balancer may send a
    /// request on a connection the server is closing.
    pub idle_timeout: Duration,
    /// Default 30 s (at most 1 h). A handler that has not answered by then gets a 503; the
    /// routes given to `Server::with_streaming_routes` are exempt.
    pub request_timeout: Duration,
    /// Default 30 s (at most 1 h). A request body that sends nothing for this long is
    /// abandoned and answered with 408; this is what protects streaming uploads.
    pub body_timeout: Duration,
    /// Default 2 MiB (at most 1 GiB), in bytes. Larger bodies get 413 on non-streaming
    /// routes; streaming routes read their bodies themselves.
    pub max_body_size: u64,
    /// Default 10 000 (1 to 1 000 000). At the cap the listener stops accepting until a
    /// connection closes; the probes stay reachable on the metrics listener.
    pub max_connections: usize,
    /// Default 1024 (1 to 1 000 000). Over the cap, requests are answered 503 with
    /// `Retry-After` at once (never queued). One cap for the whole service, on the one
    /// in-flight count the drain and the `http_requests_in_flight` gauge read: a request
    /// counts until its response body ends (a body of known length up to 16 KiB ends with
    /// its head), so open streams (SSE, gRPC, downloads) hold their slots. Size the cap for
    /// the streams a replica serves at once.
    pub max_in_flight: usize,
    /// Default 20 s (1 s to 1 h). HTTP/2 keep-alive ping interval and ping timeout.
    pub http2_keepalive: Duration,
    /// Default a quarter of `max_connections` (2500), at most `max_connections`. A client
    /// (its address, or behind `EBB_RATELIMIT_TRUSTED_PROXIES` the address they forward)
    /// over it has new connections closed at once; the trusted proxies themselves are
    /// exempt (behind an ingress, every connection comes from it).
    pub max_connections_per_client: usize,
    /// Default a quarter of `max_in_flight` (256), at most `max_in_flight`. One client's
    /// share of the in-flight cap, checked before it: over it, 429 + `Retry-After` at once.
    /// Equal to `max_in_flight`: no share. Keyed like the rate limit (IPv6 by /64, behind
    /// trusted proxies by forwarded address):
    /// behind a proxy that is not in `EBB_RATELIMIT_TRUSTED_PROXIES`, every request is the
    /// proxy's, and the replica serves a quarter of its cap.
    pub max_in_flight_per_client: usize,
    /// Default 1 KiB (1024 bytes per second; `0` turns it off), judged over
    /// [`BODY_RATE_WINDOW`]. A request body of a non-streaming route that brings less in a
    /// window is abandoned and answered 408: a client cannot hold a slot by trickling.
    /// Streaming routes keep only the progress timeout (`body_timeout`).
    pub body_min_rate: u64,
    /// Default 20 s (100 ms to 1 h). A request body of a non-streaming route that has kept
    /// its handler waiting this long in all (from reads that found nothing to the next
    /// read) is abandoned and answered 408. Streaming routes
    /// (`Server::with_streaming_routes`) have none: large or slow uploads belong there.
    /// With the request timeout (`request_timeout`, 30 s) it bounds the slowest upload a
    /// non-streaming route takes: a 2 MiB body needs about 105 KiB/s.
    pub body_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            request_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            max_body_size: 2 * 1024 * 1024,
            max_connections: 10_000,
            max_in_flight: 1024,
            http2_keepalive: Duration::from_secs(20),
            max_connections_per_client: 2500,
            max_in_flight_per_client: 256,
            body_min_rate: 1024,
            body_deadline: Duration::from_secs(20),
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

impl Limits {
    /// Reads the `EBB_*` variables above through `lookup`; unset ones keep their defaults.
    ///
    /// # Errors
    /// Every bad or out-of-range value, each naming its variable.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, Vec<ConfigError>> {
        Self::from_vars(&Env::from_fn(lookup))
    }

    /// Like [`from_lookup`](Self::from_lookup), with variables read from `env`: durations
    /// and sizes in ebb's grammar (`ebb_core::env`), counts as whole numbers (`_` allowed).
    ///
    /// # Errors
    /// Every bad or out-of-range value, each naming its variable.
    pub fn from_vars(env: &Env<'_>) -> Result<Self, Vec<ConfigError>> {
        let mut errors: Errors<ConfigError> = Errors::new();
        let mut limits = Self::default();
        let mut duration = |variable, min, max, field: &mut Duration| {
            if let Some(parsed) = errors.take(env.duration(variable, DurationBounds::new(min, max))) {
                *field = parsed;
            }
        };
        let ms = Duration::from_millis;
        duration(ENV_HEADER_READ_TIMEOUT, ms(100), 5 * MINUTE, &mut limits.header_read_timeout);
        duration(ENV_IDLE_TIMEOUT, Duration::from_secs(1), HOUR, &mut limits.idle_timeout);
        duration(ENV_REQUEST_TIMEOUT, ms(100), HOUR, &mut limits.request_timeout);
        duration(ENV_BODY_TIMEOUT, ms(100), HOUR, &mut limits.body_timeout);
        duration(ENV_HTTP2_KEEPALIVE, Duration::from_secs(1), HOUR, &mut limits.http2_keepalive);
        duration(ENV_BODY_DEADLINE, ms(100), HOUR, &mut limits.body_deadline);
        let mut count = |variable, field: &mut usize| {
            let read = env.parse(variable, |value| match value.trim().replace('_', "").parse::<usize>() {
                Ok(parsed) if (1..=1_000_000).contains(&parsed) => Ok(parsed),
                _ => Err("a whole number from 1 to 1000000".to_owned()),
            });
            if let Some(parsed) = errors.take(read) {
                *field = parsed;
            }
        };
        count(ENV_MAX_CONNECTIONS, &mut limits.max_connections);
        count(ENV_MAX_IN_FLIGHT, &mut limits.max_in_flight);
        // A client's share follows its cap unless set, and may not exceed it.
        limits.max_connections_per_client = limits.max_connections.div_ceil(4);
        limits.max_in_flight_per_client = limits.max_in_flight.div_ceil(4);
        let mut share = |variable, cap: usize, cap_name, field: &mut usize| {
            let read = env.parse(variable, |value| match value.trim().replace('_', "").parse::<usize>() {
                Ok(parsed) if (1..=cap).contains(&parsed) => Ok(parsed),
                _ => Err(format!("a whole number from 1 to {cap_name} ({cap})")),
            });
            if let Some(parsed) = errors.take(read) {
                *field = parsed;
            }
        };
        let (connections, in_flight) = (limits.max_connections, limits.max_in_flight);
        share(ENV_MAX_CONNECTIONS_PER_CLIENT, connections, ENV_MAX_CONNECTIONS, &mut limits.max_connections_per_client);
        share(ENV_MAX_IN_FLIGHT_PER_CLIENT, in_flight, ENV_MAX_IN_FLIGHT, &mut limits.max_in_flight_per_client);
        if let Some(size) = errors.take(env.size(ENV_MAX_BODY_SIZE, SizeBounds::new(0, 1 << 30))) {
            limits.max_body_size = size;
        }
        if let Some(rate) = errors.take(env.size(ENV_BODY_MIN_RATE, SizeBounds::new(0, 1 << 30))) {
            limits.body_min_rate = rate;
        }
        errors.finish(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn defaults_are_pinned() {
        let limits = Limits::from_lookup(&|_| None).expect("defaults");
        assert_eq!(limits.header_read_timeout, Duration::from_secs(10));
        assert_eq!(limits.idle_timeout, Duration::from_secs(75));
        assert_eq!(limits.request_timeout, Duration::from_secs(30));
        assert_eq!(limits.body_timeout, Duration::from_secs(30));
        assert_eq!(limits.max_body_size, 2 * 1024 * 1024);
        assert_eq!(limits.max_connections, 10_000);
        assert_eq!(limits.max_in_flight, 1024);
        assert_eq!(limits.http2_keepalive, Duration::from_secs(20));
        assert_eq!(limits.max_connections_per_client, 2500);
        assert_eq!(limits.max_in_flight_per_client, 256);
        assert_eq!(limits.body_min_rate, 1024);
        assert_eq!(limits.body_deadline, Duration::from_secs(20));
        assert_eq!(limits, Limits::default(), "the defaults read are the documented ones");
    }

    #[test]
    fn a_client_share_follows_its_cap_and_may_not_exceed_it() {
        let limits =
            Limits::from_lookup(&lookup(&[(ENV_MAX_IN_FLIGHT, "80"), (ENV_MAX_CONNECTIONS, "5")])).expect("valid");
        assert_eq!((limits.max_in_flight_per_client, limits.max_connections_per_client), (20, 2));
        let vars = [(ENV_MAX_IN_FLIGHT, "80"), (ENV_MAX_IN_FLIGHT_PER_CLIENT, "81")];
        let errors = Limits::from_lookup(&lookup(&vars)).expect_err("over the cap");
        assert!(errors[0].to_string().contains("EBB_MAX_IN_FLIGHT_PER_CLIENT"), "{errors:?}");
        let limits = Limits::from_lookup(&lookup(&[(ENV_BODY_MIN_RATE, "0")])).expect("off");
        assert_eq!(limits.body_min_rate, 0);
    }

    #[test]
    fn parses_every_variable() {
        let vars = [
            (ENV_HEADER_READ_TIMEOUT, "2s"),
            (ENV_IDLE_TIMEOUT, "620s"),
            (ENV_REQUEST_TIMEOUT, "1m"),
            (ENV_BODY_TIMEOUT, "500ms"),
            (ENV_MAX_BODY_SIZE, "512KiB"),
            (ENV_MAX_CONNECTIONS, "100"),
            (ENV_MAX_IN_FLIGHT, "10_000"),
            (ENV_HTTP2_KEEPALIVE, "5s"),
        ];
        let limits = Limits::from_lookup(&lookup(&vars)).expect("valid");
        assert_eq!(limits.idle_timeout, Duration::from_secs(620));
        assert_eq!(limits.max_body_size, 512 * 1024);
        assert_eq!(limits.max_in_flight, 10_000);
    }

    #[test]
    fn out_of_range_values_name_their_variables_all_at_once() {
        let vars = [
            (ENV_HEADER_READ_TIMEOUT, "500000000000y"),
            (ENV_IDLE_TIMEOUT, "0s"),
            (ENV_REQUEST_TIMEOUT, "2h"),
            (ENV_BODY_TIMEOUT, "soon"),
            (ENV_MAX_BODY_SIZE, "2GiB"),
            (ENV_MAX_CONNECTIONS, "0"),
            (ENV_MAX_IN_FLIGHT, "99999999999999999999999"),
            (ENV_HTTP2_KEEPALIVE, "-1s"),
        ];
        let errors = Limits::from_lookup(&lookup(&vars)).expect_err("invalid");
        assert_eq!(errors.len(), vars.len(), "{errors:?}");
        let text = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        for (variable, _) in vars {
            assert!(text.contains(variable), "{variable} missing from:\n{text}");
        }
    }

    #[test]
    fn sizes() {
        let size =
            |text: &str| Limits::from_lookup(&lookup(&[(ENV_MAX_BODY_SIZE, text)])).map(|l| l.max_body_size).ok();
        assert_eq!(size("1048576"), Some(1 << 20));
        assert_eq!(size("2MiB"), Some(2 << 20));
        assert_eq!(size("10 MB"), Some(10_000_000));
        assert_eq!(size("99999999999999999999GiB"), None);
        assert_eq!(size("lots"), None);
    }
}
