//! Metadata kept in a real Redis (plain, TLS with an ACL user, a Cluster) is shared by
//! replicas.

use std::sync::Arc;

use ebb_offload::{ObjectKey, Offload, OffloadConfig, RedisMetadata};
use ebb_testkit::{RedisCluster, RedisServer, S3Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_sees_what_another_uploaded() {
    let redis = RedisServer::start();
    replicas_share_metadata(redis.env()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_sees_what_another_uploaded_over_tls() {
    let redis = RedisServer::start_tls();
    replicas_share_metadata(redis.env()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_sees_what_another_uploaded_on_a_cluster() {
    let cluster = RedisCluster::start();
    replicas_share_metadata(cluster.env()).await;
}

async fn replicas_share_metadata(redis_env: Vec<(&'static str, String)>) {
    let s3 = S3Server::start(&["files"]);
    let env = s3.env("files");
    let config = OffloadConfig::from_lookup(|name| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
        .expect("valid settings");
    let redis_config =
        ebb_redis::RedisConfig::from_lookup(|name| redis_env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
            .expect("valid")
            .expect("set");
    let replica = || {
        let redis = ebb_redis::Redis::new(&redis_config).expect("handle");
        Offload::from_config(&config, Arc::new(RedisMetadata::new(redis))).expect("store")
    };
    let (a, b) = (replica(), replica());
    for name in ["shared/notes.txt", "other/place.bin", "third.txt"] {
        let key = ObjectKey::parse(name).expect("key");
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"written by a"))]);
        let stored = a.upload(&key, Some("text/plain"), None, body).await.expect("upload");

        let seen = b.metadata(&key).await.expect("metadata");
        assert_eq!(seen, stored, "b reads the metadata a wrote, sha256 included");
        assert!(seen.sha256.is_some());

        b.delete(&key).await.expect("delete");
        assert!(a.metadata(&key).await.is_err(), "deleted for everyone");
    }
}
