//! Configuration pushed by the hub (`applyConfig`): one TOML fragment, checked against everything
//! else in force before it is kept, so a bad push never replaces a working box's configuration.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use lectern_common::box_config::KeyError;

use super::ConfigError;
use super::files::{self, ConfigPaths};
use super::settings::{Overrides, Settings, validate};

/// A push may set only what the web admin sets: never where the box connects or listens.
fn refuse_local_keys(text: &str) -> Result<(), ConfigError> {
    // Invariant: `parse_fragment` has just read `text` as a fragment.
    let fragment: lectern_common::box_config::Fragment = toml::from_str(text).unwrap_or_default();
    match fragment.local_only_key() {
        None => Ok(()),
        Some(key) => Err(ConfigError::Invalid(vec![KeyError {
            key: key.to_owned(),
            message: "only the box's own configuration files may set this; the hub may not push it".to_owned(),
        }])),
    }
}

/// Validates `text` on top of the other files (and the command-line `overrides`) and, if the
/// result is valid, writes it atomically as the hub's drop-in and refreshes the last good copy.
/// On error nothing is written; the error names the offending key.
pub fn apply_pushed(paths: &ConfigPaths, overrides: &Overrides, text: &str) -> Result<Settings, ConfigError> {
    let target = paths.hub_drop_in();
    let pushed = files::parse_fragment(text, &target)?;
    refuse_local_keys(text)?;
    // The push takes the drop-in's place in the file order (replacing a previous push, masking a
    // same-named drop-in elsewhere), so later drop-ins still win over it as they will at start-up.
    let name = target.file_name();
    let is_drop_in = |f: &Path| f.parent().and_then(Path::file_name) == Some(OsStr::new(files::DROP_IN_DIR));
    let others: Vec<PathBuf> =
        paths.files()?.into_iter().filter(|f| !(is_drop_in(f) && f.file_name() == name)).collect();
    let at = others.iter().position(|f| is_drop_in(f) && f.file_name() > name).unwrap_or(others.len());
    let mut merged = files::read_merged(&others[..at])?;
    files::merge(&mut merged, pushed);
    files::merge(&mut merged, files::read_merged(&others[at..])?);
    let settings = validate(&files::to_fragment(&merged, &target)?, overrides)?;
    if let Some(dir) = target.parent() {
        fs::create_dir_all(dir).map_err(|source| ConfigError::Write { path: dir.to_owned(), source })?;
    }
    files::write_atomic(&target, text.as_bytes()).map_err(|source| ConfigError::Write { path: target, source })?;
    if let Err(err) = files::save_last_good(paths, &merged) {
        tracing::warn!(%err, "could not keep a last good copy of the configuration");
    }
    Ok(settings)
}
