//! The whiteboard and notes on simulated time: who may draw, what reaches whom, and broken input.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use lectern_proto::board::{BoardCommand as B, BoardEvent, BoardMode, DocKind, MAX_UPDATE_BYTES};
use lectern_proto::classroom::{ClassroomCommand as C, ClassroomEvent};
use lectern_proto::{ParticipantId, Role};
use proptest::prelude::*;
use yrs::updates::decoder::Decode;
use yrs::{Array, ArrayPrelim, Doc, GetString, ReadTxn, StateVector, Text, Transact, Update};

use super::tests::{Room, events_to};
use super::whiteboard::{DocError, SharedDoc};
use super::*;

/// A browser's copy of a document: what it draws, as the updates it would send.
struct Client(Doc);

impl Client {
    fn new(id: u64) -> Self {
        Self(Doc::with_client_id(id))
    }

    /// Adds a stroke to page 0 and returns the update (v1) this change made.
    fn stroke(&self, label: &str) -> Vec<u8> {
        let pages = self.0.get_or_insert_array("strokes");
        let mut txn = self.0.transact_mut();
        pages.push_back(&mut txn, ArrayPrelim::from([label.to_owned()]));
        txn.encode_update_v1()
    }

    fn type_text(&self, at: u32, text: &str) -> Vec<u8> {
        let notes = self.0.get_or_insert_text("notes");
        let mut txn = self.0.transact_mut();
        notes.insert(&mut txn, at, text);
        txn.encode_update_v1()
    }

    fn apply(&self, update: &[u8]) {
        let u = Update::decode_v1(update).expect("the hub forwards valid updates");
        self.0.transact_mut().apply_update(u).expect("applies");
    }

    fn state(&self) -> Vec<u8> {
        self.0.transact().encode_diff_v1(&StateVector::default())
    }
}

fn update(doc: DocKind, bytes: &[u8]) -> C {
    C::Board(B::BoardUpdate { doc, update: B64.encode(bytes) })
}

fn mode(mode: BoardMode, pen: Option<ParticipantId>) -> C {
    C::Board(B::SetBoardMode { mode, participant_id: pen })
}

/// The updates `id` receives from `out`.
fn updates_to(r: &Room, out: &[Outbound], id: ParticipantId) -> Vec<Vec<u8>> {
    events_to(r, out, id)
        .into_iter()
        .filter_map(|e| match e {
            ClassroomEvent::Board(BoardEvent::BoardUpdate { update, .. }) => Some(B64.decode(update).unwrap()),
            _ => None,
        })
        .collect()
}

fn board_state(r: &Room) -> Vec<u8> {
    r.room.board().doc(DocKind::Board).state()
}

#[test]
fn two_students_drawing_at_once_converge_with_the_hub_and_everyone_else() {
    let mut r = Room::new();
    r.ok(r.teacher.clone(), mode(BoardMode::Everyone, None));
    let (sam, kim, teacher) = (Client::new(2), Client::new(3), Client::new(1));
    // Both draw before seeing the other's stroke.
    let a = sam.stroke("sam-1");
    let b = kim.stroke("kim-1");
    let out_a = r.ok(r.s1.clone(), update(DocKind::Board, &a));
    let out_b = r.ok(r.s2.clone(), update(DocKind::Board, &b));
    assert!(updates_to(&r, &out_a, r.s1.id).is_empty(), "nothing echoes back to the sender");
    for u in updates_to(&r, &out_b, r.s1.id) {
        sam.apply(&u);
    }
    for u in updates_to(&r, &out_a, r.s2.id) {
        kim.apply(&u);
    }
    for u in updates_to(&r, &out_a, r.teacher.id).into_iter().chain(updates_to(&r, &out_b, r.teacher.id)) {
        teacher.apply(&u);
    }
    let hub = r.room.board().doc(DocKind::Board).array_json("strokes");
    assert!(hub.contains("sam-1") && hub.contains("kim-1"), "{hub}");
    for c in [&sam, &kim, &teacher] {
        assert_eq!(SharedDoc::restore(&c.state()).unwrap().array_json("strokes"), hub);
    }
}

