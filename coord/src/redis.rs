//! A Redis connection for coordination: connect (with `AUTH`/`SELECT` from the URL), run one
//! command at a time with a deadline, and the lease requests as scripts. After an error or a
//! timeout the connection must be dropped: a late reply would otherwise answer the next command.

use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::lease::{Reply, Request};
use crate::resp::{self, RespError, Value};
use crate::script;

/// The key the store's boot time lives under (never expires).
pub const BOOT_KEY: &str = "lectern:coord:boot";

/// The key of a room's epoch counter (lost with the keys on a restart without persistence: the
/// asking node's floor and the database's fence keep epochs rising).
pub fn epoch_key(room: &str) -> String {
    format!("lectern:epoch:{room}")
}

/// The key of a room's lease.
pub fn room_key(room: &str) -> String {
    format!("lectern:room:{room}")
}

#[derive(Debug, Error)]
pub enum RedisError {
    #[error("coord.url: {0}")]
    Url(String),
    #[error("redis I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Resp(#[from] RespError),
    #[error("redis refused: {0}")]
    Server(String),
    #[error("not a redis request: {0}")]
    NotHere(&'static str),
    #[error("unexpected redis reply: {0:?}")]
    Unexpected(Value),
    #[error("redis closed the connection")]
    Closed,
}

/// `redis://[:password@]host[:port][/db]`. The password is never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    pub host: String,
    pub port: u16,
    password: Option<String>,
    pub db: u32,
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "redis://{}{}:{}/{}",
            if self.password.is_some() { "***@" } else { "" },
            self.host,
            self.port,
            self.db
        )
    }
}

impl FromStr for RedisUrl {
    type Err = RedisError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| RedisError::Url(format!("{why} (expected redis://[:password@]host[:port][/db])"));
        let rest = s.strip_prefix("redis://").ok_or_else(|| bad("not a redis:// URL"))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (password, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hp)) => {
                let pw = userinfo.split_once(':').map_or(userinfo, |(_, p)| p);
                (Some(pw.to_owned()).filter(|p| !p.is_empty()), hp)
            }
            None => (None, authority),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| bad("port is not a number"))?),
            None => (hostport, 6379),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let db = if path.is_empty() { 0 } else { path.parse().map_err(|_| bad("database is not a number"))? };
        Ok(Self { host: host.to_owned(), port, password, db })
    }
}

