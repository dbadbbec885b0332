//! Images and autoscaling manifests for your own ebb service, from one typed definition.
//!
//! A [`Service`] says what the code, the image and the Kubernetes objects must agree on:
//! ports, probes, the shutdown budget, resources, replicas and what scales it (an HPA on
//! CPU and/or requests per second, or KEDA on a Prometheus query, a Redis stream or list).
//! Its defaults are the ebb crates' own constants. From it `ebb-deploy`
//!
//! - builds a small, reproducible OCI image of the binary without a container engine
//!   (the binary, the libraries it links, CA certificates, a non-root user; an SPDX SBOM
//!   beside it), loads it into Docker or pushes it to a registry;
//! - renders `deploy/`: per service a ConfigMap, Deployment, Service, PodDisruptionBudget,
//!   NetworkPolicy, ServiceMonitor and an HPA (with prometheus-adapter rules) or a KEDA
//!   ScaledObject (with its TriggerAuthentication); overlays `dev`, `prod` and `keda`;
//!   `--check` fails when they are stale or inconsistent (official schemas, checkov,
//!   replicas beside an autoscaler, untagged images, triggers without authentication);
//! - deploys: images pushed, manifests pinned by digest, `kubectl apply --server-side`.
//!
//! # Use it
//!
//! Your workspace's `xtask/src/main.rs`:
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! use ebb_deploy::{Scaler, Service};
//!
//! fn main() -> ExitCode {
//!     let api = Service::new("shop-api").with_scaler(Scaler::cpu_and_requests_per_second(70, 200));
//!     ebb_deploy::xtask(&[api])
//! }
//! ```
//!
//! with `xtask = "run --quiet --package xtask --"` under `[alias]` in
//! `.cargo/config.toml`, gives `cargo xtask image|manifests|deploy` for your binaries.
//!
//! # Registry
//!
//! `image --push` and `deploy` speak the OCI distribution API themselves (HTTPS, or plain
//! HTTP for a loopback registry unless the target says `https://`). A registry that answers `401` gets what its
//! `WWW-Authenticate` challenge asks for: `Basic` credentials, or a `Bearer` token for
//! `repository:REPO:pull,push` from the challenge's realm (fetched with those credentials,
//! if any). Credentials are read as `docker login` leaves them, from
//! `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: `credHelpers[host]`, then
//! `credsStore` (each runs `docker-credential-<name> get`), then `auths[host]`; without
//! them the push is anonymous. A refusal is one line naming the host, the file and what to
//! do (`docker login HOST`), never a secret. Basic is tested against `docker-registry` with
//! htpasswd, Bearer against `docker-registry` with token auth and a test's own token
//! endpoint. Credentials and tokens go only to the registry's own origin and to the realm
//! it names, and never over plain HTTP unless the registry itself is a loopback one over
//! plain HTTP (`SSL_CERT_FILE` adds a private CA).

// A command-line tool's library: each command's result (a digest, the manifests of a dry
// run) goes to stdout, its progress to stderr.
#![allow(clippy::print_stdout)]

mod cli;
mod deploy;
mod egress;
mod image;
mod manifests;
mod platform;
mod project;
mod redis;
mod service;
pub mod tools;

use std::process::ExitCode;

use clap::Parser;

pub use cli::{Command, DeployArgs, ImageArgs, ManifestsArgs};
pub use egress::Egress;
pub use image::BuiltImage;
pub use manifests::render::{READINESS_FAILURE_THRESHOLD, READINESS_PERIOD_SECONDS};
pub use project::Project;
pub use redis::RedisTopology;
pub use service::{Resources, Scaler, Service};

/// `cargo xtask image|manifests|deploy` for `services` in the workspace around the current
/// directory: parses the command line, runs the command, and reports an error on stderr.
pub fn xtask(services: &[Service]) -> ExitCode {
    xtask_with(services, |project| project)
}

/// [`xtask`] with the project's options set by `configure`, e.g.
/// `ebb_deploy::xtask_with(&services, |project| project.with_namespace("shop"))`.
///
/// To add commands of your own beside these, flatten [`Command`] into your own clap
/// parser and call [`Project::run`], as ebb's own xtask does:
///
/// ```no_run
/// # use ebb_deploy::{Project, Service};
/// #[derive(clap::Parser)]
/// enum Xtask {
///     #[command(flatten)]
///     Deploy(ebb_deploy::Command),
///     /// Something of your own
///     Seed,
/// }
///
/// fn main() -> std::process::ExitCode {
///     let services = [Service::new("shop-api")];
///     ebb_deploy::report(match <Xtask as clap::Parser>::parse() {
///         Xtask::Deploy(command) => Project::discover(&services).and_then(|project| project.run(&command)),
///         Xtask::Seed => Ok(()),
///     })
/// }
/// ```
pub fn xtask_with(services: &[Service], configure: impl FnOnce(Project) -> Project) -> ExitCode {
    #[derive(Parser)]
    #[command(name = "cargo xtask", bin_name = "cargo xtask", about = "Images and autoscaling manifests (ebb-deploy)")]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }
    let cli = Cli::parse();
    report(Project::discover(services).map(configure).and_then(|project| project.run(&cli.command)))
}

/// Exit 0, or print the error and its causes (never a backtrace: this is a user's
/// command line, whatever `RUST_BACKTRACE` says) and exit 1.
pub fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

impl Project {
    /// Runs one command.
    pub fn run(&self, command: &Command) -> anyhow::Result<()> {
        match command {
            Command::Image(args) => image::run(self, args),
            Command::Manifests(args) => {
                if args.install_checkers {
                    for tool in &tools::CHECKERS {
                        tools::install(&self.root, tool)?;
                    }
                }
                manifests::run(self, args.check)
            }
            Command::Deploy(args) => deploy::run(self, args),
        }
    }
}

// The README is compiled as doc tests too, so that a stale example in it fails `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
