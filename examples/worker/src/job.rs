//! The work itself, simulated: a job named `sleep:<ms>` takes that long, one starting with
//! `fail` always fails (a poison job), any other takes `EBB_WORKER_JOB_MS`.

use std::time::Duration;

pub(crate) async fn run(payload: &str, default_time: Duration) -> Result<(), String> {
    if payload.starts_with("fail") {
        return Err(format!("job {payload:?} failed (simulated)"));
    }
    let time = payload
        .strip_prefix("sleep:")
        .and_then(|ms| ms.parse::<u64>().ok())
        .map_or(default_time, |ms| Duration::from_millis(ms.min(3_600_000)));
    tokio::time::sleep(time).await;
    Ok(())
}
