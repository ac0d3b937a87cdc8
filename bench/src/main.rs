//! `lectern-bench <scenario> [flags] [--json FILE] [--no-janus] [--hub-bin PATH] [--no-pin]`: runs a load
//! scenario against a freshly started `lectern-hub`, then against Janus VideoRoom, and prints both
//! side by side (see docs/performance.md).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use lectern_bench::{churn, cluster, fanout, join, meeting, ramp, rooms, soak};

#[derive(Parser)]
#[command(name = "lectern-bench", version, about = "Load generator for the Lectern hub, side by side with Janus")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Flags every scenario takes.
#[derive(Args)]
struct Common {
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The hub binary; defaults to `lectern-hub` next to this executable.
    #[arg(long)]
    hub_bin: Option<PathBuf>,
    /// Do not pin generator and server to different cores.
    #[arg(long)]
    no_pin: bool,
    /// Skip the Janus column.
    #[arg(long)]
    no_janus: bool,
}

impl Common {
    fn hub_bin(&self) -> PathBuf {
        self.hub_bin.clone().unwrap_or_else(lectern_bench::hub::default_hub_bin)
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// One publisher (H.264 ~1.5 Mbit/s 30 fps + audio) to N subscribers.
    Fanout {
        #[arg(long, default_value_t = 20)]
        subscribers: usize,
        /// Measurement window in seconds (connecting comes on top).
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Instead of one run: add subscribers step by step (10, 20, 40 ... 3 s each) until frame loss
        /// passes 1 % or delay grows; --subscribers and --duration are then ignored.
        #[arg(long)]
        ramp: bool,
        /// With --ramp: the largest number of subscribers to try (up to 1000; above the default the
        /// run may take ten minutes per server).
        #[arg(long, default_value_t = lectern_bench::ramp::DEFAULT_MAX)]
        max_subscribers: usize,
        /// With --ramp: a grown delay does not stop the ramp, loss does; then one step at 80 % of
        /// where loss started measures the delay there.
        #[arg(long)]
        until_loss: bool,
        /// Subscribers negotiate no transport-wide CC, so the hub runs no bandwidth estimate towards
        /// them (as before issue 16): compare with a run without it for BWE's own cost.
        #[arg(long)]
        no_bwe: bool,
        #[command(flatten)]
        common: Common,
    },
    /// M participants each publishing audio + video to all the others.
    Meeting {
        #[arg(long, default_value_t = 6)]
        participants: usize,
        /// Measurement window in seconds.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Each participant's video bitrate.
        #[arg(long, default_value_t = 500)]
        video_kbit: u32,
        #[command(flatten)]
        common: Common,
    },
    /// Breakout-shaped: ROOMS rooms of PARTICIPANTS each publishing audio + video to the others in
    /// its room; then, on a fresh server, the CPU of connected participants that send nothing.
    Rooms {
        #[arg(long, default_value_t = 10)]
        rooms: usize,
        /// Participants per room.
        #[arg(long, default_value_t = 4)]
        participants: usize,
        /// Measurement window in seconds.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Each participant's video bitrate.
        #[arg(long, default_value_t = 300)]
        video_kbit: u32,
        /// Connected participants sending nothing for the idle figure (in rooms of PARTICIPANTS,
        /// rounded up to whole rooms); 0 skips it.
        #[arg(long, default_value_t = 50)]
        idle_participants: usize,
        /// The idle measurement window in seconds.
        #[arg(long, default_value_t = 10)]
        idle_duration: u64,
        #[command(flatten)]
        common: Common,
    },
    /// New subscribers join one after another: time to first RTP packet and to first keyframe.
    Join {
        #[arg(long, default_value_t = 30)]
        joins: usize,
        #[command(flatten)]
        common: Common,
    },
    /// A long lesson (hub only): a publisher, viewers and chatting students staying, a viewer and a
    /// student joining and leaving all along; RSS, descriptors, threads and frame loss per minute.
    Soak {
        #[arg(long, default_value_t = 30)]
        minutes: u64,
        #[arg(long, default_value_t = 30)]
        subscribers: usize,
        /// Browser participants (the hub's `/rtc`, no media) that chat, raise hands and answer polls.
        #[arg(long, default_value_t = 5)]
        students: usize,
        /// A viewer joins, waits for media and leaves this often, in seconds.
        #[arg(long, default_value_t = 3)]
        churn_every: u64,
        #[command(flatten)]
        common: Common,
    },
    /// Three hubs and a redis-server on loopback (hub only): join through a forwarding node against
    /// direct, recovery after kill -9 of a room's owner, idle coordination cost, how rooms spread.
    Cluster {
        /// Kill-9 recoveries to measure (the killed node is restarted between runs).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// New rooms placed for the spread.
        #[arg(long, default_value_t = 12)]
        rooms: usize,
        /// Viewer joins per path (direct at the owner, forwarded by another node).
        #[arg(long, default_value_t = 20)]
        joins: usize,
        /// The quiet window in which Redis commands and the nodes' CPU are counted, in seconds.
        #[arg(long, default_value_t = 60)]
        idle_secs: u64,
        #[command(flatten)]
        common: Common,
    },
    /// K subscribers join and leave repeatedly: RSS, descriptors and threads before and after.
    Churn {
        #[arg(long, default_value_t = 10)]
        concurrent: usize,
        #[arg(long, default_value_t = 1000)]
        cycles: usize,
        #[command(flatten)]
        common: Common,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Fanout { subscribers, duration, ramp: true, max_subscribers, until_loss, no_bwe, common } => {
            let _ = (subscribers, duration);
            lectern_bench::peer::set_subscriber_twcc(!no_bwe);
            let cfg = ramp::Config { max_subscribers, hub_bin: common.hub_bin(), pin: !common.no_pin, until_loss };
            let report = ramp::run(&cfg, !common.no_janus)?;
            print!("{}", ramp::table(&report));
            write_json(common.json.as_deref(), &report)
        }
        Cmd::Fanout { subscribers, duration, ramp: false, no_bwe, common, .. } => {
            lectern_bench::peer::set_subscriber_twcc(!no_bwe);
            let mut cfg = fanout::Config::new(subscribers, Duration::from_secs(duration), common.hub_bin());
            cfg.pin = !common.no_pin;
            let report = fanout::run(&cfg, !common.no_janus)?;
            print!("{}", fanout::table(&report));
            write_json(common.json.as_deref(), &report)
        }
        Cmd::Meeting { participants, duration, video_kbit, common } => {
            let cfg = meeting::Config {
                participants,
                duration: Duration::from_secs(duration),
                rooms: 1,
                video_kbit_s: video_kbit,
                hub_bin: common.hub_bin(),
                pin: !common.no_pin,
            };
            let report = meeting::run(&cfg, !common.no_janus)?;
            print!("{}", meeting::table(&report));
            write_json(common.json.as_deref(), &report)
        }
        Cmd::Rooms { rooms, participants, duration, video_kbit, idle_participants, idle_duration, common } => {
            let cfg = rooms::Config {
                rooms,
                participants,
                duration: Duration::from_secs(duration),
                video_kbit_s: video_kbit,
                idle_participants,
                idle_duration: Duration::from_secs(idle_duration),
                hub_bin: common.hub_bin(),
                pin: !common.no_pin,
            };
            let report = rooms::run(&cfg, !common.no_janus)?;
            print!("{}", rooms::table(&report));
            write_json(common.json.as_deref(), &report)
        }
        Cmd::Join { joins, common } => {
            let cfg = join::Config { joins, hub_bin: common.hub_bin(), pin: !common.no_pin };
            let report = join::run(&cfg, !common.no_janus)?;
            print!("{}", join::table(&report));
            write_json(common.json.as_deref(), &report)
        }
        Cmd::Soak { minutes, subscribers, students, churn_every, common } => {
            let cfg = soak::Config {
                minutes,
                subscribers,
                students,
                churn_every: Duration::from_secs(churn_every),
                hub_bin: common.hub_bin(),
                pin: !common.no_pin,
            };
            let report = soak::run(&cfg)?;
            print!("{}", soak::table(&report));
            write_json(common.json.as_deref(), &report)
        }
        Cmd::Cluster { runs, rooms, joins, idle_secs, common } => {
            let cfg =
                cluster::Config { runs, rooms, joins, idle: Duration::from_secs(idle_secs), hub_bin: common.hub_bin() };
            let report = cluster::run(&cfg)?;
            print!("{}", cluster::table(&report));
            write_json(common.json.as_deref(), &report)
        }
        Cmd::Churn { concurrent, cycles, common } => {
            let cfg = churn::Config { concurrent, cycles, hub_bin: common.hub_bin(), pin: !common.no_pin };
            let report = churn::run(&cfg, !common.no_janus)?;
            print!("{}", churn::table(&report));
            write_json(common.json.as_deref(), &report)
        }
    }
}

fn write_json(path: Option<&Path>, report: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(path) = path {
        let text = serde_json::to_string_pretty(report)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
