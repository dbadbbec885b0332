//! Failed logins are limited per account and per client through the shared `Limiter`: 5 per
//! 15 minutes each (a burst of 5, one more every 3 minutes). Every login first *peeks* (is
//! either bucket empty? then 429 with `Retry-After`, and the password is not even checked);
//! only a failed attempt is counted. So a brute force stops after 5 guesses per account
//! whatever the number of clients, and per client whatever the number of accounts, while a
//! user who types the right password is never slowed down by it.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ebb_server::ebb_ratelimit::{ClientAddr, FailureMode, Limiter, Policy, Rate, TrustedProxies};

/// Failed attempts allowed per account and per client within [`WINDOW`].
pub(crate) const FAILURES: u32 = 5;
/// The window of [`FAILURES`].
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Clone)]
pub(crate) struct LoginLimit {
    limiter: Limiter,
    policy: Policy,
    trusted: TrustedProxies,
}

impl LoginLimit {
    pub(crate) fn new(limiter: Limiter, trusted: TrustedProxies) -> Self {
        let rate = Rate::new(FAILURES, WINDOW).expect("5 per 15 minutes is a valid rate");
        // Redis down: keep limiting, in this process.
        let policy = Policy::new("login", rate).with_failure_mode(FailureMode::Local);
        Self { limiter, policy, trusted }
    }

    fn keys(&self, username: &str, peer: Option<SocketAddr>, headers: &HeaderMap) -> [String; 2] {
        let client = match peer.map(|peer| self.trusted.client(peer.ip(), headers)) {
            Some(ClientAddr::Ip(ip)) => ip.to_string(),
            Some(ClientAddr::Unparsed(hop)) => format!("hop:{hop}"),
            None => "unknown".to_owned(),
        };
        [format!("account:{}", username.to_lowercase()), format!("client:{client}")]
    }

    /// `Some(429)` when the account or the client has no attempts left.
    pub(crate) async fn refuse(
        &self,
        username: &str,
        peer: Option<SocketAddr>,
        headers: &HeaderMap,
    ) -> Option<Response> {
        let mut wait = Duration::ZERO;
        for key in self.keys(username, peer, headers) {
            match self.limiter.peek(&key, &self.policy).await {
                Ok(decision) if !decision.allowed => wait = wait.max(decision.retry_after),
                Ok(_) => {}
                // Redis unavailable: the local count decides (below, on failure).
                Err(_) => {}
            }
        }
        (wait > Duration::ZERO).then(|| too_many(wait))
    }

    /// Counts a failed attempt against the account and the client.
    pub(crate) async fn failed(&self, username: &str, peer: Option<SocketAddr>, headers: &HeaderMap) {
        for key in self.keys(username, peer, headers) {
            let _ = self.limiter.decide(&key, &self.policy, 1).await;
        }
    }
}

fn too_many(wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many failed logins for this account or from this client; try again in {seconds} s\n"),
    )
        .into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}
