//! `cargo xtask tidy`: cheap checks of the repo's shape, in the spirit of rust-analyzer's
//! `tidy.rs`. Every problem is collected and all are reported together.
//!
//! - every `crates/<dir>/src/lib.rs` opens with a `//!` line stating the crate's job;
//! - every `crates/<dir>` holds the package `taskloop-<dir>` (`crates/taskloop` holds
//!   `taskloop`), and ARCHITECTURE.md names it;
//! - no `.rs` file under `crates/`, `examples/`, `benches/`, `src/` or `xtask/` calls the
//!   todo, unimplemented or dbg macros;
//! - every `examples/<name>.rs` has its `examples/<name>.expected`, and every
//!   `.expected` or `.args` file belongs to an example;
//! - every `` `module::name` `` a doc comment under `crates/*/src` cites, where `module` is a
//!   module of the same crate, names something that module defines or imports.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::{list_dir, rel, root};

/// Macro calls that must not be committed. Built with `concat!` so that this file does
/// not contain them itself.
const FORBIDDEN: [&str; 3] = [concat!("todo", "!("), concat!("unimplemented", "!("), concat!("dbg", "!(")];

/// The directories searched for forbidden macro calls.
const SOURCE_DIRS: [&str; 5] = ["crates", "examples", "benches", "src", "xtask"];

/// Runs every check and fails if any found a problem.
pub(crate) fn run() -> Result<()> {
    let mut problems = Vec::new();
    check_crates(&mut problems)?;
    check_forbidden_macros(&mut problems)?;
    check_example_files(&mut problems)?;
    check_doc_citations(&mut problems)?;
    if problems.is_empty() {
        println!("tidy: ok");
        return Ok(());
    }
    for problem in &problems {
        eprintln!("tidy: {problem}");
    }
    bail!("tidy found {} problem(s), listed above", problems.len())
}

/// `//!` docs, package names and ARCHITECTURE.md mentions of every crate.
fn check_crates(problems: &mut Vec<String>) -> Result<()> {
    let architecture = fs::read_to_string(root().join("ARCHITECTURE.md")).ok();
    if architecture.is_none() {
        problems.push("ARCHITECTURE.md is missing".to_owned());
    }
    for dir in list_dir(&root().join("crates"))? {
        if !dir.is_dir() {
            continue;
        }
        let dir_name = file_name(&dir);
        let expected = if dir_name == "taskloop" { "taskloop".to_owned() } else { format!("taskloop-{dir_name}") };

        let manifest = dir.join("Cargo.toml");
        let package = match fs::read_to_string(&manifest) {
            Ok(text) => match package_name(&text) {
                Some(name) if name == expected => name,
                Some(name) => {
                    problems.push(format!(
                        "{}: the package is `{name}`; crates/{dir_name} holds `{expected}`",
                        rel(&manifest)
                    ));
                    name
                }
                None => {
                    problems.push(format!("{}: no [package] name", rel(&manifest)));
                    expected
                }
            },
            Err(_) => {
                problems.push(format!("{}: missing", rel(&manifest)));
                expected
            }
        };

        let lib = dir.join("src").join("lib.rs");
        match fs::read_to_string(&lib) {
            Ok(text) => {
                let first = text.lines().find(|line| !line.trim().is_empty());
                if !first.is_some_and(|line| line.starts_with("//!")) {
                    problems.push(format!("{}: must open with a `//!` line stating the crate's job", rel(&lib)));
                }
            }
            Err(_) if dir.join("src").join("main.rs").exists() => {}
            Err(_) => problems.push(format!("{}: missing", rel(&lib))),
        }

        if let Some(architecture) = &architecture
            && !mentions(architecture, &package)
        {
            problems.push(format!("ARCHITECTURE.md: never names the crate `{package}`"));
        }
    }
    Ok(())
}

/// The `name` of the `[package]` table of a Cargo.toml, read line by line.
pub(crate) fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(value) = line.strip_prefix("name") {
            let value = value.trim_start().strip_prefix('=')?.trim();
            return Some(value.trim_matches('"').to_owned());
        }
    }
    None
}

/// Whether `text` contains `name` as a whole word: `taskloop` does not count as a
/// mention inside `taskloop-core`.
fn mentions(text: &str, name: &str) -> bool {
    let part_of_name = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(part_of_name) && !after.is_some_and(part_of_name)
    })
}

/// No forbidden macro calls in any `.rs` file of the source directories.
fn check_forbidden_macros(problems: &mut Vec<String>) -> Result<()> {
    let mut files = Vec::new();
    for dir in SOURCE_DIRS {
        rust_files(&root().join(dir), &mut files)?;
    }
    for file in files {
        let text = fs::read_to_string(&file).with_context(|| format!("could not read {}", rel(&file)))?;
        for (number, line) in text.lines().enumerate() {
            for needle in FORBIDDEN.iter().filter(|needle| line.contains(*needle)) {
                problems.push(format!("{}:{}: `{needle})` left in", rel(&file), number + 1));
            }
        }
    }
    Ok(())
}

