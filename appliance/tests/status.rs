//! The status endpoint over a real socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use lectern_appliance::status::{self, StatusBoard};

fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
    (head.lines().next().unwrap_or_default().to_owned(), body.to_owned())
}

#[test]
fn status_answers_json_with_state_encoder_config_and_panel() {
    let board = StatusBoard::default();
    board.update(|s| {
        s.state = lectern_proto::device::DeviceState::Reconnecting;
        s.encoder = Some("x264enc".into());
        s.last_error = Some("could not reach the hub".into());
        s.config.source = "last-good".into();
        s.panel.kind = "fake".into();
        s.panel.state.muted = true;
    });
    let addr = status::serve("127.0.0.1:0".parse().expect("addr"), board).expect("serves");
    let (status_line, body) = get(addr, "/status");
    assert_eq!(status_line, "HTTP/1.1 200 OK");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(json["state"], "reconnecting");
    assert_eq!(json["encoder"], "x264enc");
    assert_eq!(json["last_error"], "could not reach the hub");
    assert_eq!(json["config"]["source"], "last-good");
    assert_eq!((json["panel"]["kind"].clone(), json["panel"]["muted"].clone()), ("fake".into(), true.into()));
    assert!(json["fps"].is_null(), "no pipeline, no rate");
    let feed = &json["return_feed"];
    assert_eq!((feed["state"].clone(), feed["video_frames"].clone()), ("off".into(), 0.into()));
    assert!(feed["audio_level_db"].is_null() && feed["video_codec"].is_null(), "{feed}");
}

#[test]
fn unknown_paths_and_methods_get_json_errors() {
    let addr = status::serve("127.0.0.1:0".parse().expect("addr"), StatusBoard::default()).expect("serves");
    let (status_line, body) = get(addr, "/nope");
    assert_eq!(status_line, "HTTP/1.1 404 Not Found");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["error"], "not found");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(b"POST /status HTTP/1.1\r\nContent-Length: 0\r\n\r\n").expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    assert!(response.starts_with("HTTP/1.1 405"), "{response}");
}
