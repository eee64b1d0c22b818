//! The audit of one account against one benchmark version, following the benchmark's audit
//! procedure but deciding by meaning: a trail that logs the control's events into a log
//! group, metric filters there that match every event the control asks for, an alarm on each
//! filter's metric that one event trips, and a topic with a confirmed subscription.

use std::collections::BTreeSet;

use engine::scope::Arn;
use engine::trails::TrailEvent;
use serde::Serialize;

use crate::account::{
    Account, Alarm, MetricFilter, Selectors, Subscription, Trail, Transformation, is_topic,
    log_group_of,
};
use crate::catalogue::{Benchmark, Control};
use crate::judge::{self, Judgement, Role};

/// A control's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    /// Not decidable from here (a log group in another account): a person must look.
    Manual,
    /// Something could not be read.
    Error,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Manual => "MANUAL",
            Status::Error => "ERROR",
        }
    }
}

/// The audit of every control of one version.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub cis_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub region: String,
    /// When the account was read, ISO 8601.
    pub time: String,
    #[serde(skip)]
    pub time_ms: i64,
    pub findings: Vec<Finding>,
}

impl Report {
    /// How many controls ended with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.findings.iter().filter(|f| f.status == status).count()
    }
}

/// One control's outcome and why.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub control: String,
    pub cis_number: String,
    pub title: String,
    pub status: Status,
    /// One sentence: the outcome and its main reason.
    pub summary: String,
    /// Required events no metric filter on the trail's log group matches.
    pub missing_events: Vec<String>,
    /// Why the control does not pass.
    pub problems: Vec<String>,
    /// What passes but deserves a look: noisy filters, split coverage, obsolete calls.
    pub warnings: Vec<String>,
    /// What auditors that compare strings would say of the same account, and why where they
    /// disagree.
    pub other_auditors: Vec<OtherAuditor>,
    pub evidence: Evidence,
}

/// Another auditor's verdict on a control.
#[derive(Debug, Clone, Serialize)]
pub struct OtherAuditor {
    pub auditor: String,
    /// `PASS` or `FAIL`.
    pub verdict: String,
    pub agrees: bool,
    pub why: String,
}

