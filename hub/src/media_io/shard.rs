//! A media worker, the IO shell around a [`ShardCore`]: one thread, one current-thread runtime,
//! the UDP sockets of its candidates, and the channels the rest of the hub listens on. It reads
//! the clock, hands commands, packets and time to the core, answers the commands, and delivers
//! what the core queued: datagrams to sockets, [`RoomOutput`]s to browsers' signaling channels,
//! the store, classroom boxes and the HTTP side. Only this thread touches the rooms' state.

use std::collections::HashMap;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use anyhow::Context as _;
use lectern_proto::device::HubMsg;
use lectern_proto::{ParticipantId, RoomId};
use str0m::net::Protocol;
use tokio::sync::mpsc;

use super::tcp::NetEvent;
use super::udp::{MediaSocket, RECV_BATCH, gso_runs};
use crate::sfu::command::{Command, Reply, Signals, Socket};
use crate::sfu::core::{Offering, ShardCore};
use crate::sfu::peer::Datagram;
use crate::sfu::room::RoomOutput;
use crate::store::StoreEvent;
use crate::time::Now;

/// Room outputs waiting for each outlet's task. Those tasks only write a row or move a message
/// on, so the bound is reached only when one is stuck (a locked database): then outputs are
/// dropped with a warning, since the shard thread must never block and memory must not grow.
pub const OUTLET_QUEUE: usize = 16 * 1024;

/// Where rooms' outputs go beyond browsers; `None` drops them (tests, tools). Each channel is
/// bounded by [`OUTLET_QUEUE`].
#[derive(Clone, Default)]
pub struct Outlets {
    pub store: Option<mpsc::Sender<StoreEvent>>,
    /// Messages for classroom boxes on their control channel (e.g. the hand queue for the display).
    pub devices: Option<mpsc::Sender<(RoomId, HubMsg)>>,
    /// Sessions that ended, so the HTTP side lets go of their WHIP/WHEP resources.
    pub sessions: Option<mpsc::Sender<(RoomId, ParticipantId)>>,
    /// Where the hub recorder's files go; `None`: this hub records nothing.
    pub recorder: Option<crate::recording::recorder::writer::Sinks>,
}

/// Room outputs dropped so far (all outlets), for a warning that does not flood the log.
static DROPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Puts `item` on an outlet; a full one drops it (see [`OUTLET_QUEUE`]).
fn offer<T>(outlet: &Option<mpsc::Sender<T>>, item: T, what: &'static str) {
    if let Some(tx) = outlet
        && let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(item)
    {
        // Logged at the 1st, 2nd, 4th, 8th... drop.
        let dropped = DROPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if dropped.is_power_of_two() {
            tracing::warn!(outlet = what, dropped, "a room output queue is full: outputs dropped");
        }
    }
}

/// The core and the synchronous half of its shell: commands in, with their replies; room outputs
/// out, to the browsers' signaling channels and the [`Outlets`].
pub struct Shard {
    core: ShardCore,
    /// Each browser's signaling channel; dropping it tells the socket task the room let go.
    signals: HashMap<ParticipantId, Signals>,
    /// Each browser's current socket: only it may end the participant, and only its key lets a
    /// new socket take the participant over.
    sockets: HashMap<ParticipantId, Socket>,
    outlets: Outlets,
    /// The hub recorder's writers of this shard's rooms.
    recorders: Option<crate::recording::recorder::Recorders>,
}

impl Shard {
    pub fn new(core: ShardCore, outlets: Outlets) -> Self {
        let recorders = outlets.recorder.clone().map(crate::recording::recorder::Recorders::new);
        Self { core, signals: HashMap::new(), sockets: HashMap::new(), outlets, recorders }
    }

    pub fn core(&self) -> &ShardCore {
        &self.core
    }

    /// For feeding packets and time; call [`deliver`](Self::deliver) after.
    pub fn core_mut(&mut self) -> &mut ShardCore {
        &mut self.core
    }

