//! Metric names (written once in `ebb_core::names`).

/// Counter: `session_renew_failures_total`, renewals of a session's lifetime the store did
/// not take (the request was answered as its handler said; the session ends earlier).
pub const SESSION_RENEW_FAILURES_TOTAL: &str = ebb_core::names::SESSION_RENEW_FAILURES_TOTAL;
