//! Metadata kept in a real Redis is shared by replicas.

use std::sync::Arc;

use ebb_offload::{ObjectKey, Offload, OffloadConfig, RedisMetadata};
use ebb_testkit::{RedisServer, S3Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_sees_what_another_uploaded() {
    let s3 = S3Server::start(&["files"]);
    let redis = RedisServer::start();
    let env = s3.env("files");
    let config = OffloadConfig::from_lookup(|name| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
        .expect("valid settings");
    let replica = || {
        let redis =
            ebb_redis::Redis::new(&ebb_redis::RedisConfig::from_url(&redis.url()).expect("url")).expect("handle");
        Offload::from_config(&config, Arc::new(RedisMetadata::new(redis))).expect("store")
    };
    let (a, b) = (replica(), replica());
    let key = ObjectKey::parse("shared/notes.txt").expect("key");
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"written by a"))]);
    let stored = a.upload(&key, Some("text/plain"), None, body).await.expect("upload");

    let seen = b.metadata(&key).await.expect("metadata");
    assert_eq!(seen, stored, "b reads the metadata a wrote, sha256 included");
    assert!(seen.sha256.is_some());

    b.delete(&key).await.expect("delete");
    assert!(a.metadata(&key).await.is_err(), "deleted for everyone");
}
