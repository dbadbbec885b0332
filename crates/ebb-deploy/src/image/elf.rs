//! What a dynamically linked binary needs at run time, read from the binary itself: its
//! interpreter (`PT_INTERP`) and its `DT_NEEDED` libraries, recursively, resolved in the
//! system's library directories.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use object::elf;
use object::read::elf::{ElfFile64, ProgramHeader};

/// Where the loader looks on Debian-family systems (x86-64 and arm64).
const LIBRARY_DIRS: [&str; 6] = [
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib64",
    "/usr/lib",
];

/// The files (absolute paths as the loader will open them) that `binary` needs, its
/// interpreter included; empty for a static binary.
pub(crate) fn runtime_files(binary: &Path) -> anyhow::Result<BTreeSet<PathBuf>> {
    let mut files = BTreeSet::new();
    let (interpreter, needed) = read(binary)?;
    if let Some(interpreter) = interpreter {
        files.insert(PathBuf::from(interpreter));
    }
    let mut queue: Vec<String> = needed;
    while let Some(name) = queue.pop() {
        let path = resolve(&name)
            .with_context(|| format!("{} needs {name}, which is in none of {LIBRARY_DIRS:?}", binary.display()))?;
        if files.insert(path.clone()) {
            let (_, more) = read(&path)?;
            queue.extend(more);
        }
    }
    Ok(files)
}

fn read(path: &Path) -> anyhow::Result<(Option<String>, Vec<String>)> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let Ok(file) = ElfFile64::<object::Endianness>::parse(&*data) else {
        bail!("{} is not a 64-bit ELF file", path.display());
    };
    let endian = file.endian();
    let mut interpreter = None;
    for header in file.elf_program_headers() {
        if let Some(bytes) = header.interpreter(endian, &*data)? {
            interpreter = Some(String::from_utf8_lossy(bytes).trim_end_matches('\0').to_owned());
        }
    }
    let mut needed = Vec::new();
    if let Ok(table) = file.elf_dynamic_table() {
        for entry in &table {
            if entry.tag == elf::DT_NEEDED {
                needed.push(String::from_utf8_lossy(table.string(entry)?).into_owned());
            }
        }
    }
    Ok((interpreter, needed))
}

fn resolve(name: &str) -> Option<PathBuf> {
    LIBRARY_DIRS.iter().map(|dir| Path::new(dir).join(name)).find(|path| path.exists())
}
