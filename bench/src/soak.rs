//! Scenario `soak`: a lesson's everyday traffic for a long time, to show what a leak or a slow build-up
//! would. One publisher streams to `subscribers` viewers that stay the whole run; `students` browser
//! participants (the hub's `/rtc`, no media) chat, raise and lower hands and answer the teacher's
//! polls; and all along one viewer joins, waits for media and leaves every `churn_every`, and one
//! student joins, chats, raises a hand and leaves every [`SOCKET_CHURN_EVERY`]. Every minute the
//! hub's RSS, descriptors and threads are read; frame loss is counted per minute over the viewers
//! that stay. Hub only: it measures Lectern against itself over time, not against Janus.
//!
//! What it checks (issue 19): RSS at the end within +5 % of minute 5's, descriptors and threads back
//! to the baseline once the churn stopped, and the last minute's frame loss no worse than minute 5's.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lectern_proto::Role;
use lectern_proto::classroom::{ClassroomCommand, PollId};
use lectern_proto::signal::ClientMsg;
use serde::{Deserialize, Serialize};
use str0m::Event;

use crate::churn::{self, Footprint};
use crate::compare::{self, Both, Figure};
use crate::fanout::{self, Shared, start_publisher};
use crate::frame::read_stamp;
use crate::hub::{Hub, mint_token};
use crate::peer::Peer;
use crate::rtc::{RtcSocket, apply_subscribe_offer};
use crate::sfu::{ROOM, Sfu};

/// A student joins and leaves this often: slower than the hub's join limit for one address (a
/// burst of 10, then one every 6 s), which every bench client shares.
pub const SOCKET_CHURN_EVERY: Duration = Duration::from_secs(8);
/// Each staying student chats this often, and raises or lowers its hand half as often.
const CHAT_EVERY: Duration = Duration::from_secs(2);
/// The teacher opens a poll this often and closes it half-way to the next.
const POLL_EVERY: Duration = Duration::from_secs(60);
/// The minute whose figures the end is compared with (or the last, in a shorter run).
const REFERENCE_MINUTE: usize = 5;

#[derive(Debug, Clone)]
pub struct Config {
    pub minutes: u64,
    pub subscribers: usize,
    pub students: usize,
    pub churn_every: Duration,
    pub hub_bin: PathBuf,
    pub pin: bool,
}

/// One minute of the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Minute {
    pub minute: usize,
    /// The hub at the minute's end.
    pub footprint: Footprint,
    /// Of its RSS, the anonymous part (heap, stacks): the RSS also grows as pages of the binary
    /// are first run, which is no leak.
    pub rss_anon_kib: u64,
    pub frames_sent: u64,
    /// Over the viewers that stay: frames not received of those sent in the minute.
    pub frame_loss_pct: f64,
    /// Viewer and student join/leave cycles that ended in the minute, and those that failed.
    pub cycles: usize,
    pub failed: usize,
    /// Classroom messages the staying students and the teacher sent in the minute.
    pub messages: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub server: String,
    pub minutes: usize,
    pub subscribers: usize,
    pub students: usize,
    /// Publisher, viewers and students connected, before any churn.
    pub baseline: Footprint,
    pub per_minute: Vec<Minute>,
    /// After the churn stopped and the hub settled (the staying clients still connected).
    pub end: Footprint,
    pub reference_minute: usize,
    /// RSS at the end against the reference minute's, in percent.
    pub rss_growth_pct: f64,
    /// The anonymous RSS at the end (see [`Minute::rss_anon_kib`]) and against the reference minute's.
    pub end_rss_anon_kib: u64,
    pub rss_anon_growth_pct: f64,
    pub loss_reference_pct: f64,
    pub loss_last_pct: f64,
}

pub type Comparison = Both<Report>;

pub fn run(cfg: &Config) -> anyhow::Result<Comparison> {
    compare::run_both(&cfg.hub_bin, cfg.pin, false, 1, |sfu, _| run_on(sfu, cfg))
}

