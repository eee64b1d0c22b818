//! What applying a file to an endpoint changes: the file against what the endpoint has, item by
//! item, as the calls that make the endpoint match.

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    Alarm, File, Item, LogGroup, MetricFilter, MetricTransformation, Subscription, Topic, Trail,
};

/// What an endpoint has of what files describe.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Current {
    /// Its set-up as a file: every log group, the metric filters of every log group, every
    /// alarm (actions as ARNs) and every topic with its subscriptions and the attributes a
    /// file can set.
    pub file: File,
    /// Each topic's ARN, by name.
    pub topic_arns: BTreeMap<String, String>,
    /// Each subscription's ARN (`PendingConfirmation` until confirmed), by topic name,
    /// protocol and endpoint.
    pub subscription_arns: BTreeMap<(String, String, String), String>,
}

impl Current {
    /// Adds a topic as an endpoint lists it: its ARN, its attributes and its subscriptions,
    /// each with its ARN (`PendingConfirmation` until confirmed). Attributes a file does not
    /// set are left out.
    pub fn add_topic(
        &mut self,
        arn: String,
        mut attributes: BTreeMap<String, String>,
        subscriptions: Vec<(Subscription, String)>,
    ) {
        let name = arn.rsplit(':').next().unwrap_or_default().to_owned();
        attributes.retain(|k, _| TOPIC_ATTRIBUTES_KEPT.contains(&k.as_str()));
        let mut topic = Topic {
            name: name.clone(),
            attributes,
            subscriptions: Vec::new(),
        };
        for (mut sub, sub_arn) in subscriptions {
            sub.attributes
                .retain(|k, _| SUBSCRIPTION_ATTRIBUTES_KEPT.contains(&k.as_str()));
            self.subscription_arns.insert(
                (name.clone(), sub.protocol.clone(), sub.endpoint.clone()),
                sub_arn,
            );
            topic.subscriptions.push(sub);
        }
        self.topic_arns.insert(name, arn);
        self.file.topics.push(topic);
    }
}

/// Whether a subscription ARN is one of a confirmed subscription: until then endpoints list
/// it as `PendingConfirmation`, and nothing can be set on it or remove it.
pub fn is_confirmed(subscription_arn: &str) -> bool {
    subscription_arn.starts_with("arn:")
}

/// The topic attributes a file can set.
pub const TOPIC_ATTRIBUTES_KEPT: &[&str] = &[
    "ContentBasedDeduplication",
    "DisplayName",
    "FifoTopic",
    "Policy",
    "DeliveryPolicy",
    "KmsMasterKeyId",
    "SignatureVersion",
    "TracingConfig",
];

/// Subscription attributes a file can set.
pub const SUBSCRIPTION_ATTRIBUTES_KEPT: &[&str] = &[
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
];

/// How an item changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verb {
    Create,
    Update,
    Delete,
    Unchanged,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Delete => "delete",
            Verb::Unchanged => "unchanged",
        }
    }
}

/// One call to the endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    CreateLogGroup(usize),
    PutRetentionPolicy(usize),
    DeleteRetentionPolicy(usize),
    PutMetricFilter(usize),
    /// The alarm, its topic names to be made ARNs when the call is made.
    PutMetricAlarm(usize),
    CreateTopic(usize),
    SetTopicAttributes(usize, String, String),
    Subscribe(usize, usize),
    SetSubscriptionAttributes {
        arn: String,
        name: String,
        value: String,
    },
    DeleteMetricFilter {
        log_group_name: String,
        filter_name: String,
    },
    DeleteAlarm(String),
    Unsubscribe(String),
    /// CreateTrail with its tags, its log group made an ARN when the call is made.
    CreateTrail(usize),
    UpdateTrail(usize),
    /// AddTags: the file's tags of the trail.
    TagTrail(usize),
    /// StartLogging (`true`) or StopLogging.
    SetLogging(usize, bool),
    DeleteTrail(String),
}

/// One item's change and the calls making it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub verb: Verb,
    /// `log group`, `metric filter`, `alarm`, `topic`, `subscription`.
    pub kind: &'static str,
    pub name: String,
    /// What differs, for an update.
    pub detail: Vec<String>,
    /// The item of the file, where it is one.
    pub item: Option<Item>,
    pub calls: Vec<Call>,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:<9} {} {}", self.verb.as_str(), self.kind, self.name)?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail.join(", "))?;
        }
        Ok(())
    }
}

