//! Writes a program's man pages and shell completions, rendered from its
//! clap definitions by [`atalaya_common::cli_docs`], into a directory:
//! what the packages install under /usr/share.

use std::path::Path;

use anyhow::Context as _;

/// Writes the pages and completions of the program `cmd` describes under
/// `dir` (`man1/`, `bash/`, `zsh/`, `fish/`), and says how many files.
pub fn write(cmd: clap::Command, dir: &Path) -> anyhow::Result<usize> {
    let files = atalaya_common::cli_docs::render(cmd)?;
    for file in &files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, &file.bytes)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(files.len())
}
