//! The Prometheus exporter: installs the recorder, keeps histograms compact, renders text.

use std::future::Future;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::names::{
    DURATION_BUCKETS, HTTP_LABEL_OVERFLOW_TOTAL, HTTP_REQUEST_DURATION_SECONDS, HTTP_REQUESTS_IN_FLIGHT,
    HTTP_REQUESTS_TOTAL,
};
use crate::process::ProcessStats;

/// Default interval between upkeep runs (folding recorded histogram samples into buckets).
pub const DEFAULT_UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Why the exporter could not be installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExporterError {
    /// The histogram buckets were rejected by the exporter.
    #[error("invalid histogram buckets: {0}")]
    Buckets(#[source] metrics_exporter_prometheus::BuildError),
    /// Another `metrics` recorder is already installed in this process.
    #[error("a metrics recorder is already installed in this process; install the exporter once, at start-up")]
    AlreadyInstalled,
}

/// Sets up the process-wide Prometheus recorder.
///
/// # Example
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let (handle, upkeep) = ebb_metrics::Exporter::new().install()?;
/// tokio::spawn(upkeep);
/// let text = handle.render();
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Exporter {
    upkeep_interval: Duration,
    global_labels: Vec<(String, String)>,
}

impl Default for Exporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Exporter {
    /// An exporter with the default settings.
    pub fn new() -> Self {
        Self { upkeep_interval: DEFAULT_UPKEEP_INTERVAL, global_labels: Vec::new() }
    }

    /// How often the upkeep future folds histogram samples into buckets, which bounds the
    /// memory that samples take between scrapes. Default: 1 s.
    pub fn with_upkeep_interval(mut self, interval: Duration) -> Self {
        self.upkeep_interval = interval;
        self
    }

    /// A label added to every metric (for example `service`). None by default; on
    /// Kubernetes the scrape adds `namespace` and `pod`.
    pub fn with_global_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.global_labels.push((key.into(), value.into()));
        self
    }

    /// Installs the recorder for the `metrics` facade and returns the handle that renders
    /// `/metrics` and the upkeep future, which the caller spawns (nothing is spawned here).
    ///
    /// # Errors
    /// [`ExporterError::AlreadyInstalled`] if a recorder is already set.
    pub fn install(self) -> Result<(MetricsHandle, impl Future<Output = ()> + Send + 'static), ExporterError> {
        let mut builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_REQUEST_DURATION_SECONDS.to_owned()), DURATION_BUCKETS)
            .map_err(ExporterError::Buckets)?;
        for (key, value) in self.global_labels {
            builder = builder.add_global_label(key, value);
        }
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).map_err(|_| ExporterError::AlreadyInstalled)?;
        describe();
        let upkeep_handle = handle.clone();
        let interval = self.upkeep_interval;
        let upkeep = async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                upkeep_handle.run_upkeep();
            }
        };
        Ok((MetricsHandle { prometheus: handle }, upkeep))
    }
}

fn describe() {
    metrics::describe_counter!(HTTP_REQUESTS_TOTAL, "HTTP requests answered, by method, route template and status.");
    metrics::describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time from request to response head, by method, route template and status."
    );
    metrics::describe_gauge!(HTTP_REQUESTS_IN_FLIGHT, "HTTP requests being handled now.");
    metrics::describe_counter!(
        HTTP_LABEL_OVERFLOW_TOTAL,
        "Requests counted under route=\"overflow\" because the cap on distinct label sets was reached."
    );
}

/// Renders everything the process records, plus process metrics. Cheap to clone.
#[derive(Clone, Debug)]
pub struct MetricsHandle {
    prometheus: PrometheusHandle,
}

impl MetricsHandle {
    /// The Prometheus text exposition (format 0.0.4) of every metric, process metrics last.
    pub fn render(&self) -> String {
        let mut text = self.prometheus.render();
        if let Some(stats) = ProcessStats::read() {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            stats.render(&mut text);
        }
        text
    }

    /// Folds recorded histogram samples into buckets now (the upkeep future does this
    /// periodically).
    pub fn run_upkeep(&self) {
        self.prometheus.run_upkeep();
    }
}
