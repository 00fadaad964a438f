//! The `assay` command: one binary for the server, the workers and the tools around them.

mod config;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use assay_blob::BlobStore;
use assay_broker::{Broker, BrokerOptions};
use assay_core::{JobContext, Registry};
use assay_jobs::{CirclesMode, FileAccess, KindsConfig, ModelServer, PackageConfig};
use assay_package::fetch::Fetcher;
use assay_server::{AppState, Limits, Metrics};
use assay_store::{Store, StoreOptions};
use assay_worker::Worker;
use clap::{Parser, Subcommand};
use config::{CirclesModeName, Config, LogFormat, Overrides};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

#[derive(Parser)]
#[command(
    name = "assay",
    version,
    about = "Analysis jobs over HTTP: queued durably, run in isolated workers."
)]
struct Cli {
    /// A TOML configuration file (settings: see README.md).
    #[arg(long, global = true, env = "ASSAY_CONFIG")]
    config: Option<PathBuf>,
    /// Where the database and stored files live [default: ./data].
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and web pages, with workers in the same process.
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Serve only; leave the jobs to `assay worker` processes.
        #[arg(long)]
        no_workers: bool,
    },
    /// Run workers only, against the same database as the server.
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Run one job locally, without a server, and print its result.
    Run {
        /// The job kind: ping, add, message, csv, image, package.
        kind: String,
        /// The input: `2,3` or `{"x":2,"y":3}` for add, a file path for csv and image, a purl
        /// or an archive (.tgz, .whl, .tar.gz, .zip) for package.
        #[arg(default_value = "")]
        input: String,
        /// Print the exact result JSON the server would store.
        #[arg(long)]
        json: bool,
        /// For a package archive whose contents do not tell: npm or pypi.
        #[arg(long)]
        ecosystem: Option<String>,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        command: ApikeyCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user.
    Create {
        name: String,
        /// An admin sees every user's jobs.
        #[arg(long)]
        admin: bool,
    },
}

#[derive(Subcommand)]
enum ApikeyCommand {
    /// Create an API key and print it once; only its hash is stored.
    Create {
        #[arg(long)]
        user: String,
    },
}

