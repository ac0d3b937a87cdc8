//! The lesson's whiteboard and shared notes: two CRDT documents (yrs, the Rust port of Yjs) kept
//! by the hub. Every update a browser sends is decoded and applied here first; only what the hub
//! accepted goes on to the others, so a refused stroke (a locked board, read-only notes, a broken
//! or oversized update) reaches nobody. The sender then gets `boardRefused` and the whole
//! document again (`boardSync` with `reset`), since its local copy holds the refused change.

use std::panic::{AssertUnwindSafe, catch_unwind};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use lectern_proto::board::{BoardCommand, BoardEvent, BoardMode, DocKind, MAX_DOC_BYTES, MAX_UPDATE_BYTES};
use lectern_proto::classroom::ClassroomEvent;
use lectern_proto::{ParticipantId, Role};
use yrs::types::ToJson;
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, ReadTxn, StateVector, Transact, Update};

use super::{Actor, Audience, Classroom, ClassroomError, Outbound, Rate, RateLimiter, require, send};

/// Why an update was not applied. The document is as it was (see [`SharedDoc::apply`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocError {
    #[error("the update is not valid base64")]
    Base64,
    #[error("the update is {0} bytes; at most {MAX_UPDATE_BYTES} are accepted")]
    TooLarge(usize),
    #[error("the update is not a valid Yjs update")]
    Malformed,
    #[error("the update builds on changes the hub does not have")]
    Missing,
    #[error("the document is full ({MAX_DOC_BYTES} bytes)")]
    Full,
}

/// One CRDT document. Its state changes only through [`SharedDoc::apply`].
pub struct SharedDoc {
    doc: Doc,
    /// What the accepted updates added up to: a bound on the document's size that costs nothing
    /// to keep (encoding the document on every update would).
    bytes: usize,
}

impl Default for SharedDoc {
    fn default() -> Self {
        Self { doc: Doc::new(), bytes: 0 }
    }
}

impl std::fmt::Debug for SharedDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedDoc").field("bytes", &self.bytes).finish_non_exhaustive()
    }
}

/// A deep copy: a yrs `Doc`'s own `clone` shares the document.
impl Clone for SharedDoc {
    fn clone(&self) -> Self {
        let copy = Self::restore(&self.state()).unwrap_or_default();
        Self { bytes: self.bytes, ..copy }
    }
}

/// Two copies are equal when they hold the same changes.
impl PartialEq for SharedDoc {
    fn eq(&self, other: &Self) -> bool {
        self.state() == other.state()
    }
}

impl SharedDoc {
    /// The document from a saved [`SharedDoc::state`].
    pub fn restore(state: &[u8]) -> Result<Self, DocError> {
        let mut doc = Self::default();
        let update = Update::decode_v1(state).map_err(|_| DocError::Malformed)?;
        doc.integrate(update).map_err(|(e, _)| e)?;
        doc.bytes = state.len();
        Ok(doc)
    }

    /// The whole document as one Yjs update (v1) from the empty state.
    pub fn state(&self) -> Vec<u8> {
        // A diff against the empty state vector leaves out updates still waiting for others;
        // `apply` keeps none anyway.
        self.doc.transact().encode_diff_v1(&StateVector::default())
    }

    /// Applies a Yjs update (v1) and returns what it changed, as an update to forward (empty when
    /// the hub had it all already). On an error the document is unchanged, except with
    /// [`DocError::Missing`] when a part of the update could be applied: that part is kept and
    /// returned in the error's stead by [`SharedDoc::apply_partial`].
    pub fn apply(&mut self, bytes: &[u8]) -> Result<Vec<u8>, DocError> {
        match self.apply_partial(bytes) {
            (Ok(()), changes) => Ok(changes),
            (Err(e), _) => Err(e),
        }
    }

