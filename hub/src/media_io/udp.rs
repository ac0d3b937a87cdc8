//! A shard's UDP sockets with batched IO: `recvmmsg` on the way in (read straight into buffers the
//! shard reuses, no copy per datagram) and UDP GSO on the way out, where a run of equal-sized
//! datagrams to one subscriber leaves in one `sendmsg`. Syscalls, not crypto, dominate the cost
//! of a forwarded packet, so this is where the hub's per-packet budget is won. All the unsafe
//! socket work lives in `quinn-udp`.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::ops::Range;

use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};
use str0m::net::Protocol;
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::sfu::peer::Datagram;

/// Datagrams read per `recvmmsg`.
pub const RECV_BATCH: usize = 16;
/// Room for one datagram; WebRTC keeps packets well under the MTU.
const DATAGRAM_ROOM: usize = 2048;
/// The largest UDP payload the kernel accepts in one (GSO) send, less IP/UDP headers.
const MAX_GSO_BYTES: usize = 65_000;

/// Asked for on each shard socket, both directions. The kernel grants at most
/// `net.core.rmem_max` / `wmem_max` (Debian's default is ~208 KiB; raise them on a hub).
const SOCKET_BUFFER_BYTES: usize = 4 << 20;

pub struct MediaSocket {
    pub sock: UdpSocket,
    pub addr: SocketAddr,
    state: UdpSocketState,
    /// Receive buffers: `RECV_BATCH` slots of `slot` bytes (large enough for a GRO-coalesced train).
    recv: Vec<u8>,
    slot: usize,
    meta: [RecvMeta; RECV_BATCH],
    /// Where a GSO train is assembled; reused.
    train: Vec<u8>,
}

impl MediaSocket {
    pub fn new(sock: std::net::UdpSocket) -> io::Result<Self> {
        // One socket carries every peer of the shard: when all subscribers answer a frame at once
        // (RTCP) or a keyframe fans out, the default ~200 KiB buffers overflow and the kernel drops.
        // The kernel caps these at net.core.{r,w}mem_max; a smaller buffer is not an error.
        let raw = socket2::SockRef::from(&sock);
        if let Err(err) = raw.set_recv_buffer_size(SOCKET_BUFFER_BYTES) {
            tracing::warn!(%err, "could not enlarge the media socket's receive buffer");
        }
        if let Err(err) = raw.set_send_buffer_size(SOCKET_BUFFER_BYTES) {
            tracing::warn!(%err, "could not enlarge the media socket's send buffer");
        }
        let state = UdpSocketState::new(UdpSockRef::from(&sock))?;
        let addr = sock.local_addr()?;
        sock.set_nonblocking(true)?;
        let sock = UdpSocket::from_std(sock)?;
        // With GRO the kernel may hand over up to `gro_segments` datagrams in one buffer.
        let slot = DATAGRAM_ROOM * state.gro_segments().max(1);
        Ok(Self {
            sock,
            addr,
            state,
            recv: vec![0; slot * RECV_BATCH],
            slot,
            meta: [RecvMeta::default(); RECV_BATCH],
            train: Vec::with_capacity(MAX_GSO_BYTES),
        })
    }

    /// Reads what is queued (one `recvmmsg`) and hands each datagram to `each(from, bytes)`.
    /// Returns how many buffers were filled; `WouldBlock` when nothing was waiting.
    pub fn recv_batch(&mut self, mut each: impl FnMut(SocketAddr, &[u8])) -> io::Result<usize> {
        let mut chunks = self.recv.chunks_mut(self.slot);
        let mut bufs: [IoSliceMut<'_>; RECV_BATCH] = std::array::from_fn(|_| {
            // `recv` is exactly RECV_BATCH slots long (see `new`).
            IoSliceMut::new(chunks.next().expect("receive buffer holds RECV_BATCH slots"))
        });
        let (sock, state, meta) = (&self.sock, &self.state, &mut self.meta);
        let n = sock.try_io(Interest::READABLE, || state.recv(UdpSockRef::from(sock), &mut bufs, meta))?;
        for (buf, m) in bufs.iter().zip(meta.iter()).take(n) {
            let data = &buf[..m.len.min(buf.len())];
            // A GRO buffer holds several datagrams of `stride` bytes (the last may be shorter).
            for d in data.chunks(m.stride.max(1)) {
                each(m.addr, d);
            }
        }
        Ok(n)
    }

    /// Sends `datagrams[range]` (one [`gso_runs`] run) in one syscall. A full send buffer drops
    /// them, as the network would; NACK and PLI recover.
    pub fn send_run(&mut self, datagrams: &[Datagram], range: Range<usize>) {
        let run = &datagrams[range];
        let Some(first) = run.first() else { return };
        // One add per syscall, not per datagram.
        SENT.fetch_add(run.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let (contents, segment_size) = if run.len() == 1 {
            (first.contents.as_slice(), None)
        } else {
            self.train.clear();
            for d in run {
                self.train.extend_from_slice(&d.contents);
            }
            (self.train.as_slice(), Some(first.contents.len()))
        };
        let t = Transmit { destination: first.destination, ecn: None, contents, segment_size, src_ip: None };
        let (sock, state) = (&self.sock, &self.state);
        if let Err(e) = sock.try_io(Interest::WRITABLE, || state.try_send(UdpSockRef::from(sock), &t)) {
            tracing::debug!(error = %e, n = run.len(), "media send failed");
        }
    }

    /// How many datagrams one GSO send may carry here (1 where the kernel has no GSO).
    pub fn max_segments(&self) -> usize {
        self.state.max_gso_segments()
    }
}

