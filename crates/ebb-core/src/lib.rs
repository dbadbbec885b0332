//! The few decisions every ebb crate shares, written once: the names the runtime and the
//! tooling agree on ([`names`]), the grammar of environment variables ([`env`](mod@env)), and one
//! canned plain-text response ([`response`]).
//!
//! A foundation crate: it depends on no other ebb crate, pulls in no runtime (no tokio,
//! hyper or axum), and every sibling may use it. `ebb-deploy` renders manifests from these
//! names without compiling the runtime that serves them.
//!
//! ```
//! use std::time::Duration;
//! use ebb_core::env::{DurationBounds, Env, Errors};
//! use ebb_core::names::{DEFAULT_SHUTDOWN_DELAY, ENV_SHUTDOWN_DELAY, MAX_SHUTDOWN_DELAY};
//!
//! let lookup = |name: &str| (name == ENV_SHUTDOWN_DELAY).then(|| "250ms".to_owned());
//! let env = Env::from_fn(&lookup);
//! let mut errors: Errors = Errors::new();
//! let bounds = DurationBounds::new(Duration::ZERO, MAX_SHUTDOWN_DELAY);
//! let delay = errors.take(env.duration(ENV_SHUTDOWN_DELAY, bounds)).unwrap_or(DEFAULT_SHUTDOWN_DELAY);
//! assert_eq!(errors.finish(delay), Ok(Duration::from_millis(250)));
//! ```

pub mod client;
pub mod env;
pub mod names;
pub mod response;
