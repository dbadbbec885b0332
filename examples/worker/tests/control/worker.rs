//! TEST ONLY: the worker with its finish script swapped for one without the ownership check,
//! for the negative control of the exactly-once test (tests/queue.rs), which must then see a
//! job's effect twice.
//!
//! Why a second binary target and not a cargo feature: features unify, so a feature that
//! removes the check would also reach the `example-worker` binary the other tests (and
//! anyone building the workspace with it) run. This binary includes the very same modules
//! through `#[path]` and only provides its own crate-root `finish_script`; the shipped one
//! (`src/main.rs`, the only binary the image build asks for) never contains this script.

#[path = "../../src/app.rs"]
mod app;
#[path = "../../src/config.rs"]
mod config;
#[path = "../../src/job.rs"]
mod job;
#[path = "../../src/queue/mod.rs"]
mod queue;

mod finish_script {
    pub(crate) const LUA: &str = include_str!("finish_without_ownership_check.lua");
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    app::main().await
}
