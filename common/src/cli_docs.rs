//! Man pages and shell completions of a program, rendered from its clap
//! definitions, so what the packages install cannot drift from what the
//! program accepts.
//!
//! Rendering only: the files come back as bytes with the path each takes
//! under an output directory, and the program that asked writes them.
//! Hidden subcommands (the one that asks for these files, for one) get
//! no page.

use clap::Command;
use clap_complete::Shell;

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocFile {
    /// Where it goes, relative to the output directory: `man1/NAME.1`,
    /// `bash/NAME`, `zsh/_NAME` or `fish/NAME.fish`; the same layout as
    /// the system's directories for them.
    pub path: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// What went wrong rendering the pages of a program.
#[derive(Debug, thiserror::Error)]
#[error("rendering the man page of `{command}`: {source}")]
pub struct DocsError {
    /// The command whose page failed.
    pub command: String,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Why the pages of a program could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteDocsError {
    /// Rendering failed.
    #[error(transparent)]
    Render(#[from] DocsError),
    /// A file or folder could not be made.
    #[error("writing {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Writes the pages and completions of the program `cmd` describes under
/// `dir` (`man1/`, `bash/`, `zsh/`, `fish/`, the layout of the system's
/// folders for them) and returns how many files it wrote.
pub fn write(cmd: Command, dir: &std::path::Path) -> Result<usize, WriteDocsError> {
    let files = render(cmd)?;
    for file in &files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| WriteDocsError::Io {
                path: parent.to_owned(),
                source,
            })?;
        }
        std::fs::write(&path, &file.bytes).map_err(|source| WriteDocsError::Io {
            path: path.clone(),
            source,
        })?;
    }
    Ok(files.len())
}

/// The man pages (one for the program, one per visible subcommand, named
/// like `atalaya-agent-enroll.1`) and the bash, zsh and fish completions
/// of the program `cmd` describes.
pub fn render(cmd: Command) -> Result<Vec<DocFile>, DocsError> {
    let mut cmd = cmd;
    cmd.build();
    let name = cmd.get_name().to_owned();
    let mut files = Vec::new();
    man_pages(&cmd, &mut files)?;
    for (shell, path) in [
        (Shell::Bash, format!("bash/{name}")),
        (Shell::Zsh, format!("zsh/_{name}")),
        (Shell::Fish, format!("fish/{name}.fish")),
    ] {
        let mut bytes = Vec::new();
        clap_complete::generate(shell, &mut cmd, &name, &mut bytes);
        files.push(DocFile { path, bytes });
    }
    Ok(files)
}

/// The page of `cmd`, then those of its visible subcommands, depth first.
fn man_pages(cmd: &Command, files: &mut Vec<DocFile>) -> Result<(), DocsError> {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut bytes = Vec::new();
    man.render(&mut bytes).map_err(|source| DocsError {
        command: cmd.get_name().to_owned(),
        source,
    })?;
    files.push(DocFile {
        path: format!("man1/{}", man.get_filename()),
        bytes,
    });
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        man_pages(sub, files)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn tool() -> Command {
        Command::new("tool")
            .version("1.2.3")
            .about("A tool.")
            .subcommand(
                Command::new("enroll")
                    .about("Enroll with a collector.")
                    .arg(Arg::new("token").long("token").required(true)),
            )
            .subcommand(
                Command::new("generate-docs")
                    .hide(true)
                    .arg(Arg::new("dir").action(ArgAction::Set)),
            )
    }

    fn text(files: &[DocFile], path: &str) -> String {
        let file = files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("no {path} among {files:?}"));
        String::from_utf8(file.bytes.clone()).unwrap()
    }

    #[test]
    fn every_visible_subcommand_gets_a_page_and_hidden_ones_none() {
        let files = render(tool()).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "man1/tool.1",
                "man1/tool-enroll.1",
                "bash/tool",
                "zsh/_tool",
                "fish/tool.fish"
            ]
        );
        let page = text(&files, "man1/tool-enroll.1");
        assert!(page.starts_with(".ie"), "not roff: {page}");
        assert!(page.contains("tool\\-enroll"), "{page}");
        assert!(page.contains("\\-\\-token"), "{page}");
        assert!(!text(&files, "man1/tool.1").contains("generate"));
    }

    #[test]
    fn completions_offer_the_subcommands() {
        let files = render(tool()).unwrap();
        for path in ["bash/tool", "zsh/_tool", "fish/tool.fish"] {
            let script = text(&files, path);
            assert!(script.contains("enroll"), "{path}: {script}");
        }
    }
}
