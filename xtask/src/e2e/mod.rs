//! `cargo xtask e2e`: elasticity end to end, as an orchestrator and kube-proxy would do it.
//!
//! Three example-api replicas share one Redis and one S3 server behind HAProxy balancing as
//! kube-proxy does (`mode tcp`, no retries, no redispatch), health-checking `/readyz` at the
//! rendered readiness probe's period and failure threshold; the replicas run with the
//! shutdown delay, timeout and grace period the manifests set. The replicas are containers
//! of the service's image where a Docker engine answers (read-only root, uid 65532, stopped
//! with `docker stop`), and host processes in any case.
//!
//! Under mixed load (keep-alive GETs from wrk; uploads, hashed downloads, sessions and
//! presigning POSTs; a rate-limit checker with a lower and an upper bound) every runtime
//! goes through: steady state, a rolling restart, scale 1 → 3 → 1 — each with 0 errors and
//! 0 lost uploads — and two negative controls that must see errors, or the run fails
//! because it could not have seen the problem: a replica stopped with
//! `EBB_SHUTDOWN_DELAY=0s`, and a replica killed with SIGKILL. Writes `target/e2e/report.json`;
//! `--save` merges it into the committed `e2e/report.json`, which README's table is
//! generated from (`report.rs`).

mod containers;
mod processes;
pub(crate) mod report;
mod runtime;
mod traffic;

