//! The hub's token-signing secret: from config/env, or generated once into `<data_dir>/secret`
//! (mode 0600) so tokens survive restarts. Its value is never logged or printed.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};

use crate::token::TokenKey;

pub fn load_or_create(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<TokenKey> {
    if let Some(s) = configured {
        return Ok(TokenKey::new(s.as_bytes().to_vec()));
    }
    let path = data_dir.join("secret");
    match std::fs::read_to_string(&path) {
        Ok(s) => {
            let s = s.trim();
            if s.len() < 32 {
                bail!("{} is shorter than 32 characters: delete it to generate a new one", path.display());
            }
            return Ok(TokenKey::new(s.as_bytes().to_vec()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating data dir {}", data_dir.display()))?;
    let bytes: [u8; 32] = rand::random();
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = data_dir.join("secret.tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(secret.as_bytes())?;
        f.sync_all()?;
    }
    // Atomic: a concurrent `token` and `serve` never see half a secret.
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a new token secret");
    load_or_create(None, data_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_is_reused_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let k1 = load_or_create(None, dir.path()).unwrap();
        let k2 = load_or_create(None, dir.path()).unwrap();
        let claims = lectern_proto::Claims {
            sub: "s".into(),
            room: lectern_proto::RoomId::parse("r").unwrap(),
            role: lectern_proto::Role::Viewer,
            name: None,
            exp: u64::MAX / 2,
            nbf: 0,
            jti: "j".into(),
            guest: false,
        };
        assert!(k2.verify(&k1.issue(&claims), 10).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secret")).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "secret must not be readable by others");
        }
    }
}
