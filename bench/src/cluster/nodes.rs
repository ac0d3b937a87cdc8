//! Three hub nodes of one cluster on loopback: one redis-server, each hub its own SQLite (routing
//! needs no shared store, see docs/cluster.md), all sharing the bench's secret. Each node's port is
//! chosen before it starts, so its `public_url` is known and stays the same when it is restarted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::redis::{Redis, free_port};
use crate::hub::Hub;

/// How long the nodes may take to register (start-up of a debug hub on a loaded machine included).
const REGISTER_DEADLINE: Duration = Duration::from_secs(60);

pub struct Node {
    pub url: String,
    port: u16,
    /// `None` while killed.
    pub hub: Option<Hub>,
}

pub struct Cluster {
    pub redis: Redis,
    pub nodes: Vec<Node>,
    bin: PathBuf,
}

impl Cluster {
    /// Starts redis-server and `n` hubs and waits until every one is in the registry.
    pub fn start(bin: &Path, n: usize) -> anyhow::Result<Self> {
        let redis = Redis::start()?;
        let mut cluster = Self { redis, nodes: Vec::new(), bin: bin.to_path_buf() };
        for _ in 0..n {
            let port = free_port()?;
            cluster.nodes.push(Node { url: format!("http://127.0.0.1:{port}"), port, hub: None });
        }
        for i in 0..n {
            cluster.start_node(i)?;
        }
        cluster.wait_registered()?;
        Ok(cluster)
    }

    /// (Re)starts node `i` on its port and URL.
    pub fn start_node(&mut self, i: usize) -> anyhow::Result<()> {
        let node = &self.nodes[i];
        let env = [
            ("LECTERN_COORD_URL", self.redis.url()),
            ("LECTERN_PUBLIC_URL", node.url.clone()),
            // Every bench client comes from 127.0.0.1: the per-address join limit would throttle them.
            ("LECTERN_JOIN_LIMIT", "false".to_owned()),
        ];
        let hub = Hub::start_with(&self.bin, None, &format!("127.0.0.1:{}", node.port), &env)
            .with_context(|| format!("starting node {}", node.url))?;
        self.nodes[i].hub = Some(hub);
        Ok(())
    }

    /// `kill -9` of node `i`.
    pub fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        let mut hub = self.nodes[i].hub.take().context("the node is not running")?;
        hub.kill_hard()
    }

    pub fn index_of(&self, url: &str) -> anyhow::Result<usize> {
        self.nodes.iter().position(|n| n.url == url).with_context(|| format!("{url} is none of the bench's nodes"))
    }

    /// Waits until every node is in Redis's registry and each running node's `/healthz` lists every
    /// node as serving (so placement and routing may use any of them).
    pub fn wait_registered(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + REGISTER_DEADLINE;
        loop {
            let registered =
                self.redis.cli(&["SCARD", "lectern:nodes"]).ok().and_then(|s| s.trim().parse::<usize>().ok());
            if registered == Some(self.nodes.len()) && self.nodes.iter().all(|n| self.lists_every_node(n)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the {} nodes did not all register within {REGISTER_DEADLINE:?}", self.nodes.len());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn lists_every_node(&self, node: &Node) -> bool {
        let Ok(mut resp) = crate::peer::agent().get(format!("{}/healthz", node.url)).call() else { return false };
        let Ok(body) = resp.body_mut().read_to_string() else { return false };
        let Ok(health) = serde_json::from_str::<serde_json::Value>(&body) else { return false };
        let listed = health["cluster"]["nodes"].as_array().cloned().unwrap_or_default();
        self.nodes.iter().all(|n| listed.iter().any(|l| l.as_str() == Some(n.url.as_str())))
    }

    /// The running hubs' CPU time (user + system), in node order.
    pub fn cpu(&self) -> anyhow::Result<Vec<Duration>> {
        self.nodes.iter().map(|n| n.hub.as_ref().context("a node is down")?.cpu()).collect()
    }
}