#[test]
fn a_late_joiner_gets_the_whole_board_the_notes_and_who_may_draw() {
    let mut r = Room::new();
    let teacher = Client::new(1);
    for i in 0..50 {
        r.ok(r.teacher.clone(), update(DocKind::Board, &teacher.stroke(&format!("s{i}"))));
    }
    // Each document is its own Y.Doc in the browser too.
    let teacher_notes = Client::new(1);
    r.ok(r.teacher.clone(), update(DocKind::Notes, &teacher_notes.type_text(0, "Homework: p. 12")));
    let late = r.join(40, Role::Student, true);
    let sync = r.room.board_sync_for(&late);
    let (board, notes) = (Client::new(40), Client::new(40));
    for event in &sync {
        if let ClassroomEvent::Board(BoardEvent::BoardSync { doc, update, reset }) = event {
            assert!(!reset);
            let copy = if *doc == DocKind::Board { &board } else { &notes };
            copy.apply(&B64.decode(update).unwrap());
        }
    }
    let strokes = SharedDoc::restore(&board.state()).unwrap().array_json("strokes");
    assert_eq!(strokes.matches("\"s").count(), 50, "{strokes}");
    assert_eq!(notes.0.get_or_insert_text("notes").get_string(&notes.0.transact()), "Homework: p. 12");
    assert!(matches!(
        sync[0],
        ClassroomEvent::Board(BoardEvent::BoardPolicy { mode: BoardMode::Locked, pen: None, notes_read_only: false })
    ));
}

#[test]
fn a_locked_board_refuses_a_students_stroke_forwards_nothing_and_resyncs_the_student() {
    let mut r = Room::new();
    let teacher = Client::new(1);
    r.ok(r.teacher.clone(), update(DocKind::Board, &teacher.stroke("t")));
    let before = r.room.clone();
    let out = r.ok(r.s1.clone(), update(DocKind::Board, &Client::new(2).stroke("forbidden")));
    assert_eq!(r.room, before, "a refused update changes nothing");
    for other in [r.teacher.id, r.s2.id, r.device.id, r.viewer.id] {
        assert!(events_to(&r, &out, other).is_empty(), "{other} heard of it");
    }
    let to_sam = events_to(&r, &out, r.s1.id);
    assert!(
        matches!(&to_sam[0], ClassroomEvent::Board(BoardEvent::BoardRefused { doc: DocKind::Board, message }) if message.contains("locked")),
        "{to_sam:?}"
    );
    assert!(
        matches!(&to_sam[1], ClassroomEvent::Board(BoardEvent::BoardSync { reset: true, update, .. }) if B64.decode(update).unwrap() == board_state(&r))
    );
}

#[test]
fn the_pen_goes_to_one_student_only_and_back_to_the_teacher_when_they_leave() {
    let mut r = Room::new();
    let out = r.ok(r.teacher.clone(), mode(BoardMode::Pen, Some(r.s1.id)));
    assert!(events_to(&r, &out, r.s2.id).iter().any(|e| matches!(
        e,
        ClassroomEvent::Board(BoardEvent::BoardPolicy { mode: BoardMode::Pen, pen: Some(ParticipantId(2)), .. })
    )));
    let out = r.ok(r.s1.clone(), update(DocKind::Board, &Client::new(2).stroke("sam")));
    assert_eq!(updates_to(&r, &out, r.s2.id).len(), 1, "the pen holder's stroke reaches the others");
    let before = board_state(&r);
    let out = r.ok(r.s2.clone(), update(DocKind::Board, &Client::new(3).stroke("kim")));
    assert!(updates_to(&r, &out, r.s1.id).is_empty());
    assert_eq!(board_state(&r), before, "kim does not hold the pen");
    // The teacher still draws.
    let out = r.ok(r.teacher.clone(), update(DocKind::Board, &Client::new(1).stroke("t")));
    assert_eq!(updates_to(&r, &out, r.s2.id).len(), 1);
    // Sam leaves: the board locks again.
    let out = r.room.on_left(r.now, r.s1.id);
    assert!(out.iter().any(|o| matches!(
        o,
        Outbound::Event {
            event: ClassroomEvent::Board(BoardEvent::BoardPolicy { mode: BoardMode::Locked, pen: None, .. }),
            ..
        }
    )));
    // Only teachers decide, and only a student in the room gets the pen.
    let s2 = r.s2.clone();
    assert!(r.refused(s2.clone(), mode(BoardMode::Everyone, None)).to_string().contains("teacher"));
    r.refused(r.teacher.clone(), mode(BoardMode::Pen, Some(r.s1.id)));
    r.refused(r.teacher.clone(), mode(BoardMode::Pen, Some(r.viewer.id)));
    r.refused(r.teacher.clone(), mode(BoardMode::Pen, None));
    r.refused(r.teacher.clone(), mode(BoardMode::Everyone, Some(s2.id)));
}

