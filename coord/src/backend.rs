//! The coordination store a hub talks to: in-process (one hub, the default: nothing to run) or
//! Redis (`[coord] url`). Both answer the same lease requests ([`crate::model`] is the in-process
//! one and the specification of the Redis scripts), keep the node registry and carry pub/sub
//! messages between nodes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc};

use crate::lease::{Reply, Request};
use crate::model::MemoryStore;
use crate::redis::{Redis, RedisError, RedisUrl};
use crate::registry::{NodeRecord, RECORD_TTL};
use crate::resp::Value;
use crate::{Millis, resp};

/// How long one Redis command may take before the connection is dropped.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
const NODES_KEY: &str = "lectern:nodes";

fn node_key(id: &str) -> String {
    format!("lectern:node:{id}")
}

fn value_key(key: &str) -> String {
    format!("lectern:kv:{key}")
}

fn channel_key(channel: &str) -> String {
    format!("lectern:chan:{channel}")
}

#[derive(Clone)]
pub enum Coord {
    Local(Arc<Local>),
    Redis(Arc<RedisBackend>),
}

impl Coord {
    /// The in-process store of a hub on its own.
    pub fn local() -> Self {
        Coord::Local(Arc::new(Local::default()))
    }

    /// Redis at `url`; nothing is sent until first used (a Redis that is down at start-up is
    /// retried like one that goes down later).
    pub fn redis(url: RedisUrl) -> Self {
        Coord::Redis(Arc::new(RedisBackend { url, conn: tokio::sync::Mutex::new(None) }))
    }

    pub async fn lease(&self, room: &str, request: &Request) -> Result<Reply, RedisError> {
        match self {
            Coord::Local(_) if matches!(request, Request::Fence { .. }) => {
                Err(RedisError::NotHere("a fence request goes to the database"))
            }
            Coord::Local(l) => Ok(l.lock().leases.handle(room, request, l.now())),
            Coord::Redis(r) => r.lease(room, request).await,
        }
    }

    /// The token holding `room`'s lease now, if any.
    pub async fn holder(&self, room: &str) -> Result<Option<String>, RedisError> {
        match self {
            Coord::Local(l) => {
                let now = l.now();
                Ok(l.lock().leases.holder(room, now).map(str::to_owned))
            }
            Coord::Redis(r) => match r.call(&[b"GET", crate::redis::room_key(room).as_bytes()]).await? {
                Value::Bulk(Some(token)) => Ok(String::from_utf8(token).ok()),
                _ => Ok(None),
            },
        }
    }

    /// Writes this node's record; it lives [`RECORD_TTL`] unless written again.
    pub async fn register(&self, record: &NodeRecord) -> Result<(), RedisError> {
        match self {
            Coord::Local(l) => {
                let until = l.now() + RECORD_TTL;
                l.lock().nodes.insert(record.id.clone(), (record.clone(), until));
                Ok(())
            }
            Coord::Redis(r) => r.register(record).await,
        }
    }

    /// Every node whose record is fresh, sorted by id.
    pub async fn nodes(&self) -> Result<Vec<NodeRecord>, RedisError> {
        let mut nodes = match self {
            Coord::Local(l) => {
                let now = l.now();
                let mut state = l.lock();
                state.nodes.retain(|_, (_, until)| now < *until);
                state.nodes.values().map(|(r, _)| r.clone()).collect()
            }
            Coord::Redis(r) => r.nodes().await?,
        };
        nodes.sort_by(|a: &NodeRecord, b| a.id.cmp(&b.id));
        Ok(nodes)
    }

    /// Sets `key` to `value` for `ttl` ms (what a node shares beyond its record, e.g. its boxes'
    /// telemetry): gone on its own once its writer stops.
    pub async fn put(&self, key: &str, value: &str, ttl: Millis) -> Result<(), RedisError> {
        match self {
            Coord::Local(l) => {
                let until = l.now() + ttl;
                l.lock().values.insert(key.to_owned(), (value.to_owned(), until));
                Ok(())
            }
            Coord::Redis(r) => {
                let (name, ttl) = (value_key(key), ttl.max(1).to_string());
                r.call(&[b"SET", name.as_bytes(), value.as_bytes(), b"PX", ttl.as_bytes()]).await.map(drop)
            }
        }
    }

    /// The values of `keys` still set, in order (`None` for one never set or expired); one round
    /// trip (`MGET`) over Redis.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, RedisError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Coord::Local(l) => {
                let now = l.now();
                let mut state = l.lock();
                state.values.retain(|_, (_, until)| now < *until);
                Ok(keys.iter().map(|k| state.values.get(k).map(|(v, _)| v.clone())).collect())
            }
            Coord::Redis(r) => {
                let names: Vec<String> = keys.iter().map(|k| value_key(k)).collect();
                let mut args: Vec<&[u8]> = vec![b"MGET"];
                args.extend(names.iter().map(|k| k.as_bytes()));
                match r.call(&args).await? {
                    Value::Array(Some(items)) => Ok(items.iter().map(|v| v.as_text().map(str::to_owned)).collect()),
                    _ => Ok(vec![None; keys.len()]),
                }
            }
        }
    }

    pub async fn publish(&self, channel: &str, payload: &str) -> Result<(), RedisError> {
        match self {
            Coord::Local(l) => {
                // Nobody listening is not an error.
                let _ = l.channel(channel).send(payload.to_owned());
                Ok(())
            }
            Coord::Redis(r) => {
                r.call(&[b"PUBLISH", channel_key(channel).as_bytes(), payload.as_bytes()]).await.map(drop)
            }
        }
    }

    /// Messages published on `channel` from now on, by any node (this one included). Over Redis a
    /// dropped connection is re-established and re-subscribed; what was published meanwhile is lost.
    pub fn subscribe(&self, channel: &str) -> mpsc::Receiver<String> {
        let (tx, rx) = mpsc::channel(256);
        match self {
            Coord::Local(l) => {
                let mut sub = l.channel(channel).subscribe();
                tokio::spawn(async move {
                    loop {
                        match sub.recv().await {
                            Ok(m) => {
                                if tx.send(m).await.is_err() {
                                    return;
                                }
                            }
                            Err(broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(broadcast::error::RecvError::Closed) => return,
                        }
                    }
                });
            }
            Coord::Redis(r) => {
                tokio::spawn(subscription(r.url.clone(), channel_key(channel), tx));
            }
        }
        rx
    }
}

