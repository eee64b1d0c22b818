//! `trailwatch replay`: CloudTrail archives through a configuration's metric filters and alarms
//! (or ad-hoc filters), on a clock driven by the events' times, with a summary of what each
//! filter counted and every alarm transition that would have fired.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use engine::replay::{Batch, EventRef, Owned};
use engine::scope::{Region, Scope};
use engine::{Engine, ManualClock};
use ingest::{Event, Malformed, Skip, Visitor};
use serde_json::{Value, json};

use crate::setup::{self, engine::EngineTarget};

/// Arguments of `trailwatch replay`.
#[derive(clap::Args)]
pub struct Args {
    /// A configuration file: its log groups, metric filters, alarms and topics are replayed.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A metric filter counting the events its pattern matches, as NAME=PATTERN (repeatable).
    #[arg(long = "metric-filter", value_name = "NAME=PATTERN", value_parser = parse_filter)]
    metric_filters: Vec<(String, String)>,
    /// Print the summary as one JSON object on standard output.
    #[arg(long)]
    json: bool,
    /// CloudTrail files or folders (an S3 delivery folder, gzip or plain files, Records
    /// documents, JSON arrays, JSON lines), or - for standard input.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

fn parse_filter(spec: &str) -> Result<(String, String), String> {
    match spec.split_once('=') {
        Some((name, pattern)) if !name.is_empty() => Ok((name.to_owned(), pattern.to_owned())),
        _ => Err(format!("'{spec}' is not NAME=PATTERN")),
    }
}

/// The log group and namespace of `--metric-filter` filters.
const AD_HOC: &str = "trailwatch-replay";

/// A progress bar on standard error when it is a terminal: bytes read of the total (when it is
/// known: not for standard input), rate and time left, and the events read.
fn progress(paths: &[PathBuf]) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = match ingest::stored_bytes(paths) {
        Some(total) => indicatif::ProgressBar::new(total).with_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} {bytes_per_sec}, {eta} left, {msg}",
            )
            .ok()?,
        ),
        None => indicatif::ProgressBar::new_spinner().with_style(
            indicatif::ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec}, {msg}")
                .ok()?,
        ),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    Some(bar)
}

/// Malformed input is told as it is found, up to this many times; the summary counts all.
const TOLD: u64 = 20;

/// Work for the replay's workers: content read from the archives, or an event read already.
enum Work {
    Content {
        content: ingest::Content,
        /// Events read, for the progress bar.
        events: Arc<AtomicU64>,
    },
    Event(Owned),
    /// Malformed input met by the reading thread (a file that cannot be opened), told in its
    /// place among the workers'.
    Malformed(Malformed),
}

/// Hands a batch's events to the replay, and what is not an event to `note`.
struct Reading<'a> {
    event: &'a mut dyn FnMut(EventRef<'_>),
    note: &'a mut dyn FnMut(Malformed),
    events: u64,
}

impl Visitor for Reading<'_> {
    fn event(&mut self, event: &Event<'_>) {
        let key = event.key();
        self.events += 1;
        (self.event)(EventRef {
            json: event.json,
            event_id: key.event_id.as_deref(),
            time_ms: key
                .event_time
                .as_deref()
                .and_then(engine::format::event_time_ms),
        });
    }

    fn malformed(&mut self, problem: Malformed) {
        (self.note)(problem);
    }

    fn skipped(&mut self, _path: &str, _why: Skip) {
        // Only walking a folder skips files, and that is the reading thread's.
    }
}

impl Batch for Work {
    type Note = Malformed;
    fn read(self, event: &mut dyn FnMut(EventRef<'_>), note: &mut dyn FnMut(Malformed)) {
        match self {
            Work::Content { content, events } => {
                let mut reading = Reading {
                    event,
                    note,
                    events: 0,
                };
                content.read(&mut reading);
                events.fetch_add(reading.events, Ordering::Relaxed);
            }
            Work::Event(e) => event(EventRef {
                json: &e.json,
                event_id: e.event_id.as_deref(),
                time_ms: e.time_ms,
            }),
            Work::Malformed(problem) => note(problem),
        }
    }
}

/// The reading thread's visitor: it hands content over to the workers and counts files.
struct Run<'p> {
    push: &'p mut dyn FnMut(Work),
    /// Events read by the workers so far.
    events: Arc<AtomicU64>,
    /// On a terminal: bytes read of the total, rate, time left, events.
    progress: Option<indicatif::ProgressBar>,
    read: Read,
}

