//! Tests that hold the config module to its rule — every key does what Kafka's does, or says it
//! doesn't — by reading the source tree, and that keep the key list in `docs/operations.md`
//! equal to the table.
//!
//! A key is *read* when the [`super::ServerConfig`] field it lands in is accessed as `.field`
//! in the non-test code of a file under `src/` that names `ServerConfig` (the files that are
//! handed the config; a field of the same name on another struct elsewhere does not count).
//! Test code is skipped: `#[cfg(test)] mod x;` files (and what they declare), everything from
//! a `#[cfg(test)] mod x {` line on, and comment lines, so this file and the config tests do
//! not count. A key's field is the key with `.` → `_` unless [`FIELD_OF`] says otherwise (the
//! keys folded into another key's value).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::keys::{self, ConfigType};

/// Keys whose value lands in a field not named after them.
const FIELD_OF: &[(&str, &str)] = &[
    ("broker.id", "node_id"),
    // It decides each listener's security protocol (and so which listeners are refused).
    ("listener.security.protocol.map", "listeners"),
    ("log.dir", "log_dirs"),
    ("log.roll.hours", "log_roll_ms"),
    ("log.retention.minutes", "log_retention_ms"),
    ("log.retention.hours", "log_retention_ms"),
    // Kafka's fallback for `log.flush.interval.ms`.
    ("log.flush.scheduler.interval.ms", "log_flush_interval_ms"),
];

fn field_of(key: &str) -> String {
    FIELD_OF
        .iter()
        .find(|(k, _)| *k == key)
        .map_or_else(|| key.replace('.', "_"), |(_, f)| f.to_string())
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Where the files of `file`'s child modules live.
fn children_dir(file: &Path) -> PathBuf {
    let parent = file.parent().expect("a file in src/");
    match file.file_name().and_then(|n| n.to_str()) {
        Some("main.rs" | "lib.rs" | "mod.rs") => parent.to_path_buf(),
        _ => file.with_extension(""),
    }
}

/// The non-test code, comment lines dropped, of every `.rs` file under `src/` that is handed
/// the config (names `ServerConfig`).
fn non_test_sources() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    files.sort();
    let texts: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).expect("read a source file");
            (f, text)
        })
        .collect();
    // Modules declared `#[cfg(test)] mod x;`: their file and directory are test code.
    let mut test_only: Vec<PathBuf> = Vec::new();
    for (file, text) in &texts {
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            if pair[0] != "#[cfg(test)]" {
                continue;
            }
            let decl = pair[1]
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ");
            if let Some(name) = decl.strip_prefix("mod ").and_then(|d| d.strip_suffix(';')) {
                test_only.push(children_dir(file).join(name));
            }
        }
    }
    texts
        .into_iter()
        .filter(|(file, _)| {
            !test_only
                .iter()
                .any(|t| file.starts_with(t) || *file == t.with_extension("rs"))
        })
        .map(|(file, text)| {
            let mut kept = Vec::new();
            let mut previous = "";
            for line in text.lines() {
                let t = line.trim();
                if previous == "#[cfg(test)]" && t.starts_with("mod ") && t.ends_with('{') {
                    kept.pop();
                    break;
                }
                if !t.starts_with("//") {
                    kept.push(line);
                }
                previous = t;
            }
            (file, kept.join("\n"))
        })
        .filter(|(_, code)| code.contains("ServerConfig"))
        .collect()
}

