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
    /// Packages whose tests judge the mutants (the module's own, and the examples whose
    /// process tests reach what in-process tests cannot: signals, exit codes).
    pub(crate) test_packages: &'static [&'static str],
    /// A nextest filter over those packages' tests, so that an example adds only the
    /// tests that exercise this module.
    pub(crate) test_filter: &'static str,
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
        test_packages: &["ebb-shutdown", "example-minimal"],
        // example-minimal's shutdown tests: a second signal, exit codes, the deadline.
        test_filter: "package(ebb-shutdown) | binary_id(example-minimal::shutdown)",
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
        test_packages: &["ebb-server"],
        test_filter: "all()",
    },
    Module {
        name: "limiter",
        package: "ebb-ratelimit",
        files: &["crates/ebb-ratelimit/src/limiter/redis.rs", "crates/ebb-ratelimit/src/limiter/deny_cache.rs"],
        test_packages: &["ebb-ratelimit"],
        test_filter: "all()",
    },
    Module {
        name: "offload",
        package: "ebb-offload",
        files: &["crates/ebb-offload/src/commit.rs", "crates/ebb-offload/src/verify.rs"],
        test_packages: &["ebb-offload"],
        test_filter: "all()",
    },
    Module {
        name: "session",
        package: "ebb-session",
        files: &[
            "crates/ebb-session/src/session.rs",
            "crates/ebb-session/src/store.rs",
            "crates/ebb-session/src/shared_store.rs",
        ],
        test_packages: &["ebb-session"],
        test_filter: "all()",
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
        test_packages: &["example-worker"],
        test_filter: "all()",
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
    let package: &'static str = Box::leak(package.into_boxed_str());
    Some(Module {
        name: file,
        package,
        files: Box::leak(Box::new([file])),
        test_packages: Box::leak(Box::new([package])),
        test_filter: "all()",
    })
}
