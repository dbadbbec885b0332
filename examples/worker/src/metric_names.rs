//! The worker's metrics: each name once, with the help text `/metrics` shows for it.

use ebb_server::MetricHelp;

pub(crate) const PROCESSED: &str = "jobs_processed_total";
pub(crate) const FAILED: &str = "jobs_failed_total";
pub(crate) const REQUEUED: &str = "jobs_requeued_total";
pub(crate) const DEAD_LETTERED: &str = "jobs_dead_lettered_total";
pub(crate) const HANDED_BACK: &str = "jobs_handed_back_total";
pub(crate) const QUEUE_DEPTH: &str = "jobs_queue_depth";

pub(crate) const HELP: [MetricHelp; 6] = [
    MetricHelp::Counter(PROCESSED, "Jobs finished and their effect applied."),
    MetricHelp::Counter(
        FAILED,
        "Job runs that failed or ran past EBB_WORKER_JOB_TIMEOUT (each is retried after its lease).",
    ),
    MetricHelp::Counter(REQUEUED, "Jobs taken over from a consumer whose lease ran out."),
    MetricHelp::Counter(
        DEAD_LETTERED,
        "Jobs moved to the dead-letter stream after EBB_WORKER_MAX_ATTEMPTS deliveries.",
    ),
    MetricHelp::Counter(HANDED_BACK, "Jobs handed back unfinished at shutdown, for another consumer to take at once."),
    MetricHelp::Gauge(QUEUE_DEPTH, "Jobs in the stream not yet acknowledged."),
];
