//! An SPDX 2.3 JSON software bill of materials of the binary's Rust dependencies, as
//! resolved in `Cargo.lock` (`cargo tree -e normal --locked`), with their licenses.

use std::collections::BTreeSet;

use serde_json::json;
use xshell::{Shell, cmd};

pub(crate) fn spdx(sh: &Shell, package: &str, version: &str, created: &str) -> anyhow::Result<Vec<u8>> {
    let format = "{p}|{l}";
    let tree = cmd!(sh, "cargo tree --locked -p {package} -e normal --prefix none --format {format}").quiet().read()?;
    // "name v1.2.3 (path)|MIT OR Apache-2.0", repeated entries marked "(*)".
    let crates: BTreeSet<(String, String, String)> = tree
        .lines()
        .filter_map(|line| {
            let (package, license) = line.split_once('|')?;
            let mut words = package.split_whitespace();
            let name = words.next()?.to_owned();
            let version = words.next()?.trim_start_matches('v').to_owned();
            let license = license.trim().trim_end_matches("(*)").trim();
            Some((name, version, if license.is_empty() { "NOASSERTION".to_owned() } else { license.to_owned() }))
        })
        .collect();
    let packages: Vec<_> = crates
        .iter()
        .enumerate()
        .map(|(i, (name, version, license))| {
            json!({
                "SPDXID": format!("SPDXRef-Package-{i}"),
                "name": name,
                "versionInfo": version,
                "downloadLocation": "NOASSERTION",
                "licenseConcluded": "NOASSERTION",
                "licenseDeclared": license,
                "copyrightText": "NOASSERTION",
                "externalRefs": [{
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": format!("pkg:cargo/{name}@{version}"),
                }],
            })
        })
        .collect();
    let document = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{package}-{version}"),
        "documentNamespace": format!("https://spdx.org/spdxdocs/{package}-{version}-{}", crates.len()),
        "creationInfo": { "created": created, "creators": ["Tool: cargo-xtask-image"] },
        "packages": packages,
    });
    Ok(serde_json::to_vec_pretty(&document)?)
}
