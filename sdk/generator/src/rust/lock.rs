//! The archive's `Cargo.lock`: the part of the kaa-rs workspace's lock file that the archive's
//! crates need, so a device maker's `cargo build` gets exactly the crates.io versions the
//! project's own tests ran with (cargo adds the archive's local crates to it on first build).
//!
//! The workspace lock lists each local crate (no `source`) with its dependencies as
//! `name` or `name version`; the archive's roots are the dependencies of those local crates that
//! the archive's manifests name, and everything reachable from them is kept.

use std::collections::{BTreeSet, VecDeque};

/// The workspace's lock file, read when the generator is built.
pub(crate) const WORKSPACE_LOCK: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"));

/// One `[[package]]` of a lock file.
struct Package<'l> {
    name: &'l str,
    version: &'l str,
    local: bool,
    /// `name` or `name version` entries.
    dependencies: Vec<&'l str>,
    text: &'l str,
}

fn parse(lock: &str) -> (&str, Vec<Package<'_>>) {
    let mut blocks = lock.split("\n[[package]]\n");
    let header = blocks.next().unwrap_or_default();
    let packages = blocks
        .map(|text| {
            let value = |key: &str| {
                text.lines()
                    .find_map(|line| line.strip_prefix(key))
                    .map(|v| v.trim_matches('"'))
                    .unwrap_or_default()
            };
            let dependencies = text
                .split_once("dependencies = [\n")
                .map(|(_, list)| {
                    list.lines()
                        .take_while(|line| *line != "]")
                        .map(|line| line.trim().trim_end_matches(',').trim_matches('"'))
                        .collect()
                })
                .unwrap_or_default();
            Package {
                name: value("name = "),
                version: value("version = "),
                local: !text.contains("\nsource = "),
                dependencies,
                text: text.trim_end(),
            }
        })
        .collect();
    (header, packages)
}

/// The lock for crates depending on `names` (the crates.io dependencies of the archive's
/// manifests), cut from `lock`.
fn cut(lock: &str, names: &BTreeSet<&str>) -> String {
    let (header, packages) = parse(lock);
    // `name`, `name version` or `name version (source)`.
    let matches = |entry: &str, package: &Package<'_>| {
        let mut parts = entry.split(' ');
        package.name == parts.next().unwrap_or_default()
            && parts
                .next()
                .is_none_or(|version| package.version == version)
    };
    let mut queue: VecDeque<&str> = packages
        .iter()
        .filter(|p| p.local)
        .flat_map(|p| p.dependencies.iter().copied())
        .filter(|entry| names.contains(entry.split(' ').next().unwrap_or_default()))
        .collect();
    let mut kept = vec![false; packages.len()];
    while let Some(entry) = queue.pop_front() {
        for (i, package) in packages.iter().enumerate() {
            if !kept[i] && !package.local && matches(entry, package) {
                kept[i] = true;
                queue.extend(package.dependencies.iter().copied());
            }
        }
    }
    let mut out = String::from(header.trim_end());
    out.push('\n');
    for (package, _) in packages.iter().zip(&kept).filter(|(_, kept)| **kept) {
        out.push_str("\n[[package]]\n");
        out.push_str(package.text);
        out.push('\n');
    }
    out
}

/// The archive's `Cargo.lock` for the dependency `names` of its manifests.
pub(super) fn archive_lock(names: &BTreeSet<&str>) -> String {
    cut(WORKSPACE_LOCK, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_keeps_what_the_named_dependencies_reach_at_the_workspace_versions() {
        let lock = "# header\nversion = 4\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\
                    dependencies = [\n \"a 1.0.0\",\n \"b\",\n \"server\",\n]\n\n\
                    [[package]]\nname = \"a\"\nversion = \"1.0.0\"\nsource = \"registry\"\n\
                    dependencies = [\n \"c\",\n]\n\n\
                    [[package]]\nname = \"a\"\nversion = \"2.0.0\"\nsource = \"registry\"\n\n\
                    [[package]]\nname = \"b\"\nversion = \"1.1.0\"\nsource = \"registry\"\n\n\
                    [[package]]\nname = \"c\"\nversion = \"0.3.0\"\nsource = \"registry\"\n\n\
                    [[package]]\nname = \"server\"\nversion = \"9.0.0\"\nsource = \"registry\"\n";
        let cut = cut(lock, &["a", "b"].into());
        assert!(cut.starts_with(
            "# header\nversion = 4\n\n[[package]]\nname = \"a\"\nversion = \"1.0.0\""
        ));
        assert!(
            cut.contains("name = \"b\"") && cut.contains("name = \"c\""),
            "{cut}"
        );
        assert!(
            !cut.contains("2.0.0") && !cut.contains("server") && !cut.contains("app"),
            "{cut}"
        );
    }

    #[test]
    fn the_archive_lock_pins_the_runtime_dependencies_and_nothing_of_the_server() {
        let lock = archive_lock(&["tokio", "rsa", "serde", "reqwest"].into());
        for name in ["tokio", "rsa", "serde", "reqwest", "rustls"] {
            assert!(lock.contains(&format!("\nname = \"{name}\"\n")), "{name}");
        }
        for name in ["actix-web", "sqlx", "thrift", "kaa-idl"] {
            assert!(!lock.contains(&format!("\nname = \"{name}\"\n")), "{name}");
        }
    }
}
