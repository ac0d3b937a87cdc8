//! What writes a release into the other slot, marks it good and rolls it back.
//!
//! - [`RaucInstaller`]: a Lectern image (Yocto, `yocto/meta-lectern`) with RAUC's A/B rootfs slots.
//!   It runs the `rauc` CLI, which talks to the RAUC D-Bus service on the image: `rauc install`
//!   (RAUC checks the bundle's signature against the image's keyring itself), `rauc status
//!   mark-good`, `rauc status mark-bad booted`; the bootloader (U-Boot's boot counter) boots the
//!   new slot once and falls back on its own when it does not come up.
//! - [`FakeInstaller`]: a stated stand-in for the virtual box (`--virtual`), which has no slots.
//!   It keeps two pretend slots in `fake-slots.json` in the data dir; "installing" records the
//!   version in the other slot, "rebooting" switches slots and restarts the appliance process in
//!   place, "rolling back" switches back. Nothing on the machine changes.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("running {command}: {source}")]
    Spawn { command: String, source: std::io::Error },
    #[error("{command} failed ({status}): {stderr}")]
    Failed { command: String, status: String, stderr: String },
    #[error("{0}")]
    State(String),
}

/// The release running now and the slot it booted from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub version: String,
    pub slot: Option<String>,
}

pub trait Installer: Send {
    /// `rauc` or `fake`, as the hub's fleet view shows it.
    fn name(&self) -> &'static str;
    /// Called once when the agent starts, before `running` (the fake applies a pending slot
    /// switch here, as a bootloader would).
    fn boot(&mut self) -> Result<(), InstallError> {
        Ok(())
    }
    fn running(&self) -> Result<Running, InstallError>;
    /// Writes `bundle` (already checked against the hub's SHA-256) into the other slot and makes
    /// it the next boot's, once.
    fn install(&mut self, bundle: &Path, version: &str) -> Result<(), InstallError>;
    fn mark_good(&mut self) -> Result<(), InstallError>;
    /// Marks the booted slot bad so the next boot is the other one (then [`Installer::reboot`]).
    fn mark_bad(&mut self) -> Result<(), InstallError>;
    /// Does not return on success.
    fn reboot(&mut self) -> Result<(), InstallError>;
}

/// Runs `program args…`, returning stdout; a non-zero exit is an error with its stderr.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<String, InstallError> {
    let command = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| InstallError::Spawn { command: command.clone(), source })?;
    if !out.status.success() {
        let stderr: String = String::from_utf8_lossy(&out.stderr).trim().chars().take(400).collect();
        return Err(InstallError::Failed { command, status: out.status.to_string(), stderr });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Checks a bundle's signature with `rauc info --keyring` (Debian's `rauc` package). Used by
/// both installers when a keyring is configured: on the image `rauc install` checks again.
pub fn verify_signature(rauc: &str, keyring: &Path, bundle: &Path) -> Result<(), InstallError> {
    let keyring = keyring.to_string_lossy();
    let bundle = bundle.to_string_lossy();
    run(rauc, &["info", "--keyring", &keyring, "--output-format=json", &bundle]).map(|_| ())
}

/// The RAUC D-Bus service through its CLI.
pub struct RaucInstaller {
    pub rauc: String,
}

impl Default for RaucInstaller {
    fn default() -> Self {
        Self { rauc: "rauc".to_owned() }
    }
}

impl Installer for RaucInstaller {
    fn name(&self) -> &'static str {
        "rauc"
    }

    fn running(&self) -> Result<Running, InstallError> {
        let json = run(&self.rauc, &["status", "--output-format=json"])?;
        parse_rauc_status(&json)
            .ok_or_else(|| InstallError::State("rauc status: no booted slot with a bundle version".into()))
    }

    fn install(&mut self, bundle: &Path, _version: &str) -> Result<(), InstallError> {
        run(&self.rauc, &["install", &bundle.to_string_lossy()]).map(|_| ())
    }

    fn mark_good(&mut self) -> Result<(), InstallError> {
        run(&self.rauc, &["status", "mark-good"]).map(|_| ())
    }

    fn mark_bad(&mut self) -> Result<(), InstallError> {
        run(&self.rauc, &["status", "mark-bad", "booted"]).map(|_| ())
    }

    fn reboot(&mut self) -> Result<(), InstallError> {
        run("systemctl", &["reboot"]).map(|_| ())
    }
}

