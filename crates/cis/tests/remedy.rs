//! The pack as a configuration file: what it adds, what it leaves alone, and the limit of a
//! log group.

use std::collections::BTreeMap;

use cis::Catalogue;
use cis::remedy::{self, Request, Style};
use config::plan::Current;
use config::{LogGroup, MetricFilter, MetricTransformation};

const GROUP: &str = "CloudTrail/DefaultLogGroup";

fn request(style: Style) -> Request {
    Request {
        log_group: GROUP.to_owned(),
        topic: "cis-alarms".to_owned(),
        subscribe: None,
        style,
        region: "us-east-1".to_owned(),
    }
}

fn filter(name: &str, pattern: &str) -> MetricFilter {
    MetricFilter {
        log_group_name: GROUP.to_owned(),
        filter_name: name.to_owned(),
        filter_pattern: pattern.to_owned(),
        metric_transformations: vec![MetricTransformation {
            metric_name: name.to_owned(),
            metric_namespace: "Mine".to_owned(),
            metric_value: "1".to_owned(),
            default_value: None,
            unit: None,
            dimensions: BTreeMap::new(),
        }],
    }
}

fn with_group(retention: Option<i64>, filters: Vec<MetricFilter>) -> Current {
    let mut current = Current::default();
    current.file.log_groups.push(LogGroup {
        log_group_name: GROUP.to_owned(),
        retention_in_days: retention,
    });
    current.file.metric_filters = filters;
    current
}

#[test]
fn an_empty_endpoint_gets_every_control_in_the_chosen_style() {
    let benchmark = Catalogue::get().benchmark("5.0.0").expect("5.0.0");
    let r =
        remedy::remedy(&benchmark, &request(Style::Tight), &Current::default()).expect("a plan");
    assert_eq!(r.added.len(), 15);
    assert!(r.met.is_empty());
    assert_eq!(r.file.metric_filters.len(), 15);
    assert_eq!(r.file.alarms.len(), 15);
    let cmk = r
        .file
        .metric_filters
        .iter()
        .find(|f| f.filter_name == "cis-cmk_disable_or_deletion")
        .expect("filter");
    assert!(
        cmk.filter_pattern
            .starts_with(r#"{ ($.eventSource = "kms.amazonaws.com") && "#),
        "{}",
        cmk.filter_pattern
    );
    let alarm = r
        .file
        .alarms
        .iter()
        .find(|a| a.alarm_name == "cis-cmk_disable_or_deletion")
        .expect("alarm");
    assert_eq!(
        alarm.alarm_description.as_deref(),
        Some(
            "CIS AWS Foundations Benchmark v5.0.0 4.7: Ensure disabling or scheduled deletion of customer created CMKs is monitored"
        )
    );
    assert_eq!(
        (
            alarm.threshold,
            alarm.evaluation_periods,
            alarm.comparison_operator.as_str()
        ),
        (1.0, 1, "GreaterThanOrEqualToThreshold")
    );
    assert_eq!(alarm.alarm_actions, ["cis-alarms"]);
    // The file is one `trailwatch apply` reads.
    let text = r.file.to_toml();
    let parsed = config::File::parse("pack.toml", &text).expect("the pack parses as a config file");
    assert_eq!(parsed.file, r.file);
}

#[test]
fn a_users_filter_is_left_alone_and_the_group_keeps_its_retention() {
    let benchmark = Catalogue::get().benchmark("7.0.0").expect("7.0.0");
    // A filter of the user's that meets the KMS control but has no alarm, and one that meets
    // nothing.
    let current = with_group(
        Some(365),
        vec![
            filter(
                "kms",
                "{ ($.eventName = DisableKey) || ($.eventName = ScheduleKeyDeletion) }",
            ),
            filter("noise", "{ $.eventName = Nothing }"),
        ],
    );
    let r = remedy::remedy(&benchmark, &request(Style::Literal), &current).expect("a plan");
    assert_eq!(r.file.log_groups[0].retention_in_days, Some(365));
    assert!(
        r.file
            .metric_filters
            .iter()
            .all(|f| f.filter_name.starts_with("cis-"))
    );
    // Without an alarm the user's filter does not meet the control: the pack adds its own.
    assert!(r.added.contains(&"cmk_disable_or_deletion".to_owned()));
    let plan = config::plan::plan(&r.file, &current, false);
    assert!(
        plan.iter().all(|c| c.name != "kms" && c.name != "noise"),
        "the user's filters are not in the plan"
    );
}

#[test]
fn a_log_group_holds_at_most_100_filters() {
    let benchmark = Catalogue::get().benchmark("7.0.0").expect("7.0.0");
    let many = (0..90)
        .map(|i| filter(&format!("f{i}"), "{ $.eventName = Nothing }"))
        .collect();
    let e = remedy::remedy(
        &benchmark,
        &request(Style::Literal),
        &with_group(None, many),
    )
    .expect_err("over the limit");
    assert_eq!(
        e,
        "log group CloudTrail/DefaultLogGroup has 90 metric filters; the 15 the pack adds would pass the limit of 100 a log group holds"
    );
    let fewer = (0..85)
        .map(|i| filter(&format!("f{i}"), "{ $.eventName = Nothing }"))
        .collect();
    assert!(
        remedy::remedy(
            &benchmark,
            &request(Style::Literal),
            &with_group(None, fewer)
        )
        .is_ok()
    );
}
