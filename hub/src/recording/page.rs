//! What a lesson page shows (`/lessons/{id}`, `GET /api/lessons/{id}`), composed from the lesson's
//! rows without IO: its files grouped into tracks (split files of one stream chained), the chat,
//! attendance and poll results — and what a student's shared link may not see (private messages,
//! attendance, who answered what). The handlers are `http::lesson_page`.

use serde::Serialize;
use serde_json::Value;

use crate::store::ChatRow;
use lectern_proto::upload::RecordingView;

/// Who is looking: the room's teacher or an admin, or a student through a shared link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Viewer {
    Staff,
    Student,
}

/// One lesson as its page shows it (times in unix ms).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LessonPage {
    pub id: String,
    pub room: String,
    pub started_at: i64,
    /// `null` while the lesson is on.
    pub ended_at: Option<i64>,
    pub viewer: Viewer,
    /// The teachers who joined it, in order of arrival.
    pub teachers: Vec<String>,
    /// Every file, by track then start.
    pub files: Vec<PageFile>,
    pub chat: Vec<PageChat>,
    /// The attendance report (`attendance.json`'s shape); `null` for students and when none was saved.
    pub attendance: Option<Value>,
    /// The poll results (`polls.json`'s shape); for students without `responses` (who answered what).
    pub polls: Vec<Value>,
}

/// A file of the lesson: the lessons list's view, its name, and the track it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageFile {
    #[serde(flatten)]
    pub view: RecordingView,
    pub name: String,
    /// Files of one stream share it; the page chains them into one timeline ([`track_of`]).
    pub track: String,
}

/// A chat message of the lesson.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageChat {
    pub sent_at: u64,
    pub from: String,
    pub text: String,
    pub private: bool,
}

/// The stream a file belongs to: its name without the writer's `<ms>-` prefix, its `-<n>`
/// fragment number and its extension (`1700000000000-camera-003.mp4` → `camera`; a hub
/// recorder's `1700000000000-participant-7-000.webm` → `participant-7`). A box that reconnected
/// starts files with a new prefix: they join the same track, after a gap.
pub fn track_of(name: &str) -> String {
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    let stem = match stem.split_once('-') {
        Some((prefix, rest)) if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => stem,
    };
    let stem = match stem.rsplit_once('-') {
        Some((rest, n)) if !rest.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => stem,
    };
    stem.to_owned()
}

/// Orders files by track, then by start (unknown starts after known ones, by name).
pub fn order_files(files: &mut [PageFile]) {
    files.sort_by(|a, b| {
        a.track
            .cmp(&b.track)
            .then_with(|| a.view.started_at.is_none().cmp(&b.view.started_at.is_none()))
            .then_with(|| a.view.started_at.cmp(&b.view.started_at))
            .then_with(|| a.name.cmp(&b.name))
    });
}

/// The chat a viewer sees: a student's link never carries private messages.
pub fn chat_for(rows: Vec<ChatRow>, viewer: Viewer) -> Vec<PageChat> {
    rows.into_iter()
        .filter(|r| !r.deleted && (viewer == Viewer::Staff || !r.private))
        .map(|r| PageChat { sent_at: r.sent_at, from: r.from, text: r.text, private: r.private })
        .collect()
}

/// The attendance a viewer sees (students: none — classmates' presence is not theirs to read).
pub fn attendance_for(json: Option<&str>, viewer: Viewer) -> Option<Value> {
    if viewer == Viewer::Student {
        return None;
    }
    serde_json::from_str(json?).ok()
}

/// The poll results a viewer sees: students get each poll's totals, not who answered what.
pub fn polls_for(json: Option<&str>, viewer: Viewer) -> Vec<Value> {
    let Some(Value::Array(polls)) = json.and_then(|j| serde_json::from_str(j).ok()) else { return Vec::new() };
    polls
        .into_iter()
        .map(|mut p| {
            if viewer == Viewer::Student
                && let Some(o) = p.as_object_mut()
            {
                o.remove("responses");
            }
            p
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lectern_proto::upload::{RecordingKind, RecordingState};

    #[test]
    fn split_files_and_reconnects_of_one_stream_share_a_track() {
        assert_eq!(track_of("1700000000000-camera-000.mp4"), "camera");
        assert_eq!(track_of("1700000099999-camera-012.mp4"), "camera");
        assert_eq!(track_of("1700000000000-slides-000.mp4"), "slides");
        assert_eq!(track_of("1700000000000-participant-7-000.webm"), "participant-7");
        assert_eq!(track_of("room-audio.webm"), "room-audio", "no prefix, no number: the stem");
        assert_eq!(track_of("-000.mp4"), "-000");
        assert_eq!(track_of(""), "");
    }

    fn file(track: &str, name: &str, started_at: Option<u64>) -> PageFile {
        PageFile {
            view: RecordingView {
                kind: RecordingKind::Camera,
                state: RecordingState::Ready,
                bytes: 1,
                duration_ms: Some(1),
                started_at,
                participant: None,
                url: None,
            },
            name: name.into(),
            track: track.into(),
        }
    }

    #[test]
    fn files_go_by_track_then_start_with_unknown_starts_last() {
        let mut files = vec![
            file("slides", "s", Some(5)),
            file("camera", "c2", Some(9)),
            file("camera", "c0", None),
            file("camera", "c1", Some(1)),
        ];
        order_files(&mut files);
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["c1", "c2", "c0", "s"]);
    }

    fn chat(from: &str, private: bool, deleted: bool) -> ChatRow {
        ChatRow { sent_at: 1, from: from.into(), text: "t".into(), private, deleted }
    }

    #[test]
    fn a_student_sees_no_private_message_and_nobody_a_deleted_one() {
        let rows = vec![chat("a", false, false), chat("b", true, false), chat("c", false, true)];
        let staff: Vec<String> = chat_for(rows.clone(), Viewer::Staff).into_iter().map(|c| c.from).collect();
        assert_eq!(staff, ["a", "b"]);
        let student: Vec<String> = chat_for(rows, Viewer::Student).into_iter().map(|c| c.from).collect();
        assert_eq!(student, ["a"]);
    }

    #[test]
    fn a_student_sees_poll_totals_but_not_attendance_nor_who_answered() {
        let polls = r#"[{"question":"Q","options":[{"text":"A","votes":2}],"responses":[{"name":"Ada"}]}]"#;
        let staff = polls_for(Some(polls), Viewer::Staff);
        assert_eq!(staff[0]["responses"][0]["name"], "Ada");
        let student = polls_for(Some(polls), Viewer::Student);
        assert_eq!(student[0]["options"][0]["votes"], 2);
        assert!(student[0].get("responses").is_none(), "{student:?}");
        assert_eq!(polls_for(Some("not json"), Viewer::Staff), Vec::<Value>::new());
        assert_eq!(polls_for(None, Viewer::Staff), Vec::<Value>::new());
        let attendance = r#"{"people":[{"name":"Ada"}]}"#;
        assert_eq!(attendance_for(Some(attendance), Viewer::Staff).unwrap()["people"][0]["name"], "Ada");
        assert_eq!(attendance_for(Some(attendance), Viewer::Student), None);
    }
}
