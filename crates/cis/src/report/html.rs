//! The audit as one self-contained HTML page a person can read: a summary, then each control
//! with its reasons and, folded, its evidence chain.

use std::fmt::Write as _;

use crate::audit::{FilterEvidence, Finding, Report, Status};
use crate::judge::Role;

/// Text made safe inside HTML.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #1d2330; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
.meta { color: #5b6475; margin-top: 0; }
.tally span { display: inline-block; margin-right: .8rem; font-weight: 600; }
table.summary { border-collapse: collapse; width: 100%; margin: 1rem 0 2rem; }
table.summary td, table.summary th { border-bottom: 1px solid #e3e6ec; padding: .35rem .5rem; text-align: left; vertical-align: top; }
.status { font-weight: 700; padding: .1rem .45rem; border-radius: .3rem; color: #fff; font-size: .8rem; }
.PASS { background: #1f8a4c; } .FAIL { background: #c62f2f; } .MANUAL { background: #8a6d1f; } .ERROR { background: #6b3fa0; }
section.finding { border: 1px solid #e3e6ec; border-radius: .5rem; padding: .8rem 1rem; margin: 1rem 0; }
section.finding h2 { font-size: 1.1rem; margin: 0 0 .4rem; }
ul { margin: .3rem 0; }
.missing { color: #c62f2f; font-weight: 600; }
.warning { color: #8a6d1f; }
code, pre { font: 13px/1.4 ui-monospace, 'SFMono-Regular', Menlo, monospace; background: #f4f6f9; border-radius: .25rem; }
pre { padding: .5rem; white-space: pre-wrap; word-break: break-all; }
table.verdicts { border-collapse: collapse; margin: .4rem 0; }
table.verdicts td, table.verdicts th { border: 1px solid #e3e6ec; padding: .2rem .45rem; font-size: .85rem; }
.yes { color: #1f8a4c; font-weight: 700; } .no { color: #c62f2f; font-weight: 700; }
details { margin-top: .5rem; } summary { cursor: pointer; color: #2a5bd7; }
";

/// The report as a self-contained page (no scripts, no outside resources).
pub fn html(report: &Report) -> String {
    let mut out = String::new();
    let account = report.account.as_deref().unwrap_or("unknown account");
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>CIS AWS Foundations Benchmark v{v} — {account}</title><style>{STYLE}</style></head><body>\n<h1>CIS AWS Foundations Benchmark v{v}: monitoring controls</h1>\n<p class=\"meta\">Account {account}, {region}, read {time} by trailwatch. Filters are judged by meaning: each is run on an example of every call its control names.</p>\n",
        v = esc(&report.cis_version),
        account = esc(account),
        region = esc(&report.region),
        time = esc(&report.time),
    );
    out.push_str("<p class=\"tally\">");
    for status in [Status::Pass, Status::Fail, Status::Manual, Status::Error] {
        let _ = write!(
            out,
            "<span><span class=\"status {s}\">{s}</span> {n}</span>",
            s = status.as_str(),
            n = report.count(status)
        );
    }
    out.push_str("</p>\n<table class=\"summary\"><thead><tr><th>Control</th><th>Status</th><th>Title</th><th>Why</th></tr></thead><tbody>\n");
    for f in &report.findings {
        let _ = writeln!(
            out,
            "<tr id=\"row-{id}\"><td><a href=\"#{id}\">{n}</a></td><td><span class=\"status {s}\">{s}</span></td><td>{t}</td><td>{why}</td></tr>",
            id = esc(&f.control),
            n = esc(&f.cis_number),
            s = f.status.as_str(),
            t = esc(&f.title),
            why = esc(&f.summary),
        );
    }
    out.push_str("</tbody></table>\n");
    for f in &report.findings {
        finding(&mut out, f);
    }
    out.push_str("</body></html>\n");
    out
}

fn finding(out: &mut String, f: &Finding) {
    let _ = write!(
        out,
        "<section class=\"finding\" id=\"{id}\" data-status=\"{s}\"><h2>{n} <span class=\"status {s}\">{s}</span> {t}</h2>\n<p><code>{id}</code>: {summary}</p>\n",
        id = esc(&f.control),
        n = esc(&f.cis_number),
        s = f.status.as_str(),
        t = esc(&f.title),
        summary = esc(&f.summary),
    );
    if !f.missing_events.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"missing\">Missing events: {}</p>",
            esc(&f.missing_events.join(", "))
        );
    }
    if f.problems.len() > 1 || (f.status == Status::Pass && !f.problems.is_empty()) {
        out.push_str("<ul>");
        for p in &f.problems {
            let _ = write!(out, "<li>{}</li>", esc(p));
        }
        out.push_str("</ul>\n");
    }
    if !f.warnings.is_empty() {
        out.push_str("<ul class=\"warning\">");
        for w in &f.warnings {
            let _ = write!(out, "<li>{}</li>", esc(w));
        }
        out.push_str("</ul>\n");
    }
    if !f.other_auditors.is_empty() {
        out.push_str("<p>Other auditors:</p><ul class=\"auditors\">");
        for a in &f.other_auditors {
            let _ = write!(
                out,
                "<li><strong>{}</strong> would say <span class=\"status {v}\">{v}</span>{}</li>",
                esc(&a.auditor),
                if a.agrees {
                    " (agrees)".to_owned()
                } else {
                    format!(": {}", esc(&a.why))
                },
                v = esc(&a.verdict),
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<details><summary>Evidence</summary>\n<ul>");
    if let Some(t) = &f.evidence.trail {
        let logging = match t.is_logging {
            Some(true) => ", logging",
            Some(false) => ", not logging",
            None => "",
        };
        let _ = write!(
            out,
            "<li>Trail <code>{}</code> ({}{logging}), home region {}</li>",
            esc(&t.trail.name),
            if t.trail.multi_region {
                "multi-region"
            } else {
                "single-region"
            },
            esc(&t.trail.home_region)
        );
    }
    if let Some(g) = &f.evidence.log_group {
        let _ = write!(out, "<li>Log group <code>{}</code></li>", esc(&g.arn));
    }
    out.push_str("</ul>\n");
    // A control met shows the filters meeting it; one not met, every filter that comes close.
    for filter in f
        .evidence
        .filters
        .iter()
        .filter(|x| x.meets || f.status != Status::Pass)
        .chain(&f.evidence.look_alikes)
    {
        filter_html(out, filter);
    }
    out.push_str("</details></section>\n");
}

fn filter_html(out: &mut String, f: &FilterEvidence) {
    let _ = write!(
        out,
        "<h3>Filter <code>{}</code>{}</h3><pre>{}</pre>",
        esc(&f.name),
        if f.meets { " (meets the control)" } else { "" },
        esc(&f.judgement.pattern)
    );
    if let Some(e) = &f.judgement.error {
        let _ = write!(out, "<p class=\"missing\">Does not parse: {}</p>", esc(e));
    }
    out.push_str("<table class=\"verdicts\"><thead><tr><th>Event</th><th>Role</th><th>Matched</th><th>Why</th></tr></thead><tbody>");
    for v in &f.judgement.verdicts {
        let role = match v.role {
            Role::Required => "required",
            Role::Obsolete => "required, obsolete",
            Role::AllowedExclusion => "may be left out",
            Role::Negative => "not asked for",
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{role}</td><td class=\"{c}\">{m}</td><td>{}</td></tr>",
            esc(&v.event),
            esc(&v.explanation.summary),
            c = if v.matched { "yes" } else { "no" },
            m = if v.matched { "yes" } else { "no" },
        );
    }
    out.push_str("</tbody></table>");
    if let Some(m) = &f.metric {
        let _ = write!(
            out,
            "<p>Metric <code>{}/{}</code> (value {})</p><ul>",
            esc(&m.namespace),
            esc(&m.name),
            esc(&m.value)
        );
        if f.alarms.is_empty() {
            out.push_str("<li class=\"missing\">No alarm watches it.</li>");
        }
        for a in &f.alarms {
            let _ = write!(
                out,
                "<li>Alarm <code>{}</code>: {} {} {} over {} period(s){}<ul>",
                esc(&a.alarm.name),
                esc(a.alarm.statistic.as_deref().unwrap_or("metric math")),
                esc(&a.alarm.comparison_operator),
                a.alarm
                    .threshold
                    .map_or_else(String::new, |t| t.to_string()),
                a.alarm.evaluation_periods,
                if a.problems.is_empty() {
                    String::new()
                } else {
                    format!(
                        " — <span class=\"missing\">{}</span>",
                        esc(&a.problems.join("; "))
                    )
                }
            );
            for t in &a.topics {
                let subs: Vec<String> = t
                    .subscriptions
                    .iter()
                    .map(|s| {
                        format!(
                            "{}:{} ({})",
                            s.protocol,
                            s.endpoint,
                            if s.confirmed() {
                                "confirmed"
                            } else {
                                "pending"
                            }
                        )
                    })
                    .collect();
                let _ = write!(
                    out,
                    "<li>Topic <code>{}</code>{}: {}</li>",
                    esc(&t.arn),
                    t.problem
                        .as_ref()
                        .map_or_else(String::new, |p| format!(" — {}", esc(p))),
                    esc(&subs.join(", "))
                );
            }
            out.push_str("</ul></li>");
        }
        out.push_str("</ul>\n");
    }
}
