//! The browser's side of the hub's `/rtc` signalling WebSocket, for str0m clients: join, publish (we
//! offer), and the subscribe connection the hub offers and re-offers as tracks come and go.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lectern_proto::signal::ClientMsg;
use serde_json::Value;
use str0m::media::{Direction, MediaKind, Mid};
use tungstenite::{Message, WebSocket};

use crate::peer::Peer;

const REPLY_DEADLINE: Duration = Duration::from_secs(10);

/// One participant's signalling socket.
pub struct RtcSocket {
    ws: WebSocket<TcpStream>,
    /// Server messages read while waiting for another one.
    pending: VecDeque<Value>,
}

impl RtcSocket {
    /// Connects to `<base>/rtc` (`base` is `http://host:port`), sends `join` and waits for `joined`.
    pub fn join(base: &str, token: &str) -> anyhow::Result<Self> {
        let host = base.strip_prefix("http://").context("the hub's address is not http://")?;
        let stream = TcpStream::connect(host).with_context(|| format!("connecting to {host}"))?;
        stream.set_read_timeout(Some(REPLY_DEADLINE))?;
        let (ws, _) = tungstenite::client::client(format!("ws://{host}/rtc"), stream)
            .map_err(|e| anyhow::anyhow!("/rtc handshake: {e}"))?;
        let mut s = Self { ws, pending: VecDeque::new() };
        s.send(&ClientMsg::Join { token: token.to_owned(), name: None, passcode: None, resume: None })?;
        s.wait_for("joined")?;
        s.ws.get_mut().set_nonblocking(true).context("non-blocking socket")?;
        Ok(s)
    }

    pub fn send(&mut self, msg: &ClientMsg) -> anyhow::Result<()> {
        let text = serde_json::to_string(msg).context("serializing")?;
        self.ws.send(Message::Text(text.into())).context("sending on /rtc")
    }

    /// A classroom command (chat, hands, polls…): the same socket, its own `type`.
    pub fn send_classroom(&mut self, cmd: &lectern_proto::classroom::ClassroomCommand) -> anyhow::Result<()> {
        let text = serde_json::to_string(cmd).context("serializing")?;
        self.ws.send(Message::Text(text.into())).context("sending on /rtc")
    }

    /// Publishes one m-line per kind (sendonly) from 127.0.0.1.
    pub fn publish(&mut self, kinds: &[MediaKind]) -> anyhow::Result<(Peer, Vec<Mid>)> {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        Peer::offer(ip, kinds, Direction::SendOnly, |sdp| {
            self.send(&ClientMsg::PublishOffer { sdp, screen_mid: None })?;
            let answer = self.wait_for("publishAnswer")?;
            Ok((answer["sdp"].as_str().context("publishAnswer without sdp")?.to_owned(), None))
        })
    }

    /// The next server message, if one has arrived (never blocks once joined).
    pub fn poll(&mut self) -> anyhow::Result<Option<Value>> {
        if let Some(v) = self.pending.pop_front() {
            return Ok(Some(v));
        }
        self.read_one()
    }

    fn read_one(&mut self) -> anyhow::Result<Option<Value>> {
        match self.ws.read() {
            Ok(Message::Text(t)) => {
                let v: Value = serde_json::from_str(t.as_str()).context("server message is not JSON")?;
                if v["type"] == "error" && v["fatal"] == true {
                    bail!("the hub refused: {}", v["message"]);
                }
                Ok(Some(v))
            }
            Ok(_) => Ok(None),
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                Ok(None)
            }
            Err(e) => Err(e).context("reading /rtc"),
        }
    }

    /// Reads until a message of `kind` arrives, keeping the others for [`RtcSocket::poll`].
    fn wait_for(&mut self, kind: &str) -> anyhow::Result<Value> {
        let deadline = Instant::now() + REPLY_DEADLINE;
        while Instant::now() < deadline {
            match self.read_one()? {
                Some(v) if v["type"] == kind => return Ok(v),
                Some(v) if v["type"] == "error" => bail!("the hub refused: {}", v["message"]),
                Some(v) => self.pending.push_back(v),
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        bail!("no {kind} from the hub within {REPLY_DEADLINE:?}")
    }

    /// Leaves the room and closes the socket; errors are ignored.
    pub fn leave(&mut self) {
        let _ = self.send(&ClientMsg::Leave);
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}

/// Applies a `subscribeOffer`: the first creates the subscribe peer, later ones renegotiate it. Returns
/// the answer to send back.
pub fn apply_subscribe_offer(peer: &mut Option<Peer>, sdp: &str) -> anyhow::Result<String> {
    match peer {
        None => {
            let (p, answer) = Peer::answer(IpAddr::V4(Ipv4Addr::LOCALHOST), sdp)?;
            *peer = Some(p);
            Ok(answer)
        }
        Some(p) => {
            let offer = str0m::change::SdpOffer::from_sdp_string(sdp).context("offer SDP")?;
            let answer = p.rtc.sdp_api().accept_offer(offer).context("accepting a re-offer")?;
            Ok(answer.to_sdp_string())
        }
    }
}