impl Visitor for Run<'_> {
    fn content(&mut self, content: ingest::Content) -> Option<ingest::Content> {
        (self.push)(Work::Content {
            content,
            events: self.events.clone(),
        });
        None
    }

    fn event(&mut self, event: &Event<'_>) {
        let key = event.key();
        (self.push)(Work::Event(Owned {
            json: event.json.to_owned(),
            event_id: key.event_id.map(|id| id.into_owned()),
            time_ms: key
                .event_time
                .as_deref()
                .and_then(engine::format::event_time_ms),
        }));
    }

    fn malformed(&mut self, problem: Malformed) {
        (self.push)(Work::Malformed(problem));
    }

    fn skipped(&mut self, _path: &str, why: Skip) {
        match why {
            Skip::Digest => self.read.skipped_digest += 1,
            Skip::Other => self.read.skipped_other += 1,
        }
    }

    fn file(&mut self, _path: &str, bytes: u64) {
        self.read.files += 1;
        if let Some(bar) = &self.progress {
            bar.inc(bytes);
            bar.set_message(format!("{} events", self.events.load(Ordering::Relaxed)));
        }
    }
}

/// What reading found besides events.
#[derive(Default)]
struct Read {
    files: u64,
    skipped_digest: u64,
    skipped_other: u64,
}

/// Tells malformed input on standard error (above the progress bar, if there is one), up to
/// [`TOLD`] times, and counts it all.
struct Teller {
    progress: Option<indicatif::ProgressBar>,
    malformed: u64,
}

impl Teller {
    fn tell(&mut self, problem: &Malformed) {
        self.malformed += 1;
        if self.malformed <= TOLD {
            let line = format!("trailwatch replay: {problem}");
            match &self.progress {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
        }
    }
}

/// A usage error: said, with exit status 2.
fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("trailwatch replay: {message}");
    ExitCode::from(2)
}

/// The engine a replay runs in, and the runtime its calls run on.
struct Scratch {
    engine: Arc<Engine>,
    clock: Arc<ManualClock>,
    scope: Scope,
    runtime: tokio::runtime::Runtime,
    _store: setup::Scratch,
}

fn scratch(region: &'static Region) -> anyhow::Result<Scratch> {
    let store = setup::Scratch::new(region)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(Scratch {
        engine: store.engine.clone(),
        clock: store.clock.clone(),
        scope: store.scope.clone(),
        runtime,
        _store: store,
    })
}

/// Applies the configuration file to the scratch engine.
fn apply(s: &Scratch, parsed: &config::Parsed) -> Result<(), String> {
    let target = EngineTarget {
        engine: &s.engine,
        scope: s.scope.clone(),
    };
    s.runtime
        .block_on(setup::apply(&target, parsed, false))
        .map(|_| ())
        .map_err(|e| format!("{e:#}"))
}

/// Sets up the scratch engine for reading: the configuration file but its alarms (they are
/// made at the first event's time, so that they start where the events do), then the ad-hoc
/// filters.
fn set_up(
    s: &Scratch,
    parsed: Option<&config::Parsed>,
    ad_hoc: &[(String, String)],
) -> Result<(), String> {
    if let Some(parsed) = parsed {
        let mut without_alarms = parsed.clone();
        without_alarms.file.alarms.clear();
        apply(s, &without_alarms)?;
    }
    if ad_hoc.is_empty() {
        return Ok(());
    }
    let logs = s.engine.logs(&s.scope);
    s.runtime
        .block_on(logs.create_log_group(
            serde_json::from_value(json!({"logGroupName": AD_HOC})).map_err(|e| e.to_string())?,
        ))
        .map_err(|e| e.to_string())?;
    for (name, pattern) in ad_hoc {
        let request = json!({
            "logGroupName": AD_HOC,
            "filterName": name,
            "filterPattern": pattern,
            "metricTransformations": [{
                "metricName": name, "metricNamespace": AD_HOC, "metricValue": "1",
            }],
        });
        let request = serde_json::from_value(request).map_err(|e| e.to_string())?;
        s.runtime
            .block_on(logs.put_metric_filter(request))
            .map_err(|e| format!("metric filter {name}: {}", e.message))?;
    }
    Ok(())
}

