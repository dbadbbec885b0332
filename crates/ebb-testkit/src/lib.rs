//! The shared test harness of the ebb workspace: real servers, never mocks.
//!
//! - [`RedisServer`]: a throwaway `redis-server` on a free loopback port, no persistence;
//!   plain, or TLS-only with an ACL user and a CA of its own ([`TestCa`]).
//! - [`RedisCluster`]: a throwaway 6-node Redis Cluster (3 masters, 3 replicas).
//! - [`RedisSentinel`]: a throwaway Sentinel set (a master, a replica, 3 sentinels), plain,
//!   with passwords, or TLS; its master can be killed or failed over.
//! - [`FreezingProxy`]: a TCP proxy whose open connections can be frozen while new ones
//!   work (a hung connection); it keeps what clients sent, to read requests off the wire.
//! - [`RegistryServer`]: a throwaway OCI registry (`docker-registry`), anonymous or behind
//!   htpasswd (Basic) or token (Bearer) authentication.
//! - [`S3Server`]: a throwaway `s3s-fs` (S3-compatible, SigV4-checked) over a temporary
//!   directory.
//! - [`PrometheusServer`]: a throwaway Prometheus scraping given targets every second.
//! - [`TcpBalancer`], [`Replicas`], [`wrk`]: an L4 balancer (HAProxy, TCP mode, no
//!   retries) in front of replicas on fixed ports, rolling restarts, and keep-alive load.
//! - [`ServiceProcess`]: a service binary started as a child process, its addresses read
//!   from its log, with helpers to signal it and wait for it.
//!
//! Every server binds 127.0.0.1 on a free port, is stopped when dropped, and its files are
//! removed. Waiting is polling with a deadline, never a fixed sleep. A missing binary is a
//! panic that says how to install it (`cargo xtask test` installs everything).

mod allocations;
mod balancer;
mod captured_log;
mod certs;
mod child;
mod collector;
mod freezing_proxy;
mod poll;
mod ports;
mod process;
mod prometheus;
mod promtool;
mod redis;
mod redis_cluster;
mod redis_sentinel;
mod registry;
mod s3;
mod tempdir;
mod tools;

pub use allocations::CountingAllocator;
pub use balancer::{Replicas, TcpBalancer, WrkReport, http_status, tool_or_skip, wrk};
pub use captured_log::CapturedLog;
pub use certs::TestCa;
pub use collector::{Export, OtlpCollector};
pub use freezing_proxy::{FreezingProxy, RECORDED_AT_MOST};
pub use poll::{poll_until, wait_for_port};
pub use ports::free_port;
pub use process::{ExitInfo, ServiceProcess};
pub use prometheus::PrometheusServer;
pub use promtool::promtool_check;
pub use redis::{REDIS_TLS_PASSWORD, REDIS_TLS_USER, RedisServer};
pub use redis_cluster::RedisCluster;
pub use redis_sentinel::{RedisSentinel, SENTINEL_DATA_PASSWORD, SENTINEL_MASTER_NAME, SENTINEL_OWN_PASSWORD};
pub use registry::{RegistryServer, RegistryTokenAuth};
pub use s3::S3Server;
pub use tempdir::TempDir;
pub use tools::{find_tool, in_ci};
