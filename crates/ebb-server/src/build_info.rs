//! What runs: the application's name, version and git revision, and the compiler. Exported
//! as the `build_info` gauge (value 1, the facts as labels: the Prometheus convention, so
//! that a query can join any series with the version that produced it) and shown on
//! `/startupz?verbose`.

use std::path::{Path, PathBuf};

/// The gauge's name.
pub const BUILD_INFO: &str = "build_info";
/// The git revision, when the build or the environment knows it (`cargo xtask image` sets
/// it for the build).
pub const ENV_GIT_REVISION: &str = ebb_core::names::ENV_GIT_REVISION;
/// What a fact nobody knows reads as.
pub(crate) const UNKNOWN: &str = "unknown";

/// The compiler that built ebb-server, and so the application (set by `build.rs`).
const RUSTC: &str = env!("EBB_RUSTC_VERSION");

/// The application's name, version, git revision and compiler. Make it with
/// [`build_info!`](crate::build_info), which reads them where the application is compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    /// The package name.
    pub name: String,
    /// The package version.
    pub version: String,
    /// The git revision, or `unknown`.
    pub revision: String,
    /// `rustc --version` of the build.
    pub rustc: String,
}

/// The calling crate's [`BuildInfo`]: its name and version, and its git revision from
/// `EBB_GIT_REVISION` at compile time, else at run time, else from the checkout it was
/// built in (still there when run by `cargo run`), else `unknown`.
#[macro_export]
macro_rules! build_info {
    () => {
        $crate::BuildInfo::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            option_env!("EBB_GIT_REVISION"),
            env!("CARGO_MANIFEST_DIR"),
        )
    };
}

impl BuildInfo {
    /// See [`build_info!`](crate::build_info).
    pub fn new(name: &str, version: &str, revision: Option<&str>, manifest_dir: &str) -> Self {
        let revision = revision
            .map(str::to_owned)
            .or_else(|| ebb_core::env::Env::process().get(ENV_GIT_REVISION).ok().flatten())
            .filter(|revision| !revision.trim().is_empty())
            .or_else(|| checkout_revision(Path::new(manifest_dir)))
            .unwrap_or_else(|| UNKNOWN.to_owned());
        Self { name: name.to_owned(), version: version.to_owned(), revision, rustc: RUSTC.to_owned() }
    }

    /// Nothing known about the application; the compiler only.
    pub fn unknown() -> Self {
        Self {
            name: UNKNOWN.to_owned(),
            version: UNKNOWN.to_owned(),
            revision: UNKNOWN.to_owned(),
            rustc: RUSTC.to_owned(),
        }
    }

    /// The facts as label pairs, in a fixed order.
    pub fn labels(&self) -> [(&'static str, String); 4] {
        [
            ("name", self.name.clone()),
            ("version", self.version.clone()),
            ("revision", self.revision.clone()),
            ("rustc", self.rustc.clone()),
        ]
    }
}

/// The commit checked out in the git work tree that holds `dir`, read from `.git` without
/// running git. `None` outside a checkout. A linked work tree (`git worktree add`) has a
/// `.git` file pointing at its own git directory, whose refs live in the common one.
fn checkout_revision(dir: &Path) -> Option<String> {
    let (git, common) = git_dirs(dir)?;
    let head = std::fs::read_to_string(git.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref: ") else { return is_hash(head).then(|| head.to_owned()) };
    for refs in [&git, &common] {
        if let Ok(hash) = std::fs::read_to_string(refs.join(reference)) {
            return is_hash(hash.trim()).then(|| hash.trim().to_owned());
        }
    }
    let packed = std::fs::read_to_string(common.join("packed-refs")).ok()?;
    packed.lines().find_map(|line| {
        let (hash, name) = line.split_once(' ')?;
        (name == reference && is_hash(hash)).then(|| hash.to_owned())
    })
}

/// The git directory of the work tree that holds `dir` (where its `HEAD` is) and the common
/// git directory (where the refs are): the same `.git` folder in a plain checkout.
fn git_dirs(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let dot_git = dir.ancestors().map(|d| d.join(".git")).find(|git| git.exists())?;
    if dot_git.is_dir() {
        return Some((dot_git.clone(), dot_git));
    }
    let relative_to = |base: &Path, path: &str| {
        let path = PathBuf::from(path.trim());
        if path.is_relative() { base.join(path) } else { path }
    };
    let pointer = std::fs::read_to_string(&dot_git).ok()?;
    let git = relative_to(dot_git.parent()?, pointer.trim().strip_prefix("gitdir:")?);
    let common = std::fs::read_to_string(git.join("commondir"))
        .map_or_else(|_| git.clone(), |common| relative_to(&git, &common));
    Some((git, common))
}

fn is_hash(text: &str) -> bool {
    (40..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_revision_comes_from_the_build_the_environment_or_the_checkout() {
        let here = env!("CARGO_MANIFEST_DIR");
        let given = BuildInfo::new("app", "1.2.3", Some("abc123"), here);
        assert_eq!((given.name.as_str(), given.version.as_str(), given.revision.as_str()), ("app", "1.2.3", "abc123"));
        assert!(given.rustc.starts_with("rustc "), "{}", given.rustc);
        // This crate is built in a checkout: its HEAD, a full hash.
        let checkout = BuildInfo::new("app", "1", None, here);
        if std::env::var(ENV_GIT_REVISION).is_err() {
            assert!(is_hash(&checkout.revision), "{}", checkout.revision);
        }
        // A linked work tree: `.git` is a file naming its git directory.
        let root = std::env::temp_dir().join(format!("ebb-build-info-{}", std::process::id()));
        let (common, linked, tree) = (root.join("main/.git"), root.join("main/.git/worktrees/w"), root.join("w"));
        let hash = "0123456789abcdef0123456789abcdef01234567";
        for folder in [&common.join("refs/heads"), &linked, &tree.join("src")] {
            std::fs::create_dir_all(folder).expect("a temporary folder");
        }
        let files = [
            (tree.join(".git"), format!("gitdir: {}\n", linked.display())),
            (linked.join("HEAD"), "ref: refs/heads/w\n".to_owned()),
            (linked.join("commondir"), "../..\n".to_owned()),
            (common.join("refs/heads/w"), format!("{hash}\n")),
        ];
        for (path, text) in files {
            std::fs::write(path, text).expect("a temporary file");
        }
        let found = checkout_revision(&tree.join("src"));
        std::fs::remove_dir_all(&root).expect("cleaned up");
        assert_eq!(found.as_deref(), Some(hash));
        // Outside a checkout: unknown.
        assert_eq!(checkout_revision(Path::new("/")), None);
        assert_eq!(BuildInfo::unknown().revision, UNKNOWN);
    }
}