fn main() -> ExitCode {
    // Image jobs allocate image-sized buffers per run; keep freed memory for the next one.
    assay_circles::retain_freed_memory();
    let cli = Cli::parse();
    let overrides = Overrides {
        listen: match &cli.command {
            Command::Serve { listen, .. } => *listen,
            _ => None,
        },
        data_dir: cli.data_dir.clone(),
    };
    let config = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("assay: {e:#}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("assay: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command, config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("assay: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// How the image kind finds circles, as configured.
fn circles_mode(config: &Config) -> anyhow::Result<CirclesMode> {
    Ok(match config.circles_mode {
        CirclesModeName::Builtin => CirclesMode::Builtin,
        CirclesModeName::Dummy => CirclesMode::Dummy,
        CirclesModeName::Real => {
            let url = config.model_server_url.as_deref().unwrap_or_default();
            CirclesMode::Real(ModelServer::new(url, &config.model_name)?)
        }
    })
}

/// The job kinds, reading uploads from `blobs`; `assay run` passes no store and may read local paths.
fn registry(config: &Config, blobs: Option<BlobStore>, circles_mode: CirclesMode) -> Arc<Registry> {
    Arc::new(assay_jobs::registry(&KindsConfig {
        test_kinds: config.enable_test_kinds,
        files: FileAccess {
            local_files: blobs.is_none(),
            blobs,
        },
        csv_max_bytes: config.csv_max_bytes,
        circles_mode,
        image_limits: assay_circles::Limits {
            max_bytes: config.image_max_bytes,
            ..assay_circles::Limits::default()
        },
        package: PackageConfig {
            fetcher: Fetcher {
                npm_registry: config.npm_registry.clone(),
                pypi_index: config.pypi_index.clone(),
                max_artifact_bytes: config.package_max_bytes,
                ..Fetcher::default()
            },
            timeout: Duration::from_secs(config.package_timeout_secs),
            dedup_window: Duration::from_secs(config.package_dedup_secs),
            max_artifact_bytes: config.package_max_bytes,
            ..PackageConfig::default()
        },
    }))
}

fn open_blobs(config: &Config) -> anyhow::Result<BlobStore> {
    let dir = config.blob_dir();
    BlobStore::open(&dir)
        .with_context(|| format!("cannot open the file store at {}", dir.display()))
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url();
    let options = StoreOptions {
        max_connections: config.database_max_connections,
        // Queued jobs are announced through the broker from the outbox.
        outbox: config.broker.is_some(),
    };
    Store::connect_with(url.expose(), &options)
        .await
        .with_context(|| format!("cannot open the database {url} (database_url)"))
}

async fn connect_broker(config: &Config) -> anyhow::Result<Option<Arc<dyn Broker>>> {
    let Some(url) = &config.broker else {
        return Ok(None);
    };
    let options = BrokerOptions {
        prefix: config.broker_prefix.clone(),
        ack_wait: Duration::from_secs(config.lease_secs),
        ..BrokerOptions::default()
    };
    let broker = assay_broker::connect(url.expose(), options)
        .await
        .with_context(|| format!("cannot connect to the broker {url} (broker)"))?;
    info!(broker = %url, "broker connected");
    Ok(Some(broker))
}

/// Lets in-flight acks reach the broker before the connection goes.
async fn close_broker(broker: Option<Arc<dyn Broker>>) {
    if let Some(broker) = broker {
        if let Err(e) = broker.close().await {
            warn!(error = %e, "closing the broker connection failed");
        }
    }
}

fn worker_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".into());
    format!("{host}-{}", std::process::id())
}

async fn dispatch(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { no_workers, .. } => serve(config, !no_workers).await?,
        Command::Worker => {
            let store = open_store(&config).await?;
            info!(database = %config.database_url(), "worker connected");
            let shutdown = shutdown_signal();
            let registry = registry(&config, Some(open_blobs(&config)?), circles_mode(&config)?);
            let broker = connect_broker(&config).await?;
            let mut worker = Worker::new(store.clone(), registry, config.worker(worker_id()));
            if let Some(broker) = &broker {
                worker = worker.with_broker(Arc::clone(broker));
            }
            worker.run(shutdown).await;
            close_broker(broker).await;
            store.close().await;
        }
        Command::Migrate => {
            open_store(&config).await?.close().await;
            println!("migrations applied to {}", config.database_url());
        }
        Command::Run {
            kind,
            input,
            json,
            ecosystem,
        } => return run_once(&config, &kind, &input, json, ecosystem).await,
        Command::User {
            command: UserCommand::Create { name, admin },
        } => {
            let user = open_store(&config).await?.create_user(&name, admin).await?;
            println!(
                "created user {} ({}){}",
                user.name,
                user.id,
                if admin { ", admin" } else { "" }
            );
        }
        Command::Apikey {
            command: ApikeyCommand::Create { user },
        } => {
            let key = open_store(&config).await?.create_api_key(&user).await?;
            eprintln!("API key for {user} (shown once; store it now):");
            println!("{}", key.secret);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: Config, with_workers: bool) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let blobs = open_blobs(&config)?;
    let mode = circles_mode(&config)?;
    let model_server = match &mode {
        CirclesMode::Real(server) => Some(server.clone()),
        _ => None,
    };
    if let Some(server) = &model_server {
        match server.ready().await {
            Ok(()) => info!("the model server is ready"),
            Err(e) => {
                warn!(error = %e, "the model server is not ready; image jobs will retry until it is")
            }
        }
    }
    let registry = registry(&config, Some(blobs.clone()), mode);
    let metrics = Arc::new(Metrics::default());
    let shutdown = shutdown_signal();
    let broker = connect_broker(&config).await?;
    let worker = with_workers.then(|| {
        let mut worker = Worker::new(
            store.clone(),
            Arc::clone(&registry),
            config.worker(worker_id()),
        )
        .with_observer(Arc::clone(&metrics) as Arc<dyn assay_worker::JobObserver>);
        // Without workers here (`--no-workers`), `assay worker` processes relay the outbox.
        if let Some(broker) = &broker {
            worker = worker.with_broker(Arc::clone(broker));
        }
        tokio::spawn(worker.run(shutdown.clone()))
    });
    let state = AppState {
        store: store.clone(),
        blobs,
        registry,
        metrics,
        limits: Arc::new(Limits {
            json_body_bytes: config.json_body_bytes,
            csv_max_bytes: config.csv_max_bytes,
            image_max_bytes: config.image_max_bytes,
            package_max_bytes: config.package_max_bytes,
        }),
        model_server,
        broker: broker.clone(),
        decode_slots: Arc::new(tokio::sync::Semaphore::new(assay_worker::cores())),
        database: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    info!(%addr, data_dir = %config.data_dir.display(), database = %config.database_url(), workers = with_workers, "assay listening on http://{addr}");
    let stop = shutdown.clone();
    axum::serve(listener, assay_server::router(state))
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
        .context("the HTTP server failed")?;
    if let Some(worker) = worker {
        worker.await.context("the worker task failed")?;
    }
    close_broker(broker).await;
    store.close().await;
    Ok(())
}

/// A token cancelled on Ctrl-C or SIGTERM.
fn shutdown_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let fire = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
        info!("shutdown requested");
        fire.cancel();
    });
    token
}

async fn run_once(
    config: &Config,
    kind: &str,
    input: &str,
    json: bool,
    ecosystem: Option<String>,
) -> anyhow::Result<ExitCode> {
    let registry = registry(config, None, circles_mode(config)?);
    let kind = match registry.get(kind) {
        Ok(kind) => Arc::clone(kind),
        Err(e) => {
            eprintln!("assay: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let with_ecosystem = |mut v: serde_json::Value| match ecosystem {
        Some(e) if kind.name() == "package" => {
            v["ecosystem"] = e.to_lowercase().into();
            Ok(v)
        }
        Some(_) => Err(assay_core::InputError::Invalid(
            "--ecosystem applies only to package jobs".into(),
        )),
        None => Ok(v),
    };
    let prepared = match kind
        .cli_input(input)
        .and_then(with_ecosystem)
        .and_then(|v| kind.prepare(v))
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("assay: {e} ({})", e.code());
            return Ok(ExitCode::from(2));
        }
    };
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        kind.timeout(),
        kind.run(JobContext::detached(), prepared.input),
    )
    .await;
    let output = match outcome {
        Err(_) => bail!(
            "timed_out: the job did not finish within its {}s timeout",
            kind.timeout().as_secs()
        ),
        Ok(Err(e)) => {
            eprintln!("assay: {} failed: {e}", kind.name());
            return Ok(ExitCode::FAILURE);
        }
        Ok(Ok(output)) => output,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&output.result)?);
    } else {
        println!("{}", kind.describe(&output.result));
        eprintln!("({} finished in {:.1?})", kind.name(), started.elapsed());
    }
    Ok(ExitCode::SUCCESS)
}
