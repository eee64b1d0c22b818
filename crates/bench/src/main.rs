//! `trailwatch-bench`: the server's speed, measured as a client sees it.
//!
//! Both benchmarks start `trailwatch serve` as its own process (a fresh data directory, SigV4
//! on) and drive it over loopback HTTP with signed requests, so what they measure is what a
//! user gets: the wire, authentication, the filter sets, the durable store and delivery.
//!
//! - `ingest`: PutLogEvents batches filled with real CloudTrail events up to the API's limits
//!   (1 MiB counting 26 bytes per event, 10,000 events), the 15 CIS filters active, each batch
//!   acknowledged only once durable. Reports events per second, the CPU each process used, and
//!   a baseline: the same batches inserted straight into SQLite with the same durability.
//! - `latency`: alarms tripped one at a time by one event each; the time from sending the
//!   PutLogEvents to the subscriber receiving the alarm's notification.
//!
//! The server measured is the `trailwatch` binary next to this one (both land in the same
//! target directory), or the one `--trailwatch` or `TRAILWATCH_BINARY` names. Cargo builds
//! only the package it is asked for, so build the server first:
//!
//! ```sh
//! cargo build --release -p trailwatch
//! cargo run --release -p trailwatch-bench -- ingest
//! ```

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::Parser;
use serde_json::{Value, json};

use client::SignedClient;

const KEY: &str = "AKIDTRAILWATCHBENCH0";
const SECRET: &str = "trailwatch-bench-secret-access-key-000000";
const REGION: &str = "us-east-1";
/// PutLogEvents limits.
const MAX_BATCH_BYTES: usize = 1_048_576;
const MAX_BATCH_EVENTS: usize = 10_000;
const EVENT_OVERHEAD: usize = 26;

/// Measure a trailwatch server: ingest throughput and alarm-notification latency.
///
/// Starts `trailwatch serve` on loopback with a fresh data directory and drives it with
/// signed requests; run from the repository root (it reads testdata/).
#[derive(Parser)]
#[command(name = "trailwatch-bench", version)]
struct Args {
    /// The `trailwatch` binary to measure [default: the `trailwatch` next to this executable].
    #[arg(long, global = true, env = "TRAILWATCH_BINARY", value_name = "PATH")]
    trailwatch: Option<PathBuf>,
    #[command(subcommand)]
    which: Which,
}

#[derive(clap::Subcommand)]
enum Which {
    /// Ingest throughput: PutLogEvents with real CloudTrail events, the 15 CIS filters active.
    Ingest(IngestArgs),
    /// Latency from PutLogEvents to the subscriber receiving the alarm notification.
    Latency(LatencyArgs),
    /// Backlog intake: a folder of CloudTrail delivery files (the real events of testdata
    /// repeated, each copy with eventIDs of its own) read by a trail into its log group with
    /// the 15 CIS filters, against `trailwatch replay` of the same folder with the same
    /// filters.
    Backlog(BacklogArgs),
    /// Writes a replay corpus: the real CloudTrail events of testdata repeated, as JSON lines,
    /// to a size, each copy with eventIDs of its own (so that replay counts each copy), for
    /// timing `trailwatch replay` and its peers with farm-bench.
    Corpus(CorpusArgs),
}

