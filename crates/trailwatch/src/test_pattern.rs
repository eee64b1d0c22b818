//! `trailwatch test-pattern`: a pattern against events from a file or standard input.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use filter::{Explanation, ExtractedValues, FilterPattern};
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// Print one JSON object per input line: {"matched": …, "extractedValues": {…}}.
    #[arg(long)]
    json: bool,
    /// Say, for every event, which clauses held and on which values.
    #[arg(long)]
    explain: bool,
    /// The filter pattern.
    #[arg(allow_hyphen_values = false)]
    pattern: String,
    /// Events, one per line; '-' or nothing reads standard input. An empty line is an event
    /// with an empty message.
    file: Option<PathBuf>,
}

#[derive(Serialize)]
struct Verdict<'a> {
    matched: bool,
    #[serde(rename = "extractedValues", skip_serializing_if = "Option::is_none")]
    extracted_values: Option<&'a ExtractedValues>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explain: Option<&'a Explanation>,
}

pub fn run(args: Args) -> ExitCode {
    let pattern = match FilterPattern::parse(&args.pattern) {
        Ok(p) => p,
        Err(err) => {
            eprintln!("trailwatch: {err}");
            let pointer = err.pointer(&args.pattern);
            if !pointer.is_empty() {
                eprintln!("{pointer}");
            }
            return ExitCode::from(2);
        }
    };
    match test(&pattern, &args) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is the reader's choice, not an error.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("trailwatch: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

fn test(pattern: &FilterPattern, args: &Args) -> anyhow::Result<()> {
    let input: Box<dyn BufRead> = match &args.file {
        None => Box::new(BufReader::new(io::stdin().lock())),
        Some(p) if p.as_os_str() == "-" => Box::new(BufReader::new(io::stdin().lock())),
        Some(p) => Box::new(BufReader::new(
            File::open(p).with_context(|| format!("cannot read {}", p.display()))?,
        )),
    };
    let source = args
        .file
        .as_ref()
        .map_or("standard input".to_string(), |p| p.display().to_string());
    let mut out = BufWriter::new(io::stdout().lock());
    let (mut total, mut matched) = (0usize, 0usize);
    for_each_line(input, |line| {
        total += 1;
        let message = String::from_utf8_lossy(line);
        let extracted = pattern.extract(&message);
        let explanation = args.explain.then(|| pattern.explain(&message));
        matched += usize::from(extracted.is_some());
        if args.json {
            let verdict = Verdict {
                matched: extracted.is_some(),
                extracted_values: extracted.as_ref(),
                explain: explanation.as_ref(),
            };
            serde_json::to_writer(&mut out, &verdict)?;
            writeln!(out)?;
        } else if extracted.is_some() || explanation.is_some() {
            let mark = if extracted.is_some() {
                "match"
            } else {
                "no match"
            };
            writeln!(out, "line {total}: {mark}: {}", shorten(&message, 160))?;
            if let Some(values) = &extracted {
                for (k, v) in &values.0 {
                    writeln!(out, "    {k} = {v}")?;
                }
            }
            if let Some(e) = &explanation {
                for l in e.to_string().lines() {
                    writeln!(out, "    {l}")?;
                }
            }
        }
        Ok(())
    })
    .with_context(|| format!("cannot read {source}"))?;
    if !args.json {
        writeln!(out, "{matched} of {total} events matched")?;
    }
    out.flush()?;
    Ok(())
}

/// Calls `f` with each line (without its `\n`, nor a `\r` before it).
fn for_each_line(
    mut input: impl BufRead,
    mut f: impl FnMut(&[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        let mut line = buf.as_slice();
        line = line.strip_suffix(b"\n").unwrap_or(line);
        line = line.strip_suffix(b"\r").unwrap_or(line);
        f(line)?;
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}
