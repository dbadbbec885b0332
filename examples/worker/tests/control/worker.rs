//! TEST ONLY: the worker with its two ownership checks removed, for the negative control of
//! the exactly-once test (tests/queue/exactly_once.rs), which must then see a job's effect
//! twice: its renewal never reports a lost job and its finish applies the effect anyway.
//! Both, because a paused owner that wakes finds its job's end and its next renewal due at
//! once, and either check alone may be the one that stops it (timers fire in no fixed
//! order across the runtime's threads); tests/queue/scripts.rs pins each check alone.
//!
//! Why a second binary target and not a cargo feature: features unify, so a feature that
//! removes the check would also reach the `example-worker` binary the other tests (and
//! anyone building the workspace with it) run. This binary includes the very same modules
//! through `#[path]` and only provides its own crate-root `ownership_scripts`; the shipped one
//! (`src/main.rs`, the only binary the image build asks for) never contains these scripts.

#[path = "../../src/app.rs"]
mod app;
#[path = "../../src/config.rs"]
mod config;
#[path = "../../src/job.rs"]
mod job;
#[path = "../../src/metric_names.rs"]
mod metric_names;
#[path = "../../src/queue/mod.rs"]
mod queue;

mod ownership_scripts {
    pub(crate) const RENEW: &str = include_str!("renew_without_ownership_check.lua");
    pub(crate) const FINISH: &str = include_str!("finish_without_ownership_check.lua");
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    app::main().await
}
