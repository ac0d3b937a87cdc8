//! systemd's readiness protocol (sd_notify(3)) without libsystemd, for both daemons: each message
//! is one datagram to the socket named by `$NOTIFY_SOCKET` (a path, or `@name` for an abstract
//! socket). Outside systemd every call is a no-op; a failed send is logged, never fatal.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

pub struct Notifier {
    socket: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` as systemd sets them.
    pub fn from_env() -> Self {
        let var = |name| std::env::var(name).ok();
        Self::new(var("NOTIFY_SOCKET").as_deref(), var("WATCHDOG_USEC").as_deref(), var("WATCHDOG_PID").as_deref())
    }

    pub fn new(notify_socket: Option<&str>, watchdog_usec: Option<&str>, watchdog_pid: Option<&str>) -> Self {
        let socket = notify_socket.filter(|s| !s.is_empty()).and_then(|path| match connect(path) {
            Ok(socket) => Some(socket),
            Err(err) => {
                tracing::warn!(%err, path, "NOTIFY_SOCKET unusable; systemd will not hear from us");
                None
            }
        });
        // WATCHDOG_PID names the process systemd expects pings from; a child must not ping.
        let ours = watchdog_pid.is_none_or(|pid| pid.parse::<u32>().ok() == Some(std::process::id()));
        let usec = watchdog_usec.and_then(|u| u.parse::<u64>().ok()).filter(|&u| u > 0 && ours);
        Self { socket, watchdog: usec.map(Duration::from_micros) }
    }

    pub fn disabled() -> Self {
        Self { socket: None, watchdog: None }
    }

    /// How often to send `WATCHDOG=1`: half the timeout, as sd_watchdog_enabled(3) advises.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }

    pub fn ready(&self) {
        self.send("READY=1");
    }

    pub fn status(&self, status: &str) {
        // One line per assignment: a newline would end STATUS= early.
        let line: String = status.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        self.send(&format!("STATUS={line}"));
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    fn send(&self, message: &str) {
        if let Some((socket, addr)) = &self.socket
            && let Err(err) = socket.send_to_addr(message.as_bytes(), addr)
        {
            tracing::debug!(%err, message, "sd_notify failed");
        }
    }
}

fn connect(path: &str) -> std::io::Result<(UnixDatagram, SocketAddr)> {
    let addr = match path.strip_prefix('@') {
        #[cfg(target_os = "linux")]
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())?
        }
        _ => SocketAddr::from_pathname(path)?,
    };
    Ok((UnixDatagram::unbound()?, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_reach_the_notify_socket() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("notify");
        let systemd = UnixDatagram::bind(&path).expect("bind");
        let pid = std::process::id().to_string();
        let notifier = Notifier::new(path.to_str(), Some("4000000"), Some(&pid));
        assert_eq!(notifier.watchdog_interval(), Some(Duration::from_secs(2)));
        notifier.status("reconnecting in 1.0s:\nhub down");
        notifier.ready();
        notifier.watchdog();
        let mut buf = [0u8; 256];
        let mut next = || {
            let n = systemd.recv(&mut buf).expect("datagram");
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        assert_eq!(next(), "STATUS=reconnecting in 1.0s: hub down");
        assert_eq!(next(), "READY=1");
        assert_eq!(next(), "WATCHDOG=1");
    }

    #[test]
    fn watchdog_is_off_for_another_pid_or_outside_systemd() {
        assert_eq!(Notifier::new(None, Some("4000000"), Some("1")).watchdog_interval(), None);
        assert_eq!(Notifier::new(None, None, None).watchdog_interval(), None);
        Notifier::new(None, None, None).ready();
    }

    #[test]
    fn abstract_socket_names_are_supported() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("lectern-common-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract name");
        let systemd = UnixDatagram::bind_addr(&addr).expect("bind");
        Notifier::new(Some(&format!("@{name}")), None, None).ready();
        let mut buf = [0u8; 64];
        let n = systemd.recv(&mut buf).expect("datagram");
        assert_eq!(&buf[..n], b"READY=1");
    }
}