    /// [`SharedDoc::apply`], returning also what was applied when the rest was refused.
    pub fn apply_partial(&mut self, bytes: &[u8]) -> (Result<(), DocError>, Vec<u8>) {
        if bytes.len() > MAX_UPDATE_BYTES {
            return (Err(DocError::TooLarge(bytes.len())), Vec::new());
        }
        if self.bytes + bytes.len() > MAX_DOC_BYTES {
            return (Err(DocError::Full), Vec::new());
        }
        // Decoding reads the whole update before anything touches the document.
        let Ok(update) = catch_unwind(|| Update::decode_v1(bytes)) else {
            return (Err(DocError::Malformed), Vec::new());
        };
        let Ok(update) = update else { return (Err(DocError::Malformed), Vec::new()) };
        // Each client's changes are numbered without gaps: one starting past what the hub has
        // would wait (in memory, for ever) for changes that were refused or never sent.
        let have = self.doc.transact().state_vector();
        if update.state_vector_lower().iter().any(|(client, clock)| *clock > have.get(client)) {
            return (Err(DocError::Missing), Vec::new());
        }
        match self.integrate(update) {
            Ok(changes) => {
                self.bytes += changes.len();
                (Ok(()), changes)
            }
            Err((e, changes)) => {
                self.bytes += changes.len();
                (Err(e), changes)
            }
        }
    }

    /// Integrates a decoded update. What could not be integrated (it refers to changes the hub
    /// lacks) is dropped rather than kept waiting, and reported as [`DocError::Missing`] with
    /// what was integrated.
    fn integrate(&mut self, update: Update) -> Result<Vec<u8>, (DocError, Vec<u8>)> {
        let doc = &self.doc;
        let applied = catch_unwind(AssertUnwindSafe(|| {
            let mut txn = doc.transact_mut();
            let ok = txn.apply_update(update).is_ok();
            let store = txn.store();
            let waiting = store.pending_update().is_some() || store.pending_ds().is_some();
            (ok, waiting, txn.encode_update_v1())
        }));
        match applied {
            Ok((true, false, changes)) => Ok(changes),
            Ok((_, _, changes)) => {
                self.drop_pending();
                Err((DocError::Missing, changes))
            }
            Err(_) => {
                // yrs gave up half-way through a transaction: start again from what it holds.
                tracing::error!("a whiteboard update broke the CRDT library; the document was rebuilt");
                self.drop_pending();
                Err((DocError::Malformed, Vec::new()))
            }
        }
    }

    /// Rebuilds the document from its integrated changes, forgetting any that wait for others.
    fn drop_pending(&mut self) {
        let state = catch_unwind(AssertUnwindSafe(|| self.state())).unwrap_or_default();
        let fresh = Doc::new();
        let rebuilt = Update::decode_v1(&state)
            .ok()
            .map(|u| catch_unwind(AssertUnwindSafe(|| fresh.transact_mut().apply_update(u).is_ok())).unwrap_or(false));
        if rebuilt != Some(true) {
            tracing::error!("a whiteboard document could not be rebuilt; it starts empty");
        }
        self.doc = fresh;
    }

    /// The text of the root `Y.Text` `name` (empty if there is none).
    pub fn text(&self, name: &str) -> String {
        let txn = self.doc.transact();
        catch_unwind(AssertUnwindSafe(|| txn.get_text(name).map(|t| t.get_string(&txn)).unwrap_or_default()))
            .unwrap_or_default()
    }

    /// The root `Y.Array` `name` as JSON (`[]` if there is none), for tests and exports. A root's
    /// type is not in the document: the reader names it.
    pub fn array_json(&self, name: &str) -> String {
        let txn = self.doc.transact();
        let mut out = String::new();
        let value = catch_unwind(AssertUnwindSafe(|| txn.get_array(name).map(|a| a.to_json(&txn))));
        value.ok().flatten().unwrap_or(yrs::Any::Array(Default::default())).to_json(&mut out);
        out
    }
}

/// The lesson's two documents and who may change them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Board {
    pub(super) board: SharedDoc,
    pub(super) notes: SharedDoc,
    mode: BoardMode,
    pen: Option<ParticipantId>,
    notes_read_only: bool,
    /// What the documents' sizes were when last handed over to be kept, and when (unix ms).
    saved: (usize, usize, u64),
    /// Whole-document syncs after a refusal or on request, per participant.
    resyncs: Pacing,
}

/// A refused sender gets the whole document again; a page that keeps sending refused updates must
/// not make the hub encode and send megabytes many times a second.
const RESYNC: Rate = Rate { burst: 2, every_ms: 2_000 };

/// Bookkeeping of who was sent what when, not the lesson's state: two boards with the same
/// documents and policy are equal whatever their pacing (a refusal still changes nothing).
#[derive(Debug, Clone)]
struct Pacing(RateLimiter<ParticipantId>);