/// The changes that make `current` match `file`, in the order their calls must be made (a log
/// group before its filters, topics before the alarms naming them, deletions last). Nothing is
/// deleted unless `prune`; then what the file no longer declares of what it manages goes: the
/// metric filters of its log groups, the alarms in the metric namespaces it uses (but AWS's
/// own, `AWS/…`), the subscriptions of its topics. Log groups and topics it does not name are never deleted: they
/// hold events and other subscribers.
pub fn plan(file: &File, current: &Current, prune: bool) -> Vec<Change> {
    let mut changes = Vec::new();
    for (i, g) in file.log_groups.iter().enumerate() {
        changes.push(log_group(i, g, current));
    }
    for (i, t) in file.topics.iter().enumerate() {
        changes.extend(topic(i, t, current, prune));
    }
    for (i, t) in file.trails.iter().enumerate() {
        changes.push(trail(i, t, current));
    }
    for (i, m) in file.metric_filters.iter().enumerate() {
        changes.push(metric_filter(i, m, current));
    }
    for (i, a) in file.alarms.iter().enumerate() {
        changes.push(alarm(i, a, file, current));
    }
    if prune {
        changes.extend(prunes(file, current));
    }
    changes
}

fn change(verb: Verb, kind: &'static str, name: &str, item: Option<Item>) -> Change {
    Change {
        verb,
        kind,
        name: name.to_owned(),
        detail: Vec::new(),
        item,
        calls: Vec::new(),
    }
}

fn log_group(i: usize, g: &LogGroup, current: &Current) -> Change {
    let item = Some(Item::LogGroup(i));
    let name = &g.log_group_name;
    let Some(have) = current
        .file
        .log_groups
        .iter()
        .find(|h| &h.log_group_name == name)
    else {
        let mut c = change(Verb::Create, "log group", name, item);
        c.calls.push(Call::CreateLogGroup(i));
        if g.retention_in_days.is_some() {
            c.calls.push(Call::PutRetentionPolicy(i));
        }
        return c;
    };
    if have.retention_in_days == g.retention_in_days {
        return change(Verb::Unchanged, "log group", name, item);
    }
    let mut c = change(Verb::Update, "log group", name, item);
    c.detail.push(format!(
        "retention_in_days {} → {}",
        days(have.retention_in_days),
        days(g.retention_in_days)
    ));
    c.calls.push(match g.retention_in_days {
        Some(_) => Call::PutRetentionPolicy(i),
        None => Call::DeleteRetentionPolicy(i),
    });
    c
}

/// A trail with CloudTrail's defaults filled in and its log group by name, so that two
/// descriptions of one trail compare equal.
pub fn normalized_trail(t: &Trail) -> Trail {
    Trail {
        s3_key_prefix: t.s3_key_prefix.clone().filter(|p| !p.is_empty()),
        sns_topic_name: t.sns_topic_name.clone().filter(|p| !p.is_empty()),
        is_multi_region_trail: Some(t.is_multi_region_trail.unwrap_or(false)),
        include_global_service_events: Some(t.include_global_service_events.unwrap_or(true)),
        enable_log_file_validation: Some(t.enable_log_file_validation.unwrap_or(false)),
        is_organization_trail: Some(t.is_organization_trail.unwrap_or(false)),
        cloud_watch_logs_log_group_arn: t.log_group_name().map(str::to_owned),
        is_logging: Some(t.is_logging.unwrap_or(true)),
        ..t.clone()
    }
}

fn trail(i: usize, t: &Trail, current: &Current) -> Change {
    let item = Some(Item::Trail(i));
    let want = normalized_trail(t);
    let logging = want.is_logging != Some(false);
    let Some(have) = current.file.trails.iter().find(|h| h.name == t.name) else {
        let mut c = change(Verb::Create, "trail", &t.name, item);
        c.calls.push(Call::CreateTrail(i));
        if logging {
            c.calls.push(Call::SetLogging(i, true));
        }
        return c;
    };
    let have = normalized_trail(have);
    let configured = |t: &Trail| Trail {
        is_logging: None,
        tags: BTreeMap::new(),
        ..t.clone()
    };
    let mut c = change(Verb::Unchanged, "trail", &t.name, item);
    if configured(&have) != configured(&want) {
        c.detail = differing_keys(&configured(&have), &configured(&want));
        c.calls.push(Call::UpdateTrail(i));
    }
    if want.tags.iter().any(|(k, v)| have.tags.get(k) != Some(v)) {
        c.detail.push("tags".to_owned());
        c.calls.push(Call::TagTrail(i));
    }
    if have.is_logging != want.is_logging {
        c.detail.push("is_logging".to_owned());
        c.calls.push(Call::SetLogging(i, logging));
    }
    if !c.calls.is_empty() {
        c.verb = Verb::Update;
    }
    c
}