    /// Hands a command to the core, answers it, and delivers what followed.
    pub fn handle_command(&mut self, cmd: Command, now: Now) {
        let core = &mut self.core;
        match cmd {
            Command::Whip { ident, offer, screen_mid, takeover, reply } => {
                answer(reply, core.offer(ident, offer, Offering::Whip { screen_mid, takeover }, now))
            }
            Command::Whep { ident, offer, reply } => answer(reply, core.offer(ident, offer, Offering::Whep, now)),
            Command::Return { ident, offer, reply } => answer(reply, core.offer(ident, offer, Offering::Return, now)),
            Command::Join { ident, events, socket, reply } => {
                let pid = ident.participant;
                self.signals.insert(pid, events);
                self.sockets.insert(pid, socket);
                let res = core.join(ident, now);
                if res.is_err() {
                    self.signals.remove(&pid);
                    self.sockets.remove(&pid);
                }
                answer(reply, res);
            }
            Command::Resume { room, participant, socket, events, reply } => {
                let res = match self.sockets.get(&participant) {
                    Some(current) if keys_match(&current.resume_key, &socket.resume_key) => {
                        // The old socket's channel goes: its task ends, and its `SocketClosed`
                        // no longer names the participant's socket.
                        self.signals.insert(participant, events);
                        self.sockets.insert(participant, socket);
                        core.reattach(&room, participant, now)
                    }
                    _ => Err(super::SfuError::UnknownParticipant),
                };
                answer(reply, res);
            }
            Command::SocketClosed { room, participant, socket } => {
                if self.sockets.get(&participant).is_some_and(|s| s.id == socket.id) {
                    let _ = core.leave(&room, participant, now);
                }
            }
            Command::Classroom { room, participant, command, reply } => {
                answer(reply, core.classroom(&room, participant, command, now))
            }
            Command::Report { room, reply } => answer(reply, core.report(&room, now)),
            Command::Recording { room, reply } => answer(reply, Ok(core.is_recording(&room))),
            Command::EndLesson { room, reason, reply } => answer(reply, Ok(core.end_lesson(&room, reason, now))),
            Command::Stats { room, reply } => answer(reply, core.stats(&room)),
            Command::PublishOffer { room, participant, offer, screen_mid, reply } => {
                answer(reply, core.publish_offer(&room, participant, offer, screen_mid, now))
            }
            Command::SubscribeAnswer { room, participant, answer: sdp, reply } => {
                answer(reply, core.subscribe_answer(&room, participant, sdp, now))
            }
            Command::RemoteCandidates { room, participant, candidates, reply } => {
                answer(reply, core.remote_candidates(&room, participant, candidates, now))
            }
            Command::RestartIce { room, participant, reply } => {
                answer(reply, core.restart_ice(&room, participant, now))
            }
            Command::SetMuted { room, participant, kind, muted } => {
                core.set_muted(&room, participant, kind, muted, now)
            }
            Command::SetAudioOnly { room, participant, audio_only } => {
                core.set_audio_only(&room, participant, audio_only, now)
            }
            Command::Revoked { jti } => core.end_access(&jti, now),
            Command::Leave { room, participant, reply } => {
                let res = core.leave(&room, participant, now);
                if let Some(reply) = reply {
                    answer(reply, res);
                }
            }
        }
        self.deliver();
    }

    /// Does what the rooms asked for since the last call, in order.
    pub fn deliver(&mut self) {
        for output in self.core.drain_outputs() {
            match output {
                RoomOutput::Signal(to, msg) => {
                    // A closed channel means the socket task is already gone. A full one means
                    // its socket stopped reading: the channel is dropped, so the socket task
                    // ends (and with it the participant) instead of the backlog growing.
                    if let Some(tx) = self.signals.get(&to)
                        && let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(msg)
                    {
                        tracing::warn!(participant = %to, "a browser's socket is {} messages behind: closing it", crate::sfu::command::SIGNAL_BACKLOG);
                        self.signals.remove(&to);
                    }
                }
                RoomOutput::Store(ev) => offer(&self.outlets.store, ev, "store"),
                RoomOutput::Device(room, msg) => offer(&self.outlets.devices, (room, msg), "devices"),
                RoomOutput::SessionEnded(room, participant) => {
                    self.signals.remove(&participant);
                    self.sockets.remove(&participant);
                    offer(&self.outlets.sessions, (room, participant), "sessions");
                }
                RoomOutput::Record(out) => {
                    if let Some(r) = &mut self.recorders {
                        r.handle(out);
                    }
                }
            }
        }
        if let Some(r) = &mut self.recorders {
            for (room, track) in r.take_keyframe_requests() {
                self.core.recorder_keyframe(&room, track);
            }
        }
    }
}

/// Compares resume keys in time independent of where they differ.
fn keys_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A caller that stopped waiting for the answer is no error.
fn answer<T>(reply: Reply<T>, res: Result<T, super::SfuError>) {
    let _ = reply.send(res);
}