/// The booted slot and its bundle's version from `rauc status --output-format=json`.
pub fn parse_rauc_status(json: &str) -> Option<Running> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let booted = v.get("booted")?.as_str()?.to_owned();
    // `slots` is a list of one-key objects: [{"rootfs.0": {"bootname": "A", "slot_status": …}}].
    let slot = v.get("slots")?.as_array()?.iter().filter_map(|s| s.as_object()).flat_map(|o| o.values()).find(|s| {
        s.get("bootname").and_then(|b| b.as_str()) == Some(booted.as_str())
            && s.get("class").and_then(|c| c.as_str()) == Some("rootfs")
    })?;
    let version = slot.pointer("/slot_status/bundle/version")?.as_str()?.to_owned();
    Some(Running { version, slot: Some(booted) })
}

/// Two pretend slots in a file, for the virtual box.
pub struct FakeInstaller {
    file: PathBuf,
    /// The release a fresh virtual box runs (the appliance's own version).
    initial: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FakeSlots {
    booted: usize,
    versions: [Option<String>; 2],
    /// The slot the next "reboot" starts, once (like RAUC's primary or the firmware's tryboot).
    next: Option<usize>,
}

const SLOT_NAMES: [&str; 2] = ["A", "B"];

impl FakeInstaller {
    pub fn new(data_dir: &Path, initial: &str) -> Self {
        Self { file: data_dir.join("fake-slots.json"), initial: initial.to_owned() }
    }

    fn load(&self) -> Result<FakeSlots, InstallError> {
        match std::fs::read(&self.file) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| InstallError::State(format!("{}: {e}", self.file.display())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(FakeSlots { booted: 0, versions: [Some(self.initial.clone()), None], next: None })
            }
            Err(e) => Err(InstallError::State(format!("{}: {e}", self.file.display()))),
        }
    }

    fn save(&self, slots: &FakeSlots) -> Result<(), InstallError> {
        let bytes = serde_json::to_vec_pretty(slots).map_err(|e| InstallError::State(e.to_string()))?;
        crate::config::write_atomic(&self.file, &bytes)
            .map_err(|e| InstallError::State(format!("{}: {e}", self.file.display())))
    }
}

impl Installer for FakeInstaller {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn boot(&mut self) -> Result<(), InstallError> {
        let mut slots = self.load()?;
        if let Some(next) = slots.next.take() {
            slots.booted = next % 2;
        }
        self.save(&slots)
    }

    fn running(&self) -> Result<Running, InstallError> {
        let slots = self.load()?;
        let booted = slots.booted % 2;
        let version = slots.versions[booted].clone().unwrap_or_else(|| self.initial.clone());
        Ok(Running { version, slot: Some(SLOT_NAMES[booted].to_owned()) })
    }

    fn install(&mut self, _bundle: &Path, version: &str) -> Result<(), InstallError> {
        let mut slots = self.load()?;
        let other = (slots.booted + 1) % 2;
        slots.versions[other] = Some(version.to_owned());
        slots.next = Some(other);
        self.save(&slots)
    }

    fn mark_good(&mut self) -> Result<(), InstallError> {
        Ok(())
    }

    fn mark_bad(&mut self) -> Result<(), InstallError> {
        let mut slots = self.load()?;
        slots.next = Some((slots.booted + 1) % 2);
        self.save(&slots)
    }