/// Whether `.field` is accessed (not a longer name that starts with it).
fn reads(text: &str, field: &str) -> bool {
    let needle = format!(".{field}");
    text.match_indices(&needle).any(|(at, _)| {
        !text[at + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

fn readers(sources: &[(PathBuf, String)], field: &str) -> Vec<String> {
    sources
        .iter()
        .filter(|(_, text)| reads(text, field))
        .map(|(f, _)| f.strip_prefix(src_dir()).unwrap_or(f).display().to_string())
        .collect()
}

#[test]
fn every_key_is_read_or_says_it_is_not() {
    let sources = non_test_sources();
    assert!(
        sources.iter().any(|(f, _)| f.ends_with("server.rs")),
        "the scan found no sources"
    );
    let mut failures = Vec::new();
    for k in keys::KEYS {
        let field = field_of(k.name);
        let found = readers(&sources, &field);
        let no_effect = keys::NO_EFFECT_KEYS.contains(&k.name);
        if no_effect && !found.is_empty() {
            failures.push(format!(
                "{} is on keys::NO_EFFECT_KEYS but `.{field}` is read in {found:?}: take it off \
                 the list",
                k.name
            ));
        } else if !no_effect && found.is_empty() {
            failures.push(format!(
                "{} has no reader (no `.{field}` outside tests): implement it, or put it on \
                 keys::NO_EFFECT_KEYS",
                k.name
            ));
        }
    }
    // An untyped ignored key that gained a field belongs in KEYS.
    for k in keys::IGNORED_KEYS {
        let field = field_of(k);
        let found = readers(&sources, &field);
        if !found.is_empty() {
            failures.push(format!(
                "{k} is on keys::IGNORED_KEYS but `.{field}` is read in {found:?}: move it to \
                 keys::KEYS"
            ));
        }
    }
    for (key, _) in FIELD_OF {
        assert!(keys::lookup(key).is_some(), "FIELD_OF names unknown {key}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_scan_skips_test_code() {
    let sources = non_test_sources();
    let names: BTreeSet<String> = sources
        .iter()
        .filter_map(|(f, _)| f.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert!(!names.contains("key_coverage.rs"));
    assert!(!names.contains("test_broker.rs"));
    let config = sources
        .iter()
        .find(|(f, _)| f.ends_with("src/config.rs"))
        .expect("config.rs");
    assert!(!config
        .1
        .contains("fn combined_quickstart_and_kafka_defaults"));
    assert!(config.1.contains("fn broker_config_entries"));
    assert!(reads("c.log_dirs.first()", "log_dirs"));
    assert!(!reads("c.log_dirs_x", "log_dirs"));
}

fn type_name(ty: ConfigType) -> &'static str {
    match ty {
        ConfigType::Bool => "boolean",
        ConfigType::Int => "int",
        ConfigType::Short => "short",
        ConfigType::Long => "long",
        ConfigType::String => "string",
        ConfigType::List => "list",
    }
}

/// The generated part of `docs/operations.md`'s configuration section.
fn key_list_markdown() -> String {
    let mut out =
        String::from("| key | type | Kafka's default | in kraftbridge |\n|---|---|---|---|\n");
    for k in keys::KEYS {
        let default = match k.default {
            None => "(none)".to_string(),
            Some("") => "(empty)".to_string(),
            Some(d) => format!("`{d}`"),
        };
        let status = if keys::NO_EFFECT_KEYS.contains(&k.name) {
            "accepted, no effect yet"
        } else {
            "implemented"
        };
        out.push_str(&format!(
            "| `{}` | {} | {default} | {status} |\n",
            k.name,
            type_name(k.ty)
        ));
    }
    out.push_str(
        "\nAccepted without effect and without type checks (logged when set), by name:\n\n",
    );
    let names: Vec<String> = keys::IGNORED_KEYS
        .iter()
        .map(|k| format!("`{k}`"))
        .collect();
    out.push_str(&names.join(", "));
    out.push_str("\n\nand every key starting with ");
    let prefixes: Vec<String> = keys::IGNORED_PREFIXES
        .iter()
        .map(|p| format!("`{p}`"))
        .collect();
    out.push_str(&prefixes.join(", "));
    out.push_str(".\n");
    out
}

const BEGIN: &str = "<!-- config-keys: generated from src/config/keys.rs; \
                     UPDATE_DOCS=1 cargo test config::key_coverage rewrites it -->\n";
const END: &str = "<!-- config-keys: end -->";

#[test]
fn operations_doc_lists_every_key_as_the_table_does() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operations.md");
    let doc = std::fs::read_to_string(&path).expect("read docs/operations.md");
    let (Some(start), Some(end)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("docs/operations.md lacks the generated key list between {BEGIN:?} and {END:?}");
    };
    let body_start = start + BEGIN.len();
    let expected = key_list_markdown();
    if doc[body_start..end] == expected {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let updated = format!("{}{expected}{}", &doc[..body_start], &doc[end..]);
        std::fs::write(&path, updated).expect("write docs/operations.md");
        return;
    }
    panic!(
        "docs/operations.md's key list differs from src/config/keys.rs; rerun with \
         UPDATE_DOCS=1 to regenerate it. Expected:\n{expected}"
    );
}
