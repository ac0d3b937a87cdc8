//! The appliance's configuration: TOML fragments (`fragment`) found and merged in a fixed order
//! (`files`), command-line overrides applied on top, then validated into `Settings` (`settings`).
//! A configuration that validates is kept as the last good copy; when the files are broken
//! (corrupt, truncated, invalid) the appliance starts from that copy and says so.

mod files;
mod hubs;
mod push;
mod settings;

use std::fmt;
use std::path::PathBuf;

pub use files::{ConfigPaths, write_atomic};
pub use hubs::HubList;
pub use lectern_common::box_config::Fragment;
pub use push::apply_pushed;
pub use settings::{
    AudioConfig, ContentConfig, DEFAULT_ENCODERS, DEFAULT_STATUS_LISTEN, HubSettings, InstallerKind, KeyError, Layer,
    Overrides, PanelPins, Settings, TokenSource, UpdateConfig, VideoConfig, validate,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {}", join(.0))]
    Invalid(Vec<KeyError>),
    #[error("writing {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

fn join(errors: &[KeyError]) -> String {
    errors.iter().map(KeyError::to_string).collect::<Vec<_>>().join("; ")
}

/// Where the settings in force came from: shown in the status endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// No file: built-in defaults and the command line.
    Defaults,
    Files(Vec<PathBuf>),
    /// The files were unusable (`error`), so the last good copy at `path` is in force.
    LastGood {
        path: PathBuf,
        error: String,
    },
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::Defaults => f.write_str("defaults"),
            ConfigSource::Files(_) => f.write_str("files"),
            ConfigSource::LastGood { .. } => f.write_str("last-good"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub source: ConfigSource,
}

/// Loads the files under `paths`, applies `overrides` and validates. On success the merged
/// files become the last good copy; on failure the last good copy is used if it validates,
/// otherwise the files' error is returned.
pub fn load(paths: &ConfigPaths, overrides: &Overrides) -> Result<Loaded, ConfigError> {
    let primary = paths.files().and_then(|files| {
        let table = files::read_merged(&files)?;
        let origin = files.last().cloned().unwrap_or_default();
        let settings = validate(&files::to_fragment(&table, &origin)?, overrides)?;
        Ok((files, table, settings))
    });
    let error = match primary {
        Ok((files, _, settings)) if files.is_empty() => {
            return Ok(Loaded { settings, source: ConfigSource::Defaults });
        }
        Ok((files, table, settings)) => {
            if let Err(err) = files::save_last_good(paths, &table) {
                tracing::warn!(%err, "could not keep a last good copy of the configuration");
            }
            return Ok(Loaded { settings, source: ConfigSource::Files(files) });
        }
        Err(error) => error,
    };
    let path = paths.last_good();
    let fallback = files::read_last_good(paths)
        .and_then(|table| table.map(|t| files::to_fragment(&t, &path)).transpose())
        .and_then(|fragment| fragment.map(|f| validate(&f, overrides)).transpose());
    match fallback {
        Ok(Some(settings)) => {
            tracing::error!(%error, last_good = %path.display(), "configuration unusable: starting from the last good copy");
            Ok(Loaded { settings, source: ConfigSource::LastGood { path, error: error.to_string() } })
        }
        Ok(None) => Err(error),
        Err(last_good_error) => {
            tracing::error!(%last_good_error, "the last good copy is unusable too");
            Err(error)
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
