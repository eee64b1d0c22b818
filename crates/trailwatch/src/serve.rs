//! `trailwatch serve`: the AWS-compatible server, its alarm tick and its delivery worker.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use engine::outbox::{Attempt, Delivery, MessageKind};
use engine::{Config, Engine};
use notify::{
    DeliveryHeaders, DeliveryOutcome, Envelope, EnvelopeKind, RetryPolicy, SignatureVersion,
    SigningKey,
};

/// How often alarms are re-evaluated for time passing (closed periods, missing data). Data
/// arriving re-evaluates its alarms at once; the tick only catches what time alone changes.
const TICK: Duration = Duration::from_secs(10);
/// Messages taken from the outbox per round.
const DELIVERY_BATCH: usize = 64;
/// File in the data directory holding generated credentials.
const CREDENTIALS_FILE: &str = "credentials.json";

/// Arguments of `trailwatch serve`.
#[derive(clap::Args)]
pub struct Args {
    /// Address and port to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:4566")]
    listen: SocketAddr,
    /// Directory for the database, keys and certificates.
    #[arg(long, default_value = "./trailwatch-data")]
    data_dir: PathBuf,
    /// Region of ARNs, SigV4 scopes and notifications.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Account id of ARNs.
    #[arg(long, default_value = "000000000000")]
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
        (aws::Auth::SigV4(keys), generated)
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
    config.region = args.region.clone();
    config.account_id = args.account_id.clone();
    let engine = Arc::new(Engine::open(config)?);
    let certificate = aws::Certificate {
        file_name: signing_key.cert_file_name().to_owned(),
        pem: signing_key.cert_pem().to_owned(),
    };
    let signing_cert_url = format!("{public_url}/{}", certificate.file_name);
    let state = aws::State::new(engine.clone(), auth, Some(certificate));

    tokio::spawn(tick(engine.clone()));
    tokio::spawn(deliver(
        engine.clone(),
        Arc::new(signing_key),
        signing_cert_url,
    ));

    // The first line on standard output, for scripts that listen on port 0.
    println!("listening on {listening_url}");
    if let Some(c) = generated {
        // Printed once, on the start that created them.
        println!("export AWS_ACCESS_KEY_ID={}", c.access_key_id);
        println!("export AWS_SECRET_ACCESS_KEY={}", c.secret_access_key);
    }
    tracing::info!(%addr, data_dir = %args.data_dir.display(), region = %args.region, "Serving.");
    axum::serve(listener, aws::router(state))
        .with_graceful_shutdown(shutdown())
        .await
        .context("the server failed")?;
    tracing::info!("Stopped.");
    Ok(())
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

/// The key pair requests must be signed with: from the environment, or generated on first
/// start and kept in the data directory.
/// Also gives the credentials when this start generated them, so they can be shown.
fn credentials(dir: &Path) -> anyhow::Result<(HashMap<String, String>, Option<StoredCredentials>)> {
    let id = std::env::var("TRAILWATCH_ACCESS_KEY_ID").ok();
    let secret = std::env::var("TRAILWATCH_SECRET_ACCESS_KEY").ok();
    let (c, generated) = match (id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => (
            StoredCredentials {
                access_key_id,
                secret_access_key,
            },
            false,
        ),
        (None, None) => stored_credentials(dir)?,
        _ => {
            bail!("set both TRAILWATCH_ACCESS_KEY_ID and TRAILWATCH_SECRET_ACCESS_KEY, or neither")
        }
    };
    let keys = HashMap::from([(c.access_key_id.clone(), c.secret_access_key.clone())]);
    Ok((keys, generated.then_some(c)))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredCredentials {
    access_key_id: String,
    secret_access_key: String,
}

fn stored_credentials(dir: &Path) -> anyhow::Result<(StoredCredentials, bool)> {
    let path = dir.join(CREDENTIALS_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let c: StoredCredentials = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid", path.display()))?;
        return Ok((c, false));
    }
    // Access key ids are 20 upper-case alphanumerics, secrets 40 characters, as on AWS.
    let random = || uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    let c = StoredCredentials {
        access_key_id: format!("TW{}", &random()[..18]),
        secret_access_key: format!("{}{}", random(), &random()[..8]),
    };
    write_private(&path, &serde_json::to_string_pretty(&c)?)?;
    Ok((c, true))
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

async fn tick(engine: Arc<Engine>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(e) = engine.tick().await {
            tracing::error!(error = %e, "Alarm evaluation failed.");
        }
    }
}

/// The outbox worker: delivers due messages, each in its own task so that a slow endpoint
/// delays only its own messages, then sleeps until new ones are committed, a delivery ends, or
/// the next retry is due.
async fn deliver(engine: Arc<Engine>, key: Arc<SigningKey>, signing_cert_url: String) {
    let client = match notify::http_client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "Cannot build the HTTP client; notifications will not be delivered.");
            return;
        }
    };
    let signal = engine.outbox_signal();
    let policy = Arc::new(RetryPolicy::default());
    let in_flight: Arc<std::sync::Mutex<HashSet<i64>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let due = match engine.due_deliveries(DELIVERY_BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "Cannot read the outbox.");
                Vec::new()
            }
        };
        let only_in_flight = !due.is_empty();
        let mut started = 0;
        for d in due {
            if !in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(d.id)
            {
                continue;
            }
            started += 1;
            let (engine, client, key, url, policy, in_flight) = (
                engine.clone(),
                client.clone(),
                key.clone(),
                signing_cert_url.clone(),
                policy.clone(),
                in_flight.clone(),
            );
            tasks.spawn(async move {
                let public = engine.config().public_url.clone();
                let outcome = attempt(&client, &key, &url, &public, &d).await;
                let next = next_attempt(&engine, &policy, &d, outcome);
                if let Err(e) = engine.delivery_attempted(d.id, next).await {
                    tracing::error!(error = %e, "Cannot record a delivery.");
                }
                in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&d.id);
            });
        }
        if started > 0 {
            continue;
        }
        let mut wait = match engine.next_delivery_ms().await {
            Ok(Some(at)) => Duration::from_millis((at - engine.now_ms()).clamp(0, 60_000) as u64),
            _ => Duration::from_secs(60),
        };
        if only_in_flight {
            // Everything due is being delivered; its task's end wakes us.
            wait = wait.max(Duration::from_secs(1));
        }
        tokio::select! {
            _ = signal.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}

