//! Over-the-air updates of the box (`docs/ota.md`): the hub offers a release on the control
//! channel, the agent downloads it with resume, checks its SHA-256 and signature, installs it into
//! the other slot, reboots outside lessons and inside the site's maintenance window, marks it good
//! once the box went live or passed its health check, and goes back after three failed boots.
//! Start with [`agent`] (the sans-IO state machine), then [`installer`] (RAUC, or the virtual
//! box's stated fake) and [`fetch`] (the resumable download).

pub mod agent;
pub mod fetch;
pub mod installer;
pub mod run;
#[cfg(test)]
mod tests;

pub use agent::{Agent, AgentConfig, Input, Now, Output, Record, Stage, State};
pub use installer::{FakeInstaller, InstallError, Installer, RaucInstaller, Running};
pub use run::{Link, UpdateSettings, spawn};
