//! `s3-put` mode: the baseline for uploads — object_store's own multipart put of a file
//! straight to S3 (settings from the `AWS_*` variables), with the part size and parallelism
//! the service uses. Prints `seconds=<s> bytes=<n>`.

use std::time::Instant;

use ebb_offload::object_store::aws::AmazonS3Builder;
use ebb_offload::object_store::path::Path;
use ebb_offload::object_store::{ObjectStoreExt, WriteMultipart};
use ebb_offload::{DEFAULT_PART_SIZE, DEFAULT_PARTS_IN_FLIGHT};
use tokio::io::AsyncReadExt;

pub(crate) async fn run(file: &str) -> Result<(), String> {
    let store = AmazonS3Builder::from_env().build().map_err(|e| e.to_string())?;
    let mut input = tokio::fs::File::open(file).await.map_err(|e| format!("{file}: {e}"))?;
    let started = Instant::now();
    let upload = store.put_multipart(&Path::from("direct.bin")).await.map_err(|e| e.to_string())?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, DEFAULT_PART_SIZE);
    let mut buffer = vec![0_u8; 1 << 20];
    let mut bytes = 0_u64;
    loop {
        let read = input.read(&mut buffer).await.map_err(|e| e.to_string())?;
        if read == 0 {
            break;
        }
        bytes += read as u64;
        writer.wait_for_capacity(DEFAULT_PARTS_IN_FLIGHT).await.map_err(|e| e.to_string())?;
        writer.write(&buffer[..read]);
    }
    writer.finish().await.map_err(|e| e.to_string())?;
    println!("seconds={:.3} bytes={bytes}", started.elapsed().as_secs_f64());
    Ok(())
}