pub fn run_on(sfu: &Sfu, cfg: &Config) -> anyhow::Result<Report> {
    if cfg.minutes == 0 || cfg.subscribers == 0 {
        bail!("at least one minute and one viewer");
    }
    let Sfu::Lectern(hub) = sfu else { bail!("soak runs against the hub only") };
    let shared = Shared::new();
    let result = soak(sfu, hub, cfg, &shared);
    shared.stop.store(true, Ordering::SeqCst);
    result
}

/// Counters the client threads bump, read once a minute.
#[derive(Default)]
struct Counters {
    cycles: AtomicUsize,
    failed: AtomicUsize,
    messages: AtomicUsize,
}

fn soak(sfu: &Sfu, hub: &Hub, cfg: &Config, shared: &Arc<Shared>) -> anyhow::Result<Report> {
    let media = fanout::Config::new(cfg.subscribers, Duration::ZERO, cfg.hub_bin.clone());
    let (publisher, feed) = start_publisher(sfu, &media, shared)?;
    let mut viewers = Vec::new();
    for i in 0..cfg.subscribers {
        let peer = sfu.subscriber(&format!("viewer{i}"), feed).with_context(|| format!("viewer {i}"))?;
        peer.set_nonblocking()?;
        viewers.push(peer);
    }
    let receiver = {
        let shared = shared.clone();
        std::thread::spawn(move || receive(viewers, &shared))
    };
    let n = cfg.subscribers;
    fanout::wait_until(shared, "every viewer to receive video", || shared.ready.load(Ordering::SeqCst) >= n)?;
    let counters = Arc::new(Counters::default());
    let mut classroom = Classroom::join(hub, cfg.students)?;
    let baseline = churn::steady(sfu.pid())?;

    let t0 = shared.now_ns();
    let churner = {
        let (shared, counters, base, every) = (shared.clone(), counters.clone(), hub.base.clone(), cfg.churn_every);
        std::thread::spawn(move || churn_loop(&shared, &counters, &base, every))
    };
    let mut per_minute = Vec::new();
    let mut last = (0usize, 0usize, 0usize);
    for minute in 1..=cfg.minutes as usize {
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            classroom.step(&counters)?;
            std::thread::sleep(Duration::from_millis(5));
            if shared.stop.load(Ordering::SeqCst) {
                bail!("a client stopped the run");
            }
        }
        let now = (
            counters.cycles.load(Ordering::SeqCst),
            counters.failed.load(Ordering::SeqCst),
            counters.messages.load(Ordering::SeqCst),
        );
        per_minute.push(Minute {
            minute,
            footprint: Footprint::of(sfu.pid())?,
            rss_anon_kib: crate::hub::rss_anon_kib(sfu.pid())?,
            frames_sent: 0,
            frame_loss_pct: 0.0,
            cycles: now.0 - last.0,
            failed: now.1 - last.1,
            messages: now.2 - last.2,
        });
        last = now;
        eprintln!("soak: minute {minute}: {:?}", per_minute[minute - 1]);
    }
    // The churn stops; the staying clients stay while the hub settles, so the baseline compares.
    shared.measuring.store(true, Ordering::SeqCst); // tells the churn thread to finish its cycle
    churner.join().map_err(|_| anyhow::anyhow!("the churn thread panicked"))?;
    let end = churn::settle(sfu.pid(), baseline)?;
    let end_anon = crate::hub::rss_anon_kib(sfu.pid())?;
    classroom.leave();
    shared.stop.store(true, Ordering::SeqCst);
    let sent = publisher.join().map_err(|_| anyhow::anyhow!("publisher thread panicked"))??;
    let frames = receiver.join().map_err(|_| anyhow::anyhow!("the viewers' thread panicked"))??;

    for m in &mut per_minute {
        let from = t0 + (m.minute as u64 - 1) * 60_000_000_000;
        let to = from + 60_000_000_000;
        let in_minute = |ns: u64| (from..to).contains(&ns);
        m.frames_sent = sent.iter().filter(|&&ns| in_minute(ns)).count() as u64;
        let got: u64 = frames.iter().map(|f| f.iter().filter(|&&ns| in_minute(ns)).count() as u64).sum();
        let expected = m.frames_sent * n as u64;
        m.frame_loss_pct =
            if expected == 0 { 0.0 } else { 100.0 * expected.saturating_sub(got) as f64 / expected as f64 };
    }
    let reference = REFERENCE_MINUTE.min(per_minute.len());
    let reference_rss = per_minute[reference - 1].footprint.rss_kib as f64;
    let reference_anon = per_minute[reference - 1].rss_anon_kib as f64;
    Ok(Report {
        scenario: "soak".into(),
        server: sfu.name().into(),
        minutes: per_minute.len(),
        subscribers: n,
        students: cfg.students,
        baseline,
        end,
        reference_minute: reference,
        rss_growth_pct: 100.0 * (end.rss_kib as f64 - reference_rss) / reference_rss,
        end_rss_anon_kib: end_anon,
        rss_anon_growth_pct: 100.0 * (end_anon as f64 - reference_anon) / reference_anon,
        loss_reference_pct: per_minute[reference - 1].frame_loss_pct,
        loss_last_pct: per_minute[per_minute.len() - 1].frame_loss_pct,
        per_minute,
    })
}

