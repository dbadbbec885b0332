//! The two listeners: the application's and the metrics port, and their variables.

/// Address of the application listener, e.g. `0.0.0.0:8080`.
pub const ENV_HTTP_ADDR: &str = "EBB_HTTP_ADDR";
/// Address of the `/metrics` (and operator) listener, e.g. `0.0.0.0:9090`.
pub const ENV_METRICS_ADDR: &str = "EBB_METRICS_ADDR";
/// Default application port: 8080.
pub const DEFAULT_HTTP_PORT: u16 = 8080;
/// Default metrics port: 9090.
pub const DEFAULT_METRICS_PORT: u16 = 9090;

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's values, as literals: a changed constant must fail here, not pass.
    #[test]
    fn pinned() {
        assert_eq!((DEFAULT_HTTP_PORT, DEFAULT_METRICS_PORT), (8080, 9090));
        assert_eq!((ENV_HTTP_ADDR, ENV_METRICS_ADDR), ("EBB_HTTP_ADDR", "EBB_METRICS_ADDR"));
    }
}
