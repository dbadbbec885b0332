//! What the process tests of example-minimal share: the built binary, started and ready.

// Each test file uses what it needs of this module.
#![allow(dead_code)]

pub(crate) mod h2;

use std::time::{Duration, Instant};

use ebb_testkit::ServiceProcess;
use reqwest::StatusCode;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_example-minimal");

/// example-minimal with `env`, once `/readyz` passes.
pub(crate) async fn start(env: &[(&str, &str)]) -> ServiceProcess {
    let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    let service = ServiceProcess::start(BIN, &env);
    let deadline = Instant::now() + Duration::from_secs(5);
    while reqwest::get(service.url("/readyz")).await.map(|r| r.status()).ok() != Some(StatusCode::OK) {
        assert!(Instant::now() < deadline, "/readyz never passed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    service
}