/// Until `shared.measuring` is set: a viewer cycle every `every`, a student cycle every
/// [`SOCKET_CHURN_EVERY`].
fn churn_loop(shared: &Shared, counters: &Counters, base: &str, every: Duration) {
    let mut next_student = Instant::now();
    let mut i = 0usize;
    while !shared.measuring.load(Ordering::SeqCst) && !shared.stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let ok = viewer_cycle(base, i).is_ok();
        count(counters, ok);
        if Instant::now() >= next_student {
            next_student += SOCKET_CHURN_EVERY;
            count(counters, student_cycle(base, i).is_ok());
        }
        i += 1;
        std::thread::sleep(every.saturating_sub(started.elapsed()));
    }
}

fn count(counters: &Counters, ok: bool) {
    counters.cycles.fetch_add(1, Ordering::SeqCst);
    if !ok {
        counters.failed.fetch_add(1, Ordering::SeqCst);
    }
}

/// A viewer joins over WHEP, waits for its first RTP packet and leaves.
fn viewer_cycle(base: &str, i: usize) -> anyhow::Result<()> {
    let token = mint_token(ROOM, Role::Viewer, &format!("churn{i}"))?;
    let kinds = [str0m::media::MediaKind::Audio, str0m::media::MediaKind::Video];
    let (mut peer, _) =
        Peer::signal(base, &format!("/whep/{ROOM}"), &token, &kinds, str0m::media::Direction::RecvOnly)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = false;
    while !got && Instant::now() < deadline {
        let step = peer.drive(
            (Instant::now() + Duration::from_millis(20)).min(deadline),
            |_| {},
            |d| got |= crate::frame::is_rtp(d),
        );
        if let Err(e) = step {
            peer.hang_up();
            return Err(e);
        }
    }
    peer.hang_up();
    if got { Ok(()) } else { bail!("no RTP") }
}

/// A student joins over `/rtc`, chats, raises its hand and leaves.
fn student_cycle(base: &str, i: usize) -> anyhow::Result<()> {
    let mut s = RtcSocket::join(base, &mint_token(ROOM, Role::Student, &format!("visitor{i}"))?)?;
    s.send_classroom(&ClassroomCommand::SendChat { text: format!("hello from visitor {i}"), to: None })?;
    s.send_classroom(&ClassroomCommand::RaiseHand)?;
    while s.poll()?.is_some() {}
    s.leave();
    Ok(())
}

