//! The element catalogue (`media::catalog`) is the one list of what the box needs: every element
//! the source names is in it, and every install list (the `.deb`'s Depends, cargo-deb's, the
//! Yocto recipe's RDEPENDS, `scripts/deps.sh`) covers what it says. `debian_closure.rs` checks
//! the same on the installed system, by the plugin files the running pipelines load.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use lectern_appliance::media::{self, catalog};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the appliance lives in the workspace").to_path_buf()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The contents of the string literals in `source` (escapes left as written), skipping comments
/// and character literals; raw strings (`r#"…"#`) included.
fn string_literals(source: &str) -> Vec<&str> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = source[i..].find('\n').map_or(bytes.len(), |n| i + n);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = source[i + 2..].find("*/").map_or(bytes.len(), |n| i + 2 + n + 2);
            }
            // A character literal ('x', '\n', '"'); a lifetime ('a) has no closing quote.
            b'\'' if bytes.get(i + 1) == Some(&b'\\') => {
                i = source[i + 2..].find('\'').map_or(bytes.len(), |n| i + 2 + n + 1);
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') => i += 3,
            b'r' if (i == 0 || !bytes[i - 1].is_ascii_alphanumeric() && bytes[i - 1] != b'_')
                && matches!(bytes.get(i + 1), Some(b'#' | b'"')) =>
            {
                let hashes = bytes[i + 1..].iter().take_while(|&&b| b == b'#').count();
                if bytes.get(i + 1 + hashes) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let start = i + 2 + hashes;
                let close = format!("\"{}", "#".repeat(hashes));
                let end = source[start..].find(&close).map_or(bytes.len(), |n| start + n);
                out.push(&source[start..end]);
                i = end + close.len();
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                out.push(&source[start..j.min(bytes.len())]);
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// Words in the source's strings that happen to name an element but are used as plain words: a
/// test pattern (`smpte`), the pipeline itself in error messages, the systemd watchdog.
const PLAIN_WORDS: [&str; 4] = ["bin", "pipeline", "smpte", "watchdog"];

/// Every element factory the appliance's source names: any word of a string literal (launch
/// descriptions such as `"appsrc ! videoconvert ! jpegenc"` included) that this machine's
/// registry knows as an element, and every `make("…")` whatever the registry has.
fn factories_named_in_source() -> BTreeSet<String> {
    media::init().expect("GStreamer");
    let mut files = Vec::new();
    rust_sources(&repo().join("appliance/src"), &mut files);
    let mut found = BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("readable source");
        for literal in string_literals(&source) {
            for word in literal.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')) {
                if !word.is_empty() && !PLAIN_WORDS.contains(&word) && gstreamer::ElementFactory::find(word).is_some() {
                    found.insert(word.to_owned());
                }
            }
        }
        for (i, _) in source.match_indices("make(\"") {
            let name: String = source[i + 6..].chars().take_while(|&c| c != '"').collect();
            found.insert(name);
        }
    }
    found
}

#[test]
fn every_element_the_source_names_is_in_the_catalogue() {
    let named = factories_named_in_source();
    // The scan works: these are made in three different ways.
    for known in ["webrtcbin", "jpegenc", "autovideosink", "textoverlay"] {
        assert!(named.contains(known), "the scan missed {known}: {named:?}");
    }
    let missing: Vec<&String> = named.iter().filter(|f| catalog::lookup(f).is_none()).collect();
    assert!(missing.is_empty(), "add these to appliance/src/media/catalog.rs with their packages: {missing:?}");
}

fn words(text: &str) -> BTreeSet<&str> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | '"' | '\\' | '(' | ')'))
        .filter(|w| !w.is_empty())
        .collect()
}

fn debian_packages() -> Vec<&'static str> {
    catalog::packages(catalog::required_anywhere(), |e| e.debian)
}

fn lacking<'a>(needed: &[&'a str], list: &BTreeSet<&str>) -> Vec<&'a str> {
    needed.iter().copied().filter(|p| !list.contains(p)).collect()
}

#[test]
fn the_debian_package_depends_on_every_package_the_catalogue_names() {
    let needed = debian_packages();
    assert!(needed.contains(&"gstreamer1.0-x"), "{needed:?}");
    let script = read("packaging/build-deb.sh");
    let line =
        script.lines().find(|l| l.contains("\"libc6 (>= 2.36), systemd, libgstreamer")).expect("appliance Depends");
    assert_eq!(lacking(&needed, &words(line)), Vec::<&str>::new(), "packaging/build-deb.sh");
    let cargo = read("appliance/Cargo.toml");
    let depends = cargo.lines().find(|l| l.starts_with("depends = ")).expect("cargo-deb depends");
    assert_eq!(lacking(&needed, &words(depends)), Vec::<&str>::new(), "appliance/Cargo.toml [package.metadata.deb]");
}

#[test]
fn the_install_script_lists_every_package_the_catalogue_names() {
    let output =
        std::process::Command::new(repo().join("scripts/deps.sh")).arg("--list").output().expect("deps.sh runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let listed = String::from_utf8(output.stdout).expect("text");
    // The core library comes with every plugin package; the rest must be named.
    let needed: Vec<&str> = debian_packages().into_iter().filter(|p| *p != "libgstreamer1.0-0").collect();
    assert_eq!(lacking(&needed, &words(&listed)), Vec::<&str>::new(), "scripts/deps.sh --list");
}

#[test]
fn the_yocto_recipe_runtime_depends_on_every_package_the_catalogue_names() {
    let recipe = read("yocto/meta-lectern/recipes-lectern/lectern-appliance/lectern-appliance_git.bb");
    let start = recipe.find("RDEPENDS:${PN} +=").expect("RDEPENDS");
    let (_, quoted) = recipe[start..].split_once('"').expect("RDEPENDS opens a quote");
    let (body, _) = quoted.split_once('"').expect("RDEPENDS closes its quote");
    let software = recipe
        .lines()
        .find_map(|l| l.strip_prefix("LECTERN_SW_ENCODER ?= "))
        .expect("LECTERN_SW_ENCODER default")
        .trim_matches('"');
    let mut listed = words(body);
    listed.insert(software);
    let needed = catalog::packages(catalog::required_anywhere(), |e| e.yocto);
    assert!(needed.contains(&"gstreamer1.0-plugins-base-pango") && needed.contains(&"gstreamer1.0-plugins-good-jpeg"));
    assert_eq!(lacking(&needed, &listed), Vec::<&str>::new(), "RDEPENDS in the Yocto recipe");
}

#[test]
fn probe_prints_the_catalogues_packages() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lectern-appliance"))
        .args(["probe", "--packages", "debian"])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect();
    assert_eq!(printed, debian_packages());
}

#[test]
fn literals_are_split_at_their_quotes() {
    let source = r##"let a = "x ! y"; // "not this"
        f("say \"hi\"", '"', r#"{"raw":1}"#, 'static); /* "nor this" */ g("z")"##;
    assert_eq!(string_literals(source), ["x ! y", r#"say \"hi\""#, r#"{"raw":1}"#, "z"]);
}

#[test]
fn the_install_script_asks_for_the_rust_the_workspace_declares() {
    let declared = read("Cargo.toml")
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_owned())
        .expect("rust-version in the workspace");
    let script = read("scripts/deps.sh");
    let asked = script.lines().find_map(|l| l.strip_prefix("rust_min=")).expect("rust_min in deps.sh");
    assert_eq!(asked, declared, "scripts/deps.sh checks another Rust version than Cargo.toml declares");
}
