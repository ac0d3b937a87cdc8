//! The events a pipeline reports (`MediaEvent`), and webrtcbin's state notifications turned into
//! them; `Pipeline::watch` adds the bus's and delivers both to one listener. The listener runs on GStreamer threads: it must only hand the
//! event over (e.g. send it on a channel), never block or do IO.

use gstreamer::prelude::*;
use gstreamer_webrtc::{WebRTCICEConnectionState, WebRTCPeerConnectionState};

/// Connection state as the supervisor cares about it (ICE and DTLS folded together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    New,
    Connecting,
    Connected,
    /// May recover on its own (ICE consent or path change); treat as lost only after a grace period.
    Disconnected,
    Failed,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// webrtcbin's `connection-state` (ICE + DTLS) changed.
    Connection(PeerState),
    /// webrtcbin's `ice-connection-state` changed.
    Ice(PeerState),
    /// An element posted an error: the pipeline is no longer usable.
    Error {
        element: String,
        message: String,
    },
    EndOfStream,
}

/// Delivers webrtcbin's connection and ICE states to `listener` (see `Pipeline::watch`).
pub(super) fn connect_states(
    webrtcbin: &gstreamer::Element,
    listener: impl Fn(MediaEvent) + Send + Sync + Clone + 'static,
) {
    let on_conn = listener.clone();
    webrtcbin.connect_notify(Some("connection-state"), move |bin, _| {
        let state = bin.property::<WebRTCPeerConnectionState>("connection-state");
        on_conn(MediaEvent::Connection(from_peer_state(state)));
    });
    webrtcbin.connect_notify(Some("ice-connection-state"), move |bin, _| {
        let state = bin.property::<WebRTCICEConnectionState>("ice-connection-state");
        listener(MediaEvent::Ice(from_ice_state(state)));
    });
}

fn from_peer_state(state: WebRTCPeerConnectionState) -> PeerState {
    match state {
        WebRTCPeerConnectionState::New => PeerState::New,
        WebRTCPeerConnectionState::Connecting => PeerState::Connecting,
        WebRTCPeerConnectionState::Connected => PeerState::Connected,
        WebRTCPeerConnectionState::Disconnected => PeerState::Disconnected,
        WebRTCPeerConnectionState::Failed => PeerState::Failed,
        WebRTCPeerConnectionState::Closed => PeerState::Closed,
        _ => PeerState::New,
    }
}

fn from_ice_state(state: WebRTCICEConnectionState) -> PeerState {
    match state {
        WebRTCICEConnectionState::New => PeerState::New,
        WebRTCICEConnectionState::Checking => PeerState::Connecting,
        WebRTCICEConnectionState::Connected | WebRTCICEConnectionState::Completed => PeerState::Connected,
        WebRTCICEConnectionState::Disconnected => PeerState::Disconnected,
        WebRTCICEConnectionState::Failed => PeerState::Failed,
        WebRTCICEConnectionState::Closed => PeerState::Closed,
        _ => PeerState::New,
    }
}