#[test]
fn viewers_and_the_room_display_never_draw() {
    let mut r = Room::new();
    r.ok(r.teacher.clone(), mode(BoardMode::Everyone, None));
    for a in [r.viewer.clone(), r.device.clone()] {
        let before = r.room.clone();
        let out = r.ok(a.clone(), update(DocKind::Board, &Client::new(a.id.0).stroke("x")));
        assert_eq!(r.room, before);
        assert!(events_to(&r, &out, r.teacher.id).is_empty());
    }
}

#[test]
fn read_only_notes_refuse_students_but_not_teachers() {
    let mut r = Room::new();
    let (sam, teacher) = (Client::new(2), Client::new(1));
    let out = r.ok(r.s1.clone(), update(DocKind::Notes, &sam.type_text(0, "student line\n")));
    assert_eq!(updates_to(&r, &out, r.teacher.id).len(), 1, "notes are open by default");
    r.refused(r.s1.clone(), C::Board(B::SetNotesReadOnly { read_only: true }));
    r.ok(r.teacher.clone(), C::Board(B::SetNotesReadOnly { read_only: true }));
    let before = r.room.clone();
    let out = r.ok(r.s1.clone(), update(DocKind::Notes, &sam.type_text(0, "nope")));
    assert_eq!(r.room, before);
    assert!(events_to(&r, &out, r.s1.id).iter().any(
        |e| matches!(e, ClassroomEvent::Board(BoardEvent::BoardRefused { message, .. }) if message.contains("read-only"))
    ));
    teacher.apply(&r.room.board().doc(DocKind::Notes).state());
    r.ok(r.teacher.clone(), update(DocKind::Notes, &teacher.type_text(0, "Title\n")));
    assert_eq!(r.room.board().doc(DocKind::Notes).text("notes"), "Title\nstudent line\n");
}

#[test]
fn oversized_broken_and_gapped_updates_are_refused_with_a_clear_message() {
    let mut doc = SharedDoc::default();
    let big = vec![0u8; MAX_UPDATE_BYTES + 1];
    assert_eq!(doc.apply(&big), Err(DocError::TooLarge(MAX_UPDATE_BYTES + 1)));
    assert!(DocError::TooLarge(40_000).to_string().contains("at most 32768"));
    assert_eq!(doc.apply(&[0xff, 0x01, 0x02]), Err(DocError::Malformed));
    // The second of a client's changes without the first: it would wait for ever.
    let c = Client::new(9);
    let _first = c.stroke("a");
    let second = c.stroke("b");
    assert_eq!(doc.apply(&second), Err(DocError::Missing));
    assert_eq!(doc, SharedDoc::default());

    let mut r = Room::new();
    let out = r.ok(r.teacher.clone(), C::Board(B::BoardUpdate { doc: DocKind::Board, update: "not base64!".into() }));
    assert!(events_to(&r, &out, r.teacher.id).iter().any(
        |e| matches!(e, ClassroomEvent::Board(BoardEvent::BoardRefused { message, .. }) if message.contains("base64"))
    ));
}

#[test]
fn an_update_the_hub_already_has_is_not_forwarded_again() {
    let mut r = Room::new();
    let u = Client::new(1).stroke("once");
    let first = r.ok(r.teacher.clone(), update(DocKind::Board, &u));
    assert_eq!(updates_to(&r, &first, r.s1.id).len(), 1);
    let again = r.ok(r.teacher.clone(), update(DocKind::Board, &u));
    assert!(updates_to(&r, &again, r.s1.id).is_empty());
}

#[test]
fn the_laser_pointer_reaches_the_others_and_is_not_kept() {
    let mut r = Room::new();
    let before = r.room.clone();
    let out = r.ok(r.teacher.clone(), C::Board(B::BoardPointer { page: 0, x: 0.5, y: 0.25 }));
    assert_eq!(r.room, before);
    assert!(matches!(
        events_to(&r, &out, r.s1.id)[..],
        [ClassroomEvent::Board(BoardEvent::BoardPointer { from: ParticipantId(1), .. })]
    ));
    r.refused(r.s1.clone(), C::Board(B::BoardPointer { page: 0, x: 0.5, y: 0.5 }));
    r.refused(r.teacher.clone(), C::Board(B::BoardPointer { page: 0, x: f32::NAN, y: 0.5 }));
}