fn days(d: Option<i64>) -> String {
    d.map_or_else(|| "never expire".to_owned(), |d| d.to_string())
}

fn metric_filter(i: usize, m: &MetricFilter, current: &Current) -> Change {
    let item = Some(Item::MetricFilter(i));
    let name = format!("{} on {}", m.filter_name, m.log_group_name);
    let have = current
        .file
        .metric_filters
        .iter()
        .find(|h| h.log_group_name == m.log_group_name && h.filter_name == m.filter_name);
    let mut c = match have {
        None => change(Verb::Create, "metric filter", &name, item),
        Some(h) => {
            let mut detail = Vec::new();
            if h.filter_pattern != m.filter_pattern {
                detail.push("filter_pattern".to_owned());
            }
            if normalized_transformations(&h.metric_transformations)
                != normalized_transformations(&m.metric_transformations)
            {
                detail.push("metric_transformations".to_owned());
            }
            if detail.is_empty() {
                return change(Verb::Unchanged, "metric filter", &name, item);
            }
            let mut c = change(Verb::Update, "metric filter", &name, item);
            c.detail = detail;
            c
        }
    };
    c.calls.push(Call::PutMetricFilter(i));
    c
}

/// Transformations with the unit CloudWatch Logs reports for none (`None`) taken as none.
fn normalized_transformations(ts: &[MetricTransformation]) -> Vec<MetricTransformation> {
    ts.iter()
        .map(|t| MetricTransformation {
            unit: t.unit.clone().filter(|u| u != "None"),
            ..t.clone()
        })
        .collect()
}

/// An alarm with CloudWatch's defaults filled in and its actions as ARNs where the topic's ARN
/// is known, in order, so that two descriptions of one alarm compare equal.
pub fn normalized(a: &Alarm, file: &File, topic_arns: &BTreeMap<String, String>) -> Alarm {
    let arns = |actions: &[String]| {
        let mut out = file.action_arns(actions, topic_arns);
        out.sort();
        out.dedup();
        out
    };
    Alarm {
        alarm_description: a.alarm_description.clone().filter(|d| !d.is_empty()),
        actions_enabled: Some(a.actions_enabled.unwrap_or(true)),
        alarm_actions: arns(&a.alarm_actions),
        ok_actions: arns(&a.ok_actions),
        insufficient_data_actions: arns(&a.insufficient_data_actions),
        datapoints_to_alarm: Some(a.datapoints_to_alarm.unwrap_or(a.evaluation_periods)),
        treat_missing_data: Some(
            a.treat_missing_data
                .clone()
                .unwrap_or_else(|| "missing".to_owned()),
        ),
        ..a.clone()
    }
}

fn alarm(i: usize, a: &Alarm, file: &File, current: &Current) -> Change {
    let item = Some(Item::Alarm(i));
    let have = current
        .file
        .alarms
        .iter()
        .find(|h| h.alarm_name == a.alarm_name);
    let mut c = match have {
        None => change(Verb::Create, "alarm", &a.alarm_name, item),
        Some(h) => {
            let want = normalized(a, file, &current.topic_arns);
            let have = normalized(h, &current.file, &BTreeMap::new());
            if want == have {
                return change(Verb::Unchanged, "alarm", &a.alarm_name, item);
            }
            let mut c = change(Verb::Update, "alarm", &a.alarm_name, item);
            c.detail = differing_keys(&have, &want);
            c
        }
    };
    c.calls.push(Call::PutMetricAlarm(i));
    c
}

