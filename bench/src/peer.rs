//! One benchmark client: a str0m `Rtc` on its own loopback UDP socket, signalled over WHIP or WHEP,
//! driven on the calling thread (blocking receive bounded by str0m's next timeout).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{Extension, ExtensionMap};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// A connected-or-connecting client.
pub struct Peer {
    pub rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    buf: Vec<u8>,
    resource_url: Option<String>,
    /// How to end the session on the server (WHIP/WHEP `DELETE`, Janus `hangup`), run once.
    pub leave: Option<Box<dyn FnOnce() + Send>>,
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// Installs str0m's crypto provider once per process (a second install is refused, harmlessly).
pub fn init_crypto() {
    let _ = std::panic::catch_unwind(|| str0m::crypto::from_feature_flags().install_process_default());
}

/// Whether receiving peers this generator offers negotiate transport-wide CC (`--no-bwe` turns it
/// off: the hub then has no feedback to estimate from, so it runs no bandwidth estimate towards them).
static SUBSCRIBER_TWCC: AtomicBool = AtomicBool::new(true);

/// `lectern-bench fanout --no-bwe`: see [`SUBSCRIBER_TWCC`].
pub fn set_subscriber_twcc(on: bool) {
    SUBSCRIBER_TWCC.store(on, Ordering::Relaxed);
}

/// A fresh `Rtc` with one host candidate on its own socket bound to `ip`; `twcc: false` leaves the
/// transport-wide sequence number extension out of what it negotiates.
fn new_rtc(ip: IpAddr, twcc: bool) -> anyhow::Result<(Rtc, UdpSocket, SocketAddr)> {
    init_crypto();
    let socket = UdpSocket::bind((ip, 0)).context("binding a client socket")?;
    let local = socket.local_addr()?;
    let mut exts = ExtensionMap::empty();
    for (id, ext) in ExtensionMap::standard().iter() {
        if twcc || !matches!(ext, Extension::TransportSequenceNumber) {
            exts.set(id, ext.clone());
        }
    }
    let mut rtc = Rtc::builder().set_extension_map(exts).build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").context("host candidate")?);
    Ok((rtc, socket, local))
}

impl Peer {
    /// Offers one m-line per kind in `dir` to `url` (a `/whip/..` or `/whep/..` endpoint) from 127.0.0.1 and
    /// applies the answer.
    pub fn signal(
        base: &str,
        path: &str,
        token: &str,
        kinds: &[MediaKind],
        dir: Direction,
    ) -> anyhow::Result<(Self, Vec<Mid>)> {
        Self::offer(IpAddr::V4(Ipv4Addr::LOCALHOST), kinds, dir, |offer| {
            let mut resp = agent()
                .post(format!("{base}{path}"))
                .header("Content-Type", "application/sdp")
                .header("Authorization", &format!("Bearer {token}"))
                .send(offer)
                .with_context(|| format!("POST {path}"))?;
            let status = resp.status().as_u16();
            let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).map(|l| format!("{base}{l}"));
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            if status != 201 {
                bail!("POST {path}: {status} {body}");
            }
            Ok((body, location))
        })
        .map(|(mut peer, mids)| {
            if let Some(url) = peer.resource_url.take() {
                let token = token.to_owned();
                peer.leave = Some(Box::new(move || {
                    let _ = agent().delete(url).header("Authorization", &format!("Bearer {token}")).call();
                }));
            }
            (peer, mids)
        })
    }

    /// Makes an offer with one m-line per kind in `dir`, hands it to `exchange` (which returns the answer
    /// and, for WHIP/WHEP, the resource URL) and applies the answer.
    pub fn offer(
        ip: IpAddr,
        kinds: &[MediaKind],
        dir: Direction,
        exchange: impl FnOnce(String) -> anyhow::Result<(String, Option<String>)>,
    ) -> anyhow::Result<(Self, Vec<Mid>)> {
        let twcc = dir != Direction::RecvOnly || SUBSCRIBER_TWCC.load(Ordering::Relaxed);
        let (mut rtc, socket, local) = new_rtc(ip, twcc)?;
        let mut api = rtc.sdp_api();
        let mids: Vec<Mid> = kinds.iter().map(|k| api.add_media(*k, dir, None, None, None)).collect();
        let (offer, pending) = api.apply().context("no offer to make")?;
        let (answer, resource) = exchange(offer.to_sdp_string())?;
        let answer = str0m::change::SdpAnswer::from_sdp_string(&answer).context("answer SDP")?;
        rtc.sdp_api().accept_answer(pending, answer).context("accepting the answer")?;
        Ok((Self { rtc, socket, local, buf: vec![0; 2000], leave: None, resource_url: resource }, mids))
    }