#[test]
fn changed_documents_are_handed_over_to_be_kept_at_most_every_30_s_and_at_the_end() {
    let mut r = Room::new();
    assert!(r.room.board_to_save(r.now, true).is_empty(), "nothing drawn, nothing to keep");
    let (board, notes) = (Client::new(1), Client::new(1));
    r.ok(r.teacher.clone(), update(DocKind::Board, &board.stroke("a")));
    r.ok(r.teacher.clone(), update(DocKind::Notes, &notes.type_text(0, "# Notes")));
    let saved = r.room.board_to_save(r.now, false);
    assert_eq!(
        saved.iter().map(|(d, _, t)| (*d, t.clone())).collect::<Vec<_>>(),
        [(DocKind::Board, None), (DocKind::Notes, Some("# Notes".to_owned()))]
    );
    assert_eq!(SharedDoc::restore(&saved[0].1).unwrap(), *r.room.board().doc(DocKind::Board));
    r.ok(r.teacher.clone(), update(DocKind::Board, &board.stroke("b")));
    assert!(r.room.board_to_save(r.now + 29_999, false).is_empty(), "too soon");
    assert_eq!(r.room.board_to_save(r.now + 30_000, false).len(), 1, "only the board changed");
    r.ok(r.teacher.clone(), update(DocKind::Board, &board.stroke("c")));
    assert_eq!(r.room.board_to_save(r.now + 30_001, true).len(), 1, "the end of the lesson does not wait");
}

#[test]
fn a_page_that_keeps_sending_refused_updates_is_not_sent_the_document_each_time() {
    let mut r = Room::new();
    r.ok(r.teacher.clone(), update(DocKind::Board, &Client::new(1).stroke("t")));
    let syncs = |r: &Room, out: &[Outbound]| {
        events_to(r, out, r.s1.id)
            .iter()
            .filter(|e| matches!(e, ClassroomEvent::Board(BoardEvent::BoardSync { reset: true, .. })))
            .count()
    };
    let spam = Client::new(2);
    let sent: Vec<usize> = (0..5)
        .map(|i| {
            let out = r.ok(r.s1.clone(), update(DocKind::Board, &spam.stroke(&format!("x{i}"))));
            assert!(
                events_to(&r, &out, r.s1.id)
                    .iter()
                    .any(|e| matches!(e, ClassroomEvent::Board(BoardEvent::BoardRefused { .. })))
            );
            syncs(&r, &out)
        })
        .collect();
    assert_eq!(sent, [1, 1, 0, 0, 0], "two, then none until time passes");
    assert_eq!(r.refused(r.s1.clone(), C::Board(B::BoardResync { doc: DocKind::Board })), ClassroomError::RateLimited);
    r.now += 2_000;
    let out = r.ok(r.s1.clone(), C::Board(B::BoardResync { doc: DocKind::Board }));
    assert_eq!(syncs(&r, &out), 1, "asked again later, the page gets it");
}

#[test]
fn a_deep_copy_does_not_share_the_document() {
    let mut a = SharedDoc::default();
    let b = a.clone();
    a.apply(&Client::new(1).stroke("x")).unwrap();
    assert_ne!(a, b);
    assert_eq!(a.clone(), a);
}

/// A document with a few strokes by two clients, and a valid next update to mutate.
fn seeded() -> (SharedDoc, Vec<u8>) {
    let mut doc = SharedDoc::default();
    let (c1, c2) = (Client::new(1), Client::new(2));
    for i in 0..5 {
        doc.apply(&c1.stroke(&format!("a{i}"))).unwrap();
        doc.apply(&c2.stroke(&format!("b{i}"))).unwrap();
    }
    doc.apply(&c1.type_text(0, "notes")).unwrap();
    c2.apply(&doc.state());
    (doc, c2.stroke("next"))
}

