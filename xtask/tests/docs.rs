//! The docs name only what exists: every repository path, crate and environment variable
//! that `ARCHITECTURE.md`, `README.md` and the other Markdown files of the repository name
//! is checked against the repository itself. And the one environment table
//! (`crates/ebb-server/README.md`, `## Environment`) lists every variable the library crates
//! read, with the defaults of their constants.
//!
//! What counts as a name (the rest of the text is prose and is not checked):
//! - a relative Markdown link target (`[x](crates/ebb-probes)`): it must exist, relative to
//!   the file that links;
//! - an inline code span outside fenced blocks that looks like a repository path (only
//!   `A-Za-z0-9_.-` and `/`, and either its first segment is a top-level entry of the
//!   repository or it ends in `.rs`, `.md`, `.toml`, `.yaml`, `.json` or `.lua`): it must
//!   exist from the root or from the file's folder (a bare file name: somewhere);
//! - an inline code span `ebb-*` or `example-*`, or a Rust path `ebb_*::...`: a workspace
//!   member;
//! - anywhere, fenced blocks included, a word `EBB_*`, `REDIS_*`, `AWS_*` or `OTEL_*` (a
//!   trailing `_*` is a prefix): a string literal in some `.rs` file under `crates/` or
//!   `examples/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository").to_owned()
}

/// Variables that dependencies read themselves, so no `.rs` file of ours names them.
const READ_BY_DEPENDENCIES: &[(&str, &str)] = &[("OTEL_SERVICE_NAME", "the OpenTelemetry SDK's resource detector")];

/// Variables read at build time (`env!`), not by a running service: not in the table.
const BUILD_TIME: &[&str] = &["EBB_GIT_REVISION", "EBB_RUSTC_VERSION"];

/// Generated or installed at run time, never committed.
const OUTPUT_DIRS: &[&str] = &["target/", ".tools/"];

const VARIABLE_PREFIXES: &[&str] = &["EBB_", "REDIS_", "AWS_", "OTEL_"];

const FILE_ENDINGS: &[&str] = &[".rs", ".md", ".toml", ".yaml", ".json", ".lua"];

/// What the docs may name: the repository's files, its packages, the variables its code reads.
struct Repository {
    root: PathBuf,
    files: Vec<PathBuf>,
    members: BTreeSet<String>,
    literals: BTreeSet<String>,
}

impl Repository {
    fn scan(root: &Path) -> Self {
        let mut files = Vec::new();
        walk(root, root, &mut files);
        let mut members = BTreeSet::new();
        let mut literals = BTreeSet::new();
        for file in &files {
            let text = || std::fs::read_to_string(root.join(file)).unwrap_or_default();
            if file.file_name().is_some_and(|name| name == "Cargo.toml") {
                if let Some(name) = package_name(&text()) {
                    members.insert(name);
                }
            } else if file.extension().is_some_and(|ext| ext == "rs")
                && (file.starts_with("crates") || file.starts_with("examples"))
            {
                literals.extend(string_literals(&text()));
            }
        }
        Repository { root: root.to_owned(), files, members, literals }
    }

    fn exists(&self, path: &str, folder: &Path) -> bool {
        let path = path.trim_end_matches('/');
        if path.is_empty() {
            return false;
        }
        if !path.contains('/') {
            return self.root.join(folder).join(path).exists()
                || self.root.join(path).exists()
                || self.files.iter().any(|file| file.file_name().is_some_and(|name| name == path));
        }
        self.root.join(path).exists() || self.root.join(folder).join(path).exists()
    }

    fn variable_is_read(&self, name: &str) -> bool {
        if READ_BY_DEPENDENCIES.iter().any(|(known, _)| *known == name) {
            return true;
        }
        match name.strip_suffix('*') {
            Some(prefix) => self.literals.iter().any(|literal| literal.starts_with(prefix)),
            None => self.literals.contains(name),
        }
    }

    fn top_level(&self) -> BTreeSet<String> {
        self.files
            .iter()
            .filter_map(|file| file.components().next())
            .map(|first| first.as_os_str().to_string_lossy().into_owned())
            .collect()
    }
}

/// The repository's files, without `.git`, `target` and other ignored output.
fn walk(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if matches!(name.as_str(), ".git" | "target" | ".tools" | "data") {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            files.push(relative.to_owned());
        }
    }
}

fn package_name(manifest: &str) -> Option<String> {
    let package = manifest.split("[package]").nth(1)?;
    let line = package.lines().find(|line| line.trim_start().starts_with("name"))?;
    Some(line.split('"').nth(1)?.to_owned())
}

/// Every `"..."` in `text` that is a variable name.
fn string_literals(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split('"').skip(1).step_by(2).filter(|s| is_variable(s)).map(str::to_owned)
}