#[derive(clap::Args)]
struct CorpusArgs {
    /// Megabytes (10^6 bytes) to write, at least.
    #[arg(long, default_value_t = 120)]
    megabytes: u64,
    /// Compress with gzip (level 6, as CloudTrail's own files are).
    #[arg(long)]
    gzip: bool,
    /// The file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

#[derive(clap::Args)]
struct BacklogArgs {
    /// Megabytes (10^6 bytes) of event JSON to write, at least.
    #[arg(long, default_value_t = 100)]
    megabytes: u64,
    /// Events per delivery file.
    #[arg(long, default_value_t = 500)]
    per_file: usize,
    /// Give each file's events times within the five minutes a CloudTrail file covers, file
    /// after file from 2026-01-01, as a real backlog has them (without it the events keep the
    /// public samples' times, years apart, so each delivery meets hundreds of hours).
    #[arg(long)]
    delivered_times: bool,
}

#[derive(clap::Args)]
struct IngestArgs {
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent connections sending batches.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// CloudTrail events, one JSON object per line.
    #[arg(long, default_value = "testdata/cloudtrail/all_real_events.jsonl")]
    corpus: PathBuf,
    /// The CIS patterns (testdata/reference/cis-v5-patterns.json).
    #[arg(long, default_value = "testdata/reference/cis-v5-patterns.json")]
    patterns: PathBuf,
    /// Ingest without metric filters, to see what matching costs.
    #[arg(long)]
    no_filters: bool,
}

#[derive(clap::Args)]
struct LatencyArgs {
    /// Alarms, each tripped once by its own event.
    #[arg(long, default_value_t = 200)]
    alarms: usize,
    /// How the events come in: `put-log-events`; `folder`, a CloudTrail delivery file per
    /// event written into the folder a trail follows (`serve --s3-dir`); or `s3`, the same
    /// file put into the bucket of an S3-compatible server that a trail follows
    /// (`serve --s3-endpoint-url`). With a trail, at most 100 alarms: a trail has one log
    /// group, and a group at most 100 metric filters.
    #[arg(long, default_value = "put-log-events", value_parser = ["put-log-events", "folder", "s3"])]
    source: String,
    /// With `--source s3`: the S3-compatible server, e.g. moto's
    /// (`.venv-test/bin/moto_server -p 5000` and `http://127.0.0.1:5000`).
    #[arg(long, value_name = "URL", required_if_eq("source", "s3"))]
    s3_endpoint_url: Option<String>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trailwatch-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a benchmark.
fn run(args: Args) -> anyhow::Result<()> {
    if let Which::Corpus(a) = &args.which {
        return corpus(a);
    }
    let server = server_binary(args.trailwatch)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match args.which {
        Which::Ingest(a) => runtime.block_on(ingest(&server, a)),
        Which::Latency(a) => runtime.block_on(latency(&server, a)),
        Which::Backlog(a) => runtime.block_on(backlog(&server, a)),
        Which::Corpus(_) => Ok(()),
    }
}

/// Writes the corpus of `trailwatch-bench corpus`.
fn corpus(args: &CorpusArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let source = "testdata/cloudtrail/all_real_events.jsonl";
    let text = std::fs::read_to_string(source)
        .with_context(|| format!("cannot read {source} (run from the repository root)"))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut out: Box<dyn Write> = if args.gzip {
        Box::new(flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::default(),
        ))
    } else {
        Box::new(std::io::BufWriter::new(file))
    };
    let target = args.megabytes * 1_000_000;
    let mut written = 0u64;
    let mut round = 0u64;
    while written < target {
        for (i, line) in lines.iter().enumerate() {
            let line = copy_of(line, round, i);
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
            written += line.len() as u64 + 1;
        }
        round += 1;
    }
    out.flush()?;
    drop(out);
    println!(
        "wrote {} ({} events, {:.1} MB of JSON lines{})",
        args.out.display(),
        round * lines.len() as u64,
        written as f64 / 1e6,
        if args.gzip { ", gzip'd" } else { "" }
    );
    Ok(())
}

/// The `trailwatch` binary to start: the one named, else the one beside this executable,
/// where Cargo puts both (`target/release/`). Checked before any work, so a missing build
/// fails with advice rather than after the corpus is read.
fn server_binary(named: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match named {
        Some(path) => path,
        None => std::env::current_exe()
            .context("cannot find this executable's directory")?
            .with_file_name(format!("trailwatch{}", std::env::consts::EXE_SUFFIX)),
    };
    if !path.is_file() {
        bail!(
            "no trailwatch binary at {}: build it (`cargo build --release -p trailwatch`) or \
             name one with --trailwatch or TRAILWATCH_BINARY",
            path.display()
        );
    }
    Ok(path)
}

/// A `trailwatch serve` child process on a fresh data directory.
struct Server {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Server {
    fn start(exe: &Path) -> anyhow::Result<Server> {
        Server::start_with(exe, &[], &[], |_| Ok(()))
    }

    /// A server with extra arguments, `{dir}` in them standing for its temporary directory,
    /// which `prepare` gets first.
    fn start_with(
        exe: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
        prepare: impl FnOnce(&Path) -> std::io::Result<()>,
    ) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir()?;
        prepare(dir.path())?;
        let place = dir.path().to_string_lossy().into_owned();
        let mut child = Command::new(exe)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(extra.iter().map(|a| a.replace("{dir}", &place)))
            .envs(env.iter().copied())
            .env("TRAILWATCH_ACCESS_KEY_ID", KEY)
            .env("TRAILWATCH_SECRET_ACCESS_KEY", SECRET)
            .env("TRAILWATCH_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {} serve", exe.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first)?;
        let Some(url) = first.trim().strip_prefix("listening on ") else {
            bail!("unexpected first line from serve: {first:?}");
        };
        Ok(Server {
            url: url.to_owned(),
            child,
            dir,
        })
    }