/// The in-process store.
pub struct Local {
    state: Mutex<LocalState>,
    start: Instant,
}

#[derive(Default)]
struct LocalState {
    leases: MemoryStore,
    nodes: HashMap<String, (NodeRecord, Millis)>,
    values: HashMap<String, (String, Millis)>,
    channels: HashMap<String, broadcast::Sender<String>>,
}

impl Default for Local {
    fn default() -> Self {
        Self { state: Mutex::new(LocalState::default()), start: Instant::now() }
    }
}

impl Local {
    fn lock(&self) -> std::sync::MutexGuard<'_, LocalState> {
        // A panic while holding it cannot leave the maps half-updated: every update is one call.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> Millis {
        // The store starts "long ago": a single hub has no earlier holders to wait for, so its own
        // store has no start-up grace.
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX) + 1_000_000_000
    }

    fn channel(&self, name: &str) -> broadcast::Sender<String> {
        self.lock().channels.entry(name.to_owned()).or_insert_with(|| broadcast::channel(256).0).clone()
    }
}

pub struct RedisBackend {
    url: RedisUrl,
    /// One connection, made on first use and dropped after any error.
    conn: tokio::sync::Mutex<Option<Redis>>,
}

impl RedisBackend {
    async fn lease(&self, room: &str, request: &Request) -> Result<Reply, RedisError> {
        let args = crate::redis::lease_args(room, request)?;
        crate::redis::reply_of(self.call(&args.iter().map(Vec::as_slice).collect::<Vec<_>>()).await?)
    }

    async fn call(&self, args: &[&[u8]]) -> Result<Value, RedisError> {
        let mut guard = self.conn.lock().await;
        // The connection is taken out while a command is on its way and put back only once its
        // reply is read: a caller dropped meanwhile (an HTTP request whose client went away)
        // drops the connection with it, so its late reply never answers the next command.
        let mut conn = match guard.take() {
            Some(c) => c,
            None => Redis::connect(&self.url, COMMAND_TIMEOUT).await?,
        };
        let result = conn.call(args).await;
        if result.is_ok() {
            *guard = Some(conn);
        }
        result
    }

    async fn register(&self, record: &NodeRecord) -> Result<(), RedisError> {
        let json = serde_json::to_string(record).map_err(|e| RedisError::Url(e.to_string()))?;
        let ttl = RECORD_TTL.to_string();
        self.call(&[b"SET", node_key(&record.id).as_bytes(), json.as_bytes(), b"PX", ttl.as_bytes()]).await?;
        self.call(&[b"SADD", NODES_KEY.as_bytes(), record.id.as_bytes()]).await?;
        Ok(())
    }

    async fn nodes(&self) -> Result<Vec<NodeRecord>, RedisError> {
        let Value::Array(Some(ids)) = self.call(&[b"SMEMBERS", NODES_KEY.as_bytes()]).await? else {
            return Ok(Vec::new());
        };
        let mut nodes = Vec::new();
        for id in ids.iter().filter_map(Value::as_text) {
            match self.call(&[b"GET", node_key(id).as_bytes()]).await? {
                Value::Bulk(Some(json)) => match serde_json::from_slice::<NodeRecord>(&json) {
                    Ok(r) => nodes.push(r),
                    Err(e) => tracing::warn!(node = id, error = %e, "unreadable node record in the registry"),
                },
                // Expired: the node stopped writing.
                _ => {
                    self.call(&[b"SREM", NODES_KEY.as_bytes(), id.as_bytes()]).await?;
                }
            }
        }
        Ok(nodes)
    }
}

/// Keeps a `SUBSCRIBE` connection to `channel` and passes its messages on until `tx` is closed.
async fn subscription(url: RedisUrl, channel: String, tx: mpsc::Sender<String>) {
    let mut backoff = Duration::from_millis(100);
    while !tx.is_closed() {
        match subscribe_once(&url, &channel, &tx).await {
            Ok(()) => return,
            Err(e) => {
                tracing::debug!(channel, error = %e, "redis subscription lost; re-subscribing");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

async fn subscribe_once(url: &RedisUrl, channel: &str, tx: &mpsc::Sender<String>) -> Result<(), RedisError> {
    let mut stream = Redis::connect(url, COMMAND_TIMEOUT).await?.into_stream();
    stream.write_command(&[b"SUBSCRIBE", channel.as_bytes()]).await?;
    let mut buf = Vec::new();
    loop {
        while let Some((value, used)) = resp::parse(&buf)? {
            buf.drain(..used);
            if let Value::Array(Some(items)) = &value
                && items.first().and_then(Value::as_text) == Some("message")
                && let Some(payload) = items.get(2).and_then(Value::as_text)
                && tx.send(payload.to_owned()).await.is_err()
            {
                return Ok(());
            }
        }
        let mut chunk = [0u8; 4096];
        // A subscription is quiet most of the time: no deadline on the read, but a closed
        // receiver ends it at the next message.
        let n = tokio::select! {
            n = stream.read(&mut chunk) => n?,
            () = tx.closed() => return Ok(()),
        };
        if n == 0 {
            return Err(RedisError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
