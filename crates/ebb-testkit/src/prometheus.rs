use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{TempDir, find_tool, free_port, wait_for_port};

/// A throwaway Prometheus on 127.0.0.1 that scrapes `targets` every second; killed when
/// dropped.
#[derive(Debug)]
pub struct PrometheusServer {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl PrometheusServer {
    /// Starts one scraping `targets` (`host:port` of `/metrics` listeners) every second.
    pub fn start(targets: &[SocketAddr]) -> Self {
        Self::start_as(targets, "ebb", &[])
    }

    /// Like [`start`](Self::start), the scrape job named `job` and every series labelled
    /// with `labels` — as a ServiceMonitor in Kubernetes names the job after the Service and
    /// adds `namespace` and `pod`.
    pub fn start_as(targets: &[SocketAddr], job: &str, labels: &[(&str, &str)]) -> Self {
        let groups: Vec<_> = targets.iter().map(|target| (*target, labels)).collect();
        Self::start_labelled(job, &groups)
    }

    /// Like [`start_as`](Self::start_as), each target with labels of its own: services
    /// of one job in two namespaces, say.
    pub fn start_labelled(job: &str, targets: &[(SocketAddr, &[(&str, &str)])]) -> Self {
        let dir = TempDir::new("ebb-prometheus");
        let groups: String = targets
            .iter()
            .map(|(target, labels)| {
                let labels = labels.iter().map(|(k, v)| format!("{k}: '{v}'")).collect::<Vec<_>>().join(", ");
                format!("      - targets: ['{target}']\n        labels: {{{labels}}}\n")
            })
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
             - job_name: '{job}'\n    static_configs:\n{groups}"
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap_or_else(|error| panic!("cannot write prometheus.yml: {error}"));
        let binary = find_tool(
            "prometheus",
            "EBB_PROMETHEUS",
            "install it with `apt-get install prometheus`, or run `cargo xtask test`",
        );
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start prometheus: {error}"));
        wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(20));
        Self { child, port, _dir: dir }
    }

    /// The URL of an instant query for `promql` (URL-encoded here).
    pub fn query_url(&self, promql: &str) -> String {
        let encoded: String = promql
            .bytes()
            .map(|byte| match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
                other => format!("%{other:02X}"),
            })
            .collect();
        format!("http://127.0.0.1:{}/api/v1/query?query={encoded}", self.port)
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
