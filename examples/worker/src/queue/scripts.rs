//! The queue's Lua scripts, each one atomic step that first checks this consumer still holds
//! the job: hashed once and run by `EVALSHA` (loaded on `NOSCRIPT`). Every key shares the
//! queue's hash tag, so they run on a Redis Cluster too.

use ebb_server::ebb_redis::Error;
use ebb_server::ebb_redis::redis::Script;

use super::{Job, Queue};

const DEAD_LETTER_LUA: &str = include_str!("../lua/dead_letter.lua");
const HAND_BACK_LUA: &str = include_str!("../lua/hand_back.lua");

pub(super) struct Scripts {
    /// These two from the crate root's `ownership_scripts`: the shipped binary's
    /// `lua/renew.lua` and `lua/finish.lua`; the negative control's binary (tests/control)
    /// swaps in ones without the ownership check.
    renew: Script,
    finish: Script,
    dead_letter: Script,
    hand_back: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            renew: Script::new(crate::ownership_scripts::RENEW),
            finish: Script::new(crate::ownership_scripts::FINISH),
            dead_letter: Script::new(DEAD_LETTER_LUA),
            hand_back: Script::new(HAND_BACK_LUA),
        }
    }
}

impl Queue {
    /// Renews `consumer`'s lease on `job` (resets its idle time, not its delivery count):
    /// `false` when another consumer holds it now.
    pub(super) async fn renew(&self, consumer: &str, job: &Job) -> Result<bool, Error> {
        let mut invocation = self.scripts.renew.key(&self.config.queue);
        invocation.arg(&self.config.group).arg(consumer).arg(&job.id);
        Ok(self.redis.invoke::<i64>(&invocation, self.redis.timeout()).await? == 1)
    }

    /// The job's effect (here, a counter), `XACK` and `XDEL` at once, only if `consumer`
    /// still holds it: `false` when it was taken over, and then nothing changed.
    pub(super) async fn finish(&self, consumer: &str, job: &Job) -> Result<bool, Error> {
        let mut invocation = self.scripts.finish.key(&self.config.queue);
        invocation.key(self.key("done")).key(self.key("errors"));
        invocation.arg(&self.config.group).arg(consumer).arg(&job.id).arg(&job.payload);
        Ok(self.redis.invoke::<i64>(&invocation, self.redis.timeout()).await? == 1)
    }

    /// Moves a job `consumer` holds to the dead-letter stream with its last error.
    pub(super) async fn dead_letter(&self, consumer: &str, job: &Job, attempts: usize) -> Result<bool, Error> {
        let mut invocation = self.scripts.dead_letter.key(&self.config.queue);
        invocation.key(self.key("dead")).key(self.key("errors"));
        invocation.arg(&self.config.group).arg(consumer).arg(&job.id).arg(&job.payload).arg(attempts);
        invocation.arg("the consumer holding it stopped answering");
        Ok(self.redis.invoke::<i64>(&invocation, self.redis.timeout()).await? == 1)
    }

    /// Makes a job `consumer` holds claimable by others at once (as if its lease had run
    /// out): `false` when it was not `consumer`'s any more.
    pub(super) async fn hand_back(&self, consumer: &str, job_id: &str) -> Result<bool, Error> {
        let mut invocation = self.scripts.hand_back.key(&self.config.queue);
        invocation.arg(&self.config.group).arg(consumer).arg(job_id).arg(self.lease_ms());
        Ok(self.redis.invoke::<i64>(&invocation, self.redis.timeout()).await? == 1)
    }
}
