//! Enrollment of a box that has no credential: it connects to `/device/ws` without a token, asks
//! for a claim code, shows it (log, status page), and waits until an admin types the code into
//! the web admin. The hub then hands over this box's own device credential, which is kept in the
//! state directory (mode 0600) and used from then on. A random box key, also kept there, makes a
//! reconnecting box get the same code back.
//!
//! When the hub later refuses the credential (revoked), [`forget`] deletes it and the appliance
//! starts over here (see `control::run`).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lectern_proto::RoomId;
use lectern_proto::device::{DeviceMsg, HubMsg, TELEMETRY_EVERY_SECS};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use tungstenite::Message;

use super::{SessionError, connect, lost, message, send};
use crate::status::StatusBoard;
use crate::tls::HubTls;
use crate::whip::Token;

const CREDENTIAL_FILE: &str = "device-credential.json";
const KEY_FILE: &str = "enrollment-key";

/// This box's own credential, from enrollment.
#[derive(Debug, Clone)]
pub struct Credential {
    pub token: Token,
    pub room: RoomId,
    pub device_id: String,
    pub name: String,
    /// The room this box was in before an admin moved it here, for the log and status page.
    pub moved_from: Option<RoomId>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Stored {
    token: String,
    room: String,
    device_id: String,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    moved_from: Option<String>,
}

pub fn credential_path(state_dir: &Path) -> PathBuf {
    state_dir.join(CREDENTIAL_FILE)
}

/// The stored credential, if this box was enrolled. A damaged file is an error naming it (the
/// caller deletes it and enrolls again rather than guessing).
pub fn load(state_dir: &Path) -> Result<Option<Credential>, String> {
    let path = credential_path(state_dir);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    let stored: Stored = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let room = RoomId::parse(&stored.room).map_err(|e| format!("{}: room: {e}", path.display()))?;
    // Only a note for people: a damaged one is left out rather than refusing the credential.
    let moved_from = stored.moved_from.and_then(|r| RoomId::parse(&r).ok());
    Ok(Some(Credential {
        token: Token::new(stored.token),
        room,
        device_id: stored.device_id,
        name: stored.name,
        moved_from,
    }))
}

/// Keeps the credential an admin's move sent (`HubMsg::Moved`) in place of the current one,
/// written whole or not at all like enrollment's.
pub fn keep_moved(
    state_dir: &Path,
    token: String,
    from: &RoomId,
    room: &RoomId,
    device_id: String,
    name: String,
) -> io::Result<Credential> {
    let stored = Stored { token, room: room.to_string(), device_id, name, moved_from: Some(from.to_string()) };
    keep(state_dir, stored)
}

/// Deletes the stored credential (revoked or damaged).
pub fn forget(state_dir: &Path) -> io::Result<()> {
    match fs::remove_file(credential_path(state_dir)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Connects to the hub until this box is enrolled; returns the stored credential. Retries with
/// backoff (capped at 7 s) through hub restarts and network trouble.
/// `show_code` puts the code on the room's screen as well.
pub fn enroll(
    hub_url: &str,
    tls: Option<&HubTls>,
    state_dir: &Path,
    board: &StatusBoard,
    show_code: &dyn Fn(&str),
) -> io::Result<Credential> {
    fs::create_dir_all(state_dir)?;
    let box_key = box_key(state_dir)?;
    let mut backoff = message::backoff(StdRng::from_os_rng());
    loop {
        let err = match session(hub_url, tls, &box_key, board, show_code) {
            Ok(stored) => return keep(state_dir, stored),
            Err(err) => err,
        };
        let delay = backoff.next_delay();
        tracing::warn!(%err, retry_in_s = delay.as_secs_f64(), "enrollment: hub not reachable");
        board.update(|s| s.control = format!("enrolling: retrying in {:.1}s: {err}", delay.as_secs_f64()));
        std::thread::sleep(delay);
    }
}

fn session(
    hub_url: &str,
    tls: Option<&HubTls>,
    box_key: &str,
    board: &StatusBoard,
    show_code: &dyn Fn(&str),
) -> Result<Stored, SessionError> {
    let mut ws = connect(hub_url, None, tls)?;
    let hostname = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_owned();
    let hello =
        DeviceMsg::Enroll { box_key: box_key.to_owned(), version: env!("CARGO_PKG_VERSION").to_owned(), hostname };
    send(&mut ws, &hello)?;
    let period = Duration::from_secs(TELEMETRY_EVERY_SECS);
    let mut next_ping = Instant::now() + period;
    loop {
        if Instant::now() >= next_ping {
            // The hub drops a silent socket; a ping is enough to say we are still here.
            ws.send(Message::Ping(Vec::new().into())).map_err(lost)?;
            next_ping = Instant::now() + period;
        }
        let text = match ws.read() {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(_)) => return Err(SessionError::Lost("hub closed the connection".to_owned())),
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
            {
                continue;
            }
            Err(err) => return Err(lost(err)),
        };
        match serde_json::from_str::<HubMsg>(&text) {
            Ok(HubMsg::ClaimCode { code, expires_at }) => {
                // Warn level: this is the line an installer looks for in the journal.
                tracing::warn!(
                    claim_code = %code,
                    expires_at,
                    "this box is not enrolled: enter claim code {code} in the hub's web admin (Fleet → Enroll a box)"
                );
                show_code(&code);
                board.update(|s| {
                    s.claim_code = Some(code.clone());
                    s.control = "waiting to be enrolled".to_owned();
                });
            }
            Ok(HubMsg::Enrolled { token, room, device_id, name }) => {
                tracing::info!(%room, %device_id, %name, "enrolled");
                board.update(|s| s.claim_code = None);
                return Ok(Stored { token, room: room.to_string(), device_id, name, moved_from: None });
            }
            Ok(HubMsg::Error { message }) => return Err(SessionError::Refused(message)),
            _ => tracing::debug!("enrollment: ignored a hub message"),
        }
    }
}

fn keep(state_dir: &Path, stored: Stored) -> io::Result<Credential> {
    let json = serde_json::to_vec_pretty(&stored).map_err(io::Error::other)?;
    write_private(&credential_path(state_dir), &json)?;
    let room = RoomId::parse(&stored.room).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    let moved_from = stored.moved_from.and_then(|r| RoomId::parse(&r).ok());
    Ok(Credential { token: Token::new(stored.token), room, device_id: stored.device_id, name: stored.name, moved_from })
}

/// This box's enrollment key, made on first use: 256 random bits, hex.
fn box_key(state_dir: &Path) -> io::Result<String> {
    let path = state_dir.join(KEY_FILE);
    if let Ok(key) = fs::read_to_string(&path) {
        let key = key.trim();
        if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(key.to_owned());
        }
    }
    let bytes: [u8; 32] = rand::random();
    let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, key.as_bytes())?;
    Ok(key)
}