/// The keys whose values differ between two items, by their TOML form.
fn differing_keys<T: serde::Serialize>(have: &T, want: &T) -> Vec<String> {
    let (Ok(toml::Value::Table(have)), Ok(toml::Value::Table(want))) =
        (toml::Value::try_from(have), toml::Value::try_from(want))
    else {
        return vec!["configuration".to_owned()];
    };
    let keys: BTreeSet<&String> = have.keys().chain(want.keys()).collect();
    keys.into_iter()
        .filter(|k| have.get(*k) != want.get(*k))
        .cloned()
        .collect()
}

fn topic(i: usize, t: &Topic, current: &Current, prune: bool) -> Vec<Change> {
    let item = Some(Item::Topic(i));
    let have = current.file.topics.iter().find(|h| h.name == t.name);
    let mut c = match have {
        None => {
            // Made with its attributes: some (FifoTopic) can only be given at creation.
            let mut c = change(Verb::Create, "topic", &t.name, item);
            c.calls.push(Call::CreateTopic(i));
            c
        }
        Some(_) => change(Verb::Unchanged, "topic", &t.name, item),
    };
    if let Some(have) = have {
        for (name, value) in &t.attributes {
            let had = have.attributes.get(name);
            if had.is_some_and(|had| same_attribute(had, value)) {
                continue;
            }
            c.verb = Verb::Update;
            c.detail.push(name.clone());
            c.calls
                .push(Call::SetTopicAttributes(i, name.clone(), value.clone()));
        }
    }
    let mut changes = vec![c];
    for (s, sub) in t.subscriptions.iter().enumerate() {
        changes.push(subscription(i, s, t, sub, have, current));
    }
    if prune && let Some(have) = have {
        for sub in &have.subscriptions {
            if t.subscriptions
                .iter()
                .any(|w| w.protocol == sub.protocol && w.endpoint == sub.endpoint)
            {
                continue;
            }
            let key = (t.name.clone(), sub.protocol.clone(), sub.endpoint.clone());
            let Some(arn) = current.subscription_arns.get(&key) else {
                continue;
            };
            let mut c = change(
                Verb::Delete,
                "subscription",
                &format!("{}:{} to {}", sub.protocol, sub.endpoint, t.name),
                None,
            );
            if is_confirmed(arn) {
                c.calls.push(Call::Unsubscribe(arn.clone()));
            } else {
                // A subscription waiting for confirmation cannot be removed; it expires.
                c.verb = Verb::Unchanged;
                c.detail.push("pending confirmation: it expires".to_owned());
            }
            changes.push(c);
        }
    }
    changes
}

/// Attributes compare as JSON where both are JSON (policies written with other spacing or key
/// order are the same policy).
fn same_attribute(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x.is_object() && x == y,
        _ => false,
    }
}

fn subscription(
    t: usize,
    s: usize,
    topic: &Topic,
    sub: &Subscription,
    have_topic: Option<&Topic>,
    current: &Current,
) -> Change {
    let item = Some(Item::Subscription(t, s));
    let name = format!("{}:{} to {}", sub.protocol, sub.endpoint, topic.name);
    let have = have_topic.and_then(|h| {
        h.subscriptions
            .iter()
            .find(|h| h.protocol == sub.protocol && h.endpoint == sub.endpoint)
    });
    let Some(have) = have else {
        let mut c = change(Verb::Create, "subscription", &name, item);
        c.calls.push(Call::Subscribe(t, s));
        return c;
    };
    let key = (
        topic.name.clone(),
        sub.protocol.clone(),
        sub.endpoint.clone(),
    );
    let arn = current.subscription_arns.get(&key).cloned();
    let mut c = change(Verb::Unchanged, "subscription", &name, item);
    for (attr, value) in &sub.attributes {
        if have
            .attributes
            .get(attr)
            .is_some_and(|had| same_attribute(had, value))
        {
            continue;
        }
        c.verb = Verb::Update;
        c.detail.push(attr.clone());
        match &arn {
            Some(arn) if is_confirmed(arn) => c.calls.push(Call::SetSubscriptionAttributes {
                arn: arn.clone(),
                name: attr.clone(),
                value: value.clone(),
            }),
            // Attributes of a subscription waiting for confirmation cannot be set yet: it
            // stands as it is until then.
            _ => {
                c.verb = Verb::Unchanged;
                c.detail.push("set once confirmed".to_owned());
            }
        }
    }
    c
}

