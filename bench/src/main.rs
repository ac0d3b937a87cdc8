//! `lectern-bench fanout --subscribers N --duration SECS [--json FILE] [--hub-bin PATH]`: runs a load
//! scenario against a freshly started `lectern-hub` and prints its figures (see docs/performance.md).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lectern_bench::fanout;

#[derive(Parser)]
#[command(name = "lectern-bench", version, about = "Load generator for the Lectern hub")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One publisher (H.264 ~1.5 Mbit/s 30 fps + audio) to N WHEP subscribers.
    Fanout {
        #[arg(long, default_value_t = 20)]
        subscribers: usize,
        /// Measurement window in seconds (connecting comes on top).
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Also write the figures as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// The hub binary; defaults to `lectern-hub` next to this executable.
        #[arg(long)]
        hub_bin: Option<PathBuf>,
        /// Do not pin generator and hub to different cores.
        #[arg(long)]
        no_pin: bool,
        /// Skip the Janus column.
        #[arg(long)]
        no_janus: bool,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Fanout { subscribers, duration, json, hub_bin, no_pin, no_janus } => {
            let hub_bin = hub_bin.unwrap_or_else(lectern_bench::hub::default_hub_bin);
            let mut cfg = fanout::Config::new(subscribers, Duration::from_secs(duration), hub_bin);
            cfg.pin = !no_pin;
            let report = fanout::run(&cfg, !no_janus)?;
            print!("{}", fanout::table(&report));
            write_json(json.as_deref(), &report)
        }
    }
}

fn write_json(path: Option<&std::path::Path>, report: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(path) = path {
        let text = serde_json::to_string_pretty(report)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