    /// CPU seconds the server process has used (user + system), from /proc.
    fn cpu_seconds(&self) -> Option<f64> {
        process_cpu_seconds(&format!("/proc/{}/stat", self.child.id()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User + system CPU seconds of a process, from its `/proc/<pid>/stat`.
fn process_cpu_seconds(stat_path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // Fields after the command name (which may hold spaces) start at state; utime and stime
    // are fields 14 and 15 of the whole line.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(ticks / 100.0)
}

/// Sends signed AWS requests.
#[derive(Clone)]
struct Client {
    signed: SignedClient,
}

impl Client {
    fn new(url: &str) -> anyhow::Result<Client> {
        Ok(Client {
            signed: SignedClient::new(url, KEY, SECRET, REGION)?,
        })
    }

    /// An awsJson request (`target` like `Logs_20140328.PutLogEvents`), signed as the CLI signs.
    async fn call(&self, service: &str, target: &str, body: Vec<u8>) -> anyhow::Result<Value> {
        let content_type = if service == "logs" || service == "cloudtrail" {
            "application/x-amz-json-1.1"
        } else {
            "application/x-amz-json-1.0"
        };
        let text = self
            .signed
            .post(service, content_type, Some(target), body)
            .await?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn logs(&self, operation: &str, body: Value) -> anyhow::Result<Value> {
        self.call(
            "logs",
            &format!("Logs_20140328.{operation}"),
            body.to_string().into_bytes(),
        )
        .await
    }
}

/// Splits the corpus into batches filling PutLogEvents' limits.
fn batches(events: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut batch = Vec::new();
    let mut bytes = 0;
    for e in events {
        let size = e.len() + EVENT_OVERHEAD;
        if bytes + size > MAX_BATCH_BYTES || batch.len() == MAX_BATCH_EVENTS {
            out.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        bytes += size;
        batch.push(e.clone());
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    out
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A PutLogEvents body for `messages`, all stamped now.
fn put_body(group: &str, stream: &str, messages: &[String]) -> Vec<u8> {
    let ts = now_ms();
    let events: Vec<Value> = messages
        .iter()
        .map(|m| json!({"timestamp": ts, "message": m}))
        .collect();
    json!({"logGroupName": group, "logStreamName": stream, "logEvents": events})
        .to_string()
        .into_bytes()
}

fn read_corpus(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {} (run from the repository root)",
            path.display()
        )
    })?;
    Ok(text
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

async fn ingest(exe: &Path, args: IngestArgs) -> anyhow::Result<()> {
    let corpus = read_corpus(&args.corpus)?;
    let patterns: Value = serde_json::from_str(
        &std::fs::read_to_string(&args.patterns)
            .with_context(|| format!("cannot read {}", args.patterns.display()))?,
    )?;
    let controls = patterns["controls"]
        .as_object()
        .context("no controls in the patterns file")?;
    let batches = Arc::new(batches(&corpus));
    let per_batch = corpus.len() as f64 / batches.len() as f64;
    println!(
        "corpus: {} real CloudTrail events, {} batches of about {per_batch:.0} events (1 MiB each, counting 26 bytes per event)",
        corpus.len(),
        batches.len()
    );

    let baseline = sqlite_baseline(&batches)?;

    let server = Server::start(exe)?;
    let client = Client::new(&server.url)?;
    let group = "CloudTrail/DefaultLogGroup";
    client
        .logs("CreateLogGroup", json!({"logGroupName": group}))
        .await?;
    for (name, control) in controls.iter().filter(|_| !args.no_filters) {
        let pattern = control["pattern"].as_str().context("a pattern")?;
        client
            .logs(
                "PutMetricFilter",
                json!({
                    "logGroupName": group, "filterName": name, "filterPattern": pattern,
                    "metricTransformations": [{"metricName": name, "metricNamespace": "CISBenchmark", "metricValue": "1"}],
                }),
            )
            .await?;
    }
    for c in 0..args.connections {
        client
            .logs(
                "CreateLogStream",
                json!({"logGroupName": group, "logStreamName": format!("trail-{c}")}),
            )
            .await?;
    }

    // Bodies are built once, before the clock starts: the load generator should cost as
    // little as possible on a machine it shares with the server. Each request is still
    // signed as sent, as real clients sign.
    let bodies: Arc<Vec<Vec<Vec<u8>>>> = Arc::new(
        (0..args.connections)
            .map(|c| {
                batches
                    .iter()
                    .map(|b| put_body(group, &format!("trail-{c}"), b))
                    .collect()
            })
            .collect(),
    );
    let sent = Arc::new(AtomicU64::new(0));
    let bench_cpu_before = process_cpu_seconds("/proc/self/stat").unwrap_or(0.0);
    let server_cpu_before = server.cpu_seconds().unwrap_or(0.0);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..args.connections {
        let (client, batches, bodies, sent) = (
            client.clone(),
            batches.clone(),
            bodies.clone(),
            sent.clone(),
        );
        tasks.spawn(async move {
            let mut i = c;
            // At least one pass over the whole corpus, then until the time is up.
            while i < batches.len() || Instant::now() < deadline {
                let n = i % batches.len();
                client
                    .call("logs", "Logs_20140328.PutLogEvents", bodies[c][n].clone())
                    .await?;
                sent.fetch_add(batches[n].len() as u64, Ordering::Relaxed);
                i += args.connections;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let bench_cpu = process_cpu_seconds("/proc/self/stat").unwrap_or(0.0) - bench_cpu_before;
    let server_cpu = server.cpu_seconds().unwrap_or(0.0) - server_cpu_before;
    let events = sent.load(Ordering::Relaxed);
    let rate = events as f64 / elapsed;

    // The metrics the CIS filters published, as a check that the filters ran.
    let matched: f64 = {
        let stats = client
            .call(
                "monitoring",
                "GraniteServiceVersion20100801.ListMetrics",
                json!({"Namespace": "CISBenchmark"})
                    .to_string()
                    .into_bytes(),
            )
            .await?;
        stats["Metrics"].as_array().map_or(0, Vec::len) as f64
    };
    let total_cpu = bench_cpu + server_cpu;
    println!(
        "trailwatch serve: {events} events in {elapsed:.1} s = {rate:.0} events/s ({:.1} MB/s of messages) over {} connections",
        rate * corpus.iter().map(String::len).sum::<usize>() as f64 / corpus.len() as f64 / 1e6,
        args.connections
    );
    println!(
        "CPU: server {server_cpu:.1} s, load generator {bench_cpu:.1} s ({:.0}% of the CPU used; {:.0}% of the machine's {} cores over the run)",
        100.0 * bench_cpu / total_cpu.max(f64::MIN_POSITIVE),
        100.0 * total_cpu / (elapsed * cores() as f64),
        cores()
    );
    println!("CIS metrics with datapoints: {matched:.0} (filters matched events)");
    println!(
        "baseline, SQLite alone: {:.0} events/s (the same batches, one transaction each, WAL, synchronous=FULL, one index per event)",
        baseline
    );
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Raw SQLite inserts of the same batches with the same durability: the floor of what any
/// durable ingest on this disk costs.
fn sqlite_baseline(batches: &[Vec<String>]) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let conn = rusqlite::Connection::open(dir.path().join("baseline.db"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE log_events (id INTEGER PRIMARY KEY, stream_name TEXT NOT NULL,
             timestamp_ms INTEGER NOT NULL, message TEXT NOT NULL);
         CREATE INDEX by_stream ON log_events (stream_name, timestamp_ms, id);",
    )?;
    let start = Instant::now();
    let mut events = 0usize;
    let deadline = start + Duration::from_secs(3);
    let mut i = 0;
    while Instant::now() < deadline {
        let batch = &batches[i % batches.len()];
        let tx = conn.unchecked_transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO log_events (stream_name, timestamp_ms, message) VALUES ('s', ?1, ?2)",
            )?;
            let ts = now_ms();
            for m in batch {
                insert.execute(rusqlite::params![ts, m])?;
            }
        }
        tx.commit()?;
        events += batch.len();
        i += 1;
    }
    Ok(events as f64 / start.elapsed().as_secs_f64())
}

async fn latency(exe: &Path, args: LatencyArgs) -> anyhow::Result<()> {
    let folder = args.source == "folder";
    let s3 = args
        .s3_endpoint_url
        .as_deref()
        .filter(|_| args.source == "s3");
    let trail = folder || s3.is_some();
    anyhow::ensure!(
        !trail || args.alarms <= 100,
        "a trail delivers to one log group, which holds at most 100 metric filters: --alarms 100 at most"
    );
    let server = if folder {
        Server::start_with(exe, &["--s3-dir", "{dir}/buckets"], &[], |dir| {
            std::fs::create_dir_all(dir.join("buckets/bench-trail"))
        })?
    } else if let Some(url) = s3 {
        // The server reads the bucket as any S3 client: with credentials (any, for moto).
        let env = [
            ("AWS_ACCESS_KEY_ID", "bench"),
            ("AWS_SECRET_ACCESS_KEY", "bench"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        Server::start_with(exe, &["--s3-endpoint-url", url], &env, |_| Ok(()))?
    } else {
        Server::start(exe)?
    };
    let buckets = server.dir.path().join("buckets");
    let client = Client::new(&server.url)?;

    // The subscriber: records when each alarm's notification arrives.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let confirm_client = client.signed.http().clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let tx = tx.clone();
            let confirm_client = confirm_client.clone();
            async move {
                let arrived = Instant::now();
                let message: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                match message["Type"].as_str() {
                    Some("SubscriptionConfirmation") => {
                        if let Some(url) = message["SubscribeURL"].as_str() {
                            let _ = confirm_client.get(url).send().await;
                        }
                        let _ = tx.send(("confirmed".to_owned(), arrived));
                    }
                    Some("Notification") => {
                        let inner: Value = message["Message"]
                            .as_str()
                            .and_then(|m| serde_json::from_str(m).ok())
                            .unwrap_or(Value::Null);
                        if let Some(name) = inner["AlarmName"].as_str() {
                            let _ = tx.send((name.to_owned(), arrived));
                        }
                    }
                    _ => {}
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let topic = sns(&client, &[("Action", "CreateTopic"), ("Name", "bench")]).await?;
    let topic_arn = between(&topic, "<TopicArn>", "</TopicArn>").context("TopicArn")?;
    sns(
        &client,
        &[
            ("Action", "Subscribe"),
            ("TopicArn", &topic_arn),
            ("Protocol", "http"),
            ("Endpoint", &hook),
        ],
    )
    .await?;
    let (what, _) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await?
        .context("no confirmation")?;
    anyhow::ensure!(what == "confirmed", "expected the confirmation first");

    // A log group holds at most 100 metric filters: one group per hundred alarms.
    let group_of = |i: usize| format!("bench-{}", i / 100);
    for g in 0..args.alarms.div_ceil(100) {
        let group = group_of(g * 100);
        client
            .logs("CreateLogGroup", json!({"logGroupName": group}))
            .await?;
        client
            .logs(
                "CreateLogStream",
                json!({"logGroupName": group, "logStreamName": "s"}),
            )
            .await?;
    }
    for i in 0..args.alarms {
        let name = format!("alarm-{i:04}");
        let group = group_of(i);
        client
            .logs(
                "PutMetricFilter",
                json!({
                    "logGroupName": group, "filterName": name,
                    "filterPattern": format!("{{ $.alarm = \"{name}\" }}"),
                    "metricTransformations": [{"metricName": name, "metricNamespace": "Bench", "metricValue": "1"}],
                }),
            )
            .await?;
        client
            .call(
                "monitoring",
                "GraniteServiceVersion20100801.PutMetricAlarm",
                json!({
                    "AlarmName": name, "MetricName": name, "Namespace": "Bench", "Statistic": "Sum",
                    "Period": 60, "EvaluationPeriods": 1, "Threshold": 1,
                    "ComparisonOperator": "GreaterThanOrEqualToThreshold", "AlarmActions": [topic_arn],
                })
                .to_string()
                .into_bytes(),
            )
            .await?;
    }

    let http = client.signed.http().clone();
    if let Some(url) = s3 {
        // moto and its kind take unsigned requests: the bucket, then the objects.
        let made = http.put(format!("{url}/bench-trail")).send().await?;
        anyhow::ensure!(
            made.status().is_success(),
            "cannot create the bucket: {}",
            made.status()
        );
    }
    if trail {
        trail_into(&client, &group_of(0)).await?;
    }
    let mut latencies = Vec::with_capacity(args.alarms);
    for i in 0..args.alarms {
        let name = format!("alarm-{i:04}");
        let sent = if folder {
            let (key, bytes) = delivery_file(&name, i)?;
            let path = buckets.join("bench-trail").join(&key);
            let folder = path.parent().context("a folder")?;
            std::fs::create_dir_all(folder)?;
            let part = folder.join(".bench.part");
            std::fs::write(&part, bytes)?;
            std::fs::rename(&part, &path)?;
            Instant::now()
        } else if let Some(url) = s3 {
            let (key, bytes) = delivery_file(&name, i)?;
            let put = http
                .put(format!("{url}/bench-trail/{key}"))
                .body(bytes)
                .send()
                .await?;
            anyhow::ensure!(put.status().is_success(), "PutObject: {}", put.status());
            Instant::now()
        } else {
            let event = json!({"alarm": name, "eventName": "PutRolePolicy"}).to_string();
            let sent = Instant::now();
            client
                .call(
                    "logs",
                    "Logs_20140328.PutLogEvents",
                    put_body(&group_of(i), "s", &[event]),
                )
                .await?;
            sent
        };
        loop {
            let (got, arrived) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .with_context(|| format!("no notification for {name}"))?
                .context("subscriber closed")?;
            if got == name {
                latencies.push(arrived.duration_since(sent));
                break;
            }
        }
    }
    latencies.sort();
    let pick = |q: f64| {
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1000.0
    };
    let from = if folder {
        "CloudTrail delivery file written into a followed folder"
    } else if s3.is_some() {
        "CloudTrail delivery file put into a followed S3 bucket"
    } else {
        "PutLogEvents"
    };
    println!(
        "{from} -> alarm notification at the subscriber, {} alarms tripped one at a time:",
        latencies.len()
    );
    println!(
        "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pick(0.50),
        pick(0.90),
        pick(0.99),
        pick(1.0)
    );
    Ok(())
}

/// Copy `round` of the corpus's event `i`, a new event with nothing else changed: an eventID
/// in CloudTrail's form (a lower-case UUID) becomes another one (its bits mixed with the
/// round's, version and variant kept; round 0 is the event as it is), any other eventID takes
/// the round as a prefix, and an event without one is given one.
fn copy_of(line: &str, round: u64, i: usize) -> String {
    let Some(at) = line.find("\"eventID\":\"") else {
        return line.replacen('{', &format!("{{\"eventID\":\"{round}-{i}\","), 1);
    };
    let (head, rest) = line.split_at(at + "\"eventID\":\"".len());
    let uuid = rest
        .get(..37)
        .and_then(|id| id.strip_suffix('"'))
        .filter(|id| !id.bytes().any(|c| c.is_ascii_uppercase()))
        .and_then(|id| uuid::Uuid::try_parse(id).ok());
    match uuid {
        Some(id) => {
            let copy = uuid::Uuid::from_u128(id.as_u128() ^ round_mask(round));
            format!("{head}{}{}", copy.hyphenated(), &rest[36..])
        }
        None => format!("{head}{round}-{rest}"),
    }
}

/// Bits that make round `round`'s copies of UUIDs other UUIDs: none for round 0, and for the
/// others a mix of the round's number (SplitMix64) that leaves the version and variant alone.
fn round_mask(round: u64) -> u128 {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    if round == 0 {
        return 0;
    }
    let bits = (u128::from(mix(round)) << 64) | u128::from(mix(round ^ 0x9e37_79b9_7f4a_7c15));
    bits & !((0xf << 76) | (0x3 << 62))
}

/// The corpus's events, each copy with eventIDs of its own (see [`copy_of`]), over and over,
/// until `bytes` of JSON. The corpus repeats a few of its events (the same event in two public
/// samples, or samples' made-up ids such as "1"); a copy repeats them too, as CloudTrail
/// sometimes delivers an event twice.
fn copied_events(lines: &[String], bytes: u64) -> Vec<String> {
    let mut out = Vec::new();
    let mut written = 0u64;
    let mut round = 0u64;
    while written < bytes {
        for (i, line) in lines.iter().enumerate() {
            let line = copy_of(line, round, i);
            written += line.len() as u64;
            out.push(line);
        }
        round += 1;
    }
    out
}

/// `event` with its `eventTime` set to `seconds` since the epoch.
fn with_event_time(event: &str, seconds: i64) -> anyhow::Result<String> {
    let key = "\"eventTime\":\"";
    let start = event.find(key).context("an eventTime")? + key.len();
    let end = start + event[start..].find('"').context("an eventTime's end")?;
    let time = time::OffsetDateTime::from_unix_timestamp(seconds)?.format(
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"),
    )?;
    Ok(format!("{}{time}{}", &event[..start], &event[end..]))
}

async fn backlog(exe: &Path, args: BacklogArgs) -> anyhow::Result<()> {
    use std::io::Write as _;
    // The corpus's events that a trail delivers: those with an ISO-8601 eventTime (some
    // public samples have it blanked out).
    let corpus: Vec<String> = read_corpus(Path::new("testdata/cloudtrail/all_real_events.jsonl"))?
        .into_iter()
        .filter(|line| {
            serde_json::from_str::<Value>(line).is_ok_and(|e| {
                e["eventTime"].as_str().is_some_and(|t| {
                    t.len() >= 20
                        && t.as_bytes()[10] == b'T'
                        && t.as_bytes()[..4].iter().all(u8::is_ascii_digit)
                })
            })
        })
        .collect();
    let mut events = copied_events(&corpus, args.megabytes * 1_000_000);
    if args.delivered_times {
        let per_file = args.per_file.max(1);
        for (n, event) in events.iter_mut().enumerate() {
            // File f covers [f × 5 min, (f + 1) × 5 min) after 2026-01-01T00:00:00Z.
            let (file, place) = (n / per_file, n % per_file);
            let seconds = 1_767_225_600 + 300 * file as i64 + (300 * place / per_file) as i64;
            *event = with_event_time(event, seconds)?;
        }
    }
    let json_bytes: usize = events.iter().map(String::len).sum();
    let server = Server::start_with(exe, &["--s3-dir", "{dir}/buckets"], &[], |dir| {
        std::fs::create_dir_all(dir.join("buckets/bench-trail"))
    })?;
    let bucket = server.dir.path().join("buckets/bench-trail");
    let region_folder = bucket.join(format!(
        "AWSLogs/000000000000/CloudTrail/{REGION}/2026/01/01"
    ));
    std::fs::create_dir_all(&region_folder)?;
    let mut stored = 0u64;
    for (n, chunk) in events.chunks(args.per_file.max(1)).enumerate() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"{\"Records\":[")?;
        gz.write_all(chunk.join(",").as_bytes())?;
        gz.write_all(b"]}")?;
        let bytes = gz.finish()?;
        stored += bytes.len() as u64;
        let name = format!("000000000000_CloudTrail_{REGION}_20260101T0000Z_{n:06}.json.gz");
        std::fs::write(region_folder.join(name), bytes)?;
    }
    // The last file, in key order: read last, so its event's arrival says the backlog is in.
    let sentinel = r#"{"eventVersion":"1.08","eventID":"bench-sentinel","eventTime":"2030-01-01T00:00:00Z","eventName":"GetCallerIdentity","eventSource":"sts.amazonaws.com","awsRegion":"us-east-1"}"#;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(format!("{{\"Records\":[{sentinel}]}}").as_bytes())?;
    std::fs::write(
        region_folder.join(format!(
            "000000000000_CloudTrail_{REGION}_20260101T0000Z_zzzzzz.json.gz"
        )),
        gz.finish()?,
    )?;
    const SENTINEL_MS: i64 = 1_893_456_000_000;
    let files = events.len().div_ceil(args.per_file.max(1));
    println!(
        "backlog: {files} delivery files, {} events, {:.1} MB of JSON, {:.1} MB gzip'd",
        events.len(),
        json_bytes as f64 / 1e6,
        stored as f64 / 1e6
    );

    let client = Client::new(&server.url)?;
    let group = "CloudTrail/DefaultLogGroup";
    client
        .logs("CreateLogGroup", json!({"logGroupName": group}))
        .await?;
    let patterns: Value = serde_json::from_str(&std::fs::read_to_string(
        "testdata/reference/cis-v5-patterns.json",
    )?)?;
    for (name, control) in patterns["controls"].as_object().context("controls")? {
        client
            .logs(
                "PutMetricFilter",
                json!({
                    "logGroupName": group, "filterName": name,
                    "filterPattern": control["pattern"].as_str().context("a pattern")?,
                    "metricTransformations": [{"metricName": name, "metricNamespace": "CISBenchmark", "metricValue": "1"}],
                }),
            )
            .await?;
    }
    let cpu_before = server.cpu_seconds();
    let start = Instant::now();
    trail_into(&client, group).await?;
    // Done when the last file's event is in.
    let held = loop {
        let streams = client
            .logs("DescribeLogStreams", json!({"logGroupName": group}))
            .await?;
        let list = streams["logStreams"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if list
            .iter()
            .any(|s| s["lastEventTimestamp"].as_i64() == Some(SENTINEL_MS))
        {
            break list
                .iter()
                .filter_map(|s| s["storedBytes"].as_u64())
                .sum::<u64>();
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(3600),
            "the backlog was not read within an hour"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let intake = start.elapsed().as_secs_f64();
    println!(
        "stored {:.1} MB of the {:.1} MB of JSON (events over 256 KB are not sent to CloudWatch Logs)",
        held as f64 / 1e6,
        json_bytes as f64 / 1e6
    );
    // The intake's: not the start's (its first key and SNS signing key).
    let cpu = server
        .cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);

    let start = Instant::now();
    let replay = Command::new(exe)
        .args(["replay", "--config", "testdata/config/cis.toml"])
        .arg(&bucket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    anyhow::ensure!(replay.success(), "trailwatch replay failed");
    let replayed = start.elapsed().as_secs_f64();
    let rate = |s: f64| json_bytes as f64 / 1e6 / s;
    println!(
        "trail intake into the log group, 15 CIS filters: {intake:.2} s, {:.0} MB/s of JSON, {:.0} events/s{}",
        rate(intake),
        events.len() as f64 / intake,
        cpu.map(|c| format!(", server CPU {c:.2} s"))
            .unwrap_or_default()
    );
    println!(
        "trailwatch replay --config cis.toml of the same folder: {replayed:.2} s, {:.0} MB/s",
        rate(replayed)
    );
    println!("intake / replay throughput: {:.2}", replayed / intake);
    Ok(())
}

/// A trail following bucket `bench-trail` into `group`, logging.
async fn trail_into(client: &Client, group: &str) -> anyhow::Result<()> {
    let target = |op: &str| format!("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.{op}");
    let created = client
        .call(
            "cloudtrail",
            &target("CreateTrail"),
            json!({
                "Name": "bench", "S3BucketName": "bench-trail",
                "CloudWatchLogsLogGroupArn": format!("arn:aws:logs:{REGION}:000000000000:log-group:{group}:*"),
                "CloudWatchLogsRoleArn": "arn:aws:iam::000000000000:role/bench",
            })
            .to_string()
            .into_bytes(),
        )
        .await?;
    anyhow::ensure!(created["TrailARN"].is_string(), "CreateTrail: {created}");
    client
        .call(
            "cloudtrail",
            &target("StartLogging"),
            json!({"Name": "bench"}).to_string().into_bytes(),
        )
        .await?;
    Ok(())
}

/// A CloudTrail delivery file (gzip'd `{"Records": [...]}`) holding one event that trips alarm
/// `name`, and the key CloudTrail would give it.
fn delivery_file(name: &str, n: usize) -> anyhow::Result<(String, Vec<u8>)> {
    use std::io::Write as _;
    let now = time::OffsetDateTime::now_utc();
    let day = now.format(time::macros::format_description!("[year]/[month]/[day]"))?;
    let stamp = now.format(time::macros::format_description!(
        "[year][month][day]T[hour][minute]Z"
    ))?;
    let event_time = now.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))?;
    let key = format!(
        "AWSLogs/000000000000/CloudTrail/{REGION}/{day}/000000000000_CloudTrail_{REGION}_{stamp}_bench{n:05}.json.gz"
    );
    let event = json!({
        "eventVersion": "1.08", "eventID": format!("bench-{n}"), "eventTime": event_time,
        "eventName": "PutRolePolicy", "eventSource": "iam.amazonaws.com", "alarm": name,
        "awsRegion": REGION, "recipientAccountId": "000000000000", "eventCategory": "Management",
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json!({ "Records": [event] }).to_string().as_bytes())?;
    Ok((key, gz.finish()?))
}

/// An awsQuery SNS call; returns the XML reply.
async fn sns(client: &Client, params: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Version", "2010-03-31");
    for (k, v) in params {
        form.append_pair(k, v);
    }
    client
        .signed
        .post(
            "sns",
            "application/x-www-form-urlencoded; charset=utf-8",
            None,
            form.finish().into_bytes(),
        )
        .await
}

fn between(text: &str, open: &str, close: &str) -> Option<String> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(text[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_new_events_with_ids_in_cloudtrails_form() {
        let event =
            r#"{"eventID":"6c1eed73-00ee-4810-8009-c9ce5990c100","eventName":"PutRolePolicy"}"#;
        assert_eq!(copy_of(event, 0, 7), event);
        let ids: Vec<String> = (1..1000)
            .map(|round| {
                let copy = copy_of(event, round, 7);
                let value: serde_json::Value = serde_json::from_str(&copy).expect("a copy is JSON");
                assert_eq!(value["eventName"], "PutRolePolicy");
                value["eventID"].as_str().expect("an eventID").to_owned()
            })
            .collect();
        for id in &ids {
            let uuid = uuid::Uuid::try_parse(id).expect("a UUID");
            assert_eq!(uuid.hyphenated().to_string(), *id, "lower-case, hyphenated");
            assert_eq!(uuid.get_version_num(), 4);
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
        }
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        // Other ids take the round as a prefix; an event without one is given one.
        assert_eq!(
            copy_of(r#"{"eventID":"policy-change-1"}"#, 3, 7),
            r#"{"eventID":"3-policy-change-1"}"#
        );
        assert_eq!(
            copy_of(r#"{"eventName":"X"}"#, 3, 7),
            r#"{"eventID":"3-7","eventName":"X"}"#
        );
    }
}