/// Written whole or not at all, readable by this user only from the first byte.
fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_kept_credential_loads_back_private_and_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        let stored = Stored {
            token: "t.o.k".into(),
            room: "lab-1".into(),
            device_id: "box-1".into(),
            name: "Lab 1".into(),
            moved_from: None,
        };
        keep(dir.path(), stored).unwrap();
        let mode = fs::metadata(credential_path(dir.path())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let c = load(dir.path()).unwrap().unwrap();
        assert_eq!((c.room.as_str(), c.device_id.as_str()), ("lab-1", "box-1"));
        forget(dir.path()).unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        forget(dir.path()).unwrap();
    }

    #[test]
    fn a_moved_credential_replaces_the_old_one_and_names_the_old_room() {
        let dir = tempfile::tempdir().unwrap();
        let room = |r: &str| RoomId::parse(r).unwrap();
        let stored = Stored {
            token: "old".into(),
            room: "lab-1".into(),
            device_id: "box-1".into(),
            name: "Lab".into(),
            moved_from: None,
        };
        keep(dir.path(), stored).unwrap();
        keep_moved(dir.path(), "new".into(), &room("lab-1"), &room("lab-2"), "box-1".into(), "Lab".into()).unwrap();
        let c = load(dir.path()).unwrap().unwrap();
        assert_eq!((c.token.bearer(), c.room.as_str()), ("Bearer new".to_owned(), "lab-2"));
        assert_eq!(c.moved_from, Some(room("lab-1")));
        let mode = fs::metadata(credential_path(dir.path())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // No temporary file is left beside it.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_damaged_credential_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(credential_path(dir.path()), "{\"token\":").unwrap();
        assert!(load(dir.path()).unwrap_err().contains(CREDENTIAL_FILE));
    }

    #[test]
    fn the_box_key_is_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let key = box_key(dir.path()).unwrap();
        assert_eq!(key.len(), 64);
        assert_eq!(box_key(dir.path()).unwrap(), key);
    }
}