fn prunes(file: &File, current: &Current) -> Vec<Change> {
    let mut changes = Vec::new();
    let groups: BTreeSet<&str> = file
        .log_groups
        .iter()
        .map(|g| g.log_group_name.as_str())
        .collect();
    for h in &current.file.metric_filters {
        let declared = file
            .metric_filters
            .iter()
            .any(|m| m.log_group_name == h.log_group_name && m.filter_name == h.filter_name);
        if declared || !groups.contains(h.log_group_name.as_str()) {
            continue;
        }
        let mut c = change(
            Verb::Delete,
            "metric filter",
            &format!("{} on {}", h.filter_name, h.log_group_name),
            None,
        );
        c.calls.push(Call::DeleteMetricFilter {
            log_group_name: h.log_group_name.clone(),
            filter_name: h.filter_name.clone(),
        });
        changes.push(c);
    }
    // The namespaces the file's metric filters write, and its alarms' own outside AWS's
    // (`AWS/EC2` and the like hold other teams' alarms too).
    let namespaces: BTreeSet<&str> = file
        .alarms
        .iter()
        .map(|a| a.namespace.as_str())
        .filter(|n| !n.starts_with("AWS/"))
        .chain(
            file.metric_filters
                .iter()
                .flat_map(|m| &m.metric_transformations)
                .map(|t| t.metric_namespace.as_str()),
        )
        .collect();
    for h in &current.file.alarms {
        if file.alarms.iter().any(|a| a.alarm_name == h.alarm_name)
            || !namespaces.contains(h.namespace.as_str())
        {
            continue;
        }
        let mut c = change(Verb::Delete, "alarm", &h.alarm_name, None);
        c.calls.push(Call::DeleteAlarm(h.alarm_name.clone()));
        changes.push(c);
    }
    // Trails homed where the file is applied that it does not declare.
    for h in &current.file.trails {
        if file.trails.iter().any(|t| t.name == h.name) {
            continue;
        }
        let mut c = change(Verb::Delete, "trail", &h.name, None);
        c.calls.push(Call::DeleteTrail(h.name.clone()));
        changes.push(c);
    }
    changes
}

/// Whether a topic attribute is what every topic has unless told otherwise: an export leaves
/// it out (a default policy names its account, which another endpoint's topic would not).
fn is_default_topic_attribute(name: &str, value: &str) -> bool {
    match name {
        "Policy" => value.contains("__default_statement_ID"),
        "SignatureVersion" => value == "1",
        "FifoTopic" | "ContentBasedDeduplication" => value == "false",
        _ => value.is_empty(),
    }
}

/// `current`'s set-up as a file that, applied to another endpoint, makes the same: actions
/// naming one of its topics name it by its name.
pub fn export(current: &Current) -> File {
    let mut file = current.file.clone();
    let names: BTreeMap<&str, &str> = current
        .topic_arns
        .iter()
        .map(|(name, arn)| (arn.as_str(), name.as_str()))
        .collect();
    for t in &mut file.topics {
        t.attributes
            .retain(|name, value| !is_default_topic_attribute(name, value));
        for sub in &mut t.subscriptions {
            sub.attributes.retain(|name, value| {
                !(value.is_empty() || name == "RawMessageDelivery" && value == "false")
            });
        }
    }
    for m in &mut file.metric_filters {
        m.metric_transformations = normalized_transformations(&m.metric_transformations);
    }
    // A trail's log group by name when the export declares it; CloudTrail's defaults left out.
    let groups: BTreeSet<String> = file
        .log_groups
        .iter()
        .map(|g| g.log_group_name.clone())
        .collect();
    for t in &mut file.trails {
        if let Some(name) = t.log_group_name().map(str::to_owned)
            && groups.contains(&name)
        {
            t.cloud_watch_logs_log_group_arn = Some(name);
        }
        let defaults = normalized_trail(&Trail {
            name: String::new(),
            s3_bucket_name: String::new(),
            s3_key_prefix: None,
            sns_topic_name: None,
            is_multi_region_trail: None,
            include_global_service_events: None,
            enable_log_file_validation: None,
            is_organization_trail: None,
            cloud_watch_logs_log_group_arn: None,
            cloud_watch_logs_role_arn: None,
            kms_key_id: None,
            is_logging: None,
            tags: BTreeMap::new(),
        });
        for (value, default) in [
            (&mut t.is_multi_region_trail, defaults.is_multi_region_trail),
            (
                &mut t.include_global_service_events,
                defaults.include_global_service_events,
            ),
            (
                &mut t.enable_log_file_validation,
                defaults.enable_log_file_validation,
            ),
            (&mut t.is_organization_trail, defaults.is_organization_trail),
            (&mut t.is_logging, defaults.is_logging),
        ] {
            if *value == default {
                *value = None;
            }
        }
    }
    for a in &mut file.alarms {
        for actions in [
            &mut a.alarm_actions,
            &mut a.ok_actions,
            &mut a.insufficient_data_actions,
        ] {
            for action in actions.iter_mut() {
                if let Some(name) = names.get(action.as_str()) {
                    *action = (*name).to_owned();
                }
            }
        }
    }
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[log_groups]]
log_group_name = "trail"
retention_in_days = 90