/// Whatever an update does, the document stays one that encodes, decodes and reads.
fn check(doc: &mut SharedDoc, bytes: &[u8]) {
    let before = doc.clone();
    match doc.apply(bytes) {
        Ok(_) => {}
        Err(DocError::Missing) => {} // a valid part may have been applied
        Err(_) => assert!(*doc == before, "a refused update changed the document"),
    }
    let state = doc.state();
    let again = SharedDoc::restore(&state).expect("the document still decodes");
    assert_eq!(again.state(), state);
    let _ = doc.array_json("strokes");
    let _ = doc.text("notes");
    let _ = Update::decode_v1(&state).expect("valid");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_corrupt_the_document(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let (mut doc, _) = seeded();
        check(&mut doc, &bytes);
    }

    #[test]
    fn mutated_updates_never_corrupt_the_document(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let (mut doc, mut next) = seeded();
        for (at, byte) in flips {
            let i = at.index(next.len());
            next[i] = byte;
        }
        if truncate {
            next.truncate(cut.index(next.len()));
        }
        check(&mut doc, &next);
    }
}

/// A pen stroke as the page draws it (`whiteboard.js`): 40 points in board units (0..10000).
fn page_stroke(client: &Doc, n: u64) -> Vec<u8> {
    use std::collections::HashMap;
    use std::sync::Arc;
    use yrs::Any;
    let pts: Vec<Any> = (0..80).map(|i| Any::from(((n * 7 + i * 13) % 10_000) as f64)).collect();
    let item: HashMap<String, Any> = [
        ("id".to_owned(), Any::from(format!("mj{n:x}-{:06x}", n * 2_654_435_761 % 0xff_ffff))),
        ("by".to_owned(), Any::from(2.0)),
        ("tool".to_owned(), Any::from("pen")),
        ("color".to_owned(), Any::from("#1f4ea8")),
        ("width".to_owned(), Any::from(4.0)),
        ("pts".to_owned(), Any::Array(Arc::from(pts))),
    ]
    .into_iter()
    .collect();
    let page = client.get_or_insert_array(format!("page-{}", n / 1000).as_str());
    let mut txn = client.transact_mut();
    page.push_back(&mut txn, Any::Map(Arc::new(item)));
    txn.encode_update_v1()
}

/// The figures in docs/performance.md ("Whiteboard"): a 45-minute lesson's 10 000 strokes by 30
/// drawers (and one in ten erased) applied by the hub one update at a time.
/// `cargo test -p lectern-hub --release --lib bench_whiteboard -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a test"]
fn bench_whiteboard_lesson_of_10000_strokes() {
    const STROKES: u64 = 10_000;
    let clients: Vec<Doc> = (0..30).map(|i| Doc::with_client_id(100 + i)).collect();
    let updates: Vec<Vec<u8>> = (0..STROKES)
        .map(|n| {
            let c = &clients[(n % 30) as usize];
            let stroke = page_stroke(c, n);
            // Everyone sees everything, as in class: the next stroke builds on the others'.
            for other in &clients {
                if !std::ptr::eq(other, c) {
                    other.transact_mut().apply_update(Update::decode_v1(&stroke).unwrap()).unwrap();
                }
            }
            stroke
        })
        .collect();
    let mut erasures = Vec::new();
    for (i, c) in clients.iter().enumerate().take(10) {
        let page = c.get_or_insert_array("page-0");
        let mut txn = c.transact_mut();
        for k in 0..100u32 {
            page.remove(&mut txn, (i as u32 * 10 + k) % 500);
        }
        erasures.push(txn.encode_update_v1());
    }
    let bytes: usize = updates.iter().map(Vec::len).sum();
    let mut doc = SharedDoc::default();
    let started = std::time::Instant::now();
    for u in &updates {
        doc.apply(u).expect("accepted");
    }
    let took = started.elapsed();
    for u in &erasures {
        doc.apply(u).expect("erasures accepted");
    }
    let state = doc.state();
    let sync_started = std::time::Instant::now();
    let _ = SharedDoc::restore(&state).unwrap();
    println!(
        "{STROKES} strokes ({} KiB of updates, {} B each on average): applied in {:?} ({:.1} µs a stroke, so {:.2} % of a core at 100 strokes/s); \
         document {} KiB after 1000 erased; a late joiner's sync decodes in {:?}",
        bytes / 1024,
        bytes / STROKES as usize,
        took,
        took.as_secs_f64() * 1e6 / STROKES as f64,
        took.as_secs_f64() / STROKES as f64 * 100.0 * 100.0,
        state.len() / 1024,
        sync_started.elapsed()
    );
}
