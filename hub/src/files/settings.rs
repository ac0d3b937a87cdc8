//! `[files]` of `hub.toml`: the size limit, the allow-list and the virus-scan hook, validated at
//! start-up (a wrong value stops the hub with a message naming the key).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;

use super::kind::Kind;

/// `[files]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesFile {
    max_mb: Option<u64>,
    allow: Option<Vec<String>>,
    scan_command: Option<String>,
    scan_timeout_secs: Option<u64>,
}

/// The largest `max_mb` the hub takes: an upload is held in memory while it is checked.
pub const MAX_MB_CAP: u64 = 1024;
const DEFAULT_MAX_MB: u64 = 25;

/// Validated `[files]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSettings {
    /// Largest file, in bytes (`max_mb` × 1 MiB).
    pub max_bytes: u64,
    /// Types a chat takes, by extension and content.
    pub allow: Vec<Kind>,
    /// The virus scanner's argv, `{path}` standing for the uploaded file (`None`: no scan).
    pub scan: Option<Vec<String>>,
    /// A scan running longer than this fails (the file is not offered).
    pub scan_timeout: Duration,
    /// Where an upload waits while it is scanned (`<data_dir>/scan`; the system's temp dir if unset).
    pub scratch_dir: Option<PathBuf>,
}

impl Default for FileSettings {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_MB * 1024 * 1024,
            allow: Kind::ALL.to_vec(),
            scan: None,
            scan_timeout: Duration::from_secs(60),
            scratch_dir: None,
        }
    }
}

impl FileSettings {
    /// The file's `[files]` over the defaults, checked.
    pub fn apply(&mut self, f: FilesFile) -> anyhow::Result<()> {
        if let Some(mb) = f.max_mb {
            if mb == 0 || mb > MAX_MB_CAP {
                bail!("files.max_mb: {mb} is not between 1 and {MAX_MB_CAP}");
            }
            self.max_bytes = mb * 1024 * 1024;
        }
        if let Some(allow) = f.allow {
            let mut kinds = Vec::new();
            for name in &allow {
                let Some(kind) = Kind::parse(name) else {
                    bail!("files.allow: '{name}' is not a known type; choose from {}", catalogue());
                };
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
            if kinds.is_empty() {
                bail!("files.allow: name at least one type ({})", catalogue());
            }
            self.allow = kinds;
        }
        if let Some(cmd) = f.scan_command {
            self.scan = Some(parse_scan_command(&cmd)?);
        }
        if let Some(secs) = f.scan_timeout_secs {
            if secs == 0 || secs > 600 {
                bail!("files.scan_timeout_secs: {secs} is not between 1 and 600");
            }
            self.scan_timeout = Duration::from_secs(secs);
        }
        Ok(())
    }

    /// `max_mb` as a person reads it.
    pub fn limit_text(&self) -> String {
        format!("{} MB", self.max_bytes / (1024 * 1024))
    }

    /// The allowed types, comma-separated.
    pub fn allow_text(&self) -> String {
        self.allow.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
    }
}

fn catalogue() -> String {
    Kind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
}

/// `clamdscan --no-summary --fdpass {path}` → argv. Words split at spaces (no shell: nothing in the
/// file name can reach one); `{path}` must appear.
fn parse_scan_command(cmd: &str) -> anyhow::Result<Vec<String>> {
    let argv: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
    if argv.is_empty() {
        bail!("files.scan_command: empty; leave it out to scan nothing");
    }
    if !argv.iter().any(|a| a.contains("{path}")) {
        bail!("files.scan_command: '{cmd}' has no {{path}} where the file goes");
    }
    if argv[0].contains("{path}") {
        bail!("files.scan_command: the first word must be the scanner, not {{path}}");
    }
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(toml_text: &str) -> anyhow::Result<FileSettings> {
        let f: FilesFile = toml::from_str(toml_text)?;
        let mut s = FileSettings::default();
        s.apply(f)?;
        Ok(s)
    }

    #[test]
    fn defaults_take_every_type_up_to_25_mb_without_a_scan() {
        let s = apply("").unwrap();
        assert_eq!((s.max_bytes, s.allow.len(), s.scan.clone()), (25 * 1024 * 1024, Kind::ALL.len(), None));
        assert_eq!(s.limit_text(), "25 MB");
    }

    #[test]
    fn the_file_sets_limit_types_and_scanner() {
        let s = apply("max_mb = 2\nallow = [\"pdf\", \"JPEG\", \"jpg\"]\nscan_command = \"clamdscan --no-summary --fdpass {path}\"\n")
            .unwrap();
        assert_eq!(s.max_bytes, 2 * 1024 * 1024);
        assert_eq!(s.allow, [Kind::Pdf, Kind::Jpg]);
        assert_eq!(s.allow_text(), "pdf, jpg");
        assert_eq!(s.scan.unwrap(), ["clamdscan", "--no-summary", "--fdpass", "{path}"]);
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        for (text, key) in [
            ("max_mb = 0", "files.max_mb"),
            ("max_mb = 5000", "files.max_mb"),
            ("allow = [\"exe\"]", "files.allow"),
            ("allow = []", "files.allow"),
            ("scan_command = \"clamdscan\"", "files.scan_command"),
            ("scan_command = \"  \"", "files.scan_command"),
            ("scan_timeout_secs = 0", "files.scan_timeout_secs"),
        ] {
            let e = apply(text).unwrap_err().to_string();
            assert!(e.starts_with(key), "{text}: {e}");
        }
        assert!(apply("max_size = 3").is_err(), "unknown keys are errors");
    }
}