[[metric_filters]]
log_group_name = "trail"
filter_name = "root"
filter_pattern = '{ $.userIdentity.type = "Root" }'
metric_transformations = [{ metric_name = "Root", metric_namespace = "CIS", metric_value = "1" }]

[[alarms]]
alarm_name = "root"
namespace = "CIS"
metric_name = "Root"
statistic = "Sum"
period = 300
evaluation_periods = 1
threshold = 1
comparison_operator = "GreaterThanOrEqualToThreshold"
alarm_actions = ["alerts"]

[[topics]]
name = "alerts"
attributes = { DisplayName = "Alerts" }
subscriptions = [{ protocol = "https", endpoint = "https://hooks.example.com/a" }]
"#;

    const ARN: &str = "arn:aws:sns:us-east-1:111122223333:alerts";

    fn file() -> File {
        File::parse("t.toml", FILE).expect("valid").file
    }

    /// What an endpoint that applied `file` describes: defaults filled in, ARNs for names.
    fn applied(file: &File) -> Current {
        let mut current = Current {
            file: file.clone(),
            ..Current::default()
        };
        current.topic_arns.insert("alerts".into(), ARN.into());
        for a in &mut current.file.alarms {
            a.alarm_actions = vec![ARN.into()];
            a.actions_enabled = Some(true);
            a.treat_missing_data = Some("missing".into());
            a.datapoints_to_alarm = Some(a.evaluation_periods);
        }
        current.subscription_arns.insert(
            (
                "alerts".into(),
                "https".into(),
                "https://hooks.example.com/a".into(),
            ),
            format!("{ARN}:5d1b6c1e"),
        );
        current
    }

    fn verbs(changes: &[Change]) -> Vec<(Verb, &'static str)> {
        changes.iter().map(|c| (c.verb, c.kind)).collect()
    }

    #[test]
    fn on_an_empty_endpoint_everything_is_created_topics_before_alarms() {
        let changes = plan(&file(), &Current::default(), false);
        assert_eq!(
            verbs(&changes),
            [
                (Verb::Create, "log group"),
                (Verb::Create, "topic"),
                (Verb::Create, "subscription"),
                (Verb::Create, "metric filter"),
                (Verb::Create, "alarm"),
            ]
        );
        assert_eq!(
            changes[0].calls,
            [Call::CreateLogGroup(0), Call::PutRetentionPolicy(0)]
        );
        // The topic is made with its attributes.
        assert_eq!(changes[1].calls, [Call::CreateTopic(0)]);
    }

    #[test]
    fn what_the_endpoint_already_has_is_unchanged_defaults_and_arns_included() {
        let f = file();
        let changes = plan(&f, &applied(&f), true);
        assert!(
            changes.iter().all(|c| c.verb == Verb::Unchanged),
            "{changes:#?}"
        );
        assert!(changes.iter().all(|c| c.calls.is_empty()));
    }

    #[test]
    fn a_changed_value_updates_its_item_and_says_which_key() {
        let f = file();
        let current = applied(&f);
        let mut want = f.clone();
        want.alarms[0].threshold = 5.0;
        want.log_groups[0].retention_in_days = None;
        let changes = plan(&want, &current, false);
        let alarm = changes.iter().find(|c| c.kind == "alarm").expect("alarm");
        assert_eq!(alarm.verb, Verb::Update);
        assert_eq!(alarm.detail, ["threshold"]);
        assert_eq!(alarm.calls, [Call::PutMetricAlarm(0)]);
        let group = &changes[0];
        assert_eq!(group.verb, Verb::Update);
        assert_eq!(group.calls, [Call::DeleteRetentionPolicy(0)]);
    }

    #[test]
    fn a_policy_written_differently_is_the_same_policy() {
        let f = file();
        let mut current = applied(&f);
        let mut want = f.clone();
        want.topics[0].attributes.insert(
            "Policy".into(),
            r#"{"Version":"2012-10-17","Statement":[]}"#.into(),
        );
        current.file.topics[0].attributes.insert(
            "Policy".into(),
            "{ \"Statement\": [], \"Version\": \"2012-10-17\" }".into(),
        );
        let changes = plan(&want, &current, false);
        assert!(
            changes.iter().all(|c| c.verb == Verb::Unchanged),
            "{changes:#?}"
        );
    }

    #[test]
    fn nothing_is_deleted_without_prune_and_only_what_the_file_manages_with_it() {
        let f = file();
        let mut current = applied(&f);
        let mut extra = current.file.metric_filters[0].clone();
        extra.filter_name = "old".into();
        current.file.metric_filters.push(extra.clone());
        // A filter on a log group the file does not name is not the file's.
        extra.log_group_name = "lambda".into();
        current.file.metric_filters.push(extra);
        let mut old_alarm = current.file.alarms[0].clone();
        old_alarm.alarm_name = "old".into();
        current.file.alarms.push(old_alarm.clone());
        old_alarm.alarm_name = "billing".into();
        old_alarm.namespace = "AWS/Billing".into();
        current.file.alarms.push(old_alarm);
        current.file.topics[0].subscriptions.push(Subscription {
            protocol: "email".into(),
            endpoint: "old@example.com".into(),
            attributes: BTreeMap::new(),
        });
        current.subscription_arns.insert(
            ("alerts".into(), "email".into(), "old@example.com".into()),
            format!("{ARN}:0ld"),
        );
        assert!(
            plan(&f, &current, false)
                .iter()
                .all(|c| c.verb != Verb::Delete)
        );
        let deletes: Vec<Vec<Call>> = plan(&f, &current, true)
            .into_iter()
            .filter(|c| c.verb == Verb::Delete)
            .map(|c| c.calls)
            .collect();
        assert_eq!(
            deletes,
            [
                vec![Call::Unsubscribe(format!("{ARN}:0ld"))],
                vec![Call::DeleteMetricFilter {
                    log_group_name: "trail".into(),
                    filter_name: "old".into()
                }],
                vec![Call::DeleteAlarm("old".into())],
            ]
        );
    }

    #[test]
    fn an_export_names_its_own_topics_and_applies_back_unchanged() {
        let f = file();
        let current = applied(&f);
        let exported = export(&current);
        assert_eq!(exported.alarms[0].alarm_actions, ["alerts"]);
        let again = File::parse("export.toml", &exported.to_toml())
            .expect("parses")
            .file;
        assert!(
            plan(&again, &current, true)
                .iter()
                .all(|c| c.verb == Verb::Unchanged)
        );
    }

    #[test]
    fn what_endpoints_fill_in_or_cannot_change_yet_is_not_a_change() {
        let f = file();
        let mut current = applied(&f);
        // CloudWatch Logs reports a unit of None for a transformation given none.
        current.file.metric_filters[0].metric_transformations[0].unit = Some("None".into());
        // A subscription waiting for confirmation cannot take attributes yet.
        current
            .subscription_arns
            .values_mut()
            .for_each(|arn| *arn = "PendingConfirmation".into());
        let mut want = f.clone();
        want.topics[0].subscriptions[0]
            .attributes
            .insert("RawMessageDelivery".into(), "true".into());
        let changes = plan(&want, &current, true);
        assert!(
            changes.iter().all(|c| c.verb == Verb::Unchanged),
            "{changes:#?}"
        );
        assert!(changes.iter().all(|c| c.calls.is_empty()));
    }

    #[test]
    fn an_export_leaves_out_what_endpoints_fill_in() {
        let f = file();
        let mut current = applied(&f);
        current.file.metric_filters[0].metric_transformations[0].unit = Some("None".into());
        current.file.topics[0].subscriptions[0]
            .attributes
            .insert("RawMessageDelivery".into(), "false".into());
        current.file.topics[0]
            .attributes
            .insert("SignatureVersion".into(), "1".into());
        let exported = export(&current);
        assert_eq!(
            exported.metric_filters[0].metric_transformations[0].unit,
            None
        );
        assert!(exported.topics[0].subscriptions[0].attributes.is_empty());
        assert!(
            !exported.topics[0]
                .attributes
                .contains_key("SignatureVersion")
        );
    }

    #[test]
    fn prune_leaves_alarms_in_aws_namespaces_to_their_owners() {
        let mut f = file();
        let mut ec2 = f.alarms[0].clone();
        ec2.alarm_name = "cpu".into();
        ec2.namespace = "AWS/EC2".into();
        f.alarms.push(ec2.clone());
        let mut current = applied(&f);
        ec2.alarm_name = "someone-elses-cpu".into();
        current.file.alarms.push(ec2);
        let changes = plan(&f, &current, true);
        assert!(
            changes.iter().all(|c| c.verb != Verb::Delete),
            "{changes:#?}"
        );
    }

    const TRAIL: &str = r#"