impl Default for Pacing {
    fn default() -> Self {
        Self(RateLimiter::new(RESYNC))
    }
}

impl PartialEq for Pacing {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// A lesson's documents are saved at most this often while they change (and when it ends).
pub const SAVE_EVERY_MS: u64 = 30_000;

impl Board {
    /// The documents that changed since they were last handed over to be kept: all of them with
    /// `now_or_never`, else only once [`SAVE_EVERY_MS`] passed since the last time.
    /// Each comes with the notes' text (`None` for the whiteboard).
    pub fn to_save(&mut self, now: u64, now_or_never: bool) -> Vec<(DocKind, Vec<u8>, Option<String>)> {
        let (board, notes, at) = self.saved;
        let changed = (self.board.bytes != board, self.notes.bytes != notes);
        if changed == (false, false) || (!now_or_never && now < at.saturating_add(SAVE_EVERY_MS)) {
            return Vec::new();
        }
        self.saved = (self.board.bytes, self.notes.bytes, now);
        let mut out = Vec::new();
        if changed.0 {
            out.push((DocKind::Board, self.board.state(), None));
        }
        if changed.1 {
            out.push((DocKind::Notes, self.notes.state(), Some(self.notes.text("notes"))));
        }
        out
    }

    fn doc_mut(&mut self, kind: DocKind) -> &mut SharedDoc {
        match kind {
            DocKind::Board => &mut self.board,
            DocKind::Notes => &mut self.notes,
        }
    }

    pub fn doc(&self, kind: DocKind) -> &SharedDoc {
        match kind {
            DocKind::Board => &self.board,
            DocKind::Notes => &self.notes,
        }
    }

    /// Why `actor` may not change `kind` now (`None`: they may).
    fn refusal(&self, actor: &Actor, kind: DocKind) -> Option<&'static str> {
        match (actor.role, kind) {
            (Role::Teacher, _) => None,
            (Role::Student, DocKind::Board) => match self.mode {
                BoardMode::Everyone => None,
                BoardMode::Pen if self.pen == Some(actor.id) => None,
                BoardMode::Pen => Some("another student holds the pen"),
                BoardMode::Locked => Some("the teacher has locked the whiteboard"),
            },
            (Role::Student, DocKind::Notes) if !self.notes_read_only => None,
            (Role::Student, DocKind::Notes) => Some("the teacher has made the notes read-only"),
            _ => Some("only teachers and students can write here"),
        }
    }

    /// If `id` held the pen, it is gone and the board goes back to `mode`; true if so.
    pub(super) fn pen_left(&mut self, id: ParticipantId, mode: BoardMode) -> bool {
        if self.pen != Some(id) {
            return false;
        }
        (self.pen, self.mode) = (None, mode);
        true
    }

    /// A breakout group's board: everyone in the group may draw.
    pub fn open_to_all() -> Self {
        Self { mode: BoardMode::Everyone, ..Self::default() }
    }

    pub(super) fn policy(&self) -> ClassroomEvent {
        ClassroomEvent::Board(BoardEvent::BoardPolicy {
            mode: self.mode,
            pen: self.pen,
            notes_read_only: self.notes_read_only,
        })
    }

    pub(super) fn sync(&self, doc: DocKind, reset: bool) -> ClassroomEvent {
        ClassroomEvent::Board(BoardEvent::BoardSync { doc, update: B64.encode(self.doc(doc).state()), reset })
    }
}

fn board(to: Audience, event: BoardEvent) -> Outbound {
    send(to, ClassroomEvent::Board(event))
}

impl Classroom {
    /// What a browser entering the lesson needs: who may draw, the whole board and the notes.
    /// (In a breakout group: the group's.)
    pub fn board_sync_for(&self, actor: &Actor) -> Vec<ClassroomEvent> {
        let board = self.board_here(actor.id);
        vec![board.policy(), board.sync(DocKind::Board, false), board.sync(DocKind::Notes, false)]
    }

    /// The lesson's documents (to keep with the lesson).
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// See [`Board::to_save`].
    pub fn board_to_save(&mut self, now: u64, now_or_never: bool) -> Vec<(DocKind, Vec<u8>, Option<String>)> {
        self.board.to_save(now, now_or_never)
    }