pub struct ShardIo {
    pub index: usize,
    /// Sockets bound to specific addresses; each address is a host candidate.
    pub sockets: Vec<std::net::UdpSocket>,
    /// ICE-TCP listeners, passive host candidates.
    pub listeners: Vec<std::net::TcpListener>,
    pub shard: Shard,
    pub inbox: super::ShardInbox,
}

impl ShardIo {
    /// Runs until every command sender is dropped (hub shutdown).
    pub fn spawn(self) -> anyhow::Result<std::thread::JoinHandle<()>> {
        let index = self.index;
        std::thread::Builder::new()
            .name(format!("media-shard-{index}"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(shard = index, error = %e, "media shard could not start");
                        return;
                    }
                };
                if let Err(e) = rt.block_on(self.run()) {
                    tracing::error!(shard = index, error = %format!("{e:#}"), "media shard stopped");
                }
            })
            .context("spawning media shard thread")
    }

    async fn run(mut self) -> anyhow::Result<()> {
        let mut sockets = Vec::new();
        for s in self.sockets.drain(..) {
            sockets.push(MediaSocket::new(s).context("registering media socket")?);
        }
        // ICE-TCP connections run as their own tasks and feed packets into this loop; UDP is read
        // here, in batches, so the core stays single-owner and a datagram is never copied.
        let (tcp_tx, mut tcp_rx) = mpsc::channel::<NetEvent>(1024);
        for l in self.listeners.drain(..) {
            l.set_nonblocking(true)?;
            let local = l.local_addr()?;
            let l = tokio::net::TcpListener::from_std(l).context("registering ICE-TCP listener")?;
            super::tcp::spawn_listener(l, local, tcp_tx.clone(), super::tcp::Limits::default());
        }
        drop(tcp_tx);
        let mut tcp: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
        let mut out = Vec::new();
        loop {
            let deadline = self.shard.core_mut().next_timeout(Now::read().mono);
            tokio::select! {
                cmd = self.inbox.commands.recv() => match cmd {
                    Some(cmd) => self.shard.handle_command(cmd, Now::read()),
                    None => return Ok(()),
                },
                Some(cmd) = self.inbox.ends.recv() => self.shard.handle_command(cmd, Now::read()),
                Some(ev) = tcp_rx.recv() => match ev {
                    NetEvent::Packet { proto, data, from, to } => {
                        self.shard.core_mut().handle_packet(Now::read(), proto, from, to, &data);
                    }
                    NetEvent::TcpOpen { remote, writer } => { tcp.insert(remote, writer); }
                    NetEvent::TcpClosed { remote } => { tcp.remove(&remote); }
                },
                i = poll_fn(|cx| readable(&sockets, cx)) => self.receive(&mut sockets[i]),
                _ = tokio::time::sleep_until(deadline.into()) => self.shard.core_mut().handle_timeout(Now::read()),
            }
            self.shard.deliver();
            self.shard.core_mut().swap_datagrams(&mut out);
            send_all(&mut out, &mut sockets, &tcp);
        }
    }

    /// Feeds the core what is queued on `sock`, a few batches at most so commands and timers are
    /// not starved under load (the socket stays readable and is picked again).
    fn receive(&mut self, sock: &mut MediaSocket) {
        let to = sock.addr;
        let now = Now::read();
        let core = self.shard.core_mut();
        for _ in 0..RECV_ROUNDS {
            match sock.recv_batch(|from, data| core.receive(now, Protocol::Udp, from, to, data)) {
                Ok(n) if n == RECV_BATCH => continue,
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // ICMP errors surface here on Linux (a peer went away); keep reading.
                Err(e) => {
                    tracing::debug!(error = %e, "media socket receive error");
                    break;
                }
            }
        }
        core.flush_received(now);
    }
}

/// `recvmmsg` rounds per wake-up.
const RECV_ROUNDS: usize = 4;

/// The first socket with something to read.
fn readable(sockets: &[MediaSocket], cx: &mut Context<'_>) -> Poll<usize> {
    for (i, s) in sockets.iter().enumerate() {
        // An error is reported by the read that follows.
        if s.sock.poll_recv_ready(cx).is_ready() {
            return Poll::Ready(i);
        }
    }
    Poll::Pending
}

