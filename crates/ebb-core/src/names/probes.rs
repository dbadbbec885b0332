//! The probe paths the platform asks.

/// Liveness: failing it restarts the container.
pub const LIVEZ_PATH: &str = "/livez";
/// Readiness: failing it removes the instance from the endpoints.
pub const READYZ_PATH: &str = "/readyz";
/// Startup: liveness and readiness wait for it.
pub const STARTUPZ_PATH: &str = "/startupz";
/// Alias of [`LIVEZ_PATH`], for platforms and users that expect it.
pub const HEALTHZ_PATH: &str = "/healthz";
/// The Prometheus scrape path, on the metrics port.
pub const METRICS_PATH: &str = "/metrics";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned() {
        assert_eq!(
            [LIVEZ_PATH, READYZ_PATH, STARTUPZ_PATH, HEALTHZ_PATH],
            ["/livez", "/readyz", "/startupz", "/healthz"]
        );
        assert_eq!(METRICS_PATH, "/metrics");
    }
}
