//! Files shared in the chat (issue 22): the allow-list by extension and sniffed content ([`kind`]),
//! `[files]` settings ([`settings`]), clean names and safe downloads ([`name`]), the virus-scan
//! hook ([`scan`]) and the `shared_files` rows ([`db`]). The HTTP edge is `http::files`; who may
//! share, and which chat shows the file, is the classroom's (`classroom/files.rs`). The bytes go
//! through the recordings' `Storage`; downloads use the recordings' signed-link scheme under a key
//! of their own. `docs/files.md` has the design.

pub mod db;
pub mod kind;
pub mod name;
pub mod scan;
pub mod settings;

pub use kind::Kind;
pub use settings::{FileSettings, FilesFile};

use crate::recording::link::{LinkError, LinkKey};

/// How long a file's link stays valid from the moment it is handed out (a lesson and then some).
pub const LINK_TTL_SECS: u64 = 12 * 3600;

/// The files' settings and the key their links are signed with.
#[derive(Debug, Clone)]
pub struct Files {
    pub settings: FileSettings,
    links: LinkKey,
}

impl Files {
    pub fn new(settings: FileSettings, links: LinkKey) -> Self {
        Self { settings, links }
    }

    /// `/files/{id}/{segment}?exp=…&sig=…`: the recordings' HMAC over `{id}/{segment}/{exp}`, with
    /// the files' own key, so a recording's link never opens a file nor the other way round.
    pub fn url(&self, id: i64, segment: &str, exp: u64) -> String {
        let signed = self.links.url(id, segment, exp);
        let query = signed.split_once('?').map_or("", |(_, q)| q);
        format!("/files/{id}/{segment}?{query}")
    }

    pub fn verify(&self, id: i64, segment: &str, exp: u64, sig: &str, now: u64) -> Result<(), LinkError> {
        self.links.verify(id, segment, exp, sig, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_links_are_signed_apart_from_recording_links() {
        let files = Files::new(FileSettings::default(), LinkKey::new([1; 32]));
        let url = files.url(3, "plan.pdf", 100);
        assert!(url.starts_with("/files/3/plan.pdf?exp=100&sig="), "{url}");
        let sig = url.split("sig=").nth(1).unwrap();
        assert_eq!(files.verify(3, "plan.pdf", 100, sig, 50), Ok(()));
        assert_eq!(files.verify(3, "plan.pdf", 100, sig, 101), Err(LinkError::Expired));
        assert_eq!(files.verify(4, "plan.pdf", 100, sig, 50), Err(LinkError::Forged));
        let recordings = LinkKey::new([2; 32]);
        assert_eq!(recordings.verify(3, "plan.pdf", 100, sig, 50), Err(LinkError::Forged), "another key");
    }
}
