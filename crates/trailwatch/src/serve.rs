//! `trailwatch serve`: the AWS-compatible server, its alarm tick and its delivery worker.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use delivery::{SigningKey, Worker, WorkerLimits};
use engine::endpoint::{EndpointPolicy, EndpointRule};
use engine::scope::{Region, Regions};

use crate::keys::{self, KeyRing, StoredCredentials};
use engine::{Config, Engine};

/// How often the alarms whose period has ended are evaluated (closed periods, missing data).
/// Data arriving evaluates its alarms at once; the tick catches what time alone changes, and
/// costs in proportion to the alarms due.
const TICK: Duration = Duration::from_secs(1);
/// Ticks between two rounds of housekeeping (retention, expired tokens, orphaned messages).
const HOUSEKEEPING_TICKS: u64 = 10;
/// File descriptors kept back from client connections: the store's files, standard streams,
/// the listener and name lookups, besides the refused connections being answered and two for
/// each delivery in flight (its connection and an idle one kept for reuse).
const RESERVED_DESCRIPTORS: u64 = 48 + aws::server::REFUSALS_AT_ONCE as u64;
/// The fewest client connections worth serving.
const MIN_CONNECTIONS: u64 = 16;

/// Arguments of `trailwatch serve`.
#[derive(clap::Args)]
pub struct Args {
    /// Address and port to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:4566")]
    listen: SocketAddr,
    /// Directory for the database, keys and certificates.
    #[arg(long, default_value = "./trailwatch-data")]
    data_dir: PathBuf,
    /// The default region: requests are served in the region they are signed for, and this one
    /// holds what a store written by an older version kept, and what --config sets up.
    /// Default: the configuration file's `region`, else us-east-1.
    #[arg(long, env = "TRAILWATCH_REGION", value_parser = parse_region)]
    region: Option<&'static Region>,
    /// A configuration file (log groups, metric filters, alarms, topics and subscriptions) to
    /// apply at start-up, as `trailwatch apply` would: what it declares is created or updated,
    /// nothing is deleted.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Install the CIS AWS Foundations Benchmark monitoring controls at start-up, as `cis
    /// apply` would, in the default region: a metric filter and an alarm for each control not
    /// yet met on log group CloudTrail/DefaultLogGroup, notifying topic cis-alarms (both made
    /// if missing). Subscribe to the topic to receive the notifications.
    #[arg(long)]
    cis: bool,
    /// The benchmark version --cis installs.
    #[arg(long, default_value = cis::LATEST, value_name = "VERSION", requires = "cis")]
    cis_version: String,
    /// Regions to answer, separated by commas (default: every region of every AWS partition).
    /// A request signed for another region is refused.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_region)]
    regions: Vec<&'static Region>,
    /// The account of the server's key, twelve digits.
    #[arg(long, default_value = "000000000000", value_parser = parse_account_id)]
    account_id: String,
    /// The URL subscribers reach this server at, for the `SubscribeURL`, `UnsubscribeURL` and
    /// `SigningCertURL` of SNS messages (default: `http://` and the listening address). Behind
    /// a TLS proxy, give its `https://` URL: signature validators fetch certificates over HTTPS
    /// only.
    #[arg(long)]
    public_url: Option<String>,
    /// Authentication: `sigv4` (default) or `none` (local experiments only).
    #[arg(long, default_value = "sigv4", value_parser = ["sigv4", "none"])]
    auth: String,
    /// Most client connections open at once. At the cap, the connection that has waited
    /// longest for a request is closed to make room; when every connection has a request
    /// under way, new ones get 503. Lowered to what the open-file limit allows.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    max_connections: u64,
    /// Seconds a connection has to send a request's head, counted from when it opened or its
    /// previous response ended; idle keep-alive connections close after it.
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout: u64,
    /// Seconds a request body, or a response the client is reading, may go without progress
    /// (a body has 60 seconds in all).
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    body_timeout: u64,
    /// Delivers notifications only to endpoints this allows: an address range (10.0.0.0/8,
    /// fd00::/8) or a host name (hooks.example.com, *.example.com). Repeat, or separate with
    /// commas. Without it, every endpoint not denied is allowed.
    #[arg(long, value_name = "RULE", value_delimiter = ',')]
    allow_endpoint: Vec<EndpointRule>,
    /// Never delivers to endpoints this matches (same forms as --allow-endpoint). Link-local
    /// and cloud metadata addresses are never contacted whatever the rules say.
    #[arg(long, value_name = "RULE", value_delimiter = ',')]
    deny_endpoint: Vec<EndpointRule>,
    /// Delivery attempts in progress at once, in all and to one endpoint server.
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4096))]
    max_deliveries: u64,
    /// Reads the S3 buckets trails name from a folder: bucket B is the folder DIR/B, and its
    /// keys are the paths under it. New files are seen as they are written. Without
    /// --s3-endpoint-url, buckets the folder lacks do not exist.
    #[arg(long, value_name = "DIR")]
    s3_dir: Option<PathBuf>,
    /// Reads the S3 buckets trails name from an S3-compatible endpoint (after --s3-dir, for
    /// the buckets the folder lacks). Without either flag, buckets are read from AWS S3 with
    /// the AWS CLI's credential chain.
    #[arg(long, value_name = "URL")]
    s3_endpoint_url: Option<String>,
    /// Seconds between two looks at the trails' buckets for new objects. A folder is also
    /// watched, so that new files are read as soon as they are written.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS", value_parser = parse_interval)]
    s3_poll_interval: f64,
}