/// The staying `/rtc` participants: a teacher who runs polls and students who chat, raise and lower
/// hands and answer polls. Driven from the main thread between its readings.
struct Classroom {
    teacher: RtcSocket,
    students: Vec<RtcSocket>,
    teacher_media: Option<Peer>,
    /// Each student's subscribe connection (the room's media), as a page has: answered and kept up.
    media: Vec<Option<Peer>>,
    next_chat: Instant,
    next_poll: Instant,
    open_poll: Option<PollId>,
    hands_up: bool,
    said: usize,
}

impl Classroom {
    fn join(hub: &Hub, students: usize) -> anyhow::Result<Self> {
        let teacher = RtcSocket::join(&hub.base, &hub.token(ROOM, Role::Teacher, "teacher")?)?;
        let students = (0..students)
            .map(|i| RtcSocket::join(&hub.base, &hub.token(ROOM, Role::Student, &format!("student{i}"))?))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let now = Instant::now();
        let media = students.iter().map(|_| None).collect();
        Ok(Self {
            teacher,
            students,
            teacher_media: None,
            media,
            next_chat: now,
            next_poll: now,
            open_poll: None,
            hands_up: false,
            said: 0,
        })
    }

    /// Sends what is due and reads (and answers) what arrived.
    fn step(&mut self, counters: &Counters) -> anyhow::Result<()> {
        let now = Instant::now();
        let mut sent = 0;
        if now >= self.next_chat {
            self.next_chat += CHAT_EVERY;
            self.said += 1;
            self.hands_up = !self.hands_up;
            for (i, s) in self.students.iter_mut().enumerate() {
                s.send_classroom(&ClassroomCommand::SendChat {
                    text: format!("note {} from {i}", self.said),
                    to: None,
                })?;
                let hand = if self.hands_up {
                    ClassroomCommand::RaiseHand
                } else {
                    ClassroomCommand::LowerHand { participant_id: None }
                };
                s.send_classroom(&hand)?;
                sent += 2;
            }
        }
        if now >= self.next_poll {
            self.next_poll += POLL_EVERY;
            let poll = ClassroomCommand::CreatePoll {
                question: "Which one?".into(),
                options: vec!["a".into(), "b".into()],
                multiple: false,
                anonymous: false,
                correct: None,
            };
            self.teacher.send_classroom(&poll)?;
            sent += 1;
        }
        if let Some(poll_id) = self.open_poll
            && now + POLL_EVERY / 2 >= self.next_poll
        {
            self.teacher.send_classroom(&ClassroomCommand::ClosePoll { poll_id, share_results: true })?;
            self.open_poll = None;
            sent += 1;
        }
        while let Some(msg) = self.teacher.poll()? {
            if msg["type"] == "pollOpened" {
                self.open_poll = msg["poll"]["id"].as_u64().map(PollId);
            }
            answer_media(&mut self.teacher, &mut self.teacher_media, &msg)?;
        }
        if let Some(p) = self.teacher_media.as_mut() {
            p.pump(|_| {}, |_| {})?;
        }
        for (i, (s, media)) in self.students.iter_mut().zip(&mut self.media).enumerate() {
            while let Some(msg) = s.poll()? {
                if msg["type"] == "pollOpened"
                    && let Some(id) = msg["poll"]["id"].as_u64()
                {
                    let choices = vec![(i % 2) as u32];
                    s.send_classroom(&ClassroomCommand::AnswerPoll { poll_id: PollId(id), choices })?;
                    sent += 1;
                }
                answer_media(s, media, &msg)?;
            }
            if let Some(p) = media.as_mut() {
                p.pump(|_| {}, |_| {})?;
            }
        }
        counters.messages.fetch_add(sent, Ordering::SeqCst);
        Ok(())
    }

    fn leave(&mut self) {
        for p in self.media.iter_mut().chain(std::iter::once(&mut self.teacher_media)).flatten() {
            p.hang_up();
        }
        for s in self.students.iter_mut().chain(std::iter::once(&mut self.teacher)) {
            s.leave();
        }
    }
}