async fn attempt(
    client: &notify::Client,
    key: &SigningKey,
    signing_cert_url: &str,
    public_url: &str,
    d: &Delivery,
) -> DeliveryOutcome {
    let subscribe_url = d
        .token
        .as_deref()
        .map(|t| notify::subscribe_url(public_url, &d.topic_arn, t))
        .unwrap_or_default();
    let unsubscribe_url = notify::unsubscribe_url(public_url, &d.subscription_arn);
    let token = d.token.as_deref().unwrap_or_default();
    let kind = match d.kind {
        MessageKind::SubscriptionConfirmation => EnvelopeKind::SubscriptionConfirmation {
            token,
            subscribe_url: &subscribe_url,
        },
        MessageKind::UnsubscribeConfirmation => EnvelopeKind::UnsubscribeConfirmation {
            token,
            subscribe_url: &subscribe_url,
        },
        MessageKind::Notification => EnvelopeKind::Notification {
            subject: d.subject.as_deref(),
            unsubscribe_url: &unsubscribe_url,
            message_attributes: d.message_attributes.as_deref(),
        },
    };
    let envelope = Envelope {
        kind,
        message_id: &d.message_id,
        topic_arn: &d.topic_arn,
        message: &d.message,
        timestamp: UNIX_EPOCH + Duration::from_millis(d.timestamp_ms.max(0) as u64),
        signature_version: if d.signature_version == "2" {
            SignatureVersion::V2
        } else {
            SignatureVersion::V1
        },
        signing_cert_url,
    };
    let mut headers = DeliveryHeaders::for_envelope(&envelope, Some(&d.subscription_arn));
    // Raw delivery sends notifications as the bare message; confirmations keep their envelope.
    let body = if d.raw && d.kind == MessageKind::Notification {
        headers.raw_delivery = true;
        d.message.clone()
    } else {
        envelope.to_signed_json(key)
    };
    notify::deliver(client, &d.endpoint, headers, body).await
}

fn next_attempt(
    engine: &Engine,
    policy: &RetryPolicy,
    d: &Delivery,
    outcome: DeliveryOutcome,
) -> Attempt {
    match outcome {
        DeliveryOutcome::Delivered { status } => {
            tracing::info!(endpoint = %d.endpoint, kind = d.kind.as_str(), status, "Delivered.");
            Attempt::Delivered
        }
        DeliveryOutcome::Rejected { error } => {
            tracing::warn!(endpoint = %d.endpoint, error = %error, "Delivery impossible; dropped.");
            Attempt::GaveUp(error)
        }
        DeliveryOutcome::Failed { error, .. } => {
            let retry = (d.attempts + 1) as u32;
            match policy.delay_before_retry(retry) {
                Some(delay) => {
                    tracing::warn!(endpoint = %d.endpoint, error = %error, retry, "Delivery failed; will retry.");
                    Attempt::RetryAt(engine.now_ms() + delay.as_millis() as i64, error)
                }
                None => {
                    tracing::warn!(endpoint = %d.endpoint, error = %error, "Delivery failed; retries exhausted.");
                    Attempt::GaveUp(error)
                }
            }
        }
    }
}
