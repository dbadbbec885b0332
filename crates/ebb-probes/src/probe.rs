use serde::Serialize;

/// Path of the liveness probe: `/livez`.
pub const LIVEZ_PATH: &str = ebb_core::names::LIVEZ_PATH;
/// Path of the readiness probe: `/readyz`.
pub const READYZ_PATH: &str = ebb_core::names::READYZ_PATH;
/// Path of the startup probe: `/startupz`.
pub const STARTUPZ_PATH: &str = ebb_core::names::STARTUPZ_PATH;
/// Alias of [`LIVEZ_PATH`], for platforms and users that expect it: `/healthz`.
pub const HEALTHZ_PATH: &str = ebb_core::names::HEALTHZ_PATH;

/// The three probes a platform asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Probe {
    /// Is the process alive? Failing it restarts the container.
    #[serde(rename = "livez")]
    Live,
    /// Should it receive traffic? Failing it removes the instance from the endpoints.
    #[serde(rename = "readyz")]
    Ready,
    /// Has it finished starting? Liveness and readiness wait for it.
    #[serde(rename = "startupz")]
    Startup,
}

impl Probe {
    /// The probe a request path asks for, if any.
    pub fn from_path(path: &str) -> Option<Self> {
        match path {
            LIVEZ_PATH | HEALTHZ_PATH => Some(Self::Live),
            READYZ_PATH => Some(Self::Ready),
            STARTUPZ_PATH => Some(Self::Startup),
            _ => None,
        }
    }

    /// `livez`, `readyz` or `startupz`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Live => "livez",
            Self::Ready => "readyz",
            Self::Startup => "startupz",
        }
    }
}
