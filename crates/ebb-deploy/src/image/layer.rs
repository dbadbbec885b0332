//! One filesystem layer as a reproducible tar+gzip: entries sorted by path, every parent
//! directory present, owner root unless said otherwise, fixed modes and one fixed timestamp,
//! gzip without a name or time.

use std::collections::BTreeMap;
use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

/// A file or directory of the image, by absolute path.
pub(crate) enum Node {
    Dir { mode: u32, owner: u32 },
    File { data: Vec<u8>, mode: u32 },
}

/// The tree of the layer: absolute paths to nodes.
#[derive(Default)]
pub(crate) struct Tree(BTreeMap<String, Node>);

impl Tree {
    pub(crate) fn dir(&mut self, path: &str, mode: u32, owner: u32) {
        self.0.insert(path.trim_end_matches('/').to_owned(), Node::Dir { mode, owner });
    }

    pub(crate) fn file(&mut self, path: &str, data: Vec<u8>, mode: u32) {
        self.0.insert(path.to_owned(), Node::File { data, mode });
    }

    /// Bytes of file content.
    pub(crate) fn content_size(&self) -> usize {
        self.0.values().map(|node| if let Node::File { data, .. } = node { data.len() } else { 0 }).sum()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Adds every missing parent directory (0755, root).
    fn with_parents(mut self) -> Self {
        let paths: Vec<String> = self.0.keys().cloned().collect();
        for path in paths {
            let mut parent = path.as_str();
            while let Some((up, _)) = parent.rsplit_once('/') {
                if up.is_empty() {
                    break;
                }
                self.0.entry(up.to_owned()).or_insert(Node::Dir { mode: 0o755, owner: 0 });
                parent = up;
            }
        }
        self
    }
}

/// A compressed layer and its two digests.
pub(crate) struct Layer {
    pub(crate) gzip: Vec<u8>,
    /// `sha256:` of the gzip (the blob's digest).
    pub(crate) digest: String,
    /// `sha256:` of the uncompressed tar (the config's `diff_ids`).
    pub(crate) diff_id: String,
}

pub(crate) fn build(tree: Tree, mtime: u64) -> anyhow::Result<Layer> {
    let tree = tree.with_parents();
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    for (path, node) in &tree.0 {
        let relative = path.trim_start_matches('/');
        let mut header = tar::Header::new_ustar();
        header.set_mtime(mtime);
        match node {
            Node::Dir { mode, owner } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_uid(u64::from(*owner));
                header.set_gid(u64::from(*owner));
                header.set_size(0);
                tar.append_data(&mut header, format!("{relative}/"), std::io::empty())?;
            }
            Node::File { data, mode } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_uid(0);
                header.set_gid(0);
                header.set_size(data.len() as u64);
                tar.append_data(&mut header, relative, data.as_slice())?;
            }
        }
    }
    let tar = tar.into_inner()?;
    let diff_id = sha256(&tar);
    let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
    gzip.write_all(&tar)?;
    let gzip = gzip.finish()?;
    Ok(Layer { digest: sha256(&gzip), diff_id, gzip })
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}