/// One connection to Redis.
pub struct Redis {
    stream: TcpStream,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Redis {
    pub async fn connect(url: &RedisUrl, timeout: Duration) -> Result<Self, RedisError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect((url.host.as_str(), url.port)))
            .await
            .map_err(|_| RedisError::Timeout(timeout))??;
        stream.set_nodelay(true)?;
        let mut redis = Self { stream, buf: Vec::with_capacity(512), timeout };
        if let Some(pw) = &url.password {
            redis.call(&[b"AUTH", pw.as_bytes()]).await?;
        }
        if url.db != 0 {
            redis.call(&[b"SELECT", url.db.to_string().as_bytes()]).await?;
        }
        Ok(redis)
    }

    /// Runs one command; a Redis error reply is `RedisError::Server`.
    pub async fn call(&mut self, args: &[&[u8]]) -> Result<Value, RedisError> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.exchange(args)).await.map_err(|_| RedisError::Timeout(timeout))?
    }

    async fn exchange(&mut self, args: &[&[u8]]) -> Result<Value, RedisError> {
        self.stream.write_all(&resp::encode(args)).await?;
        loop {
            if let Some((value, used)) = resp::parse(&self.buf)? {
                self.buf.drain(..used);
                return match value {
                    Value::Error(e) => Err(RedisError::Server(e)),
                    v => Ok(v),
                };
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(RedisError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The bare connection, for a subscription (which no longer answers commands one to one).
    pub fn into_stream(self) -> RawStream {
        RawStream(self.stream)
    }

    /// Sends a lease request for `room` as its script.
    pub async fn lease(&mut self, room: &str, request: &Request) -> Result<Reply, RedisError> {
        let args = lease_args(room, request)?;
        reply_of(self.call(&args.iter().map(Vec::as_slice).collect::<Vec<_>>()).await?)
    }
}

/// A lease request as the `EVAL` of its script: the room's key and the boot key, the token, the ttl.
pub(crate) fn lease_args(room: &str, request: &Request) -> Result<Vec<Vec<u8>>, RedisError> {
    let (body, token, ttl, floor) = match request {
        Request::Acquire { node, floor, ttl } => (script::acquire(), node, *ttl, *floor),
        Request::Renew { token, floor, ttl } => (script::renew(), token, *ttl, *floor),
        Request::Release { token } => (script::RELEASE.to_owned(), token, 0, 0),
        Request::Fence { .. } => return Err(RedisError::NotHere("a fence request goes to the database")),
    };
    let keys = [room_key(room), BOOT_KEY.to_owned(), epoch_key(room)];
    Ok([b"EVAL".to_vec(), body.into_bytes(), b"3".to_vec()]
        .into_iter()
        .chain(keys.into_iter().map(String::into_bytes))
        .chain([token.as_bytes().to_vec(), ttl.to_string().into_bytes(), floor.to_string().into_bytes()])
        .collect())
}

/// A connection in subscribe mode: commands out, pushed messages read by the caller.
pub struct RawStream(TcpStream);

impl RawStream {
    pub async fn write_command(&mut self, args: &[&[u8]]) -> Result<(), RedisError> {
        Ok(self.0.write_all(&resp::encode(args)).await?)
    }

    pub async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf).await
    }
}

pub(crate) fn reply_of(value: Value) -> Result<Reply, RedisError> {
    let Value::Array(Some(items)) = &value else {
        return Err(RedisError::Unexpected(value));
    };
    let reply = match (items.first().and_then(Value::as_text), items.get(1)) {
        (Some("granted"), None) => Reply::Granted,
        (Some("acquired"), Some(Value::Int(epoch))) => match u64::try_from(*epoch) {
            Ok(epoch) => Reply::Acquired { epoch },
            Err(_) => return Err(RedisError::Unexpected(value)),
        },
        (Some("released"), None) => Reply::Released,
        (Some("held"), Some(owner)) => match owner.as_text() {
            Some(o) => Reply::Held { owner: o.to_owned() },
            None => return Err(RedisError::Unexpected(value)),
        },
        (Some("grace"), Some(Value::Int(ms))) => Reply::Grace { remaining: u64::try_from(*ms).unwrap_or(0) },
        _ => return Err(RedisError::Unexpected(value)),
    };
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_hide_their_password() {
        let u: RedisUrl = "redis://:s3cret@10.0.0.5:6380/2".parse().unwrap();
        assert_eq!((u.host.as_str(), u.port, u.db), ("10.0.0.5", 6380, 2));
        assert_eq!(format!("{u:?}"), "redis://***@10.0.0.5:6380/2");
        let u: RedisUrl = "redis://localhost".parse().unwrap();
        assert_eq!((u.port, u.db), (6379, 0));
        for bad in ["http://x", "redis://", "redis://h:port", "redis://h/db"] {
            assert!(bad.parse::<RedisUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn script_replies_map_to_lease_replies() {
        let bulk = |s: &str| Value::Bulk(Some(s.as_bytes().to_vec()));
        assert_eq!(reply_of(Value::Array(Some(vec![bulk("granted")]))).unwrap(), Reply::Granted);
        assert_eq!(
            reply_of(Value::Array(Some(vec![bulk("held"), bulk("a#1")]))).unwrap(),
            Reply::Held { owner: "a#1".into() }
        );
        assert_eq!(
            reply_of(Value::Array(Some(vec![bulk("grace"), Value::Int(1200)]))).unwrap(),
            Reply::Grace { remaining: 1200 }
        );
        assert_eq!(
            reply_of(Value::Array(Some(vec![bulk("acquired"), Value::Int(7)]))).unwrap(),
            Reply::Acquired { epoch: 7 }
        );
        assert!(reply_of(Value::Int(1)).is_err());
        assert!(reply_of(Value::Array(Some(vec![bulk("held")]))).is_err());
    }
}
