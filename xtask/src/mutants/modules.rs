//! The core list: the modules whose mutants must all be caught (or explained), each with the
//! package whose tests judge it.

/// Files mutated together, judged by one package's tests.
#[derive(Clone, Copy)]
pub(crate) struct Module {
    /// What `cargo xtask mutants NAME` selects, and the report's row.
    pub(crate) name: &'static str,
    pub(crate) package: &'static str,
    /// Relative to the workspace root.
    pub(crate) files: &'static [&'static str],
}

pub(crate) const CORE: [Module; 6] = [
    Module {
        name: "drain",
        package: "ebb-shutdown",
        files: &[
            "crates/ebb-shutdown/src/drain.rs",
            "crates/ebb-shutdown/src/run.rs",
            "crates/ebb-shutdown/src/shutdown.rs",
        ],
    },
    Module {
        name: "edge",
        package: "ebb-server",
        files: &[
            "crates/ebb-server/src/edge/answers.rs",
            "crates/ebb-server/src/edge/body.rs",
            "crates/ebb-server/src/edge/context.rs",
            "crates/ebb-server/src/edge/future.rs",
            "crates/ebb-server/src/edge/layer.rs",
            "crates/ebb-server/src/edge/slow_body.rs",
        ],
    },
    Module {
        name: "limiter",
        package: "ebb-ratelimit",
        files: &["crates/ebb-ratelimit/src/limiter/redis.rs", "crates/ebb-ratelimit/src/limiter/deny_cache.rs"],
    },
    Module {
        name: "offload",
        package: "ebb-offload",
        files: &["crates/ebb-offload/src/commit.rs", "crates/ebb-offload/src/verify.rs"],
    },
    Module {
        name: "session",
        package: "ebb-session",
        files: &[
            "crates/ebb-session/src/session.rs",
            "crates/ebb-session/src/store.rs",
            "crates/ebb-session/src/shared_store.rs",
        ],
    },
    Module {
        name: "queue",
        package: "example-worker",
        files: &[
            "examples/worker/src/queue/consumer.rs",
            "examples/worker/src/queue/hold.rs",
            "examples/worker/src/queue/look.rs",
            "examples/worker/src/queue/scripts.rs",
        ],
    },
];

/// An ad-hoc module of one file, `crates/NAME/...` or `examples/NAME/...`, judged by its
/// own package's tests (the examples' packages are `example-NAME`).
pub(crate) fn for_file(file: &str) -> Option<Module> {
    let path = std::path::Path::new(file);
    if path.extension()? != "rs" || !crate::workspace_root().join(path).is_file() {
        return None;
    }
    let mut parts = file.split('/');
    let package = match (parts.next()?, parts.next()?) {
        ("crates", name) => name.to_owned(),
        ("examples", name) => format!("example-{name}"),
        _ => return None,
    };
    // One run of the command: leaking two short strings keeps `Module` all `'static`.
    let file: &'static str = Box::leak(file.to_owned().into_boxed_str());
    Some(Module { name: file, package: Box::leak(package.into_boxed_str()), files: Box::leak(Box::new([file])) })
}