    pub(super) fn board_command(
        &mut self,
        now: u64,
        actor: &Actor,
        cmd: BoardCommand,
    ) -> Result<Vec<Outbound>, ClassroomError> {
        match cmd {
            BoardCommand::BoardUpdate { doc, update } => Ok(self.board_update(now, actor, doc, &update)),
            BoardCommand::BoardResync { doc } => {
                if !self.board.resyncs.0.try_acquire(&actor.id, now) {
                    return Err(ClassroomError::RateLimited);
                }
                Ok(vec![send(Audience::One(actor.id), self.board.sync(doc, true))])
            }
            BoardCommand::SetBoardMode { mode, participant_id } => self.set_board_mode(actor, mode, participant_id),
            BoardCommand::SetNotesReadOnly { read_only } => {
                require(actor, &[Role::Teacher], "only a teacher can make the notes read-only")?;
                if self.board.notes_read_only == read_only {
                    return Ok(Vec::new());
                }
                self.board.notes_read_only = read_only;
                Ok(vec![send(Audience::Everyone, self.board.policy())])
            }
            BoardCommand::BoardPointer { page, x, y } => {
                if let Some(why) = self.board.refusal(actor, DocKind::Board) {
                    return Err(ClassroomError::NotAllowed(why));
                }
                if !(0.0..=1.0).contains(&x) || !(0.0..=1.0).contains(&y) || page > 999 {
                    return Err(ClassroomError::InvalidInput("the pointer is off the board"));
                }
                Ok(vec![board(Audience::Except(actor.id), BoardEvent::BoardPointer { from: actor.id, page, x, y })])
            }
        }
    }

    /// Applies one update if the sender may change that document; what it changed goes to
    /// everyone else. A refusal changes nothing and resyncs the sender (at most [`RESYNC`]; past
    /// that the page asks with `boardResync` a little later).
    fn board_update(&mut self, now: u64, actor: &Actor, kind: DocKind, update: &str) -> Vec<Outbound> {
        let (result, changes) = match self.board.refusal(actor, kind) {
            Some(why) => (Err(why.to_owned()), Vec::new()),
            None => match B64.decode(update) {
                Err(_) => (Err(DocError::Base64.to_string()), Vec::new()),
                Ok(bytes) => {
                    let (result, changes) = self.board.doc_mut(kind).apply_partial(&bytes);
                    (result.map_err(|e| e.to_string()), changes)
                }
            },
        };
        let mut out = Vec::new();
        // Empty: nothing new (the update was already known). `[0, 0]` is yrs' empty update.
        if changes.len() > Update::EMPTY_V1.len() {
            let event = BoardEvent::BoardUpdate { doc: kind, update: B64.encode(&changes), from: actor.id };
            out.push(board(Audience::Except(actor.id), event));
        }
        if let Err(message) = result {
            tracing::info!(participant = %actor.id, ?kind, %message, "whiteboard update refused");
            out.push(board(Audience::One(actor.id), BoardEvent::BoardRefused { doc: kind, message }));
            if self.board.resyncs.0.try_acquire(&actor.id, now) {
                out.push(send(Audience::One(actor.id), self.board.sync(kind, true)));
            }
        }
        out
    }

    fn set_board_mode(
        &mut self,
        actor: &Actor,
        mode: BoardMode,
        pen: Option<ParticipantId>,
    ) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, &[Role::Teacher], "only a teacher can decide who draws")?;
        match (mode, pen) {
            (BoardMode::Pen, Some(id)) => {
                if self.participant(id)?.role != Role::Student {
                    return Err(ClassroomError::InvalidInput("the pen goes to a student"));
                }
            }
            (BoardMode::Pen, None) => return Err(ClassroomError::InvalidInput("name the student who gets the pen")),
            (_, Some(_)) => return Err(ClassroomError::InvalidInput("only the pen mode names a student")),
            (_, None) => {}
        }
        if (self.board.mode, self.board.pen) == (mode, pen) {
            return Ok(Vec::new());
        }
        (self.board.mode, self.board.pen) = (mode, pen);
        Ok(vec![send(Audience::Everyone, self.board.policy())])
    }

    /// The pen holder left: the pen goes back to the teacher.
    pub(super) fn board_left(&mut self, id: ParticipantId) -> Vec<Outbound> {
        if !self.board.pen_left(id, BoardMode::Locked) {
            return Vec::new();
        }
        vec![send(Audience::Everyone, self.board.policy())]
    }
}