fn parse_interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.05..=3600.0).contains(&s) => Ok(s),
        _ => Err(format!(
            "'{text}' is not a number of seconds from 0.05 to 3600"
        )),
    }
}

/// Where the buckets trails name are read: a folder, an S3 endpoint, or both (the folder
/// first), and AWS S3 when neither is named.
async fn buckets(
    args: &Args,
    region: &str,
) -> anyhow::Result<(
    Arc<dyn ingest::follow::Buckets>,
    Option<Arc<ingest::follow::Folder>>,
)> {
    let url = args.s3_endpoint_url.as_deref();
    let Some(dir) = &args.s3_dir else {
        return Ok((
            Arc::new(crate::s3::S3Buckets::connect(url, region).await),
            None,
        ));
    };
    if !dir.is_dir() {
        bail!("--s3-dir {} is not a folder", dir.display());
    }
    let folder = Arc::new(ingest::follow::Folder::new(dir.clone()));
    let then = match url {
        Some(url) => Some(
            Arc::new(crate::s3::S3Buckets::connect(Some(url), region).await)
                as Arc<dyn ingest::follow::Buckets>,
        ),
        None => None,
    };
    let layered = ingest::follow::Layered {
        first: folder.clone(),
        then,
    };
    Ok((Arc::new(layered), Some(folder)))
}

/// Applies the configuration file in the default scope, telling each change.
async fn set_up(engine: &Engine, parsed: &config::Parsed) -> anyhow::Result<()> {
    let target = crate::setup::engine::EngineTarget {
        engine,
        scope: engine.default_scope(),
    };
    let changes = crate::setup::apply(&target, parsed, false).await?;
    for change in changes
        .iter()
        .filter(|c| c.verb != config::plan::Verb::Unchanged)
    {
        tracing::info!(file = parsed.name(), "Configuration: {change}.");
    }
    tracing::info!(
        file = parsed.name(),
        "Configuration applied: {}.",
        crate::setup::summary(&changes, true)
    );
    Ok(())
}

/// The log group and topic `serve --cis` installs the controls on.
pub(crate) const CIS_LOG_GROUP: &str = "CloudTrail/DefaultLogGroup";
pub(crate) const CIS_TOPIC: &str = "cis-alarms";

/// Installs the CIS monitoring controls in the default scope, telling what changed.
async fn install_cis(engine: &Engine, version: &str) -> anyhow::Result<()> {
    let catalogue = cis::Catalogue::get();
    let benchmark = catalogue.benchmark(version).with_context(|| {
        format!(
            "--cis-version: no CIS version {version}; the versions are {}",
            catalogue.versions().join(", ")
        )
    })?;
    let scope = engine.default_scope();
    let target = crate::setup::engine::EngineTarget {
        engine,
        scope: scope.clone(),
    };
    let current = crate::setup::Target::current(&target).await?;
    let request = cis::remedy::Request {
        log_group: CIS_LOG_GROUP.to_owned(),
        topic: CIS_TOPIC.to_owned(),
        subscribe: None,
        style: cis::remedy::Style::Literal,
        region: scope.region().name.clone(),
    };
    let remedy = cis::remedy::remedy(&benchmark, &request, &current).map_err(anyhow::Error::msg)?;
    let parsed = config::File::parse("the CIS pack", &remedy.file.to_toml())?;
    let changes = config::plan::plan(&parsed.file, &current, false);
    crate::setup::execute(&target, &parsed, &changes, &current).await?;
    tracing::info!(
        version = benchmark.version,
        log_group = CIS_LOG_GROUP,
        topic = CIS_TOPIC,
        "CIS monitoring controls: {} met already, {} installed ({}).",
        remedy.met.len(),
        remedy.added.len(),
        crate::setup::summary(&changes, true)
    );
    Ok(())
}