    fn reboot(&mut self) -> Result<(), InstallError> {
        use std::os::unix::process::CommandExt;
        // A virtual box "reboots" by starting its process again in place (same pid, so systemd
        // and the tests keep tracking it).
        let exe = std::env::current_exe().map_err(|e| InstallError::State(format!("current_exe: {e}")))?;
        let err = Command::new(exe).args(std::env::args_os().skip(1)).exec();
        Err(InstallError::State(format!("restarting the appliance: {err}")))
    }
}

/// What a box without an update agent runs: `debian` with its Lectern packages when dpkg knows
/// them (apt updates such a box), `none` otherwise.
pub fn without_agent() -> lectern_proto::update::Software {
    let packages = debian_packages();
    let installer = if packages.is_empty() { "none" } else { "debian" };
    lectern_proto::update::Software { installer: installer.to_owned(), release: None, slot: None, packages }
}

/// `dpkg-query` versions of Lectern's packages, on a Debian-installed box (empty elsewhere).
pub fn debian_packages() -> Vec<lectern_proto::update::PackageVersion> {
    run("dpkg-query", &["-W", "-f=${Package} ${Version} ${db:Status-Status}\\n", "lectern-*"])
        .map(|out| parse_dpkg_query(&out))
        .unwrap_or_default()
}

pub fn parse_dpkg_query(out: &str) -> Vec<lectern_proto::update::PackageVersion> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (name, version, status) = (f.next()?, f.next()?, f.next()?);
            (status == "installed")
                .then(|| lectern_proto::update::PackageVersion { name: name.to_owned(), version: version.to_owned() })
        })
        .take(lectern_proto::update::MAX_PACKAGES)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_booted_slot_and_its_version_come_from_rauc_status() {
        let json = r#"{"compatible":"lectern-rpi4","variant":"","booted":"B","boot_primary":"rootfs.1",
          "slots":[{"rootfs.0":{"class":"rootfs","device":"/dev/mmcblk0p2","type":"ext4","bootname":"A",
            "state":"inactive","slot_status":{"bundle":{"version":"1.0.0"},"status":"ok"}}},
          {"rootfs.1":{"class":"rootfs","device":"/dev/mmcblk0p3","type":"ext4","bootname":"B",
            "state":"booted","slot_status":{"bundle":{"version":"1.1.0"},"status":"ok"}}}]}"#;
        assert_eq!(parse_rauc_status(json), Some(Running { version: "1.1.0".into(), slot: Some("B".into()) }));
        assert_eq!(parse_rauc_status("{}"), None);
        assert_eq!(parse_rauc_status("not json"), None);
    }

    #[test]
    fn dpkg_query_lists_installed_lectern_packages_only() {
        let out = "lectern-appliance 0.3.1 installed\nlectern-hub 0.3.0 config-files\ngarbage\n";
        let p = parse_dpkg_query(out);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].name.as_str(), p[0].version.as_str()), ("lectern-appliance", "0.3.1"));
    }

    #[test]
    fn the_fake_installs_into_the_other_slot_boots_it_once_and_goes_back_when_marked_bad() {
        let dir = tempfile::tempdir().unwrap();
        let mut fake = FakeInstaller::new(dir.path(), "1.0.0");
        assert_eq!(fake.running().unwrap(), Running { version: "1.0.0".into(), slot: Some("A".into()) });
        fake.install(Path::new("/nonexistent"), "1.1.0").unwrap();
        assert_eq!(fake.running().unwrap().version, "1.0.0", "installed, not booted");
        fake.boot().unwrap();
        assert_eq!(fake.running().unwrap(), Running { version: "1.1.0".into(), slot: Some("B".into()) });
        fake.boot().unwrap();
        assert_eq!(fake.running().unwrap().version, "1.1.0", "a switch happens once");
        fake.mark_bad().unwrap();
        fake.boot().unwrap();
        assert_eq!(fake.running().unwrap(), Running { version: "1.0.0".into(), slot: Some("A".into()) });
    }
}
