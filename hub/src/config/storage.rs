//! `[storage]`: where the hub keeps recordings — the data dir (`kind = "local"`, the default) or an
//! S3-compatible bucket (`kind = "s3"`). Validated at start-up; the secret key is never printed.

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::Deserialize;

/// `[storage]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileStorage {
    kind: Option<String>,
    endpoint: Option<String>,
    bucket: Option<String>,
    region: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    secret_access_key_file: Option<PathBuf>,
}

/// Validated `[storage]`.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum StorageSettings {
    /// `<data_dir>/recordings`.
    #[default]
    Local,
    S3(S3Settings),
}

/// An S3-compatible bucket (AWS, MinIO, Garage, moto …), addressed path-style (`<endpoint>/<bucket>/<key>`).
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// `http://` or `https://`, no path: `https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:9000`.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

impl std::fmt::Debug for StorageSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local => f.write_str("Local"),
            Self::S3(s) => s.fmt(f),
        }
    }
}

/// The keys as they arrive from the file, then the environment (which wins key by key).
#[derive(Debug, Default, Clone)]
pub(super) struct StorageKeys {
    kind: Option<String>,
    endpoint: Option<String>,
    bucket: Option<String>,
    region: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    secret_access_key_file: Option<PathBuf>,
}

impl StorageKeys {
    pub(super) fn apply_file(&mut self, f: FileStorage) {
        let keep = |slot: &mut Option<String>, v: Option<String>| {
            if v.is_some() {
                *slot = v;
            }
        };
        keep(&mut self.kind, f.kind);
        keep(&mut self.endpoint, f.endpoint);
        keep(&mut self.bucket, f.bucket);
        keep(&mut self.region, f.region);
        keep(&mut self.access_key_id, f.access_key_id);
        keep(&mut self.secret_access_key, f.secret_access_key);
        if f.secret_access_key_file.is_some() {
            self.secret_access_key_file = f.secret_access_key_file;
        }
    }

    /// `LECTERN_STORAGE_<KEY>` for each key.
    pub(super) fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        let slots: [(&str, &mut Option<String>); 6] = [
            ("LECTERN_STORAGE_KIND", &mut self.kind),
            ("LECTERN_STORAGE_ENDPOINT", &mut self.endpoint),
            ("LECTERN_STORAGE_BUCKET", &mut self.bucket),
            ("LECTERN_STORAGE_REGION", &mut self.region),
            ("LECTERN_STORAGE_ACCESS_KEY_ID", &mut self.access_key_id),
            ("LECTERN_STORAGE_SECRET_ACCESS_KEY", &mut self.secret_access_key),
        ];
        for (key, slot) in slots {
            if let Some(v) = env(key) {
                *slot = Some(v.trim().to_owned());
            }
        }
        if let Some(v) = env("LECTERN_STORAGE_SECRET_ACCESS_KEY_FILE") {
            self.secret_access_key_file = Some(PathBuf::from(v.trim()));
        }
    }

    /// The settings the keys describe, or what is wrong with them.
    pub(super) fn settings(self) -> anyhow::Result<StorageSettings> {
        match self.kind.as_deref().unwrap_or("local") {
            "local" => {
                let set = [&self.endpoint, &self.bucket, &self.access_key_id, &self.secret_access_key];
                if set.iter().any(|v| v.is_some()) || self.secret_access_key_file.is_some() {
                    bail!("storage: endpoint, bucket and keys are for kind = \"s3\"; kind is \"local\"");
                }
                Ok(StorageSettings::Local)
            }
            "s3" => self.s3().map(StorageSettings::S3),
            other => bail!("storage.kind: '{other}' is not \"local\" or \"s3\""),
        }
    }

    fn s3(self) -> anyhow::Result<S3Settings> {
        let need = |v: Option<String>, key: &str| -> anyhow::Result<String> {
            match v {
                Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
                _ => bail!("storage.{key}: needed with kind = \"s3\""),
            }
        };
        let endpoint = need(self.endpoint, "endpoint")?.trim_end_matches('/').to_owned();
        check_endpoint(&endpoint).map_err(|e| anyhow::anyhow!("storage.endpoint: '{endpoint}' {e}"))?;
        let bucket = need(self.bucket, "bucket")?;
        check_bucket(&bucket).map_err(|e| anyhow::anyhow!("storage.bucket: '{bucket}' {e}"))?;
        let region = self.region.filter(|r| !r.trim().is_empty()).unwrap_or_else(|| "us-east-1".to_owned());
        if !region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            bail!("storage.region: '{region}' is not a region name (letters, digits and '-')");
        }
        let access_key_id = need(self.access_key_id, "access_key_id")?;
        let secret_access_key = match (self.secret_access_key, self.secret_access_key_file) {
            (Some(_), Some(_)) => bail!("storage: set secret_access_key or secret_access_key_file, not both"),
            (Some(s), None) => need(Some(s), "secret_access_key")?,
            (None, Some(path)) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("storage.secret_access_key_file: reading {}", path.display()))?;
                need(Some(text), "secret_access_key_file")?
            }
            (None, None) => bail!("storage.secret_access_key (or secret_access_key_file): needed with kind = \"s3\""),
        };
        Ok(S3Settings { endpoint, bucket, region, access_key_id, secret_access_key })
    }
}