/// Media datagrams handed to the kernel over UDP since start, every shard (a node's load in a
/// cluster, `cluster::meter`).
static SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn datagrams_sent() -> u64 {
    SENT.load(std::sync::atomic::Ordering::Relaxed)
}

/// Splits `datagrams` into runs that can leave in one UDP GSO send: consecutive, over UDP, same
/// source and destination, every datagram as long as the first except the last, which may be
/// shorter (that is how the kernel cuts a train). TCP datagrams are runs of one.
pub fn gso_runs(datagrams: &[Datagram], max_segments: usize) -> impl Iterator<Item = Range<usize>> + '_ {
    let max_segments = max_segments.max(1);
    let mut start = 0;
    std::iter::from_fn(move || {
        let first = datagrams.get(start)?;
        let size = first.contents.len();
        let mut end = start + 1;
        let mut bytes = size;
        let mut open = first.proto == Protocol::Udp && size > 0;
        while open && end < datagrams.len() && end - start < max_segments {
            let d = &datagrams[end];
            let fits = d.proto == Protocol::Udp
                && d.source == first.source
                && d.destination == first.destination
                && d.contents.len() <= size
                && !d.contents.is_empty()
                && bytes + d.contents.len() <= MAX_GSO_BYTES;
            if !fits {
                break;
            }
            bytes += d.contents.len();
            end += 1;
            // A shorter datagram ends the train.
            open = d.contents.len() == size;
        }
        let run = start..end;
        start = end;
        Some(run)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dg(proto: Protocol, to: u16, len: usize) -> Datagram {
        Datagram {
            proto,
            source: "127.0.0.1:5000".parse().unwrap(),
            destination: SocketAddr::from(([127, 0, 0, 1], to)),
            contents: vec![0; len],
        }
    }

    fn runs(d: &[Datagram], max: usize) -> Vec<Range<usize>> {
        gso_runs(d, max).collect()
    }

    #[test]
    fn a_frame_to_one_subscriber_is_one_run_ending_at_the_short_last_packet() {
        let u = Protocol::Udp;
        let d = [dg(u, 1, 1200), dg(u, 1, 1200), dg(u, 1, 700), dg(u, 1, 1200)];
        assert_eq!(runs(&d, 64), vec![0..3, 3..4]);
    }

    #[test]
    fn runs_break_at_another_destination_a_longer_packet_tcp_and_the_segment_limit() {
        let u = Protocol::Udp;
        let d = [dg(u, 1, 100), dg(u, 2, 100), dg(u, 2, 200), dg(Protocol::Tcp, 2, 200), dg(u, 2, 200), dg(u, 2, 200)];
        assert_eq!(runs(&d, 64), vec![0..1, 1..2, 2..3, 3..4, 4..6]);
        assert_eq!(runs(&d[4..], 1), vec![0..1, 1..2], "no GSO: one datagram per send");
    }

    #[test]
    fn a_train_never_exceeds_what_one_udp_send_can_carry() {
        let d: Vec<Datagram> = (0..100).map(|_| dg(Protocol::Udp, 1, 1200)).collect();
        for r in runs(&d, 64) {
            assert!(r.len() * 1200 <= MAX_GSO_BYTES && r.len() <= 64, "{r:?}");
        }
        assert!(runs(&[], 64).is_empty());
    }
}
