//! Each ownership check alone, against Redis and without timing: a job delivered to one
//! consumer and claimed by another. The finish script run as the first changes nothing and
//! the renewal tells it the job is lost (and claims nothing back); the same scripts from the
//! negative control's binary (tests/control) apply the effect and answer "renewed".

use ebb_server::ebb_redis::Redis;
use ebb_server::ebb_redis::redis::{self, Script};
use ebb_testkit::RedisServer;

use super::{QUEUE, handle, holders, state};

const FINISH: &str = include_str!("../../src/lua/finish.lua");
const RENEW: &str = include_str!("../../src/lua/renew.lua");
const FINISH_CONTROL: &str = include_str!("../control/finish_without_ownership_check.lua");
const RENEW_CONTROL: &str = include_str!("../control/renew_without_ownership_check.lua");
const GROUP: &str = "workers";
const PAYLOAD: &str = "job-1";

/// The queue's consumer group, before any job.
async fn group(redis: &Redis) {
    let _: String = redis
        .query(redis::cmd("XGROUP").arg("CREATE").arg(QUEUE).arg(GROUP).arg("$").arg("MKSTREAM"))
        .await
        .expect("group");
}

/// A job delivered to "first" and then claimed by "second"; returns its id.
async fn taken_over(redis: &Redis) -> String {
    let id: String = redis.query(redis::cmd("XADD").arg(QUEUE).arg("*").arg("job").arg(PAYLOAD)).await.expect("xadd");
    let _: redis::Value = redis
        .query(redis::cmd("XREADGROUP").arg("GROUP").arg(GROUP).arg("first").arg("STREAMS").arg(QUEUE).arg(">"))
        .await
        .expect("delivered to first");
    let _: redis::Value = redis
        .query(redis::cmd("XCLAIM").arg(QUEUE).arg(GROUP).arg("second").arg(0).arg(&id).arg("JUSTID"))
        .await
        .expect("claim");
    id
}

async fn finish(redis: &Redis, lua: &str, consumer: &str, id: &str) -> i64 {
    let script = Script::new(lua);
    let mut invocation = script.key(QUEUE);
    invocation.key(format!("{QUEUE}:done")).key(format!("{QUEUE}:errors"));
    invocation.arg(GROUP).arg(consumer).arg(id).arg(PAYLOAD);
    redis.invoke(&invocation, redis.timeout()).await.expect("finish")
}

async fn renew(redis: &Redis, lua: &str, consumer: &str, id: &str) -> i64 {
    let script = Script::new(lua);
    let mut invocation = script.key(QUEUE);
    invocation.arg(GROUP).arg(consumer).arg(id);
    redis.invoke(&invocation, redis.timeout()).await.expect("renew")
}

#[tokio::test]
async fn the_finish_script_applies_nothing_for_a_consumer_that_lost_the_job() {
    let server = RedisServer::start();
    let redis = handle(&server.env());
    group(&redis).await;
    let id = taken_over(&redis).await;
    assert_eq!(finish(&redis, FINISH, "first", &id).await, 0, "the first lost it");
    let (left, done) = state(&redis).await;
    assert_eq!((left, done.get(PAYLOAD)), (1, None), "nothing applied, nothing acknowledged");
    assert_eq!(finish(&redis, FINISH, "second", &id).await, 1, "the holder finishes it");
    let (left, done) = state(&redis).await;
    assert_eq!((left, done.get(PAYLOAD)), (0, Some(&1)));
    // Negative control: without the check, the consumer that lost the job applies it too.
    let id = taken_over(&redis).await;
    assert_eq!(finish(&redis, FINISH_CONTROL, "first", &id).await, 1);
    let (_, done) = state(&redis).await;
    assert_eq!(done.get(PAYLOAD), Some(&2), "the control applies the lost job's effect");
}

#[tokio::test]
async fn the_renewal_tells_a_consumer_that_lost_the_job_and_claims_nothing_back() {
    let server = RedisServer::start();
    let redis = handle(&server.env());
    group(&redis).await;
    let id = taken_over(&redis).await;
    assert_eq!(renew(&redis, RENEW, "first", &id).await, 0, "the first is told it lost the job");
    assert_eq!(holders(&redis).await, ["second"], "and the job stays the second's");
    assert_eq!(renew(&redis, RENEW, "second", &id).await, 1, "the holder renews it");
    // Negative control: the control's renewal answers "renewed" to the consumer that lost it.
    assert_eq!(renew(&redis, RENEW_CONTROL, "first", &id).await, 1);
    assert_eq!(holders(&redis).await, ["second"], "the control claims nothing back either");
}
