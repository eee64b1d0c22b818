//! An audit written for people (text, HTML) and for other tools (JSON, CSV, ASFF, OCSF).

mod formats;
mod html;

use std::fmt::Write as _;

use crate::audit::{FilterEvidence, Finding, Report, Status};

pub use formats::{asff, csv, ocsf};
pub use html::html;

/// The formats `cis audit` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Csv,
    Asff,
    Ocsf,
    Html,
}

impl Format {
    pub fn render(self, report: &Report) -> String {
        match self {
            Format::Text => text(report),
            Format::Json => json(report),
            Format::Csv => csv(report),
            Format::Asff => asff(report),
            Format::Ocsf => ocsf(report),
            Format::Html => html(report),
        }
    }
}

/// The report as one JSON object: `cis_version`, `account`, `region`, `findings`.
pub fn json(report: &Report) -> String {
    let mut out = serde_json::to_string_pretty(report).unwrap_or_default();
    out.push('\n');
    out
}

/// The counts of a report, as `14 PASS, 1 FAIL`.
pub fn tally(report: &Report) -> String {
    let parts: Vec<String> = [Status::Pass, Status::Fail, Status::Manual, Status::Error]
        .into_iter()
        .map(|s| (s, report.count(s)))
        .filter(|(s, n)| *n > 0 || *s == Status::Pass)
        .map(|(s, n)| format!("{n} {}", s.as_str()))
        .collect();
    parts.join(", ")
}

/// The report for a terminal: one block per control, its evidence chain beneath.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let account = report.account.as_deref().unwrap_or("(unknown account)");
    let _ = writeln!(
        out,
        "CIS AWS Foundations Benchmark v{}, monitoring controls: account {account}, {}\n",
        report.cis_version, report.region
    );
    for f in &report.findings {
        finding_text(&mut out, f);
    }
    let _ = writeln!(out, "{} controls: {}", report.findings.len(), tally(report));
    out
}

fn finding_text(out: &mut String, f: &Finding) {
    let _ = writeln!(
        out,
        "{:<5} {:<6} {} — {}",
        f.cis_number,
        f.status.as_str(),
        f.control,
        f.title
    );
    let _ = writeln!(out, "      {}", f.summary);
    if !f.missing_events.is_empty() {
        let _ = writeln!(out, "      missing: {}", f.missing_events.join(", "));
    }
    for p in f
        .problems
        .iter()
        .skip(usize::from(f.status != Status::Pass))
    {
        let _ = writeln!(out, "      - {p}");
    }
    for w in &f.warnings {
        let _ = writeln!(out, "      ! {w}");
    }
    for a in f.other_auditors.iter().filter(|a| !a.agrees) {
        let _ = writeln!(
            out,
            "      ≠ {} would say {}: {}",
            a.auditor, a.verdict, a.why
        );
    }
    if let Some(trail) = &f.evidence.trail {
        let mut facts = vec![if trail.trail.multi_region {
            "multi-region"
        } else {
            "single-region"
        }];
        match trail.is_logging {
            Some(true) => facts.push("logging"),
            Some(false) => facts.push("not logging"),
            None => {}
        }
        let group = f.evidence.log_group.as_ref().map_or_else(
            || "no log group".to_owned(),
            |g| format!("log group {}", g.name),
        );
        let _ = writeln!(
            out,
            "      trail {} ({}) → {group}",
            trail.trail.name,
            facts.join(", ")
        );
    }
    // A control met shows the filters meeting it; one not met, every filter that comes close.
    for filter in f
        .evidence
        .filters
        .iter()
        .filter(|x| x.meets || f.status != Status::Pass)
    {
        filter_text(out, filter);
    }
    for filter in &f.evidence.look_alikes {
        let _ = writeln!(
            out,
            "        filter {} names the control's calls but matches none of its events: {}",
            filter.name, filter.judgement.pattern
        );
    }
    out.push('\n');
}

fn filter_text(out: &mut String, filter: &FilterEvidence) {
    let _ = writeln!(
        out,
        "        filter {}: {}",
        filter.name, filter.judgement.pattern
    );
    let Some(metric) = &filter.metric else {
        return;
    };
    let mut chain = format!("→ metric {}/{}", metric.namespace, metric.name);
    if filter.alarms.is_empty() {
        chain.push_str(" → no alarm");
    }
    let _ = writeln!(out, "          {chain}");
    for alarm in &filter.alarms {
        let topics: Vec<String> = alarm
            .topics
            .iter()
            .map(|t| {
                let confirmed = t.subscriptions.iter().filter(|s| s.confirmed()).count();
                let pending = t.subscriptions.len() - confirmed;
                let name = t.arn.rsplit(':').next().unwrap_or_default();
                if !t.exists {
                    format!("topic {name} (missing)")
                } else if pending > 0 {
                    format!("topic {name} ({confirmed} confirmed, {pending} pending)")
                } else {
                    format!("topic {name} ({confirmed} confirmed)")
                }
            })
            .collect();
        let topics = if topics.is_empty() {
            "no topic".to_owned()
        } else {
            topics.join(", ")
        };
        let verdict = if alarm.problems.is_empty() {
            String::new()
        } else {
            format!(" [{}]", alarm.problems.join("; "))
        };
        let _ = writeln!(
            out,
            "          → alarm {}{verdict} → {topics}",
            alarm.alarm.name
        );
    }
}
