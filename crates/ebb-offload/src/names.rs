//! Metric names (written once in `ebb_core::names`, where the manifests take them too).

/// Counter: `offload_operations_total{operation,outcome}`; `operation` is `upload`,
/// `download`, `head`, `delete` or `presign`; `outcome` is `ok`, `client_error` (4xx) or
/// `error` (the store failed).
pub const OFFLOAD_OPERATIONS_TOTAL: &str = ebb_core::names::OFFLOAD_OPERATIONS_TOTAL;

/// Counter: `offload_bytes_total{direction}`, `direction` is `upload` or `download`: bytes
/// that went through the service (not through presigned URLs).
pub const OFFLOAD_BYTES_TOTAL: &str = ebb_core::names::OFFLOAD_BYTES_TOTAL;

pub(crate) fn record(operation: &'static str, result: Result<(), &crate::OffloadError>) {
    let outcome = match result {
        Ok(()) => "ok",
        Err(error) if error.status().is_client_error() => "client_error",
        Err(_) => "error",
    };
    metrics::counter!(OFFLOAD_OPERATIONS_TOTAL, "operation" => operation, "outcome" => outcome).increment(1);
}

pub(crate) fn bytes(direction: &'static str, count: u64) {
    metrics::counter!(OFFLOAD_BYTES_TOTAL, "direction" => direction).increment(count);
}