fn parse_region(name: &str) -> Result<&'static Region, String> {
    Region::named(name).ok_or_else(|| format!("'{name}' is not a region of any AWS partition"))
}

pub(crate) fn parse_account_id(id: &str) -> Result<String, String> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id.to_owned())
    } else {
        Err(format!("'{id}' is not an AWS account id (twelve digits)"))
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: Args) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRAILWATCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let parsed = args
        .config
        .as_deref()
        .map(crate::config_file::read)
        .transpose()?;
    // Flags, then the environment (both through clap), then the file, then the default.
    let region = match args.region {
        Some(region) => region,
        None => crate::config_file::region(parsed.as_ref())?,
    };
    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            args.data_dir.display()
        )
    })?;
    let (auth, generated) = if args.auth == "none" {
        tracing::warn!(
            "Authentication is off (--auth none): anyone who reaches the port can change everything."
        );
        (aws::Auth::None, None)
    } else {
        let (keys, generated) = credentials(&args.data_dir)?;
        (aws::Auth::SigV4(Arc::new(keys)), generated)
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let listening_url = format!("http://{addr}");
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| listening_url.clone())
        .trim_end_matches('/')
        .to_owned();

    let signing_key = SigningKey::load_or_create(&args.data_dir)
        .context("cannot load or create the SNS signing key")?;
    let mut config = Config::new(args.data_dir.clone(), &public_url);
    config.region = region;
    config.account_id = args.account_id.clone();
    if !args.regions.is_empty() {
        let names: Vec<String> = args.regions.iter().map(|r| r.name.clone()).collect();
        config.regions = Regions::only(&names)?;
    }
    config.endpoint_policy = EndpointPolicy {
        allow: args.allow_endpoint.clone(),
        deny: args.deny_endpoint.clone(),
    };
    let store = store::SqliteStore::open(&args.data_dir, &config.home())?;
    let (buckets, folder) = buckets(&args, region.name.as_str()).await?;
    let engine =
        Arc::new(Engine::new(config, Arc::new(store)).with_bucket_check(buckets.clone() as Arc<_>));
    let certificate = aws::Certificate {
        file_name: signing_key.cert_file_name().to_owned(),
        pem: signing_key.cert_pem().to_owned(),
    };
    let signing_cert_url = format!("{public_url}/{}", certificate.file_name);
    let state = aws::State::with_body_timeout(
        engine.clone(),
        auth,
        Some(certificate),
        Duration::from_secs(args.body_timeout),
    );
    let deliveries = WorkerLimits {
        in_flight: args.max_deliveries as usize,
        per_endpoint: (args.max_deliveries as usize).min(WorkerLimits::default().per_endpoint),
    };
    let limits = aws::server::Limits {
        max_connections: connection_cap(args.max_connections, deliveries.in_flight as u64)?,
        header_timeout: Duration::from_secs(args.header_timeout),
        write_timeout: Duration::from_secs(args.body_timeout),
    };
    let worker = Worker::new(
        engine.clone(),
        Arc::new(signing_key),
        &signing_cert_url,
        deliveries,
    )
    .context("cannot set up notification delivery")?;

    if let Some(parsed) = &parsed {
        set_up(&engine, parsed).await?;
    }
    if args.cis {
        install_cis(&engine, &args.cis_version).await?;
    }
    tokio::spawn(tick(engine.clone()));
    tokio::spawn(worker.run());
    let wake = Arc::new(tokio::sync::Notify::new());
    // Dropped when serving ends, which stops the folder's notifications.
    let _watcher = match &folder {
        Some(folder) => Some(
            folder
                .watch(wake.clone())
                .with_context(|| "cannot watch the --s3-dir folder for new files".to_owned())?,
        ),
        None => None,
    };
    let follower = ingest::follow::Follower::new(
        engine.clone(),
        buckets,
        wake,
        Duration::from_secs_f64(args.s3_poll_interval),
    );
    tokio::spawn(follower.run());

    crate::credentials::write_endpoint(&args.data_dir, &listening_url, &region.name)?;
    // The first line on standard output, for scripts that listen on port 0.
    println!("listening on {listening_url}");
    // The data directory's own key (not one given in the environment) is what `credentials`
    // prints.
    let has_key = args.auth != "none" && crate::keys::read_credentials(&args.data_dir)?.is_some();
    if let Some(c) = generated {
        // Printed once, on the start that created them.
        println!("export AWS_ACCESS_KEY_ID={}", c.access_key_id);
        println!("export AWS_SECRET_ACCESS_KEY={}", c.secret_access_key);
    }
    tracing::info!(
        %addr,
        data_dir = %args.data_dir.display(),
        region = %region,
        max_connections = limits.max_connections,
        "Serving."
    );
    if has_key {
        tracing::info!(
            "To point a terminal's AWS tools at this server: {}",
            crate::credentials::hint(&args.data_dir)
        );
    }
    aws::server::serve(listener, aws::router(state), limits, shutdown())
        .await
        .context("the server failed")?;
    tracing::info!("Stopped.");
    Ok(())
}