/// Answers a `subscribeOffer` as a page does: the first creates the connection to the room's media.
fn answer_media(socket: &mut RtcSocket, media: &mut Option<Peer>, msg: &serde_json::Value) -> anyhow::Result<()> {
    if msg["type"] != "subscribeOffer" {
        return Ok(());
    }
    let first = media.is_none();
    let answer = apply_subscribe_offer(media, msg["sdp"].as_str().context("subscribeOffer without sdp")?)?;
    socket.send(&ClientMsg::SubscribeAnswer { sdp: answer })?;
    if let (true, Some(p)) = (first, media.as_ref()) {
        p.set_nonblocking()?;
    }
    Ok(())
}

/// The staying viewers: the sent time of every stamped video frame each received. Sleeps a
/// millisecond when nothing arrived, so a long run does not spin a core.
fn receive(mut peers: Vec<Peer>, shared: &Shared) -> anyhow::Result<Vec<Vec<u64>>> {
    let mut frames: Vec<Vec<u64>> = peers.iter().map(|_| Vec::new()).collect();
    let mut ready = vec![false; peers.len()];
    let result = 'run: loop {
        if shared.stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        let mut taken = 0;
        for ((peer, got), ready) in peers.iter_mut().zip(&mut frames).zip(&mut ready) {
            let step = peer.pump(
                |e| {
                    if let Event::MediaData(d) = e
                        && let Some(s) = read_stamp(&d.data)
                    {
                        got.push(s.sent_ns);
                        if !*ready {
                            *ready = true;
                            shared.ready.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                },
                |_| {},
            );
            match step {
                Ok(k) => taken += k,
                Err(e) => break 'run Err(e),
            }
        }
        if taken == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    for peer in &mut peers {
        peer.hang_up();
    }
    result.map(|()| frames)
}

pub fn table(c: &Comparison) -> String {
    let r = &c.lectern;
    let context = [(
        "scenario",
        format!(
            "{} ({} min; 1 publisher -> {} viewers staying, {} students chatting, a viewer joining and leaving every few s)",
            r.scenario, r.minutes, r.subscribers, r.students
        ),
    )];
    let f = |label, v: f64, d| Figure::new(label, v, None, d);
    let reference = &r.per_minute[r.reference_minute - 1];
    let last = &r.per_minute[r.per_minute.len() - 1];
    let figures = [
        f("RSS baseline KiB", r.baseline.rss_kib as f64, 0),
        f("RSS reference minute KiB", reference.footprint.rss_kib as f64, 0),
        f("RSS end KiB", r.end.rss_kib as f64, 0),
        f("RSS end vs reference %", r.rss_growth_pct, 2),
        f("anon RSS reference minute KiB", reference.rss_anon_kib as f64, 0),
        f("anon RSS end KiB", r.end_rss_anon_kib as f64, 0),
        f("anon RSS end vs reference %", r.rss_anon_growth_pct, 2),
        f("fds baseline", r.baseline.fds as f64, 0),
        f("fds end", r.end.fds as f64, 0),
        f("threads baseline", r.baseline.tasks as f64, 0),
        f("threads end", r.end.tasks as f64, 0),
        f("frame loss reference minute %", r.loss_reference_pct, 3),
        f("frame loss last minute %", r.loss_last_pct, 3),
        f("cycles (all minutes)", r.per_minute.iter().map(|m| m.cycles).sum::<usize>() as f64, 0),
        f("failed cycles", r.per_minute.iter().map(|m| m.failed).sum::<usize>() as f64, 0),
        f("classroom messages", r.per_minute.iter().map(|m| m.messages).sum::<usize>() as f64, 0),
    ];
    let mut notes = vec![format!("reference minute: {} (the figures of the end compare with it)", r.reference_minute)];
    notes.push(format!("last minute: {} cycles, {} failed", last.cycles, last.failed));
    compare::table(&context, &figures, &notes)
}
