//! The environment grammar: where variables come from ([`Env`]), the one error a bad value
//! makes ([`EnvError`]), the collector that reports every bad value at once ([`Errors`]),
//! and the value grammars: durations with bounds ([`DurationBounds`]), sizes with bounds
//! ([`SizeBounds`], one unit table) and booleans ([`parse_bool`]).
//!
//! Every ebb crate reads its variables through these, so `EBB_SHUTDOWN_DELAY=1500ms` and
//! `EBB_OFFLOAD_URL_EXPIRY=1500ms` are read alike, and `512KiB` means the same bytes in
//! every size variable.
//!
//! ```
//! use ebb_core::env::{Env, Errors, SizeBounds};
//!
//! let lookup = |name: &str| (name == "EBB_MAX_BODY_SIZE").then(|| "lots".to_owned());
//! let env = Env::from_fn(&lookup);
//! let mut errors: Errors = Errors::new();
//! let size = errors.take(env.size("EBB_MAX_BODY_SIZE", SizeBounds::new(0, 1 << 30)));
//! assert_eq!(size, None);
//! let report = errors.finish(()).expect_err("a bad size");
//! assert!(report[0].to_string().starts_with("EBB_MAX_BODY_SIZE=\"lots\" is invalid: expected a size"));
//! ```

mod boolean;
mod duration;
mod error;
mod errors;
mod lookup;
mod size;

pub use self::boolean::{BOOL_EXPECTED, parse_bool};
pub use self::duration::{DurationBounds, parse_duration};
pub use self::error::EnvError;
pub use self::errors::Errors;
pub use self::lookup::Env;
pub use self::size::{SizeBounds, parse_size};