use std::net::{IpAddr, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ebb_testkit::{RedisServer, S3Server, TcpBalancer, TempDir, poll_until};
use xshell::{Shell, cmd};

use crate::tools::{self, HAPROXY, REDIS, WRK};
use containers::Containers;
pub(crate) use containers::engine_answers;
use ebb_deploy::{READINESS_FAILURE_THRESHOLD, READINESS_PERIOD_SECONDS, Service};
use processes::Processes;
use report::{E2eReport, ErrorsByClient, RateLimitCheck, RuntimeRun, ScenarioFigures};
use runtime::Runtime;
use traffic::Wrk;

const SERVICE: &str = "example-api";
/// The one login the replicas accept, set explicitly: containers listen beyond loopback,
/// where example-api refuses its built-in pair.
const LOGIN: (&str, &str) = ("e2e", "e2e-only-password");
const REPLICAS: usize = 3;
/// The rate limit every replica shares, per client address, for the checker.
const CHECK_RATE: u32 = 5;
const CHECK_BURST: u32 = 5;

/// What one scenario saw.
struct Outcome {
    name: &'static str,
    requests: f64,
    errors: f64,
    /// The errors by client: wrk, the mixed client, arrivals, the checker.
    errors_by_client: [f64; 4],
    p99_ms: f64,
    uploads: usize,
    lost_uploads: u64,
    /// (allowed, lower bound, upper bound) of the rate-limit checker.
    limit: Option<(u32, f64, f64)>,
    /// A negative control: it must see errors.
    control: bool,
    /// The fewest requests any one client (wrk, mixed, arrivals) sent.
    fewest_requests: u64,
}

/// Clients arriving with a new connection per request, at once.
const ARRIVAL_CLIENTS: u8 = 4;

/// Each client must have sent at least this many requests in a scenario.
const MIN_REQUESTS_PER_CLIENT: u64 = 20;

impl Outcome {
    fn figures(&self) -> ScenarioFigures {
        let [wrk_keep_alive, mixed, arrivals, rate_limit_checker] = self.errors_by_client;
        ScenarioFigures {
            requests: self.requests,
            errors: self.errors,
            errors_by_client: Some(ErrorsByClient { wrk_keep_alive, mixed, arrivals, rate_limit_checker }),
            p99_ms: Some((self.p99_ms * 1000.0).round() / 1000.0),
            uploads: Some(self.uploads),
            lost_uploads: Some(self.lost_uploads),
            rate_limit: self.limit.map(|(allowed, lower, upper)| RateLimitCheck {
                allowed,
                lower: lower.floor(),
                upper: upper.ceil(),
            }),
        }
    }

    /// Why this outcome fails the run, if it does.
    fn problem(&self, runtime: &str) -> Option<String> {
        if self.fewest_requests < MIN_REQUESTS_PER_CLIENT {
            return Some(format!(
                "{runtime}: {}: a client sent only {} requests: too little traffic to prove anything",
                self.name, self.fewest_requests
            ));
        }
        if self.control {
            return (self.errors == 0.0).then(|| {
                format!(
                    "{runtime}: the negative control `{}` saw no errors: this e2e cannot see the problem",
                    self.name
                )
            });
        }
        if self.errors > 0.0 || self.lost_uploads > 0 {
            return Some(format!(
                "{runtime}: {}: {} errors and {} lost uploads (target: 0 and 0)",
                self.name, self.errors, self.lost_uploads
            ));
        }
        let (allowed, lower, upper) = self.limit?;
        let allowed = f64::from(allowed);
        (allowed < lower || allowed > upper).then(|| {
            format!(
                "{runtime}: {}: the shared rate limit allowed {allowed}, outside [{lower:.0}, {upper:.0}]",
                self.name
            )
        })
    }
}

/// The timings the manifests give the service.
struct Timings {
    /// `EBB_SHUTDOWN_DELAY` and `EBB_SHUTDOWN_TIMEOUT` as the ConfigMap sets them.
    shutdown_env: [(&'static str, String); 2],
    grace: Duration,
    check_period: Duration,
}

impl Timings {
    fn of(service: &Service) -> Self {
        Self {
            shutdown_env: service.shutdown_env(),
            grace: service.termination_grace_period(),
            check_period: Duration::from_secs(u64::try_from(READINESS_PERIOD_SECONDS).unwrap_or(2)),
        }
    }

    /// How long after a replica is ready the balancer surely sends it traffic.
    fn settle(&self) -> Duration {
        self.check_period + Duration::from_millis(500)
    }
}

/// `cargo xtask e2e [--runtime processes|containers] [--save]`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Only this runtime (both when absent)
    #[arg(long, value_parser = ["processes", "containers"])]
    runtime: Option<String>,
    /// Merge into e2e/report.json and regenerate xtask/README.md's tables
    #[arg(long)]
    save: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let only = args.runtime.clone();
    let sh = Shell::new()?;
    let root = crate::workspace_root();
    sh.change_dir(&root);
    tools::ensure_apt(&sh, &[REDIS, WRK, HAPROXY])?;
    tools::ensure_s3s_fs(&sh, &root)?;
    let haproxy = tools::which(HAPROXY.binary).context("haproxy is not installed")?;
    let project = crate::services::project()?;
    let service = project.service(SERVICE).context("no example-api service")?.clone();
    let timings = Timings::of(&service);

    let want = |name: &str| only.as_deref().is_none_or(|only| only == name);
    let engine = engine_answers();
    if want("containers") && !engine {
        if only.is_some() {
            bail!("no Docker engine answers: the e2e cannot run the replicas as containers");
        }
        tools::missing("docker engine", "the e2e in containers")?;
    }
    let mut report = E2eReport::default();
    let mut problems = Vec::new();
    // A runtime that fails part-way is recorded as a problem: the other runtime still runs
    // and the report keeps what was measured.
    let mut record = |runtime: &str, outcomes: anyhow::Result<Vec<Outcome>>| {
        let outcomes = match outcomes {
            Ok(outcomes) => outcomes,
            Err(error) => {
                problems.push(format!("{runtime}: the run stopped: {error:#}"));
                return;
            }
        };
        let mut scenarios = std::collections::BTreeMap::new();
        for outcome in &outcomes {
            problems.extend(outcome.problem(runtime));
            scenarios.insert(outcome.name.to_owned(), outcome.figures());
        }
        report.runtimes.insert(runtime.to_owned(), RuntimeRun { measured: crate::bench::machine(), scenarios });
    };
    if want("processes") {
        cmd!(sh, "cargo build --release --locked -q -p {SERVICE}").run()?;
        let binary = root.join("target/release").join(SERVICE);
        let mut runtime = Processes::new(binary, REPLICAS, timings.grace);
        record("processes", scenarios(&mut runtime, &haproxy, &timings));
    }
    if want("containers") && engine {
        let out = root.join("target/image").join(SERVICE);
        let image = project.build_image(&service, &out)?;
        image.load()?;
        let grace = timings.grace.as_secs();
        let mut runtime = Containers::new(image.reference.clone(), REPLICAS, service.http_port(), grace)?;
        record("containers", scenarios(&mut runtime, &haproxy, &timings));
    }

    let json = report.json()?;
    let out = root.join("target/e2e");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("report.json"), &json)?;
    println!("{json}");
    // A failed run is not saved: README shows runs that passed.
    if args.save && problems.is_empty() {
        let committed = root.join(report::COMMITTED);
        let older = E2eReport::parse(&std::fs::read_to_string(&committed)?)?;
        std::fs::write(&committed, report.merged_over(older).json()?)?;
        crate::bench::readme::update(&root)?;
        eprintln!("xtask: merged into {}; commit it with xtask/README.md", committed.display());
    }
    if !problems.is_empty() {
        bail!("the e2e failed:\n  {}", problems.join("\n  "));
    }
    Ok(())
}

/// Every scenario on one runtime, each under the same mixed load.
fn scenarios(runtime: &mut dyn Runtime, haproxy: &std::path::Path, timings: &Timings) -> anyhow::Result<Vec<Outcome>> {
    let name = runtime.name();
    eprintln!("xtask: e2e with the replicas as {name}");
    let redis = RedisServer::start_on(runtime.state_host());
    let s3 = S3Server::start_on(runtime.state_host(), &["files"]);
    let mut env = s3.env("files");
    env.push(("REDIS_URL", redis.url()));
    env.push(("EBB_RATELIMIT_RATE", format!("{CHECK_RATE}/1s")));
    env.push(("EBB_RATELIMIT_BURST", CHECK_BURST.to_string()));
    // Closed, with a patient budget: a slow or lost Redis shows as counted 503s, never as
    // requests let through that would blur the checker's bounds.
    env.push(("EBB_RATELIMIT_FAILURE_MODE", "closed".to_owned()));
    env.push(("EBB_RATELIMIT_TIMEOUT", "1s".to_owned()));
    // HAProxy in TCP mode adds no header: the clients send their own X-Forwarded-For, which
    // the replicas trust from the balancer's address only.
    env.push(("EBB_RATELIMIT_TRUSTED_PROXIES", host_cidr(runtime.balancer_source())));
    env.extend(timings.shutdown_env.iter().cloned());
    env.push(("EBB_DEMO_USERNAME", LOGIN.0.to_owned()));
    env.push(("EBB_DEMO_PASSWORD", LOGIN.1.to_owned()));
    runtime.set_env(env);
    for slot in 0..REPLICAS {
        runtime.start(slot, &[])?;
    }
    let fall = u32::try_from(READINESS_FAILURE_THRESHOLD).unwrap_or(1);
    let proxy = TcpBalancer::start(haproxy, &runtime.backends(), timings.check_period, fall);
    let balancer = proxy.addr;
    poll_until("HAProxy to forward", Duration::from_secs(10), || {
        ebb_testkit::http_status(&format!("http://{balancer}/readyz")).filter(|s| *s == 200).map(|_| ())
    });
    let cookie = traffic::login(balancer)?;
    let dir = TempDir::new("ebb-e2e");
    let mut run = Scenario { balancer, cookie, dir: &dir, runtime: name };
    let settle = timings.settle();

    let mut outcomes = vec![run.measure("steady", false, false, || {
        thread::sleep(Duration::from_secs(5));
        Ok(())
    })?];
    outcomes.push(run.measure("rolling_restart", true, false, || {
        for slot in 0..REPLICAS {
            runtime.stop(&[slot])?;
            // A replacement pod comes up at another address: the balancer must see the old
            // one gone, not a new process quietly answering at the same port.
            thread::sleep(settle);
            runtime.start(slot, &[])?;
            thread::sleep(settle);
        }
        Ok(())
    })?);

    // Negative controls, with every replica up, so that only the fault can cause errors.
    runtime.stop(&[0])?;
    runtime.start(0, &[("EBB_SHUTDOWN_DELAY", "0s".to_owned())])?;
    thread::sleep(settle);
    outcomes.push(run.measure("control_shutdown_delay_0s", false, true, || {
        thread::sleep(Duration::from_secs(1));
        runtime.stop(&[0])?;
        thread::sleep(settle);
        runtime.start(0, &[])?;
        thread::sleep(settle);
        Ok(())
    })?);
    outcomes.push(run.measure("control_sigkill", false, true, || {
        thread::sleep(Duration::from_secs(1));
        runtime.kill(0)?;
        thread::sleep(settle);
        runtime.start(0, &[])?;
        thread::sleep(settle);
        Ok(())
    })?);

    runtime.stop(&[1, 2])?;
    thread::sleep(settle);
    outcomes.push(run.measure("scale_1_3_1", true, false, || {
        thread::sleep(Duration::from_secs(1));
        for slot in 1..REPLICAS {
            runtime.start(slot, &[])?;
        }
        thread::sleep(settle);
        runtime.stop(&[1, 2])?;
        Ok(())
    })?);
    runtime.stop(&[0])?;
    Ok(outcomes)
}

/// `a.b.c.d/32` (or `/128`).
fn host_cidr(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}/32"),
        IpAddr::V6(v6) => format!("{v6}/128"),
    }
}

