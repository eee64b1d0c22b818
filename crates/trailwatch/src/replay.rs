//! `trailwatch replay`: CloudTrail archives through metric filters, with a summary of what
//! each would have counted.

use std::path::PathBuf;
use std::process::ExitCode;

use engine::replay::{Filters, NamedFilter};
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

struct Run<'p> {
    /// Hands an event (its JSON and `eventID`) to the matching pipeline.
    push: &'p mut dyn FnMut(String, Option<String>),
    events: u64,
    /// On a terminal: bytes read of the total, rate, time left, events.
    progress: Option<indicatif::ProgressBar>,
    read: Read,
}

impl Visitor for Run<'_> {
    fn event(&mut self, event: &Event<'_>) {
        let key = event.key();
        (self.push)(
            event.json.to_owned(),
            key.event_id.map(|id| id.into_owned()),
        );
        self.events += 1;
        if let Some(bar) = &self.progress
            && self.events.is_multiple_of(4096)
        {
            bar.set_message(format!("{} events", self.events));
        }
    }

    fn malformed(&mut self, problem: Malformed) {
        self.read.malformed += 1;
        if self.read.malformed <= TOLD {
            let line = format!("trailwatch replay: {problem}");
            match &self.progress {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
        }
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
            bar.set_message(format!("{} events", self.events));
        }
    }
}

/// What reading found besides events.
#[derive(Default)]
struct Read {
    files: u64,
    skipped_digest: u64,
    skipped_other: u64,
    malformed: u64,
}

pub fn run(args: Args) -> ExitCode {
    let filters = match Filters::new(&args.metric_filters) {
        Ok(filters) => filters,
        Err(e) => {
            eprintln!("trailwatch replay: {e}");
            return ExitCode::from(2);
        }
    };
    // Reading and parsing here, matching on the other cores.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1));
    let mut read = Read::default();
    let mut unreadable = None;
    let counts = filters.replay(workers, |push| {
        let mut run = Run {
            push,
            events: 0,
            progress: progress(&args.paths),
            read: Read::default(),
        };
        unreadable = ingest::read_paths(&args.paths, &mut run).err();
        if let Some(bar) = &run.progress {
            bar.finish_and_clear();
        }
        read = run.read;
    });
    if let Some(e) = unreadable {
        eprintln!("trailwatch replay: {e}");
        return ExitCode::from(2);
    }
    let run = read;
    if run.malformed > TOLD {
        eprintln!(
            "trailwatch replay: … and {} more malformed",
            run.malformed - TOLD
        );
    }
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