/// An alarm transition found by replay.
struct Transition {
    alarm: String,
    time_ms: i64,
    from: String,
    to: String,
    reason: String,
    /// The actions the new state runs: topics notified.
    actions: Vec<String>,
}

/// Every state change of the scratch engine's alarms, oldest first.
fn transitions(s: &Scratch) -> anyhow::Result<Vec<Transition>> {
    let cloudwatch = s.engine.alarms(&s.scope);
    // Each alarm's actions by state, as ARNs, where its actions are enabled.
    let mut actions: HashMap<String, Value> = HashMap::new();
    let mut token: Option<String> = None;
    loop {
        let request = serde_json::from_value(json!({"NextToken": token}))?;
        let page = serde_json::to_value(s.runtime.block_on(cloudwatch.describe_alarms(request))?)?;
        for a in page["MetricAlarms"].as_array().into_iter().flatten() {
            if a["ActionsEnabled"].as_bool() != Some(false) {
                actions.insert(
                    a["AlarmName"].as_str().unwrap_or_default().to_owned(),
                    a.clone(),
                );
            }
        }
        token = page["NextToken"].as_str().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let mut found = Vec::new();
    loop {
        let request = serde_json::from_value(json!({
            "HistoryItemType": "StateUpdate",
            "ScanBy": "TimestampAscending",
            "MaxRecords": 100,
            "NextToken": token,
        }))?;
        let page = serde_json::to_value(
            s.runtime
                .block_on(cloudwatch.describe_alarm_history(request))?,
        )?;
        for item in page["AlarmHistoryItems"].as_array().into_iter().flatten() {
            let data: Value = serde_json::from_str(item["HistoryData"].as_str().unwrap_or("{}"))?;
            let alarm = item["AlarmName"].as_str().unwrap_or_default().to_owned();
            let to = data["newState"]["stateValue"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let list = match to.as_str() {
                "ALARM" => "AlarmActions",
                "OK" => "OKActions",
                _ => "InsufficientDataActions",
            };
            let actions = actions
                .get(&alarm)
                .and_then(|a| a[list].as_array())
                .map(|l| {
                    l.iter()
                        .filter_map(|a| a.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            found.push(Transition {
                alarm,
                time_ms: (item["Timestamp"].as_f64().unwrap_or_default() * 1000.0).round() as i64,
                from: data["oldState"]["stateValue"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                to,
                reason: data["newState"]["stateReason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                actions,
            });
        }
        token = page["NextToken"].as_str().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    found.sort_by_key(|t| t.time_ms);
    Ok(found)
}

pub fn run(args: Args) -> ExitCode {
    let parsed = match args
        .config
        .as_deref()
        .map(crate::config_file::read)
        .transpose()
    {
        Ok(parsed) => parsed,
        Err(e) => return usage(e),
    };
    let region = match crate::config_file::region(parsed.as_ref()) {
        Ok(region) => region,
        Err(e) => return usage(e),
    };
    let scratch = match scratch(region) {
        Ok(s) => s,
        Err(e) => return usage(format!("cannot set up the replay's store: {e:#}")),
    };
    if let Err(e) = set_up(&scratch, parsed.as_ref(), &args.metric_filters) {
        return usage(e);
    }
    let filters = match scratch
        .runtime
        .block_on(scratch.engine.replay_filters(&scratch.scope))
    {
        Ok(filters) => filters,
        Err(e) => return usage(e),
    };
    // Reading here; inflating, parsing and matching on every core.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let progress = progress(&args.paths);
    let mut read = Read::default();
    let mut unreadable = None;
    let teller = std::sync::Mutex::new(Teller {
        progress: progress.clone(),
        malformed: 0,
    });
    let mut counts = filters.replay(
        workers,
        |push| {
            let mut run = Run {
                push,
                events: Arc::default(),
                progress: progress.clone(),
                read: Read::default(),
            };
            unreadable = ingest::read_paths(&args.paths, &mut run).err();
            read = run.read;
        },
        |problem: Malformed| {
            teller
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .tell(&problem)
        },
    );
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    if let Some(e) = unreadable {
        return usage(e);
    }
    let teller = teller.into_inner().unwrap_or_else(|p| p.into_inner());
    let timeline = std::mem::take(&mut counts.timeline);
    // Where play starts: the alarms are made here.
    let start_ms = timeline.keys().next().copied();
    if let Some(parsed) = &parsed {
        scratch.clock.set(start_ms.unwrap_or_default());
        if let Err(e) = apply(&scratch, parsed) {
            return usage(e);
        }
    }
    let played = scratch
        .runtime
        .block_on(
            scratch
                .engine
                .play(&scratch.clock, &scratch.scope, timeline),
        )
        .map_err(anyhow::Error::from)
        .and_then(|()| transitions(&scratch));
    let transitions = match played {
        Ok(t) => t,
        Err(e) => {
            eprintln!("trailwatch replay: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let malformed = teller.malformed;
    if malformed > TOLD {
        eprintln!(
            "trailwatch replay: … and {} more malformed",
            malformed - TOLD
        );
    }
    let names = filter_names(&filters.names());
    if args.json {
        let per_filter: serde_json::Map<String, Value> = names
            .iter()
            .zip(&counts.matches)
            .map(|(name, n)| (name.clone(), json!(n)))
            .collect();
        let transitions: Vec<Value> = transitions
            .iter()
            .map(|t| {
                json!({
                    "alarm": t.alarm,
                    "time": engine::format::iso8601_time(t.time_ms),
                    "from": t.from,
                    "to": t.to,
                    "reason": t.reason,
                    "actions": t.actions,
                })
            })
            .collect();
        let summary = json!({
            "files": read.files,
            "skipped_files": read.skipped_digest + read.skipped_other,
            "events": counts.events,
            "duplicates": counts.duplicates,
            "malformed": malformed,
            "untimed": counts.untimed,
            "filters": per_filter,
            "transitions": transitions,
        });
        println!("{summary}");
    } else {
        println!(
            "Read {} files ({} skipped: {} digest, {} other): {} events, {} duplicates, {} malformed.",
            read.files,
            read.skipped_digest + read.skipped_other,
            read.skipped_digest,
            read.skipped_other,
            counts.events,
            counts.duplicates,
            malformed
        );
        if counts.untimed > 0 {
            println!(
                "{} events had no eventTime: matched, not played.",
                counts.untimed
            );
        }
        if !names.is_empty() {
            let width = names.iter().map(String::len).max().unwrap_or(0);
            println!("Metric filter matches:");
            for (name, n) in names.iter().zip(&counts.matches) {
                println!("  {name:<width$}  {n}");
            }
        }
        if parsed.as_ref().is_some_and(|p| !p.file.alarms.is_empty()) {
            println!("Alarm transitions: {}", transitions.len());
            // A new alarm treating missing data as not breaching goes to OK at its first
            // evaluation, before any data: one line for all that do so without an action
            // (--json lists each).
            let (first, rest): (Vec<&Transition>, Vec<&Transition>) =
                transitions.iter().partition(|t| {
                    Some(t.time_ms) == start_ms
                        && t.from == "INSUFFICIENT_DATA"
                        && t.to == "OK"
                        && t.actions.is_empty()
                        && t.reason.contains("no datapoints were received")
                });
            if let Some(t) = first.first() {
                let n = first.len();
                println!(
                    "  {}  {n} alarm{} made at the first event: INSUFFICIENT_DATA -> OK at the first evaluation, no data yet",
                    engine::format::iso8601_time(t.time_ms),
                    if n == 1 { "" } else { "s" },
                );
            }
            for t in rest {
                println!(
                    "  {}  {}  {} -> {}  {}",
                    engine::format::iso8601_time(t.time_ms),
                    t.alarm,
                    t.from,
                    t.to,
                    t.reason
                );
                for action in &t.actions {
                    println!("      would notify {action}");
                }
            }
        }
    }
    ExitCode::SUCCESS
}

/// Each filter's name in the summary: its own, or `group/name` where two groups use it.
fn filter_names(names: &[(String, String)]) -> Vec<String> {
    names
        .iter()
        .map(|(group, name)| {
            if names.iter().filter(|(_, n)| n == name).count() > 1 {
                format!("{group}/{name}")
            } else {
                name.clone()
            }
        })
        .collect()
}