[[log_groups]]
log_group_name = "CloudTrail/DefaultLogGroup"

[[trails]]
name = "management"
s3_bucket_name = "audit-logs"
is_multi_region_trail = true
cloud_watch_logs_log_group_arn = "CloudTrail/DefaultLogGroup"
cloud_watch_logs_role_arn = "arn:aws:iam::111122223333:role/ct"
tags = { team = "security" }
"#;

    /// The trail as an endpoint describes it: defaults filled in, the group as an ARN.
    fn described(t: &Trail) -> Trail {
        Trail {
            cloud_watch_logs_log_group_arn: Some(
                "arn:aws:logs:us-east-1:111122223333:log-group:CloudTrail/DefaultLogGroup:*".into(),
            ),
            is_logging: Some(true),
            include_global_service_events: Some(true),
            enable_log_file_validation: Some(false),
            is_organization_trail: Some(false),
            ..t.clone()
        }
    }

    #[test]
    fn a_trail_is_created_logging_and_then_unchanged_its_group_by_name_or_arn() {
        let f = File::parse("t.toml", TRAIL).expect("valid").file;
        let changes = plan(&f, &Current::default(), false);
        assert_eq!(
            verbs(&changes),
            [(Verb::Create, "log group"), (Verb::Create, "trail")]
        );
        assert_eq!(
            changes[1].calls,
            [Call::CreateTrail(0), Call::SetLogging(0, true)]
        );
        let mut current = Current::default();
        current.file.log_groups = f.log_groups.clone();
        current.file.trails = vec![described(&f.trails[0])];
        let again = plan(&f, &current, true);
        assert!(
            again.iter().all(|c| c.verb == Verb::Unchanged),
            "{again:#?}"
        );

        // A stopped trail, a changed key and a new tag: one update saying each.
        current.file.trails[0].is_logging = Some(false);
        current.file.trails[0].s3_key_prefix = Some("old".into());
        current.file.trails[0].tags.clear();
        let update = plan(&f, &current, false);
        let trail = update.iter().find(|c| c.kind == "trail").expect("a trail");
        assert_eq!(trail.verb, Verb::Update);
        assert_eq!(trail.detail, ["s3_key_prefix", "tags", "is_logging"]);
        assert_eq!(
            trail.calls,
            [
                Call::UpdateTrail(0),
                Call::TagTrail(0),
                Call::SetLogging(0, true)
            ]
        );

        // Export names the group, leaves defaults out, and applies back unchanged.
        current.file.trails = vec![described(&f.trails[0])];
        let exported = export(&current);
        assert_eq!(exported.trails, f.trails);
        // Prune removes a trail the file does not declare.
        let mut other = described(&f.trails[0]);
        other.name = "old-trail".into();
        current.file.trails.push(other);
        let pruned = plan(&f, &current, true);
        assert!(
            pruned
                .iter()
                .any(|c| c.verb == Verb::Delete
                    && c.calls == [Call::DeleteTrail("old-trail".into())])
        );
        assert!(
            !plan(&f, &current, false)
                .iter()
                .any(|c| c.verb == Verb::Delete)
        );
    }
}
