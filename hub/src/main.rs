//! `lectern-hub serve` runs the hub; `lectern-hub token` mints an access token; `lectern-hub admin
//! create` adds a web admin account; `lectern-hub db migrate|copy` prepares or fills a database.

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use lectern_admin::db::Dialect;
use lectern_common::time::unix_secs;
use lectern_hub::config::{Overrides, Settings};
use lectern_hub::token::{parse_ttl, random_id};
use lectern_hub::{secret, serve};
use lectern_proto::{Claims, Role, RoomId};

#[derive(Parser)]
#[command(name = "lectern-hub", version, about = "Lectern hub: classroom video SFU, signaling and web app")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the hub.
    Serve {
        /// TOML config file (see hub.example.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// HTTP listen address, e.g. 0.0.0.0:8080 (port 0 picks a free one).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Directory for the database and the generated token secret.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Serve HTTPS with a self-signed certificate generated into <data_dir>/tls (kept for the
        /// next start) and print its SHA-256 fingerprint: for a LAN trial without a real certificate.
        #[arg(long)]
        tls_self_signed: bool,
    },
    /// Mint an access token; it is printed alone on the last line.
    Token {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        room: String,
        /// teacher, student, device, viewer or admin.
        #[arg(long)]
        role: Role,
        /// Display name shown to others.
        #[arg(long)]
        name: Option<String>,
        /// Lifetime, e.g. 90s, 45m, 2h, 7d.
        #[arg(long, default_value = "2h")]
        ttl: String,
        /// A shared guest link: holders choose their name and wait in the lobby.
        #[arg(long)]
        guest: bool,
    },
    /// Manage web admin (/admin) accounts.
    Admin {
        #[command(subcommand)]
        cmd: AdminCmd,
    },
    /// Prepare the database or move it to PostgreSQL (docs/cluster.md).
    Db {
        #[command(subcommand)]
        cmd: DbCmd,
    },
}

#[derive(Subcommand)]
enum DbCmd {
    /// Apply the migrations the database has not seen yet (the hub also does at start-up).
    Migrate {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The database (default: `[store] url`, LECTERN_DATABASE_URL, else sqlite://<data_dir>/lectern.db).
        #[arg(long)]
        url: Option<String>,
    },
    /// Copy every table of an SQLite database into an empty PostgreSQL one (both are migrated first).
    Copy {
        /// The SQLite database, e.g. sqlite:///var/lib/lectern-hub/lectern.db.
        #[arg(long)]
        from: String,
        /// The PostgreSQL database, e.g. postgres://lectern@db.school.example/lectern.
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Create an account. The password comes from LECTERN_ADMIN_PASSWORD, else the first line of stdin.
    Create {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        username: String,
        /// admin or operator.
        #[arg(long, default_value = "admin")]
        role: lectern_admin::Role,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,str0m=warn,is=warn,dimpl=warn,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let env = |k: &str| std::env::var(k).ok();
    match cli.cmd {
        Cmd::Serve { config, listen, data_dir, tls_self_signed } => {
            let settings = Settings::load(&Overrides { config, listen, data_dir, tls_self_signed }, &env)?;
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(serve::serve(settings))
        }
        Cmd::Token { config, data_dir, room, role, name, ttl, guest } => {
            let settings = Settings::load(&Overrides { config, listen: None, data_dir, tls_self_signed: false }, &env)?;
            let room = RoomId::parse(&room).map_err(|e| anyhow::anyhow!("--room: {e}"))?;
            let ttl = parse_ttl(&ttl).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
            let key = secret::load_or_create(settings.secret.as_deref(), &settings.data_dir)?;
            let now = unix_secs();
            let claims =
                Claims { sub: random_id(), room, role, name, exp: now + ttl, nbf: now, jti: random_id(), guest };
            println!("{}", key.issue(&claims));
            Ok(())
        }
        Cmd::Admin { cmd: AdminCmd::Create { config, data_dir, username, role } } => {
            let settings = Settings::load(&Overrides { config, listen: None, data_dir, tls_self_signed: false }, &env)?;
            let password = match env("LECTERN_ADMIN_PASSWORD") {
                Some(p) => p,
                None => read_password()?,
            };
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let account = rt.block_on(async {
                std::fs::create_dir_all(&settings.data_dir)?;
                let store = lectern_hub::store::Store::connect(&settings.database_url()).await?;
                anyhow::Ok(lectern_admin::accounts::create(store.pool(), &username, &password, role).await?)
            })?;
            println!("created {} account '{}'", account.role, account.username);
            Ok(())
        }
        Cmd::Db { cmd: DbCmd::Migrate { config, data_dir, url } } => {
            let settings = Settings::load(&Overrides { config, listen: None, data_dir, tls_self_signed: false }, &env)?;
            let url = url.unwrap_or_else(|| settings.database_url());
            if Dialect::of_url(&url).map_err(anyhow::Error::msg)? == Dialect::Sqlite {
                std::fs::create_dir_all(&settings.data_dir)?;
            }
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let version = rt.block_on(async {
                let store = lectern_hub::store::Store::connect(&url).await?;
                let v: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations")
                    .fetch_one(store.pool())
                    .await?;
                anyhow::Ok(v)
            })?;
            println!("{} is at migration {version}", lectern_admin::db::redact_url(&url));
            Ok(())
        }
        Cmd::Db { cmd: DbCmd::Copy { from, to } } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let copied = rt.block_on(lectern_hub::db_copy::copy(&from, &to))?;
            for c in &copied {
                println!("{:>10} rows  {}", c.rows, c.table);
            }
            let rows: u64 = copied.iter().map(|c| c.rows).sum();
            println!("copied {rows} rows in {} tables to {}", copied.len(), lectern_admin::db::redact_url(&to));
            Ok(())
        }
    }
}

/// First line of stdin, without its line ending (no echo suppression: pipe it in or use the variable).
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        eprint!("password (shown as you type; or set LECTERN_ADMIN_PASSWORD): ");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