/// Every example has an `.expected` file, and no `.expected`/`.args` file is orphaned.
fn check_example_files(problems: &mut Vec<String>) -> Result<()> {
    let examples = root().join("examples");
    for path in list_dir(&examples)? {
        let Some(ext) = path.extension().and_then(|ext| ext.to_str()) else {
            continue;
        };
        let stem = path.with_extension("");
        match ext {
            "rs" if !stem.with_extension("expected").exists() => problems.push(format!(
                "{}: no {} (create it with `cargo xtask examples --bless`)",
                rel(&path),
                rel(&stem.with_extension("expected"))
            )),
            "expected" | "args" if !stem.with_extension("rs").exists() => {
                problems.push(format!("{}: there is no example {}", rel(&path), rel(&stem.with_extension("rs"))))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Doc comments cite code as `` `module::name` ``; a cite whose `module` is a module of the same
/// crate (a file `module.rs` or `module/mod.rs`) must name something that module defines or
/// imports, so a rename or a removal cannot leave the docs pointing at nothing.
fn check_doc_citations(problems: &mut Vec<String>) -> Result<()> {
    for krate in list_dir(&root().join("crates"))? {
        let mut files = Vec::new();
        rust_files(&krate.join("src"), &mut files)?;
        let mut sources = Vec::new();
        for file in files {
            let text = fs::read_to_string(&file).with_context(|| format!("could not read {}", rel(&file)))?;
            sources.push((module_name(&file), file, text));
        }
        for (_, file, text) in &sources {
            for (number, line) in text.lines().enumerate() {
                let line = line.trim_start();
                if !line.starts_with("//!") && !line.starts_with("///") {
                    continue;
                }
                for (module, name) in citations(line) {
                    let mut module_texts = sources.iter().filter(|(m, _, _)| m == module).map(|(_, _, t)| t).peekable();
                    if module_texts.peek().is_some() && !module_texts.any(|t| defines(t, name)) {
                        problems.push(format!(
                            "{}:{}: cites `{module}::{name}`, which `{module}` does not define",
                            rel(file),
                            number + 1
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// The module a source file is: its stem, or its directory's name for a `mod.rs`.
fn module_name(file: &Path) -> String {
    match file.file_stem().and_then(|stem| stem.to_str()) {
        Some("mod") => file.parent().map(file_name).unwrap_or_default(),
        Some(stem) => stem.to_owned(),
        None => String::new(),
    }
}

/// The `` `module::name` `` cites on a line: backticked, one `::`, a lower-case module.
fn citations(line: &str) -> Vec<(&str, &str)> {
    let ident = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    line.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|code| code.split_once("::"))
        .filter(|(module, name)| ident(module) && ident(name) && module.starts_with(|c: char| c.is_ascii_lowercase()))
        .collect()
}

/// Whether `text` defines `name` (`fn`, `struct`, `enum`, `trait`, `type`, `const`, `static`,
/// `mod`, `macro_rules!`) or imports it with a `use`.
fn defines(text: &str, name: &str) -> bool {
    let keywords = ["fn", "struct", "enum", "trait", "type", "const", "static", "mod", "macro_rules!"];
    keywords.iter().any(|keyword| has_word(text, &format!("{keyword} {name}")))
        || text.split(';').any(|item| item.rfind("use ").is_some_and(|at| has_word(&item[at..], name)))
}

/// Whether `word` occurs in `text` with no identifier character on either side.
fn has_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word)
        .any(|(at, _)| !text[..at].ends_with(is_ident) && !text[at + word.len()..].starts_with(is_ident))
}

/// Collects the `.rs` files under `dir`, recursively, skipping `target` and hidden
/// directories. A missing `dir` has none.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for path in list_dir(dir)? {
        let name = file_name(&path);
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out)?;
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The last component of `path`, lossily as a string.
fn file_name(path: &Path) -> String {
    path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_whole_package_names_only() {
        assert!(mentions("the `taskloop` facade", "taskloop"));
        assert!(mentions("taskloop's facade", "taskloop"));
        assert!(!mentions("taskloop-core and taskloop_x", "taskloop"));
        assert!(mentions("see taskloop-core.", "taskloop-core"));
        assert!(!mentions("taskloop-core2", "taskloop-core"));
    }

    #[test]
    fn reads_the_package_name() {
        let manifest = "[workspace]\nname = \"no\"\n[package]\nversion = \"1\"\nname = \"taskloop-core\"\n";
        assert_eq!(package_name(manifest).as_deref(), Some("taskloop-core"));
        assert_eq!(package_name("[lib]\nname = \"x\"\n"), None);
    }

    #[test]
    fn doc_citations_are_found_and_checked() {
        let line = "/// see `context::release_born` and `Header::open_gate`, `a::b::c`, ``x``";
        assert_eq!(citations(line), [("context", "release_born")], "a type's item or a longer path is not a cite");
        let context = "use crate::task::TaskRef;\npub(crate) fn release_born_since(mark: usize) {}\n";
        assert!(!defines(context, "release_born"), "a longer name is not the name");
        assert!(defines(context, "release_born_since"));
        assert!(defines(context, "TaskRef"), "an import counts");
    }

    #[test]
    fn needles_are_not_in_this_file() {
        let this = include_str!("tidy.rs");
        for needle in FORBIDDEN {
            assert!(!this.contains(needle));
        }
    }
}
