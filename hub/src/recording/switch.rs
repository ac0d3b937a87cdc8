//! Whether the current lesson is being recorded, under the room's [`RecordingPolicy`]: `off`
//! never, `on_request` when a teacher starts it, `always` from the lesson's start (a teacher may
//! still stop it, and start it again). Pure: the classroom turns its answers into events for
//! everyone and an effect for the room (the box is told, the switch audited).

use lectern_proto::lesson::RecordingPolicy;

/// Why a teacher's start was refused.
pub const RECORDING_OFF: &str = "recording is switched off for this room";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordingSwitch {
    policy: RecordingPolicy,
    on: bool,
}

impl RecordingSwitch {
    pub fn is_on(&self) -> bool {
        self.on
    }

    pub fn policy(&self) -> RecordingPolicy {
        self.policy
    }

    /// The room's policy as the admin (or the hub's `[recording] default`) has it now. Turning a
    /// room `off` stops a recording running in it; true if that happened.
    pub fn follow_policy(&mut self, policy: RecordingPolicy) -> bool {
        self.policy = policy;
        if policy == RecordingPolicy::Off && self.on {
            self.on = false;
            return true;
        }
        false
    }

    /// A teacher asks for `on`: `Ok(true)` if it changed, `Ok(false)` if it already was so.
    pub fn request(&mut self, on: bool) -> Result<bool, &'static str> {
        if on && self.policy == RecordingPolicy::Off {
            return Err(RECORDING_OFF);
        }
        Ok(std::mem::replace(&mut self.on, on) != on)
    }

    /// The lesson started: under `always`, recording starts with it. True if it did.
    pub fn lesson_started(&mut self) -> bool {
        if self.policy == RecordingPolicy::Always && !self.on {
            self.on = true;
            return true;
        }
        false
    }

    /// The lesson is over: recording stops. True if it was on.
    pub fn lesson_over(&mut self) -> bool {
        std::mem::replace(&mut self.on, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn switch(policy: RecordingPolicy) -> RecordingSwitch {
        let mut s = RecordingSwitch::default();
        s.follow_policy(policy);
        s
    }

    #[test]
    fn off_refuses_a_teacher_and_nothing_changes() {
        let mut s = switch(RecordingPolicy::Off);
        assert_eq!(s.request(true), Err(RECORDING_OFF));
        assert!(!s.lesson_started());
        assert_eq!(s, switch(RecordingPolicy::Off));
        assert_eq!(s.request(false), Ok(false), "stopping what is not running is no change");
    }

    #[test]
    fn on_request_records_between_a_teachers_start_and_stop() {
        let mut s = switch(RecordingPolicy::OnRequest);
        assert!(!s.lesson_started(), "not by itself");
        assert_eq!(s.request(true), Ok(true));
        assert_eq!(s.request(true), Ok(false), "idempotent");
        assert!(s.is_on());
        assert_eq!(s.request(false), Ok(true));
        assert!(!s.is_on());
    }

    #[test]
    fn always_starts_with_the_lesson_and_stops_with_it_or_the_teacher() {
        let mut s = switch(RecordingPolicy::Always);
        assert!(s.lesson_started());
        assert!(!s.lesson_started(), "once");
        assert_eq!(s.request(false), Ok(true), "a teacher may stop it");
        assert_eq!(s.request(true), Ok(true), "and start it again");
        assert!(s.lesson_over());
        assert!(!s.lesson_over());
    }

    #[test]
    fn an_admin_switching_the_room_off_stops_a_running_recording() {
        let mut s = switch(RecordingPolicy::Always);
        s.lesson_started();
        assert!(s.follow_policy(RecordingPolicy::Off));
        assert!(!s.is_on());
        assert!(!s.follow_policy(RecordingPolicy::OnRequest));
    }
}