fn is_variable(word: &str) -> bool {
    VARIABLE_PREFIXES.iter().any(|prefix| word.starts_with(prefix))
        && word.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The words of `text` that name variables; `EBB_RATELIMIT_*` comes out with its `*`.
fn variables(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == '_');
        if starts_word && bytes[i].is_ascii_uppercase() {
            let mut end = i;
            while end < bytes.len()
                && (bytes[end].is_ascii_uppercase() || bytes[end].is_ascii_digit() || bytes[end] == '_')
            {
                end += 1;
            }
            let mut word: String = bytes[i..end].iter().collect();
            if word.ends_with('_') && bytes.get(end) == Some(&'*') {
                word.push('*');
            }
            let word = if word.ends_with('*') { word } else { word.trim_end_matches('_').to_owned() };
            if VARIABLE_PREFIXES.iter().any(|prefix| word.starts_with(prefix) && word.len() > prefix.len()) {
                found.insert(word);
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    found
}

/// Inline code spans and link targets of `text` outside fenced blocks.
fn spans_and_links(text: &str) -> (Vec<String>, Vec<String>) {
    let (mut spans, mut links) = (Vec::new(), Vec::new());
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        spans.extend(line.split('`').skip(1).step_by(2).map(str::to_owned));
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            if let Some(end) = rest.find(')') {
                links.push(rest[..end].to_owned());
                rest = &rest[end..];
            }
        }
    }
    (spans, links)
}

fn looks_like_path(span: &str, top_level: &BTreeSet<String>) -> bool {
    let plain = !span.is_empty()
        && !span.starts_with('/')
        && span.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'));
    let first = span.split('/').next().unwrap_or_default();
    plain
        && !OUTPUT_DIRS.iter().any(|dir| span.starts_with(dir))
        && ((span.contains('/') && top_level.contains(first)) || FILE_ENDINGS.iter().any(|end| span.ends_with(end)))
}

fn looks_like_crate(span: &str) -> bool {
    (span.starts_with("ebb-") || span.starts_with("example-"))
        && span.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// What `doc` (at `path`, relative to the root) names that does not exist, one line each.
fn problems(repository: &Repository, path: &Path, doc: &str) -> Vec<String> {
    let folder = path.parent().unwrap_or(Path::new(""));
    let top_level = repository.top_level();
    let mut problems = Vec::new();
    let (spans, links) = spans_and_links(doc);
    for link in links {
        let target = link.split('#').next().unwrap_or_default();
        if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        if !repository.root.join(folder).join(target).exists() {
            problems.push(format!("{}: link to `{target}`: no such file or folder", path.display()));
        }
    }
    for span in spans {
        if looks_like_crate(&span) {
            if !repository.members.contains(&span) {
                problems.push(format!("{}: `{span}`: no such workspace member", path.display()));
            }
        } else if let Some((krate, _)) = span.split_once("::").filter(|(krate, _)| krate.starts_with("ebb_")) {
            let name = krate.replace('_', "-");
            if krate.chars().all(|c| c.is_ascii_lowercase() || c == '_') && !repository.members.contains(&name) {
                problems.push(format!("{}: `{span}`: no crate {name} in the workspace", path.display()));
            }
        } else if looks_like_path(&span, &top_level) && !repository.exists(&span, folder) {
            problems.push(format!("{}: `{span}`: no such file or folder", path.display()));
        }
    }
    for variable in variables(doc) {
        if !repository.variable_is_read(&variable) {
            problems.push(format!(
                "{}: {variable}: no `.rs` file under crates/ or examples/ has it as a string literal",
                path.display()
            ));
        }
    }
    problems
}

/// The Markdown files the check covers: every committed `.md` outside output folders.
fn markdown_files(repository: &Repository) -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> =
        repository.files.iter().filter(|file| file.extension().is_some_and(|ext| ext == "md")).cloned().collect();
    docs.sort();
    docs
}

#[test]
fn docs_name_only_files_crates_and_variables_that_exist() {
    let repository = Repository::scan(&repository());
    let docs = markdown_files(&repository);
    for required in ["README.md", "ARCHITECTURE.md"] {
        assert!(docs.iter().any(|doc| doc == Path::new(required)), "{required} is missing");
    }
    let mut all = Vec::new();
    for doc in &docs {
        let text = std::fs::read_to_string(repository.root.join(doc)).expect("a Markdown file");
        all.extend(problems(&repository, doc, &text));
    }
    assert!(all.is_empty(), "the docs name what does not exist:\n{}", all.join("\n"));
}

/// The negative control: a planted bogus name of each kind is reported.
#[test]
fn the_checker_reports_planted_names() {
    let repository = Repository::scan(&repository());
    let planted = "See [the guide](crates/ebb-nowhere/GUIDE.md), `crates/ebb-probes/src/nowhere.rs`, \
                   `ebb-nowhere`, `ebb_nowhere::serve` and EBB_NO_SUCH_VARIABLE.\n\
                   ```sh\nEBB_ALSO_PLANTED=1 cargo run\n```\n";
    let found = problems(&repository, Path::new("README.md"), planted);
    for name in [
        "crates/ebb-nowhere/GUIDE.md",
        "crates/ebb-probes/src/nowhere.rs",
        "`ebb-nowhere`",
        "ebb_nowhere::serve",
        "EBB_NO_SUCH_VARIABLE",
        "EBB_ALSO_PLANTED",
    ] {
        assert!(found.iter().any(|problem| problem.contains(name)), "{name} not reported: {found:#?}");
    }
    assert_eq!(found.len(), 6, "{found:#?}");
    // And names that exist pass.
    let fine = "[probes](crates/ebb-probes), `crates/ebb-server/src/edge/mod.rs`, `ebb-server`, \
                `example-api`, `ebb_server::serve`, `xtask/src/main.rs`, `Cargo.toml`, \
                `EBB_RATELIMIT_*`, REDIS_URL, `/livez`, `application/json`, `100/1m`.";
    assert_eq!(problems(&repository, Path::new("README.md"), fine), Vec::<String>::new());
}

