//! The WHIP client against a one-shot HTTP server on loopback: real sockets, canned answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

use lectern_appliance::whip::{Token, WhipClient, WhipError, WhipSession};
use lectern_proto::RoomId;

/// What the server saw: request line, headers (lower-cased names) and body.
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Serves one request with `response` and returns the hub URL and what it received.
fn serve_once(response: String) -> (String, JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        reader.read_line(&mut request_line).expect("request line");
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("header line");
            let Some((name, value)) = line.trim_end().split_once(':') else {
                break;
            };
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        let len = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().unwrap_or(0));
        let mut body = vec![0; len];
        reader.read_exact(&mut body).expect("body");
        reader.get_mut().write_all(response.as_bytes()).expect("write response");
        Seen { request_line: request_line.trim_end().to_owned(), headers, body: String::from_utf8_lossy(&body).into() }
    });
    (url, handle)
}

fn response(status: &str, headers: &[&str], body: &str) -> String {
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    format!("HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
}

fn client(url: &str) -> WhipClient {
    WhipClient::new(url, &RoomId::parse("demo").expect("room"), Token::new("jwt.token.here"), None).expect("client")
}

#[test]
fn publish_posts_sdp_with_bearer_and_returns_resolved_location_and_answer() {
    let answer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
    let (url, server) =
        serve_once(response("201 Created", &["Content-Type: application/sdp", "Location: /whip/demo/res-1"], answer));
    let session = client(&url).publish("v=0\r\noffer\r\n").expect("published");
    let seen = server.join().expect("server thread");
    assert_eq!(seen.request_line, "POST /whip/demo HTTP/1.1");
    assert_eq!(seen.header("content-type"), Some("application/sdp"));
    assert_eq!(seen.header("authorization"), Some("Bearer jwt.token.here"));
    assert_eq!(seen.body, "v=0\r\noffer\r\n");
    assert_eq!(session.resource_url, format!("{url}/whip/demo/res-1"));
    assert_eq!(session.answer, answer);
}

#[test]
fn unauthorized_is_credentials_rejected() {
    let body = r#"{"error":"unauthorized","detail":"token expired"}"#;
    let (url, server) = serve_once(response("401 Unauthorized", &["WWW-Authenticate: Bearer"], body));
    let err = client(&url).publish("v=0\r\n").expect_err("rejected");
    server.join().expect("server thread");
    assert!(
        matches!(&err, WhipError::CredentialsRejected { status: 401, message } if message == "unauthorized: token expired")
    );
    assert!(!err.is_retryable());
}

#[test]
fn bad_request_carries_the_hubs_message() {
    let body = r#"{"error":"bad offer","detail":"no video"}"#;
    let (url, server) = serve_once(response("400 Bad Request", &["Content-Type: application/json"], body));
    let err = client(&url).publish("v=0\r\n").expect_err("refused");
    server.join().expect("server thread");
    assert_eq!(err.to_string(), "hub refused the offer (400): bad offer: no video");
}

#[test]
fn created_without_location_is_a_protocol_error() {
    let (url, server) = serve_once(response("201 Created", &[], "v=0\r\n"));
    let err = client(&url).publish("v=0\r\n").expect_err("no location");
    server.join().expect("server thread");
    assert!(matches!(err, WhipError::Protocol(_)) && err.is_retryable(), "{err}");
}

#[test]
fn delete_targets_the_resource_with_credentials() {
    let (url, server) = serve_once(response("200 OK", &[], ""));
    let session = WhipSession { resource_url: format!("{url}/whip/demo/res-9"), answer: String::new() };
    client(&url).delete(&session).expect("deleted");
    let seen = server.join().expect("server thread");
    assert_eq!(seen.request_line, "DELETE /whip/demo/res-9 HTTP/1.1");
    assert_eq!(seen.header("authorization"), Some("Bearer jwt.token.here"));
}

#[test]
fn unreachable_hub_is_a_retryable_network_error() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let err = client(&url).publish("v=0\r\n").expect_err("refused connection");
    assert!(matches!(err, WhipError::Network(_)) && err.is_retryable(), "{err}");
}