fn check_endpoint(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("is not an http:// or https:// URL")?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err("must be scheme://host[:port], without a path, query or credentials");
    }
    Ok(())
}

/// S3's bucket naming rules (3–63 of `a-z 0-9 . -`, starting and ending with a letter or digit).
fn check_bucket(name: &str) -> Result<(), &'static str> {
    let ok_ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !(3..=63).contains(&name.len())
        || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        || !ok_ends(name.chars().next())
        || !ok_ends(name.chars().last())
    {
        return Err("is not an S3 bucket name (3-63 of a-z, 0-9, '.', '-')");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(pairs: &[(&str, &str)]) -> StorageKeys {
        let owned: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut k = StorageKeys::default();
        k.apply_env(&move |key| owned.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()));
        k
    }

    const S3: &[(&str, &str)] = &[
        ("LECTERN_STORAGE_KIND", "s3"),
        ("LECTERN_STORAGE_ENDPOINT", "http://127.0.0.1:9000/"),
        ("LECTERN_STORAGE_BUCKET", "lectern-recordings"),
        ("LECTERN_STORAGE_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("LECTERN_STORAGE_SECRET_ACCESS_KEY", "very-secret-value"),
    ];

    #[test]
    fn s3_settings_come_from_the_environment_and_never_print_the_secret() {
        let StorageSettings::S3(s) = keys(S3).settings().unwrap() else { panic!("not s3") };
        assert_eq!((s.endpoint.as_str(), s.region.as_str()), ("http://127.0.0.1:9000", "us-east-1"));
        let shown = format!("{:?}", StorageSettings::S3(s));
        assert!(!shown.contains("very-secret-value") && shown.contains("AKIDEXAMPLE"), "{shown}");
        assert_eq!(keys(&[]).settings().unwrap(), StorageSettings::Local);
    }

    #[test]
    fn bad_storage_keys_are_refused_with_the_key_named() {
        let with = |k: &str, v: &str| {
            let mut pairs: Vec<(&str, &str)> = S3.iter().filter(|(key, _)| *key != k).copied().collect();
            if !v.is_empty() {
                pairs.push((k, v));
            }
            keys(&pairs).settings().unwrap_err().to_string()
        };
        assert!(with("LECTERN_STORAGE_KIND", "ftp").contains("storage.kind"));
        assert!(with("LECTERN_STORAGE_ENDPOINT", "").contains("storage.endpoint"));
        assert!(with("LECTERN_STORAGE_ENDPOINT", "s3.example.com").contains("http://"));
        assert!(with("LECTERN_STORAGE_ENDPOINT", "http://h/path").contains("without a path"));
        assert!(with("LECTERN_STORAGE_BUCKET", "Bad_Bucket").contains("storage.bucket"));
        assert!(with("LECTERN_STORAGE_ACCESS_KEY_ID", "").contains("storage.access_key_id"));
        let err = with("LECTERN_STORAGE_SECRET_ACCESS_KEY", "");
        assert!(err.contains("storage.secret_access_key"), "{err}");
        let local_with_bucket = keys(&[("LECTERN_STORAGE_BUCKET", "b-1")]).settings().unwrap_err().to_string();
        assert!(local_with_bucket.contains("kind = \"s3\""), "{local_with_bucket}");
    }

    #[test]
    fn the_secret_may_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3-secret");
        std::fs::write(&path, "from-a-file\n").unwrap();
        let mut pairs: Vec<(&str, &str)> =
            S3.iter().filter(|(k, _)| *k != "LECTERN_STORAGE_SECRET_ACCESS_KEY").copied().collect();
        let p = path.to_string_lossy().into_owned();
        pairs.push(("LECTERN_STORAGE_SECRET_ACCESS_KEY_FILE", &p));
        let StorageSettings::S3(s) = keys(&pairs).settings().unwrap() else { panic!("not s3") };
        assert_eq!(s.secret_access_key, "from-a-file");
        pairs.push(("LECTERN_STORAGE_SECRET_ACCESS_KEY", "x"));
        assert!(keys(&pairs).settings().unwrap_err().to_string().contains("not both"));
    }
}
