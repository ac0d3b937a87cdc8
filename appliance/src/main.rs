use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use lectern_appliance::cli::Cli;
use lectern_appliance::run::Runner;
use lectern_appliance::whip::WhipClient;
use lectern_appliance::{media, signals};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    media::init().context("initialising GStreamer")?;
    let whip = WhipClient::new(&cli.hub, &cli.room, cli.token.clone()).context("configuring the hub connection")?;
    let certificate = media::DtlsCertificate::generate().context("generating the DTLS certificate")?;
    let runner = Runner::new(whip, cli.media_settings(), certificate);
    signals::forward_termination(runner.shutdown_handle()).context("installing signal handlers")?;
    tracing::info!(room = %cli.room, virtual_sources = cli.use_virtual, "lectern-appliance {}", env!("CARGO_PKG_VERSION"));
    runner.run();
    Ok(())
}
