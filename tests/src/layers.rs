//! The layering of a crate, checked from its sources: every `crate::…`
//! path in a module's production code (tests are left out) must name a
//! module of its own layer or of one below, never one above, and modules
//! must not import each other in a circle. Some layers also name modules
//! below them they must not use (pure logic uses no storage).
//!
//! Paths in doc links count: a link to a module above is a sign the
//! module knows about it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// One layer: its name, its top-level modules, and the modules below it
/// it must not use even so.
#[derive(Debug, Clone, Copy)]
pub struct Layer {
    /// What the layer is, for messages.
    pub name: &'static str,
    /// Its top-level modules (file `x.rs` or folder `x/`).
    pub modules: &'static [&'static str],
    /// Modules of lower layers it must not import.
    pub forbidden: &'static [&'static str],
}

/// One import of a module from another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The file, relative to the crate's `src`.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// The importing top-level module.
    pub from: String,
    /// The imported top-level module.
    pub to: String,
}

/// Every top-level-module import in the production code of the crate
/// whose sources are in `src` (`lib.rs`, `main.rs` and `bin/` excluded:
/// they are the crate root and its programs).
pub fn imports(src: &Path) -> std::io::Result<Vec<Import>> {
    let modules = top_modules(src)?;
    let mut out = Vec::new();
    for module in &modules {
        for file in module_files(src, module)? {
            let text = fs::read_to_string(&file)?;
            let rel = file.strip_prefix(src).unwrap_or(&file).to_path_buf();
            let depth = module_depth(&rel);
            for (line, to) in crate_paths(&production_code(&text), depth) {
                if to != *module && modules.contains(&to) {
                    out.push(Import {
                        file: rel.clone(),
                        line,
                        from: module.clone(),
                        to,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// What is wrong with the crate in `src` against `layers` (bottom first):
/// one sentence per upward or forbidden import, per cycle, and per module
/// that no layer lists. Empty when all is well.
pub fn violations(src: &Path, layers: &[Layer]) -> std::io::Result<Vec<String>> {
    let mut problems = Vec::new();
    let layer_of: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.modules.iter().map(move |m| (*m, i)))
        .collect();
    for m in top_modules(src)? {
        if !layer_of.contains_key(m.as_str()) {
            problems.push(format!(
                "module `{m}` is in no layer: add it to the layer table of this test (and to the crate's layer docs)"
            ));
        }
    }
    let imports = imports(src)?;
    for i in &imports {
        let (Some(&from), Some(&to)) = (layer_of.get(i.from.as_str()), layer_of.get(i.to.as_str()))
        else {
            continue;
        };
        let here = format!("{}:{}", i.file.display(), i.line);
        if to > from {
            problems.push(format!(
                "{here}: `{}` ({}) imports `crate::{}` ({}), a layer above it",
                i.from, layers[from].name, i.to, layers[to].name
            ));
        } else if layers[from].forbidden.contains(&i.to.as_str()) {
            problems.push(format!(
                "{here}: `{}` ({}) imports `crate::{}`, which that layer must not use",
                i.from, layers[from].name, i.to
            ));
        }
    }
    for cycle in cycles(&imports) {
        problems.push(format!(
            "modules import each other in a circle: {}",
            cycle.join(" → ")
        ));
    }
    Ok(problems)
}

/// The crate's top-level modules.
fn top_modules(src: &Path) -> std::io::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() {
            if name != "bin" {
                out.insert(name);
            }
        } else if let Some(stem) = name.strip_suffix(".rs")
            && stem != "lib"
            && stem != "main"
        {
            out.insert(stem.to_owned());
        }
    }
    Ok(out)
}

/// The source files of top-level module `module`.
fn module_files(src: &Path, module: &str) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let file = src.join(format!("{module}.rs"));
    if file.is_file() {
        out.push(file);
    }
    let dir = src.join(module);
    if dir.is_dir() {
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(&d)? {
                let path = entry?.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// How many modules deep the file's own module is below its top-level
/// module: `store.rs` and `store/mod.rs` 0, `store/ingest.rs` 1. A path
/// with more `super::` than that climbs to the crate root.
fn module_depth(rel: &Path) -> usize {
    let parts = rel.components().count();
    let is_mod = rel.file_name().is_some_and(|n| n == "mod.rs");
    (parts - 1).saturating_sub(usize::from(is_mod))
}

/// `text` without its test code: each `#[cfg(test)]` item (a `mod x;`
/// line or a braced block) is blanked, keeping the line count.
fn production_code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let end = item_end(after);
        out.extend(after[..end].chars().filter(|&c| c == '\n'));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The length of the item starting at `text` (its attribute first): up to
/// the `;` of a declaration or the brace that closes its block.
fn item_end(text: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            ';' if depth == 0 => return i + 1,
            _ => {}
        }
    }
    text.len()
}

/// The top-level modules named by `crate::x`, `use crate::{x, …}` and
/// `super::…` paths that reach the crate root, with their lines.
fn crate_paths(code: &str, depth: usize) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // `atalaya_crate::…` or the like
            }
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for part in inner.split(',') {
                    out.push((n + 1, ident(part.trim())));
                }
            } else {
                out.push((n + 1, ident(rest)));
            }
        }
        let mut rest = line;
        while let Some(at) = rest.find("super::") {
            let mut after = &rest[at..];
            let mut climbs = 0;
            while let Some(s) = after.strip_prefix("super::") {
                climbs += 1;
                after = s;
            }
            if climbs > depth {
                out.push((n + 1, ident(after)));
            }
            rest = after;
        }
    }
    out.retain(|(_, m)| !m.is_empty());
    out
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Circles in the import graph (strongly connected components of more
/// than one module), each as its modules in order.
fn cycles(imports: &[Import]) -> Vec<Vec<String>> {
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for i in imports {
        graph.entry(&i.from).or_default().insert(&i.to);
        graph.entry(&i.to).or_default();
    }
    // A module is in a circle with every module that both reaches it and
    // is reached by it; the graphs are small, so reachability is enough.
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(m) = stack.pop() {
            for next in graph.get(m.as_str()).into_iter().flatten() {
                if seen.insert((*next).to_owned()) {
                    stack.push((*next).to_owned());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&str, BTreeSet<String>> = graph.keys().map(|m| (*m, reach(m))).collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut placed = BTreeSet::new();
    for m in graph.keys() {
        if placed.contains(*m) || !reaches[m].contains(*m) {
            continue;
        }
        let component: Vec<String> = graph
            .keys()
            .filter(|o| reaches[m].contains(**o) && reaches[*o].contains(*m))
            .map(|o| (*o).to_owned())
            .collect();
        placed.extend(component.iter().cloned());
        out.push(component);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_found_in_uses_groups_and_climbing_supers() {
        let code = "use crate::store::Store;\nuse crate::{kb, desk::Desk};\nlet x = super::super::api::f();\n";
        let found: Vec<String> = crate_paths(code, 1).into_iter().map(|(_, m)| m).collect();
        assert_eq!(found, ["store", "kb", "desk", "api"]);
        assert!(crate_paths("super::super::api::f()", 2).is_empty());
    }

    #[test]
    fn test_code_is_left_out_but_lines_are_kept() {
        let code =
            "a\n#[cfg(test)]\nmod testutil;\nb\n#[cfg(test)]\nmod tests {\n use crate::x;\n}\nc";
        let p = production_code(code);
        assert!(!p.contains("crate::x"));
        assert_eq!(p.lines().count(), code.lines().count());
        assert!(p.contains('c'));
    }

    #[test]
    fn a_circle_is_found() {
        let imp = |from: &str, to: &str| Import {
            file: PathBuf::from("x.rs"),
            line: 1,
            from: from.into(),
            to: to.into(),
        };
        let found = cycles(&[imp("a", "b"), imp("b", "c"), imp("c", "a"), imp("c", "d")]);
        assert_eq!(found, [vec!["a", "b", "c"]]);
    }
}