// The environment table.

const TABLE_DOC: &str = "crates/ebb-server/README.md";

/// The rows of the table under `## Environment`: (variables of the first column, default).
fn environment_table(doc: &str) -> Vec<(Vec<String>, String)> {
    let section = doc.split("\n## Environment").nth(1).expect("a `## Environment` section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            (variables(cells[1]).into_iter().collect(), cells[2].trim_matches('`').to_owned())
        })
        .collect()
}

/// Every variable a library crate (or example-api) reads at run time. Not ebb-testkit's
/// (where tests find their tools) nor ebb-deploy's (names it renders into manifests, which
/// the crates that read them name too).
fn variables_read(repository: &Repository) -> BTreeSet<String> {
    let mut read = BTreeSet::new();
    for file in &repository.files {
        let in_library = file.starts_with("crates")
            && !file.starts_with("crates/ebb-testkit")
            && !file.starts_with("crates/ebb-deploy");
        let in_src = file.components().nth(2).is_some_and(|part| part.as_os_str() == "src");
        if (in_library || file.starts_with("examples/api")) && in_src && file.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(repository.root.join(file)).expect("a source file");
            read.extend(string_literals(&text).filter(|name| !name.starts_with("AWS_")));
        }
    }
    read.retain(|name| !BUILD_TIME.contains(&name.as_str()));
    read
}

#[test]
fn the_environment_table_lists_every_variable_the_crates_read() {
    let repository = Repository::scan(&repository());
    let doc = std::fs::read_to_string(repository.root.join(TABLE_DOC)).expect("the table's file");
    let listed: BTreeSet<String> = environment_table(&doc).into_iter().flat_map(|(names, _)| names).collect();
    let missing: Vec<String> = variables_read(&repository).into_iter().filter(|name| !listed.contains(name)).collect();
    assert!(missing.is_empty(), "{TABLE_DOC}'s environment table lacks {missing:?}");
}

fn duration(text: &str) -> Option<Duration> {
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    Some(match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number * 60),
        "h" => Duration::from_secs(number * 3600),
        "d" => Duration::from_secs(number * 86_400),
        _ => return None,
    })
}

#[test]
fn the_environment_table_shows_the_constants_defaults() {
    let doc = std::fs::read_to_string(repository().join(TABLE_DOC)).expect("the table's file");
    let table = environment_table(&doc);
    let default = |name: &str| {
        table
            .iter()
            .find(|(names, _)| names.iter().any(|n| n == name))
            .map(|(_, default)| default.clone())
            .unwrap_or_else(|| panic!("{name} is not in {TABLE_DOC}'s environment table"))
    };
    let limits = ebb_server::Limits::default();
    let durations = [
        ("EBB_SHUTDOWN_DELAY", ebb_server::ebb_shutdown::DEFAULT_DELAY),
        ("EBB_SHUTDOWN_TIMEOUT", ebb_server::ebb_shutdown::DEFAULT_TIMEOUT),
        ("EBB_HEADER_READ_TIMEOUT", limits.header_read_timeout),
        ("EBB_IDLE_TIMEOUT", limits.idle_timeout),
        ("EBB_REQUEST_TIMEOUT", limits.request_timeout),
        ("EBB_BODY_TIMEOUT", limits.body_timeout),
        ("EBB_HTTP2_KEEPALIVE", limits.http2_keepalive),
        ("EBB_REDIS_TIMEOUT", ebb_server::ebb_redis::DEFAULT_TIMEOUT),
        ("EBB_RATELIMIT_TIMEOUT", ebb_server::ebb_ratelimit::DEFAULT_TIMEOUT),
    ];
    for (name, expected) in durations {
        let shown = default(name);
        assert_eq!(duration(&shown), Some(expected), "{name}: the table shows {shown:?}");
    }
    let exact = [
        ("EBB_HTTP_ADDR", format!("0.0.0.0:{}", ebb_server::DEFAULT_HTTP_PORT)),
        ("EBB_METRICS_ADDR", format!("0.0.0.0:{}", ebb_server::DEFAULT_METRICS_PORT)),
        ("EBB_MAX_BODY_SIZE", format!("{}MiB", limits.max_body_size >> 20)),
        ("EBB_MAX_CONNECTIONS", limits.max_connections.to_string()),
        ("EBB_MAX_IN_FLIGHT", limits.max_in_flight.to_string()),
    ];
    for (name, expected) in exact {
        assert_eq!(default(name), expected, "{name}");
    }
}
