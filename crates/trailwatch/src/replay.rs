//! `trailwatch replay`: CloudTrail archives through metric filters, with a summary of what
//! each would have counted.

use std::path::PathBuf;
use std::process::ExitCode;

use engine::replay::{Filters, NamedFilter, Replay};
use ingest::{Event, Malformed, Skip, Visitor};
use serde_json::json;

/// Arguments of `trailwatch replay`.
#[derive(clap::Args)]
pub struct Args {
    /// A metric filter counting the events its pattern matches, as NAME=PATTERN (repeatable).
    #[arg(long = "metric-filter", value_name = "NAME=PATTERN", value_parser = parse_filter)]
    metric_filters: Vec<NamedFilter>,
    /// Print the summary as one JSON object on standard output.
    #[arg(long)]
    json: bool,
    /// CloudTrail files or folders (an S3 delivery folder, gzip or plain files, Records
    /// documents, JSON arrays, JSON lines), or - for standard input.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

fn parse_filter(spec: &str) -> Result<NamedFilter, String> {
    match spec.split_once('=') {
        Some((name, pattern)) if !name.is_empty() => Ok(NamedFilter {
            name: name.to_owned(),
            pattern: pattern.to_owned(),
        }),
        _ => Err(format!("'{spec}' is not NAME=PATTERN")),
    }
}

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

struct Run<'f> {
    replay: Replay<'f>,
    /// On a terminal: bytes read of the total, rate, time left, events.
    progress: Option<indicatif::ProgressBar>,
    files: u64,
    skipped_digest: u64,
    skipped_other: u64,
    malformed: u64,
}

impl Visitor for Run<'_> {
    fn event(&mut self, event: &Event<'_>) {
        let key = event.key();
        self.replay.event(event.json, key.event_id.as_deref());
        let events = self.replay.counts().events;
        if let Some(bar) = &self.progress
            && events % 4096 == 0
        {
            bar.set_message(format!("{events} events"));
        }
    }

    fn malformed(&mut self, problem: Malformed) {
        self.malformed += 1;
        if self.malformed <= TOLD {
            let line = format!("trailwatch replay: {problem}");
            match &self.progress {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
        }
    }

    fn skipped(&mut self, _path: &str, why: Skip) {
        match why {
            Skip::Digest => self.skipped_digest += 1,
            Skip::Other => self.skipped_other += 1,
        }
    }

    fn file(&mut self, _path: &str, bytes: u64) {
        self.files += 1;
        if let Some(bar) = &self.progress {
            bar.inc(bytes);
            bar.set_message(format!("{} events", self.replay.counts().events));
        }
    }
}

pub fn run(args: Args) -> ExitCode {
    let filters = match Filters::new(&args.metric_filters) {
        Ok(filters) => filters,
        Err(e) => {
            eprintln!("trailwatch replay: {e}");
            return ExitCode::from(2);
        }
    };
    let mut run = Run {
        replay: filters.replay(),
        progress: progress(&args.paths),
        files: 0,
        skipped_digest: 0,
        skipped_other: 0,
        malformed: 0,
    };
    if let Err(e) = ingest::read_paths(&args.paths, &mut run) {
        eprintln!("trailwatch replay: {e}");
        return ExitCode::from(2);
    }
    if let Some(bar) = &run.progress {
        bar.finish_and_clear();
    }
    if run.malformed > TOLD {
        eprintln!(
            "trailwatch replay: … and {} more malformed",
            run.malformed - TOLD
        );
    }
    let counts = run.replay.counts();
    let names = filters.names();
    if args.json {
        let per_filter: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .zip(&counts.matches)
            .map(|(name, n)| (name.clone(), json!(n)))
            .collect();
        let summary = json!({
            "files": run.files,
            "skipped_files": run.skipped_digest + run.skipped_other,
            "events": counts.events,
            "duplicates": counts.duplicates,
            "malformed": run.malformed,
            "filters": per_filter,
            // Alarms come with a configuration; ad-hoc metric filters have none to move.
            "transitions": [],
        });
        println!("{summary}");
    } else {
        println!(
            "Read {} files ({} skipped: {} digest, {} other): {} events, {} duplicates, {} malformed.",
            run.files,
            run.skipped_digest + run.skipped_other,
            run.skipped_digest,
            run.skipped_other,
            counts.events,
            counts.duplicates,
            run.malformed
        );
        if !names.is_empty() {
            let width = names.iter().map(String::len).max().unwrap_or(0);
            println!("Metric filter matches:");
            for (name, n) in names.iter().zip(&counts.matches) {
                println!("  {name:<width$}  {n}");
            }
        }
    }
    ExitCode::SUCCESS
}
