//! The declared MSRV is honest: every workspace member's `rust-version` (inherited from the
//! root `Cargo.toml`) is at least the highest `rust-version` any package in `Cargo.lock`
//! declares. A dependency that needs a newer compiler than we claim would break a user on our
//! floor, and no older toolchain can be installed here to find out by building; this is the
//! lockfile half of the check, clippy's `incompatible_msrv` (denied in the workspace lints)
//! is the other (README, "How the MSRV is checked").
//!
//! The comparison is one function over `cargo metadata`'s JSON, so the negative controls feed
//! it a fake package above the floor and see it named.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// A `rust-version` as Cargo writes it: `1.88` or `1.88.0` (a missing patch is 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RustVersion {
    major: u64,
    minor: u64,
    patch: u64,
}

impl RustVersion {
    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('.').map(|part| part.parse::<u64>().ok());
        let major = parts.next()??;
        let minor = parts.next()??;
        let patch = parts.next().unwrap_or(Some(0))?;
        parts.next().is_none().then_some(Self { major, minor, patch })
    }
}

impl fmt::Display for RustVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A package of the lockfile that declares a `rust-version`.
#[derive(Debug)]
struct Floor {
    name: String,
    version: String,
    rust_version: RustVersion,
}

impl fmt::Display for Floor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} (rust-version {})", self.name, self.version, self.rust_version)
    }
}

/// What `cargo metadata` says: the members' floors and the dependencies' floors.
#[derive(Debug, Default)]
struct Floors {
    members: Vec<Floor>,
    dependencies: Vec<Floor>,
}

/// Splits `cargo metadata --format-version 1` into members and dependencies. A member without
/// a `rust-version`, or any unreadable `rust-version`, is an error: it cannot be compared.
fn floors(metadata: &Value) -> Result<Floors, String> {
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .ok_or("cargo metadata has no workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let packages = metadata["packages"].as_array().ok_or("cargo metadata has no packages")?;
    let mut floors = Floors::default();
    for package in packages {
        let name = package["name"].as_str().unwrap_or("?").to_owned();
        let version = package["version"].as_str().unwrap_or("?").to_owned();
        let is_member = package["id"].as_str().is_some_and(|id| members.contains(&id));
        let declared = package["rust_version"].as_str();
        let Some(declared) = declared else {
            if is_member {
                return Err(format!("workspace member {name} declares no rust-version"));
            }
            continue;
        };
        let rust_version = RustVersion::parse(declared)
            .ok_or_else(|| format!("{name} {version}: unreadable rust-version {declared:?}"))?;
        let floor = Floor { name, version, rust_version };
        if is_member { floors.members.push(floor) } else { floors.dependencies.push(floor) }
    }
    if floors.members.is_empty() {
        return Err("cargo metadata lists no workspace member".to_owned());
    }
    Ok(floors)
}

/// The highest dependency floor, and one line per member `rust-version` below some dependency's
/// (members sharing one `rust-version` share a line; empty when honest).
fn members_below_dependencies(floors: &Floors) -> (Option<&Floor>, Vec<String>) {
    let highest = floors.dependencies.iter().max_by_key(|floor| floor.rust_version);
    let Some(highest) = highest else { return (None, Vec::new()) };
    let mut members: BTreeMap<RustVersion, Vec<&str>> = BTreeMap::new();
    for member in &floors.members {
        members.entry(member.rust_version).or_default().push(&member.name);
    }
    let offences = members
        .into_iter()
        .filter_map(|(declared, names)| {
            let above: Vec<String> = floors
                .dependencies
                .iter()
                .filter(|dependency| dependency.rust_version > declared)
                .map(ToString::to_string)
                .collect();
            (!above.is_empty()).then(|| {
                format!(
                    "rust-version {declared} of {} is below what Cargo.lock needs: {}; raise \
                     `rust-version` in the root Cargo.toml to at least {} and say so in README",
                    names.join(", "),
                    above.join(", "),
                    highest.rust_version,
                )
            })
        })
        .collect();
    (Some(highest), offences)
}

fn metadata(root: &Path) -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root)
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed:\n{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

#[test]
fn rust_version_covers_every_dependency_floor() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository");
    let floors = floors(&metadata(root)).unwrap_or_else(|error| panic!("{error}"));
    let (highest, offences) = members_below_dependencies(&floors);
    let highest = highest.expect("Cargo.lock has dependencies with a rust-version");
    eprintln!(
        "msrv: {} members, {} dependencies declare a rust-version; the highest is {highest}",
        floors.members.len(),
        floors.dependencies.len(),
    );
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

/// Metadata with one member at `member` and the given dependencies (`name`, `rust-version`).
fn fake_metadata(member: &str, dependencies: &[(&str, Option<&str>)]) -> Value {
    let mut packages = vec![serde_json::json!({
        "name": "ebb-fake", "version": "0.1.0", "id": "path+file:///ebb-fake#0.1.0",
        "rust_version": member,
    })];
    for (name, rust_version) in dependencies {
        packages.push(serde_json::json!({
            "name": name, "version": "9.9.9", "id": format!("registry+fake#{name}@9.9.9"),
            "rust_version": rust_version,
        }));
    }
    serde_json::json!({ "workspace_members": ["path+file:///ebb-fake#0.1.0"], "packages": packages })
}

#[test]
fn control_a_dependency_above_the_floor_is_named_with_its_rust_version() {
    let metadata = fake_metadata("1.88", &[("low-dep", Some("1.85")), ("high-dep", Some("1.89.1")), ("none", None)]);
    let floors = floors(&metadata).expect("readable");
    let (highest, offences) = members_below_dependencies(&floors);
    assert_eq!(highest.map(|floor| floor.name.as_str()), Some("high-dep"));
    assert_eq!(offences.len(), 1, "{offences:?}");
    assert!(offences[0].contains("high-dep 9.9.9 (rust-version 1.89.1)"), "{}", offences[0]);
    assert!(!offences[0].contains("low-dep"), "{}", offences[0]);
}

#[test]
fn control_an_equal_floor_passes_whatever_its_spelling() {
    let metadata = fake_metadata("1.88", &[("equal-dep", Some("1.88.0")), ("low-dep", Some("1.60"))]);
    let floors = floors(&metadata).expect("readable");
    let (highest, offences) = members_below_dependencies(&floors);
    assert_eq!(highest.map(|floor| floor.name.as_str()), Some("equal-dep"));
    assert!(offences.is_empty(), "{offences:?}");
}

#[test]
fn control_an_unreadable_or_missing_floor_is_an_error() {
    assert!(floors(&fake_metadata("1.88", &[("odd-dep", Some("1.x"))])).is_err());
    let mut metadata = fake_metadata("1.88", &[]);
    metadata["packages"][0]["rust_version"] = Value::Null;
    assert!(floors(&metadata).is_err());
    assert_eq!(RustVersion::parse("1.88"), RustVersion::parse("1.88.0"));
    assert!(RustVersion::parse("1.88.0.1").is_none());
    assert!(RustVersion::parse("1.9") < RustVersion::parse("1.10"));
}