struct Scenario<'a> {
    balancer: SocketAddr,
    cookie: String,
    dir: &'a TempDir,
    runtime: &'static str,
}

impl Scenario<'_> {
    /// Runs `action` under the mixed load (and the rate-limit checker when `check_limit`),
    /// then reads back every upload the scenario made.
    fn measure(
        &mut self,
        name: &'static str,
        check_limit: bool,
        control: bool,
        action: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<Outcome> {
        let wrk = Wrk::start(self.balancer, self.dir.path())?;
        let mixed = traffic::mixed(self.balancer, self.cookie.clone(), format!("{}-{name}", self.runtime));
        // Several: a connection to a replica that is gone can wait the balancer's whole
        // connect timeout, and one sequential client would then see only one failure a second.
        let arrivals: Vec<_> = (0..ARRIVAL_CLIENTS).map(|lane| traffic::arrivals(self.balancer, lane)).collect();
        let checker = check_limit.then(|| traffic::checker(self.balancer));
        let started = Instant::now();
        thread::sleep(Duration::from_millis(500));
        action()?;
        thread::sleep(Duration::from_millis(500));
        let (requests, wrk_errors, p99_ms) = wrk.finish()?;
        let mixed = mixed.finish()?;
        let mut all = traffic::Count::default();
        for client in arrivals {
            let count = client.finish()?;
            all.requests += count.requests;
            all.errors += count.errors;
        }
        let arrivals = all;
        let limit = checker.map(traffic::Looping::finish).transpose()?;
        let lost_uploads = traffic::lost_uploads(self.balancer, &format!("{}-{name}", self.runtime), &mixed.stored)?;
        let checker_errors = limit.as_ref().map_or(0, |check| check.errors);
        let checker_requests = limit.as_ref().map_or(0, |check| check.requests);
        // A client that hardly ran would pass with 0 errors and prove nothing.
        let fewest = mixed.requests.min(arrivals.requests).min(requests as u64);
        let outcome = Outcome {
            name,
            requests: requests + (mixed.requests + arrivals.requests) as f64 + f64::from(checker_requests),
            fewest_requests: fewest,
            errors: wrk_errors + (mixed.errors + arrivals.errors) as f64 + f64::from(checker_errors),
            errors_by_client: [wrk_errors, mixed.errors as f64, arrivals.errors as f64, f64::from(checker_errors)],
            p99_ms,
            uploads: mixed.stored.len(),
            lost_uploads,
            limit: limit.map(|check| {
                let upper = f64::from(CHECK_BURST) + f64::from(CHECK_RATE) * check.elapsed.as_secs_f64();
                // Refusing more than a fifth of what the limit allows would be a limiter that
                // lost or double-counted state across replicas.
                (check.allowed, upper * 0.8, upper + 1.0)
            }),
            control,
        };
        eprintln!(
            "xtask: e2e {}: {name}: {} requests, {} errors, p99 {:.2} ms, {} uploads, {} lost ({:.0} s)",
            self.runtime,
            outcome.requests,
            outcome.errors,
            outcome.p99_ms,
            outcome.uploads,
            outcome.lost_uploads,
            started.elapsed().as_secs_f64()
        );
        Ok(outcome)
    }
}
