//! `s3-get` mode: the baseline for downloads — object_store's own streaming get of the
//! object `s3-put` wrote, read to the end and dropped. Prints `seconds=<s> bytes=<n>`.

use std::time::Instant;

use ebb_offload::object_store::ObjectStoreExt;
use ebb_offload::object_store::aws::AmazonS3Builder;
use ebb_offload::object_store::path::Path;
use futures_util::StreamExt;

pub(crate) async fn run() -> Result<(), String> {
    let store = AmazonS3Builder::from_env().build().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut body = store.get(&Path::from("direct.bin")).await.map_err(|e| e.to_string())?.into_stream();
    let mut bytes = 0_u64;
    while let Some(chunk) = body.next().await {
        bytes += chunk.map_err(|e| e.to_string())?.len() as u64;
    }
    println!("seconds={:.3} bytes={bytes}", started.elapsed().as_secs_f64());
    Ok(())
}
