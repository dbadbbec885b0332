//! An S3 endpoint that is not a URL is refused when the configuration is read. Control: the
//! same settings handed to the store by hand build, and the first request panics inside
//! object_store — what every object request and the `s3` readiness check did before.

use std::sync::Arc;

use ebb_offload::{MemoryMetadata, Offload, OffloadConfig, StoreConfig};

fn vars(endpoint: &str) -> Vec<(String, String)> {
    [("AWS_BUCKET", "files"), ("AWS_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s")]
        .into_iter()
        .chain([("AWS_ENDPOINT", endpoint)])
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

#[tokio::test]
async fn an_endpoint_that_is_not_a_url_is_refused_at_start() {
    let env = vars("not a url");
    let errors = OffloadConfig::from_lookup(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        .expect_err("refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].to_string().starts_with("AWS_ENDPOINT=\"not a url\" is invalid"), "{}", errors[0]);

    // Control: past the reader, object_store takes the value and panics at the first request.
    let config = OffloadConfig { store: StoreConfig::S3(vars("not a url")), ..OffloadConfig::default() };
    let offload = Offload::from_config(&config, Arc::new(MemoryMetadata::new())).expect("object_store builds it");
    let check = tokio::spawn(async move { offload.check().await }).await;
    assert!(check.expect_err("a panic, not an answer").is_panic());
}
