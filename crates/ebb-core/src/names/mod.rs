//! Every name the runtime crates and the tooling (`ebb-deploy`) share, written once: ports
//! and listener variables, the shutdown budget, probe paths, metric names and the variables
//! the process reads. The runtime crates re-export these; manifests are rendered from them.
//!
//! ```
//! use ebb_core::names::{DEFAULT_HTTP_PORT, READYZ_PATH, REQUESTS_PER_SECOND};
//!
//! let probe = format!("http://127.0.0.1:{DEFAULT_HTTP_PORT}{READYZ_PATH}");
//! assert_eq!(probe, "http://127.0.0.1:8080/readyz");
//! assert_eq!(REQUESTS_PER_SECOND, "requests_per_second");
//! ```

mod listen;
mod metrics;
mod probes;
mod process;
mod ratelimit;
mod shutdown;

pub use self::listen::*;
pub use self::metrics::*;
pub use self::probes::*;
pub use self::process::*;
pub use self::ratelimit::*;
pub use self::shutdown::*;