    /// Answers a server's offer (Janus offers to its subscribers); returns the peer and the answer SDP.
    pub fn answer(ip: IpAddr, offer: &str) -> anyhow::Result<(Self, String)> {
        let (mut rtc, socket, local) = new_rtc(ip, true)?;
        let offer = str0m::change::SdpOffer::from_sdp_string(offer).context("offer SDP")?;
        let answer = rtc.sdp_api().accept_offer(offer).context("accepting the offer")?;
        Ok((Self { rtc, socket, local, buf: vec![0; 2000], leave: None, resource_url: None }, answer.to_sdp_string()))
    }

    /// Moves packets and timers until `until`, handing every event and every received datagram to
    /// the callbacks (datagrams before str0m sees them).
    pub fn drive(
        &mut self,
        until: Instant,
        mut on_event: impl FnMut(Event),
        mut on_datagram: impl FnMut(&[u8]),
    ) -> anyhow::Result<()> {
        loop {
            let timeout = loop {
                match self.rtc.poll_output().context("poll_output")? {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) => {
                        // Loopback send errors (buffer full) are loss, which the figures report.
                        let _ = self.socket.send_to(&t.contents, t.destination);
                    }
                    Output::Event(e) => on_event(e),
                }
            };
            let now = Instant::now();
            let wake = timeout.min(until);
            if wake <= now {
                if until <= now {
                    return Ok(());
                }
                self.rtc.handle_input(Input::Timeout(now)).context("timeout")?;
                continue;
            }
            self.socket.set_read_timeout(Some(wake - now))?;
            match self.socket.recv_from(&mut self.buf) {
                Ok((n, source)) => self.take(n, source, &mut on_datagram)?,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    self.rtc.handle_input(Input::Timeout(Instant::now())).context("timeout")?;
                }
                Err(e) => return Err(e).context("recv"),
            }
        }
    }

    /// Hands the `n` bytes just received from `source` to the callback, then to str0m (anything
    /// that is not STUN, DTLS or RTP is skipped).
    fn take(&mut self, n: usize, source: SocketAddr, on_datagram: &mut impl FnMut(&[u8])) -> anyhow::Result<()> {
        let data = &self.buf[..n];
        on_datagram(data);
        let Ok(contents) = data.try_into() else { return Ok(()) };
        let input =
            Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: self.local, contents });
        self.rtc.handle_input(input).context("handle_input")
    }

    /// Switches the socket to non-blocking, for [`pump`](Self::pump) (and no longer `drive`).
    pub fn set_nonblocking(&self) -> anyhow::Result<()> {
        self.socket.set_nonblocking(true).context("non-blocking client socket")
    }

    /// Does what is due without waiting: takes every datagram already queued at the socket, fires
    /// str0m's expired timers and sends what it has. For many peers busy-polled from one thread
    /// (see `fanout`); the socket must be [non-blocking](Self::set_nonblocking).
    /// Returns how many datagrams it took.
    pub fn pump(
        &mut self,
        mut on_event: impl FnMut(Event),
        mut on_datagram: impl FnMut(&[u8]),
    ) -> anyhow::Result<usize> {
        let mut taken = 0;
        loop {
            match self.socket.recv_from(&mut self.buf) {
                Ok((n, source)) => {
                    taken += 1;
                    self.take(n, source, &mut on_datagram)?;
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted) => break,
                Err(e) => return Err(e).context("recv"),
            }
        }
        loop {
            match self.rtc.poll_output().context("poll_output")? {
                Output::Timeout(t) if t <= Instant::now() => {
                    self.rtc.handle_input(Input::Timeout(Instant::now())).context("timeout")?;
                }
                Output::Timeout(_) => return Ok(taken),
                Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Output::Event(e) => on_event(e),
            }
        }
    }

    /// Ends the session on the server; errors are ignored, the server goes away next.
    pub fn hang_up(&mut self) {
        if let Some(leave) = self.leave.take() {
            leave();
        }
        self.rtc.disconnect();
    }
}

/// True for the event that says ICE and DTLS are up.
pub fn is_connected(e: &Event) -> bool {
    matches!(e, Event::Connected)
}