/// The connection cap: `wanted`, lowered to what the open-file limit leaves after the
/// descriptors the store and deliveries need (the soft limit is raised to the hard one
/// first). Without that reserve, clients holding connections could starve the store and
/// the delivery of notifications of file descriptors.
fn connection_cap(wanted: u64, deliveries: u64) -> anyhow::Result<usize> {
    let limit =
        rlimit::increase_nofile_limit(u64::MAX).context("cannot read the open-file limit")?;
    let reserved = RESERVED_DESCRIPTORS + 2 * deliveries;
    let available = limit.saturating_sub(reserved);
    if available < MIN_CONNECTIONS {
        bail!(
            "the open-file limit ({limit}) leaves too few descriptors for client connections: \
             {reserved} are kept for the store and {deliveries} deliveries; raise it (ulimit -n) \
             or lower --max-deliveries"
        );
    }
    if wanted > available {
        tracing::warn!(
            wanted,
            allowed = available,
            open_file_limit = limit,
            "The open-file limit allows fewer connections than --max-connections; serving fewer."
        );
    }
    Ok(wanted.clamp(1, available) as usize)
}

async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// The keys requests may be signed with: the first key (from the environment, or generated on
/// first start and kept in the data directory) and those added with `trailwatch keys add`.
/// Also gives the first key when this start generated it, so that it can be shown.
fn credentials(dir: &Path) -> anyhow::Result<(KeyRing, Option<StoredCredentials>)> {
    let id = std::env::var("TRAILWATCH_ACCESS_KEY_ID").ok();
    let secret = std::env::var("TRAILWATCH_SECRET_ACCESS_KEY").ok();
    let (env, generated) = match (id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => (
            Some(StoredCredentials {
                access_key_id,
                secret_access_key,
            }),
            None,
        ),
        (None, None) => {
            // A first key is generated for a data directory that has no key at all.
            let ring = KeyRing::open(dir, None)?;
            if ring.is_empty() {
                let (c, generated) = keys::first_key(dir)?;
                (None, generated.then_some(c))
            } else {
                (None, None)
            }
        }
        _ => {
            bail!("set both TRAILWATCH_ACCESS_KEY_ID and TRAILWATCH_SECRET_ACCESS_KEY, or neither")
        }
    };
    Ok((KeyRing::open(dir, env)?, generated))
}

async fn tick(engine: Arc<Engine>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for n in 0_u64.. {
        interval.tick().await;
        if let Err(e) = engine.tick().await {
            tracing::error!(error = %e, "Alarm evaluation failed.");
        }
        if n % HOUSEKEEPING_TICKS == 0
            && let Err(e) = engine.housekeeping().await
        {
            tracing::error!(error = %e, "Housekeeping failed.");
        }
    }
}
