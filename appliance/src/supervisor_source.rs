//! The capture devices' health, a part of `Supervisor`: a camera or microphone that fails
//! (unplugged, driver error) is replaced by a stand-in (black frames, silence) on the same
//! track, so the lesson goes on audio-only or video-only without renegotiation, and its device
//! is checked every `poll` until it is back, then reopened. A lost content capture (the teacher's
//! laptop) is handled the same way: the lesson never stops for it. Sans-IO like its owner.

use std::time::{Duration, Instant};

use crate::media::SourceKind;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Lost {
    reason: String,
    /// When to look at the device again.
    check_at: Instant,
}

/// Lost devices and when to check them; both healthy by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Sources {
    camera: Option<Lost>,
    microphone: Option<Lost>,
    content: Option<Lost>,
}

impl Sources {
    fn slot(&mut self, kind: SourceKind) -> &mut Option<Lost> {
        match kind {
            SourceKind::Camera => &mut self.camera,
            SourceKind::Microphone => &mut self.microphone,
            SourceKind::Content => &mut self.content,
        }
    }

    fn get(&self, kind: SourceKind) -> Option<&Lost> {
        match kind {
            SourceKind::Camera => self.camera.as_ref(),
            SourceKind::Microphone => self.microphone.as_ref(),
            SourceKind::Content => self.content.as_ref(),
        }
    }

    pub(super) fn is_lost(&self, kind: SourceKind) -> bool {
        self.get(kind).is_some()
    }

    /// Marks `kind` lost; returns false if it already was (a repeated error changes nothing but
    /// the reason).
    pub(super) fn lose(&mut self, kind: SourceKind, reason: &str, now: Instant, poll: Duration) -> bool {
        let slot = self.slot(kind);
        let newly = slot.is_none();
        *slot = Some(Lost { reason: reason.to_owned(), check_at: now + poll });
        newly
    }

    /// The device is back: healthy again. Returns false if it was not lost.
    pub(super) fn recover(&mut self, kind: SourceKind) -> bool {
        self.slot(kind).take().is_some()
    }

    /// Devices due for a look at `now`; their next look is scheduled `poll` later.
    pub(super) fn due(&mut self, now: Instant, poll: Duration) -> Vec<SourceKind> {
        let mut due = Vec::new();
        for kind in SourceKind::ALL {
            if let Some(lost) = self.slot(kind).as_mut().filter(|l| now >= l.check_at) {
                lost.check_at = now + poll;
                due.push(kind);
            }
        }
        due
    }

    pub(super) fn next_check(&self) -> Option<Instant> {
        [&self.camera, &self.microphone, &self.content].into_iter().flatten().map(|l| l.check_at).min()
    }

    /// What the status line adds while a device is missing, e.g. `audio only: camera lost (…)`
    /// or `no laptop picture: content lost (…)`.
    pub(super) fn describe(&self) -> Option<String> {
        let what = match (&self.camera, &self.microphone) {
            (None, None) => None,
            (Some(camera), None) => Some(format!("audio only: camera lost ({})", camera.reason)),
            (None, Some(mic)) => Some(format!("video only: microphone lost ({})", mic.reason)),
            (Some(camera), Some(mic)) => Some(format!(
                "no camera or microphone: camera lost ({}), microphone lost ({})",
                camera.reason, mic.reason
            )),
        };
        let content = self.content.as_ref().map(|c| format!("no laptop picture: content lost ({})", c.reason));
        match (what, content) {
            (Some(what), Some(content)) => Some(format!("{what}; {content}")),
            (what, content) => what.or(content),
        }
    }
}
