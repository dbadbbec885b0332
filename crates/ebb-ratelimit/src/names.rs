//! Metric names (DESIGN.md) and header names.

/// Counter of decisions: `ratelimit_decisions_total{policy,outcome}`, `outcome` one of
/// `allowed`, `limited`, `error` (the store failed; the failure mode decided).
pub const RATELIMIT_DECISIONS_TOTAL: &str = "ratelimit_decisions_total";
