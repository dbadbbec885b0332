//! Logins are limited through the shared `Limiter`, 5 per 15 minutes (a burst of 5, one
//! more every 3 minutes), then 429 with `Retry-After` and the password is not even checked:
//!
//! - **per account, every attempt**: counted before the password is checked, atomically in
//!   Redis, so no number of parallel requests gets more than 5 guesses at one account per
//!   15 minutes. The price: 5 wrong guesses lock the account out for a while (for anyone) —
//!   the usual trade of account-based limits;
//! - **per client, failed attempts**: peeked before, counted only on failure, so many users
//!   behind one NAT are not limited by each other's successes (IPv6 clients by their /64).
//!   Parallel requests may all pass the peek before one failure is counted, so this bound is
//!   approximate; the account bound is not.
//!
//! With Redis down, the counts continue in this process (`FailureMode::Local`).

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ebb_server::ebb_ratelimit::{FailureMode, Limiter, Policy, Rate, TrustedProxies, Verdict};

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
    /// On the server's limiter (shared through Redis), trusting the proxies the server's
    /// rate limit trusts.
    pub(crate) fn for_server(server: &ebb_server::Server) -> Self {
        Self::new(server.limiter().clone(), server.config().rate_limit.trusted_proxies.clone())
    }

    fn new(limiter: Limiter, trusted: TrustedProxies) -> Self {
        let rate = Rate::new(FAILURES, WINDOW).expect("5 per 15 minutes is a valid rate");
        // Redis down: keep limiting, in this process.
        let policy = Policy::new("login", rate).with_failure_mode(FailureMode::Local);
        Self { limiter, policy, trusted }
    }

    fn account(username: &str) -> String {
        format!("account:{}", username.trim().to_lowercase())
    }

    fn client(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> String {
        let client = peer.map_or_else(|| "unknown".to_owned(), |peer| self.trusted.client(peer.ip(), headers).key());
        format!("client:{client}")
    }

    /// Counts this attempt against the account, and peeks at the client's failures:
    /// `Some(429)` when either has no attempts left.
    pub(crate) async fn refuse(
        &self,
        username: &str,
        peer: Option<SocketAddr>,
        headers: &HeaderMap,
    ) -> Option<Response> {
        let mut wait = Duration::ZERO;
        if let Verdict::Limited(decision) = self.limiter.decide(&Self::account(username), &self.policy, 1).await {
            wait = wait.max(decision.retry_after.max(Duration::from_secs(1)));
        }
        if let Ok(decision) = self.limiter.peek(&self.client(peer, headers), &self.policy).await
            && !decision.allowed
        {
            wait = wait.max(decision.retry_after.max(Duration::from_secs(1)));
        }
        (wait > Duration::ZERO).then(|| too_many(wait))
    }

    /// Counts a failed attempt against the client (the account's attempt is counted already).
    pub(crate) async fn failed(&self, peer: Option<SocketAddr>, headers: &HeaderMap) {
        let _ = self.limiter.decide(&self.client(peer, headers), &self.policy, 1).await;
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