/// Sends what the core queued: UDP in GSO runs from the socket of the datagram's source address,
/// TCP to its connection's writer.
fn send_all(out: &mut Vec<Datagram>, sockets: &mut [MediaSocket], tcp: &HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>) {
    let max = sockets.first().map_or(1, MediaSocket::max_segments);
    for run in gso_runs(out, max) {
        let first = &out[run.start];
        if first.proto == Protocol::Tcp {
            if let Some(w) = tcp.get(&first.destination) {
                // A full queue drops the packet, as UDP would.
                let _ = w.try_send(first.contents.clone());
            }
            continue;
        }
        let i = sockets.iter().position(|s| s.addr == first.source).unwrap_or(0);
        if let Some(sock) = sockets.get_mut(i) {
            sock.send_run(out, run);
        }
    }
    out.clear();
}

#[cfg(test)]
mod tests {
    use lectern_proto::Role;
    use lectern_proto::classroom::ClassroomEvent;
    use tokio::sync::mpsc::error::TryRecvError;
    use tokio::sync::oneshot;

    use lectern_proto::signal::ServerMsg;

    use super::*;
    use crate::sfu::Ident;
    use crate::sfu::command::SIGNAL_BACKLOG;
    use crate::store::Transport;

    struct Shell {
        shard: Shard,
        store: mpsc::Receiver<StoreEvent>,
        devices: mpsc::Receiver<(RoomId, HubMsg)>,
        sessions: mpsc::Receiver<(RoomId, ParticipantId)>,
    }

    fn shell() -> Shell {
        let (store_tx, store) = mpsc::channel(OUTLET_QUEUE);
        let (devices_tx, devices) = mpsc::channel(OUTLET_QUEUE);
        let (sessions_tx, sessions) = mpsc::channel(OUTLET_QUEUE);
        let outlets =
            Outlets { store: Some(store_tx), devices: Some(devices_tx), sessions: Some(sessions_tx), recorder: None };
        Shell { shard: Shard::new(ShardCore::new(Vec::new()), outlets), store, devices, sessions }
    }

    fn room() -> RoomId {
        RoomId::parse("r").expect("valid room name")
    }

    /// A browser joins; returns its signaling channel.
    fn join(s: &mut Shell, id: u64, role: Role, guest: bool) -> mpsc::Receiver<ServerMsg> {
        let ident = Ident {
            room: room(),
            participant: ParticipantId(id),
            subject: format!("s{id}"),
            name: format!("n{id}"),
            role,
            transport: Transport::Browser,
            guest,
            passcode: None,
            access: Default::default(),
        };
        let (events, rx) = mpsc::channel(SIGNAL_BACKLOG);
        let (reply, mut answer) = oneshot::channel();
        s.shard.handle_command(Command::Join { ident, events, socket: socket(id, "key"), reply }, Now::read());
        assert_eq!(answer.try_recv(), Ok(Ok(())), "the shard answers at once");
        rx
    }

    fn socket(id: u64, key: &str) -> Socket {
        Socket { id, resume_key: key.to_owned() }
    }

    /// A new socket asks to take participant `id` over with `key`.
    fn resume(s: &mut Shell, id: u64, socket: Socket) -> (Result<(), crate::sfu::SfuError>, mpsc::Receiver<ServerMsg>) {
        let (events, rx) = mpsc::channel(SIGNAL_BACKLOG);
        let (reply, mut answer) = oneshot::channel();
        let cmd = Command::Resume { room: room(), participant: ParticipantId(id), socket, events, reply };
        s.shard.handle_command(cmd, Now::read());
        (answer.try_recv().expect("the shard answers at once"), rx)
    }

