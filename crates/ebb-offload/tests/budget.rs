//! The upload memory budget: stalled uploads hold at most the budget, however many start.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ebb_offload::{MemoryMetadata, ObjectKey, Offload, OffloadConfig, OffloadError, StoreConfig};
use futures_util::StreamExt;

fn offload(dir: &std::path::Path, budget_parts: u64) -> Offload {
    let mut config = OffloadConfig { store: StoreConfig::Local(dir.to_path_buf()), ..OffloadConfig::default() };
    config.part_size = 5 << 20;
    config.parts_in_flight = 1;
    config.memory_budget = config.upload_footprint() * budget_parts;
    Offload::from_config(&config, Arc::new(MemoryMetadata::new())).expect("offload")
}

/// An upload that sends `bytes` in 1 MiB chunks and then stalls until `release` fires.
fn stalled_upload(
    offload: &Offload,
    name: &str,
    bytes: usize,
    release: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Result<ebb_offload::Metadata, OffloadError>> {
    let offload = offload.clone();
    let key = ObjectKey::parse(name).expect("key");
    tokio::spawn(async move {
        let chunks = futures_util::stream::iter(
            (0..bytes / (1 << 20)).map(|_| Ok::<_, String>(Bytes::from(vec![7u8; 1 << 20]))),
        );
        let stall = futures_util::stream::once(async move {
            let mut release = release;
            let _ = release.wait_for(|go| *go).await;
            Err::<Bytes, _>("the client went away".to_owned())
        });
        offload.upload(&key, None, None, chunks.chain(stall)).await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_uploads_cannot_hold_more_than_the_budget() {
    let dir = ebb_testkit::TempDir::new("ebb-budget");
    // Room for two uploads at their full footprint (2 x 10 MiB).
    let offload = offload(dir.path(), 2);
    let (release, stalled) = tokio::sync::watch::channel(false);
    let first = stalled_upload(&offload, "a", 12 << 20, stalled.clone());
    let second = stalled_upload(&offload, "b", 12 << 20, stalled);
    // Once both hold their whole footprint, the next upload is refused at once, not queued.
    let full = 2 * ((5 << 20) * 2);
    ebb_testkit::poll_until("the stalled uploads to fill the budget", Duration::from_secs(20), || {
        assert!(!first.is_finished() && !second.is_finished(), "the stalled uploads ended early");
        (offload.upload_memory_held() >= full).then_some(())
    });
    let key = ObjectKey::parse("probe").expect("key");
    let body = futures_util::stream::iter([Ok::<_, String>(Bytes::from(vec![3u8; 1 << 20]))]);
    let started = tokio::time::Instant::now();
    let refused = offload.upload(&key, None, None, body).await.expect_err("over the budget");
    assert!(started.elapsed() < Duration::from_secs(2), "an upload over the budget waited");
    assert!(matches!(refused, OffloadError::Busy), "{refused:?}");
    assert_eq!(refused.status(), http::StatusCode::SERVICE_UNAVAILABLE);

    // Once the stalled uploads end (the body timeout, or the client leaving), the budget is free.
    release.send(true).expect("release");
    assert!(first.await.expect("join").is_err());
    assert!(second.await.expect("join").is_err());
    let key = ObjectKey::parse("d").expect("key");
    let body = futures_util::stream::iter([Ok::<_, String>(Bytes::from(vec![1u8; 3 << 20]))]);
    offload.upload(&key, None, None, body).await.expect("room again");
}

#[test]
fn the_budget_must_hold_one_upload_and_sizes_are_bounded() {
    let lookup = |vars: &'static [(&'static str, &'static str)]| {
        move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    };
    let errors = OffloadConfig::from_lookup(lookup(&[
        ("EBB_OFFLOAD_MEMORY_BUDGET", "1MiB"),
        ("EBB_OFFLOAD_MAX_SIZE", "6TiB"),
        ("EBB_OFFLOAD_PART_SIZE", "6GiB"),
    ]))
    .expect_err("invalid");
    let text = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    for variable in ["EBB_OFFLOAD_MEMORY_BUDGET", "EBB_OFFLOAD_MAX_SIZE", "EBB_OFFLOAD_PART_SIZE"] {
        assert!(text.contains(variable), "{variable}: {text}");
    }
    let config = OffloadConfig::from_lookup(lookup(&[("EBB_OFFLOAD_MEMORY_BUDGET", "1GiB")])).expect("valid");
    assert_eq!(config.memory_budget, 1 << 30);
}
