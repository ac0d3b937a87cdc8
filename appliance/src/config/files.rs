//! Where configuration files live, in which order they apply, and how the appliance writes
//! files so a power cut never leaves half of one behind.
//!
//! Order (later wins, key by key): `/usr/lib/lectern/appliance.toml` (vendor defaults),
//! `/etc/lectern/appliance.toml`, then every `config.d/*.toml` of both directories sorted by
//! file name, where an `/etc` drop-in masks the vendor drop-in of the same name (as systemd does).
//! The hub's pushed configuration is one more drop-in, `/var/lib/lectern/config.d/90-hub.toml`: it
//! sorts with the others (an administrator's `95-local.toml` still wins) and lives in the state
//! directory because the service may write there, not under `/etc`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;
use lectern_common::box_config::Fragment;

const MAIN_FILE: &str = "appliance.toml";
pub(super) const DROP_IN_DIR: &str = "config.d";
const LAST_GOOD_FILE: &str = "last-good.toml";
const HUB_DROP_IN: &str = "90-hub.toml";
const LAST_GOOD_HEADER: &str = "# Written by lectern-appliance: the last configuration that validated.\n\
# Used when the files in the configuration directories are broken. Do not edit.\n\n";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigPaths {
    /// Vendor defaults shipped with the image (`/usr/lib/lectern`).
    pub vendor_dir: PathBuf,
    /// The administrator's files (`/etc/lectern`).
    pub admin_dir: PathBuf,
    /// Writable state (`/var/lib/lectern`): the last good copy lives here.
    pub state_dir: PathBuf,
}

impl Default for ConfigPaths {
    fn default() -> Self {
        Self {
            vendor_dir: PathBuf::from("/usr/lib/lectern"),
            admin_dir: PathBuf::from("/etc/lectern"),
            state_dir: PathBuf::from("/var/lib/lectern"),
        }
    }
}

impl ConfigPaths {
    pub fn last_good(&self) -> PathBuf {
        self.state_dir.join(LAST_GOOD_FILE)
    }

    /// Where the configuration pushed by the hub is kept.
    pub fn hub_drop_in(&self) -> PathBuf {
        self.state_dir.join(DROP_IN_DIR).join(HUB_DROP_IN)
    }

    /// The existing configuration files, in the order they apply.
    pub fn files(&self) -> Result<Vec<PathBuf>, ConfigError> {
        let mut files: Vec<PathBuf> =
            [&self.vendor_dir, &self.admin_dir].iter().map(|d| d.join(MAIN_FILE)).filter(|p| p.is_file()).collect();
        let mut drop_ins = BTreeMap::new();
        // Later directories mask earlier ones' drop-ins of the same name.
        for dir in [&self.vendor_dir, &self.admin_dir, &self.state_dir] {
            let dir = dir.join(DROP_IN_DIR);
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(ConfigError::Read { path: dir, source }),
            };
            for entry in entries {
                let path = entry.map_err(|source| ConfigError::Read { path: dir.clone(), source })?.path();
                if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
                    // Invariant: read_dir entries always have a file name.
                    let name = path.file_name().expect("directory entry has a name").to_owned();
                    drop_ins.insert(name, path);
                }
            }
        }
        files.extend(drop_ins.into_values());
        Ok(files)
    }
}

/// Reads, checks and merges `files`. Each file must be a valid fragment on its own, so an
/// error names the file (and toml's message shows the line and key).
pub fn read_merged(files: &[PathBuf]) -> Result<toml::Table, ConfigError> {
    let mut merged = toml::Table::new();
    for path in files {
        let table = read_fragment(path)?;
        merge(&mut merged, table);
    }
    Ok(merged)
}

fn read_fragment(path: &Path) -> Result<toml::Table, ConfigError> {
    let bytes = fs::read(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    // A power cut can leave zeros or half a character behind: treat it like any syntax error.
    let text = String::from_utf8(bytes)
        .map_err(|e| ConfigError::Parse { path: path.to_owned(), message: format!("not UTF-8 text: {e}") })?;
    parse_fragment(&text, path)
}

/// Checks one fragment's text (syntax, known keys, no secrets); `origin` names it in errors.
pub fn parse_fragment(text: &str, origin: &Path) -> Result<toml::Table, ConfigError> {
    let path = origin;
    let parse_error = |message: String| ConfigError::Parse { path: path.to_owned(), message };
    let table = toml::from_str::<toml::Table>(text).map_err(|e| parse_error(e.to_string()))?;
    // toml's "unknown field" error quotes the line, and with it the secret: say it without quoting.
    if table.get("hub").and_then(|hub| hub.get("token")).is_some() {
        return Err(parse_error(
            "hub.token: the token does not belong in a configuration file; put it in the file hub.token_file names"
                .to_owned(),
        ));
    }
    toml::from_str::<Fragment>(text).map_err(|e| parse_error(e.to_string()))?;
    Ok(table)
}

/// Deep merge: tables merge key by key, anything else (arrays included) is replaced.
pub fn merge(base: &mut toml::Table, top: toml::Table) {
    for (key, value) in top {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base)), toml::Value::Table(top)) => merge(base, top),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

pub fn to_fragment(table: &toml::Table, origin: &Path) -> Result<Fragment, ConfigError> {
    Fragment::deserialize(toml::Value::Table(table.clone()))
        .map_err(|e| ConfigError::Parse { path: origin.to_owned(), message: e.to_string() })
}

/// Reads the last good copy, if there is one.
pub fn read_last_good(paths: &ConfigPaths) -> Result<Option<toml::Table>, ConfigError> {
    let path = paths.last_good();
    if !path.exists() {
        return Ok(None);
    }
    read_fragment(&path).map(Some)
}

/// Keeps `table` as the last good copy; skips the write when nothing changed (flash wears).
pub fn save_last_good(paths: &ConfigPaths, table: &toml::Table) -> Result<(), ConfigError> {
    let path = paths.last_good();
    let body = toml::to_string(table).map_err(|e| ConfigError::Parse { path: path.clone(), message: e.to_string() })?;
    let contents = format!("{LAST_GOOD_HEADER}{body}");
    if fs::read(&path).is_ok_and(|old| old == contents.as_bytes()) {
        return Ok(());
    }
    write_atomic(&path, contents.as_bytes()).map_err(|source| ConfigError::Write { path, source })
}

/// Replaces `path` with `contents` so readers see the old file or the new one, never a mix,
/// even across a power cut: write a temporary file beside it, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let written = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    File::open(dir)?.sync_all()
}