/// The chain the finding rests on: trail → log group → filters (with each example's verdict)
/// → metric → alarms → topics → subscriptions.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evidence {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trail: Option<TrailEvidence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_group: Option<LogGroupEvidence>,
    /// The metric filters of the log group that catch at least one required event.
    pub filters: Vec<FilterEvidence>,
    /// Filters that name the control's calls but catch none of its events (all clauses
    /// joined with `&&`, a field misspelt…): what a person would take for the control's filter.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub look_alikes: Vec<FilterEvidence>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrailEvidence {
    #[serde(flatten)]
    pub trail: Trail,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_logging: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selectors: Option<Selectors>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogGroupEvidence {
    pub name: String,
    pub arn: String,
    pub region: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FilterEvidence {
    pub name: String,
    #[serde(flatten)]
    pub judgement: Judgement,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<Transformation>,
    pub alarms: Vec<AlarmEvidence>,
    /// Whether an alarm on its metric notifies a confirmed subscriber.
    pub notifies: bool,
    /// Whether it is one of the filters that meet the control: the one that catches every
    /// required event alone, or else the fewest that do together.
    pub meets: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlarmEvidence {
    #[serde(flatten)]
    pub alarm: Alarm,
    /// Whether the audit could tell that one event trips it.
    pub judged: bool,
    /// Why it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unjudged: Option<String>,
    pub topics: Vec<TopicEvidence>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopicEvidence {
    pub arn: String,
    pub exists: bool,
    pub subscriptions: Vec<Subscription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Audits `account` against every control of `benchmark`.
pub fn audit(account: &Account, benchmark: &Benchmark<'_>) -> Report {
    let findings = benchmark
        .controls
        .iter()
        .map(|control| {
            let mut finding = audit_control(account, control);
            finding.other_auditors = crate::auditors::views(account, control, &finding);
            finding
        })
        .collect();
    Report {
        cis_version: benchmark.version.to_owned(),
        account: account.account_id.clone(),
        region: account.region.clone(),
        time: engine::format::iso8601_time(account.read_at_ms),
        time_ms: account.read_at_ms,
        findings,
    }
}

/// What is being found for one control on one trail.
struct Work<'c> {
    control: &'c Control<'c>,
    status: Status,
    missing: Vec<String>,
    problems: Vec<String>,
    warnings: Vec<String>,
    errors: Vec<String>,
    /// Why the control is met only by what the audit cannot judge (alarms on metric math).
    unjudged: Vec<String>,
    evidence: Evidence,
}

impl<'c> Work<'c> {
    fn new(control: &'c Control<'c>) -> Work<'c> {
        Work {
            control,
            status: Status::Fail,
            missing: Vec::new(),
            problems: Vec::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
            unjudged: Vec::new(),
            evidence: Evidence::default(),
        }
    }

    fn finish(mut self) -> Finding {
        // What is known to fail decides first; then what could not be read; then what a
        // person must judge.
        if !self.problems.is_empty() || !self.missing.is_empty() {
            self.status = Status::Fail;
        } else if !self.errors.is_empty() {
            self.status = Status::Error;
        } else if !self.unjudged.is_empty() {
            self.status = Status::Manual;
        } else if self.status != Status::Manual {
            self.status = Status::Pass;
        }
        let mut problems = self.errors;
        problems.append(&mut self.problems);
        problems.append(&mut self.unjudged);
        let summary = match self.status {
            Status::Pass => pass_summary(&self.evidence),
            _ => problems
                .first()
                .cloned()
                .unwrap_or_else(|| "the control is not met".into()),
        };
        Finding {
            control: self.control.id().to_owned(),
            cis_number: self.control.number.to_owned(),
            title: self.control.title.to_owned(),
            status: self.status,
            summary,
            missing_events: self.missing,
            problems,
            warnings: self.warnings,
            other_auditors: Vec::new(),
            evidence: self.evidence,
        }
    }
}

fn pass_summary(evidence: &Evidence) -> String {
    let working: Vec<&FilterEvidence> = evidence.filters.iter().filter(|f| f.meets).collect();
    let names: Vec<&str> = working.iter().map(|f| f.name.as_str()).collect();
    let group = evidence.log_group.as_ref().map_or("", |g| g.name.as_str());
    let alarms: BTreeSet<&str> = working
        .iter()
        .flat_map(|f| &f.alarms)
        .filter(|a| a.problems.is_empty())
        .map(|a| a.alarm.name.as_str())
        .collect();
    format!(
        "{} {} on {group} catch{} every required event; alarm{} {} notif{} a confirmed subscriber",
        if names.len() == 1 {
            "filter"
        } else {
            "filters"
        },
        names.join(" + "),
        if names.len() == 1 { "es" } else { "" },
        if alarms.len() == 1 { "" } else { "s" },
        alarms.into_iter().collect::<Vec<_>>().join(", "),
        if working.len() == 1 { "ies" } else { "y" },
    )
}

fn audit_control(account: &Account, control: &Control<'_>) -> Finding {
    let trails = match &account.trails {
        Ok(trails) => trails,
        Err(e) => {
            let mut work = Work::new(control);
            work.errors.push(format!("cannot list trails: {e}"));
            return work.finish();
        }
    };
    if trails.is_empty() {
        let mut work = Work::new(control);
        work.problems.push(format!(
            "no trail in {}: no CloudTrail events reach a log group",
            account.region
        ));
        return work.finish();
    }
    // The best trail decides: CIS asks for one multi-region trail that does all this.
    trails
        .iter()
        .map(|t| on_trail(account, control, t))
        .min_by_key(|f| (f.status, f.problems.len()))
        .expect("at least one trail")
}

fn on_trail(account: &Account, control: &Control<'_>, trail: &Trail) -> Finding {
    let mut work = Work::new(control);
    let mut evidence = TrailEvidence {
        trail: trail.clone(),
        is_logging: None,
        selectors: None,
    };
    if !trail.multi_region {
        work.problems.push(format!(
            "trail {} is not multi-region: calls in other regions never reach it",
            trail.name
        ));
    }
    match &trail.status {
        Err(e) => work.errors.push(format!(
            "cannot read the status of trail {}: {e}",
            trail.name
        )),
        Ok(status) => {
            evidence.is_logging = Some(status.is_logging);
            if !status.is_logging {
                work.problems
                    .push(format!("trail {} is not logging", trail.name));
            }
            if let Some(e) = &status.latest_cloud_watch_logs_delivery_error {
                work.warnings.push(format!(
                    "trail {}'s latest delivery to CloudWatch Logs failed: {e}",
                    trail.name
                ));
            }
            if let Some(e) = &status.latest_delivery_error {
                work.warnings.push(format!(
                    "trail {}'s latest delivery failed: {e}",
                    trail.name
                ));
            }
        }
    }
    match &trail.selectors {
        Err(e) => work.errors.push(format!(
            "cannot read the event selectors of trail {}: {e}",
            trail.name
        )),
        Ok(selectors) => {
            let dropped: Vec<&str> = control
                .required()
                .filter(|e| !e.obsolete && !logs(selectors, &e.event))
                .map(|e| judge::short_name(&e.label))
                .collect();
            if !dropped.is_empty() {
                work.problems.push(format!(
                    "trail {}'s event selectors do not log {}",
                    trail.name,
                    dropped.join(", ")
                ));
            }
            evidence.selectors = Some(selectors.clone());
        }
    }
    work.evidence.trail = Some(evidence);
    let Some(group_arn) = &trail.log_group_arn else {
        work.problems.push(format!(
            "trail {} sends its events to no CloudWatch Logs group",
            trail.name
        ));
        return work.finish();
    };
    let Some((region, name)) = log_group_of(group_arn) else {
        work.problems.push(format!(
            "trail {}'s CloudWatchLogsLogGroupArn {group_arn} names no log group",
            trail.name
        ));
        return work.finish();
    };
    work.evidence.log_group = Some(LogGroupEvidence {
        name: name.to_owned(),
        arn: group_arn.clone(),
        region: region.to_owned(),
    });
    let group_account = Arn::parse(group_arn).map_or("", |a| a.account);
    if let Some(me) = &account.account_id
        && group_account != me
    {
        let note = format!(
            "log group {name} belongs to account {group_account}: audit it from that account"
        );
        // Undecidable from here, unless the trail already fails it.
        if work.problems.is_empty() {
            work.status = Status::Manual;
            work.unjudged.push(note);
        } else {
            work.problems.push(note);
        }
        return work.finish();
    }
    let group = match account.log_groups.get(group_arn) {
        Some(Ok(group)) => group,
        Some(Err(e)) => {
            work.errors
                .push(format!("cannot list the metric filters of {name}: {e}"));
            return work.finish();
        }
        None => {
            work.errors
                .push(format!("the metric filters of {name} were not read"));
            return work.finish();
        }
    };
    if !group.exists {
        work.problems.push(format!(
            "log group {name}, where trail {} delivers, does not exist",
            trail.name
        ));
        return work.finish();
    }
    let alarms = match account.alarms.get(region) {
        Some(Ok(alarms)) => Ok(alarms.as_slice()),
        Some(Err(e)) => Err(format!("cannot list the alarms of {region}: {e}")),
        None => Ok(&[][..]),
    };
    judge_filters(&mut work, account, &group.metric_filters, alarms, name);
    work.finish()
}

/// Whether a trail with `selectors` logs the event.
fn logs(selectors: &Selectors, event: &str) -> bool {
    // Catalogue events carry an eventID and an eventTime, so they always parse.
    let Ok(event) = TrailEvent::parse(event.to_owned()) else {
        return true;
    };
    match selectors {
        Selectors::Basic(basic) => engine::trails::selects(basic, None, &event),
        Selectors::Advanced(advanced) => engine::trails::selects(&[], Some(advanced), &event),
    }
}

fn judge_filters(
    work: &mut Work<'_>,
    account: &Account,
    filters: &[MetricFilter],
    alarms: Result<&[Alarm], String>,
    group: &str,
) {
    let control = work.control;
    // Alarms that could not be listed leave only the filters to judge: a call they miss is a
    // failure all the same; otherwise nothing is decided.
    let (alarms, alarms_unread) = match alarms {
        Ok(alarms) => (alarms, None),
        Err(e) => (&[][..], Some(e)),
    };
    // What could not be read along the chains: it matters only if no chain works.
    let mut unread = Vec::new();
    for filter in filters {
        let judgement = Judgement::of(control, &filter.pattern);
        if judgement.is_for_control() {
            let evidence = chain(account, filter, judgement, alarms, &mut unread);
            work.evidence.filters.push(evidence);
        } else if names_calls_of(control, &filter.pattern) {
            let evidence = chain(account, filter, judgement, alarms, &mut Vec::new());
            work.evidence.look_alikes.push(evidence);
        }
    }
    // Look-alikes explain a control no filter comes close to; beside one that does, they
    // are noise.
    if !work.evidence.filters.is_empty() {
        work.evidence.look_alikes.clear();
    }
    // The filters closest to the control first: they lead the evidence and its problems.
    work.evidence.filters.sort_by_key(closeness);
    let labels = |judgements: Vec<&Judgement>| -> Vec<String> {
        judge::missing(control, &judgements)
            .iter()
            .map(|e| e.label.clone())
            .collect()
    };
    let filters = &work.evidence.filters;
    let unmatched = labels(filters.iter().map(|f| &f.judgement).collect());
    let unnotified: Vec<String> = labels(
        filters
            .iter()
            .filter(|f| f.notifies)
            .map(|f| &f.judgement)
            .collect(),
    )
    .into_iter()
    .filter(|l| !unmatched.contains(l))
    .collect();
    work.missing = unmatched
        .iter()
        .map(|l| judge::short_name(l).to_owned())
        .collect();
    if filters.is_empty() {
        work.problems.push(format!(
            "no metric filter on {group} matches any event the control names"
        ));
    } else if !unmatched.is_empty() {
        work.problems.push(format!(
            "no metric filter on {group} matches {}",
            work.missing.join(", ")
        ));
    }
    if !unmatched.is_empty() {
        return;
    }
    if let Some(e) = alarms_unread {
        work.errors.push(e);
        return;
    }
    if !unnotified.is_empty() {
        work.errors.append(&mut unread);
        for f in filters.iter().filter(|f| !f.notifies) {
            work.problems
                .push(format!("filter {}: {}", f.name, f.problems.join("; ")));
        }
        return;
    }
    choose_meeting(control, &mut work.evidence.filters);
    let meeting: Vec<&FilterEvidence> = work.evidence.filters.iter().filter(|f| f.meets).collect();
    if meeting.len() > 1 {
        let names: Vec<&str> = meeting.iter().map(|f| f.name.as_str()).collect();
        work.warnings.push(format!(
            "met by {} filters together (split): {}",
            names.len(),
            names.join(", ")
        ));
    }
    for f in &meeting {
        if !f.alarms.iter().any(|a| a.problems.is_empty() && a.judged) {
            let names: Vec<&str> = f.alarms.iter().map(|a| a.alarm.name.as_str()).collect();
            work.unjudged.push(format!(
                "filter {} is watched only by {}, whose response to one event the audit cannot judge: {}",
                f.name,
                names.join(", "),
                f.alarms
                    .iter()
                    .filter_map(|a| a.unjudged.as_deref())
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        let noise: Vec<&str> = f.judgement.matched(Role::Negative).collect();
        if !noise.is_empty() {
            work.warnings.push(format!(
                "filter {} is broader than the control: it also matches {}",
                f.name,
                noise.join(", ")
            ));
        }
    }
    let obsolete: Vec<&str> = control
        .required()
        .filter(|e| e.obsolete)
        .filter(|e| {
            !meeting
                .iter()
                .any(|f| f.judgement.matched(Role::Obsolete).any(|m| m == e.label))
        })
        .map(|e| judge::short_name(&e.label))
        .collect();
    if !obsolete.is_empty() {
        work.warnings.push(format!(
            "not matched, and no longer possible since EC2-Classic retired: {}",
            obsolete.join(", ")
        ));
    }
}

/// Whether a pattern's text names one of the calls the control asks for.
fn names_calls_of(control: &Control<'_>, pattern: &str) -> bool {
    control
        .required()
        .filter_map(|e| e.event_name())
        .any(|name| pattern.contains(name.as_str()))
}

/// Orders filters: most required events caught first, then least noise.
fn closeness(f: &FilterEvidence) -> (std::cmp::Reverse<usize>, usize) {
    (
        std::cmp::Reverse(f.judgement.matched(Role::Required).count()),
        f.judgement.matched(Role::Negative).count(),
    )
}

/// Marks the filters that meet the control: one that does alone, else the fewest found by
/// taking, each time, the one catching the most of what is still missed.
fn choose_meeting(control: &Control<'_>, filters: &mut [FilterEvidence]) {
    // Filters are in order of closeness: the first that does alone is the tightest.
    if let Some(one) = filters
        .iter_mut()
        .find(|f| f.notifies && f.judgement.covers())
    {
        one.meets = true;
        return;
    }
    let mut left: BTreeSet<&str> = control
        .required()
        .filter(|e| !e.obsolete)
        .map(|e| e.label.as_str())
        .collect();
    let mut chosen = Vec::new();
    while !left.is_empty() {
        let best = filters
            .iter()
            .enumerate()
            .filter(|(_, f)| f.notifies)
            .map(|(i, f)| {
                let caught = f
                    .judgement
                    .matched(Role::Required)
                    .filter(|m| left.contains(m))
                    .count();
                (caught, std::cmp::Reverse(i))
            })
            .max();
        let Some((_, std::cmp::Reverse(i))) = best.filter(|b| b.0 > 0) else {
            break;
        };
        for m in filters[i].judgement.matched(Role::Required) {
            left.remove(m);
        }
        chosen.push(i);
    }
    for i in chosen {
        filters[i].meets = true;
    }
}

/// Follows one filter's matches to the people told of them.
fn chain(
    account: &Account,
    filter: &MetricFilter,
    judgement: Judgement,
    alarms: &[Alarm],
    errors: &mut Vec<String>,
) -> FilterEvidence {
    let mut evidence = FilterEvidence {
        name: filter.name.clone(),
        judgement,
        metric: filter.transformations.first().cloned(),
        alarms: Vec::new(),
        notifies: false,
        meets: false,
        problems: Vec::new(),
    };
    let Some(metric) = &evidence.metric else {
        evidence.problems.push("it publishes no metric".to_owned());
        return evidence;
    };
    for alarm in alarms.iter().filter(|a| watches(a, metric)) {
        evidence
            .alarms
            .push(judge_alarm(account, alarm, metric, errors));
    }
    evidence.notifies = evidence.alarms.iter().any(|a| a.problems.is_empty());
    if evidence.alarms.is_empty() {
        evidence.problems.push(format!(
            "no alarm watches its metric {}/{}{}",
            metric.namespace,
            metric.name,
            dimensions_text(metric)
        ));
    } else if !evidence.notifies {
        for a in &evidence.alarms {
            evidence
                .problems
                .push(format!("alarm {} {}", a.alarm.name, a.problems.join("; ")));
        }
    }
    evidence
}

fn dimensions_text(metric: &Transformation) -> String {
    if metric.dimensions.is_empty() {
        return String::new();
    }
    let keys: Vec<&str> = metric.dimensions.keys().map(String::as_str).collect();
    format!(" (dimensions {})", keys.join(", "))
}

/// Whether an alarm watches the metric a filter publishes: same namespace, name and
/// dimension names (a filter's dimensions take their values from each event).
fn watches(alarm: &Alarm, metric: &Transformation) -> bool {
    let same = |namespace: &str, name: &str, dims: &std::collections::BTreeMap<String, String>| {
        namespace == metric.namespace
            && name == metric.name
            && dims.keys().eq(metric.dimensions.keys())
    };
    match (&alarm.namespace, &alarm.metric_name) {
        (Some(ns), Some(name)) => same(ns, name, &alarm.dimensions),
        _ => alarm
            .metrics
            .iter()
            .any(|q| same(&q.namespace, &q.name, &q.dimensions)),
    }
}

fn judge_alarm(
    account: &Account,
    alarm: &Alarm,
    metric: &Transformation,
    errors: &mut Vec<String>,
) -> AlarmEvidence {
    let mut problems = Vec::new();
    if !alarm.actions_enabled {
        problems.push("has its actions disabled".to_owned());
    }
    let unjudged = if alarm.metric_name.is_none() {
        Some(format!("{} is an alarm on metric math", alarm.name))
    } else if !metric.dimensions.is_empty() {
        Some(format!(
            "{} watches one value of dimensions the filter takes from each event",
            alarm.name
        ))
    } else {
        if let Err(why) = one_event_trips(alarm, metric) {
            problems.push(why);
        }
        None
    };
    let mut topics = Vec::new();
    for arn in alarm.alarm_actions.iter().filter(|a| is_topic(a)) {
        let mut topic = TopicEvidence {
            arn: arn.clone(),
            exists: false,
            subscriptions: Vec::new(),
            problem: None,
        };
        match account.topics.get(arn) {
            Some(Ok(Some(subscriptions))) => {
                topic.exists = true;
                topic.subscriptions = subscriptions.clone();
                let pending = subscriptions.iter().filter(|s| !s.confirmed()).count();
                if pending == subscriptions.len() {
                    topic.problem = Some(if pending == 0 {
                        "has no subscription".to_owned()
                    } else {
                        format!("has no confirmed subscription ({pending} pending confirmation)")
                    });
                }
            }
            Some(Ok(None)) => topic.problem = Some("does not exist".to_owned()),
            Some(Err(e)) => {
                errors.push(format!("cannot list the subscriptions of {arn}: {e}"));
                topic.problem = Some(format!("could not be read: {e}"));
            }
            None => topic.problem = Some("was not read".to_owned()),
        }
        topics.push(topic);
    }
    if topics.is_empty() {
        problems.push("has no ALARM action notifying an SNS topic".to_owned());
    } else if topics.iter().all(|t| t.problem.is_some()) {
        for t in &topics {
            problems.push(format!(
                "notifies topic {}, which {}",
                t.arn,
                t.problem.as_deref().unwrap_or_default()
            ));
        }
    }
    AlarmEvidence {
        alarm: alarm.clone(),
        judged: unjudged.is_none(),
        unjudged,
        topics,
        problems,
    }
}

/// Whether the datapoint one matching event makes puts the alarm in ALARM.
fn one_event_trips(alarm: &Alarm, metric: &Transformation) -> Result<(), String> {
    if alarm.treat_missing_data.as_deref() == Some("breaching") {
        return Err(
            "treats missing data as breaching: it is in ALARM while nothing happens, so an event changes nothing"
                .to_owned(),
        );
    }
    if let Some(unit) = &alarm.unit
        && metric.unit.as_deref().unwrap_or("None") != unit
    {
        return Err(format!(
            "asks for unit {unit}, which the filter's metric is not published in: it sees no data"
        ));
    }
    let statistic = alarm
        .statistic
        .as_deref()
        .or(alarm.extended_statistic.as_deref())
        .unwrap_or("Sum");
    // A default value is published for every event the filter does not match: it dilutes
    // averages and minimums, and SampleCount counts every event of the log group.
    if let Some(default) = metric.default_value
        && (matches!(statistic, "Average" | "Minimum" | "SampleCount")
            || alarm.extended_statistic.is_some())
    {
        return Err(format!(
            "is on the {statistic} of a metric whose filter publishes {default} for every other event: one event does not decide it"
        ));
    }
    if alarm.extended_statistic.is_some()
        && alarm.evaluate_low_sample_count_percentile.as_deref() == Some("ignore")
    {
        return Err(
            "ignores percentiles over few samples: a period with one event is not evaluated"
                .to_owned(),
        );
    }
    let needed = alarm
        .datapoints_to_alarm
        .unwrap_or(alarm.evaluation_periods);
    if needed > 1 {
        return Err(format!(
            "needs {needed} breaching periods out of {}: one event makes one",
            alarm.evaluation_periods
        ));
    }
    let Some(threshold) = alarm.threshold else {
        return Ok(());
    };
    // A value taken from the event (`$.field`) cannot be judged without the event.
    let Ok(value) = metric.value.parse::<f64>() else {
        return Ok(());
    };
    let datapoint = match alarm.statistic.as_deref() {
        Some("SampleCount") => 1.0,
        _ => value,
    };
    let trips = match alarm.comparison_operator.as_str() {
        "GreaterThanOrEqualToThreshold" => datapoint >= threshold,
        "GreaterThanThreshold" => datapoint > threshold,
        // Below a threshold, an alarm fires on the absence of events, never on one.
        _ => false,
    };
    if trips {
        Ok(())
    } else {
        Err(format!(
            "is not tripped by one event: its {statistic} of {datapoint} is not {} {threshold}",
            alarm.comparison_operator
        ))
    }
}
