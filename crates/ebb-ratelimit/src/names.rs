//! Metric names (written once in `ebb_core::names`, where the manifests take them too) and
//! header names.

/// Counter of decisions: `ratelimit_decisions_total{policy,outcome}`, `outcome` one of
/// `allowed`, `limited`, `error` (the store failed; the failure mode decided).
pub const RATELIMIT_DECISIONS_TOTAL: &str = ebb_core::names::RATELIMIT_DECISIONS_TOTAL;

/// Counter: `ratelimit_table_full_total{policy}`, new keys the in-process store refused
/// because it held only keys over their limit (none of which it may forget).
pub const RATELIMIT_TABLE_FULL_TOTAL: &str = ebb_core::names::RATELIMIT_TABLE_FULL_TOTAL;