    #[test]
    fn a_new_socket_with_the_key_takes_the_participant_over_and_the_old_one_cannot_end_it() {
        let mut s = shell();
        let mut teacher = join(&mut s, 1, Role::Teacher, false);
        let mut student = join(&mut s, 2, Role::Student, false);
        while teacher.try_recv().is_ok() {}
        let (refused, _) = resume(&mut s, 2, socket(20, "wrong"));
        assert!(refused.is_err(), "a wrong key takes nothing over");
        let (taken, mut again) = resume(&mut s, 2, socket(21, "key"));
        assert_eq!(taken, Ok(()));
        assert!(matches!(again.try_recv(), Ok(ServerMsg::Joined { participant_id: ParticipantId(2), .. })));
        while student.try_recv().is_ok() {}
        assert_eq!(student.try_recv(), Err(TryRecvError::Disconnected), "the old socket's channel is closed");
        // The old socket's end is not the participant's.
        s.shard.handle_command(
            Command::SocketClosed { room: room(), participant: ParticipantId(2), socket: socket(2, "key") },
            Now::read(),
        );
        assert_eq!(s.sessions.try_recv(), Err(TryRecvError::Empty));
        let left = |m: &ServerMsg| matches!(m, ServerMsg::ParticipantLeft { .. });
        assert!(!std::iter::from_fn(|| teacher.try_recv().ok()).any(|m| left(&m)), "nobody saw it leave");
        // The new socket's end is.
        s.shard.handle_command(
            Command::SocketClosed { room: room(), participant: ParticipantId(2), socket: socket(21, "key") },
            Now::read(),
        );
        assert_eq!(s.sessions.try_recv(), Ok((room(), ParticipantId(2))));
        assert!(std::iter::from_fn(|| teacher.try_recv().ok()).any(|m| left(&m)));
        let (gone, _) = resume(&mut s, 2, socket(22, "key"));
        assert!(gone.is_err(), "nothing to take over once it left");
    }

    #[test]
    fn a_refused_browser_is_told_why_then_its_channel_closes_and_the_http_side_hears_of_it() {
        let mut s = shell();
        let mut rx = join(&mut s, 9, Role::Admin, false);
        assert!(matches!(rx.try_recv(), Ok(ServerMsg::Classroom(ClassroomEvent::Denied { .. }))));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(s.sessions.try_recv(), Ok((room(), ParticipantId(9))));
    }

    #[test]
    fn a_browser_that_leaves_loses_its_channel_and_its_session() {
        let mut s = shell();
        let mut teacher = join(&mut s, 1, Role::Teacher, false);
        assert!(matches!(teacher.try_recv(), Ok(ServerMsg::Joined { .. })));
        assert!(matches!(s.store.try_recv(), Ok(StoreEvent::Joined { .. })));
        let (reply, mut answer) = oneshot::channel();
        let leave = Command::Leave { room: room(), participant: ParticipantId(1), reply: Some(reply) };
        s.shard.handle_command(leave, Now::read());
        assert_eq!(answer.try_recv(), Ok(Ok(())));
        assert_eq!(s.sessions.try_recv(), Ok((room(), ParticipantId(1))));
        // What was sent before the end is still read; then the channel is closed, not just empty.
        while teacher.try_recv().is_ok() {}
        assert_eq!(teacher.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn the_lobby_reaches_the_room_display_and_a_waiting_guest_keeps_its_channel() {
        let mut s = shell();
        let _teacher = join(&mut s, 1, Role::Teacher, false);
        let mut guest = join(&mut s, 3, Role::Student, true);
        assert!(matches!(guest.try_recv(), Ok(ServerMsg::Classroom(ClassroomEvent::Waiting { position: 1 }))));
        assert_eq!(guest.try_recv(), Err(TryRecvError::Empty), "still open while waiting");
        assert!(matches!(s.devices.try_recv(), Ok((_, HubMsg::Lobby { names })) if names == ["n3"]));
        assert_eq!(s.sessions.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn a_browser_whose_socket_stopped_reading_loses_its_channel_and_the_others_keep_theirs() {
        let mut s = shell();
        let mut teacher = join(&mut s, 1, Role::Teacher, false);
        let mut stalled = join(&mut s, 2, Role::Student, false);
        let mut reading = join(&mut s, 3, Role::Student, false);
        let toggle = |i: usize| Command::SetMuted {
            room: room(),
            participant: ParticipantId(1),
            kind: lectern_proto::signal::MediaKind::Audio,
            muted: i.is_multiple_of(2),
        };
        let drain = |rx: &mut mpsc::Receiver<ServerMsg>| std::iter::from_fn(|| rx.try_recv().ok()).count();
        // The teacher's toggles reach the students far past the backlog; one of them reads.
        for i in 0..3 * SIGNAL_BACKLOG {
            s.shard.handle_command(toggle(i), Now::read());
            drain(&mut teacher);
            drain(&mut reading);
        }
        let mut behind = 0;
        while stalled.try_recv().is_ok() {
            behind += 1;
        }
        assert!(behind <= SIGNAL_BACKLOG, "{behind} messages were queued for a socket that does not read");
        assert_eq!(stalled.try_recv(), Err(TryRecvError::Disconnected), "its channel is closed, so its socket ends");
        // The other still hears the room.
        s.shard.handle_command(toggle(0), Now::read());
        assert!(drain(&mut reading) > 0);
    }
}
