//! The audit on accounts built in memory: every link of the chain trail → log group → filter
//! → metric → alarm → topic → subscription, broken one at a time.

use std::collections::BTreeMap;

use cis::account::{
    Alarm, LogGroup, MetricFilter, MetricQuery, Selectors, Subscription, Trail, TrailStatus,
};
use cis::{Catalogue, Report, Status};
use engine::trails::api::{AdvancedEventSelector, AdvancedFieldSelector, EventSelector};

mod common;

use common::{
    GROUP_ARN, TOPIC, alarm, alarm_on, alarms, audit, compliant, filter, filters, finding, metric,
    trail,
};

fn only_failures(report: &Report) -> Vec<(&str, Status)> {
    report
        .findings
        .iter()
        .filter(|f| f.status != Status::Pass)
        .map(|f| (f.control.as_str(), f.status))
        .collect()
}

#[test]
fn the_benchmark_strings_pass_every_version() {
    for version in Catalogue::get().versions() {
        let report = audit(&compliant(version), version);
        assert_eq!(only_failures(&report), [], "v{version}: {report:#?}");
        let iam = finding(&report, "iam_policy_changes");
        assert_eq!(
            iam.summary,
            "filter iam_policy_changes on CloudTrail/Default catches every required event; alarm iam_policy_changes notifies a confirmed subscriber"
        );
    }
    // v1.3–1.5's unauthorized-calls string alarms on nearly every call: it passes, with a
    // warning.
    let report = audit(&compliant("1.4.0"), "1.4.0");
    let f = finding(&report, "unauthorized_api_calls");
    assert_eq!(
        f.warnings,
        [
            "filter unauthorized_api_calls is broader than the control: it also matches successful call (no errorCode), throttling error, not-found error"
        ]
    );
    // v7.0's VPC string has the ClassicLink calls; a filter without them passes, saying so.
    let mut account = compliant("7.0.0");
    let vpc = filters(&mut account)
        .iter_mut()
        .find(|f| f.name == "vpc_changes")
        .expect("filter");
    vpc.pattern = "{ ($.eventName = CreateVpc) || ($.eventName = DeleteVpc) || ($.eventName = ModifyVpcAttribute) || ($.eventName = AcceptVpcPeeringConnection) || ($.eventName = CreateVpcPeeringConnection) || ($.eventName = DeleteVpcPeeringConnection) || ($.eventName = RejectVpcPeeringConnection) }".to_owned();
    let report = audit(&account, "7.0.0");
    let f = finding(&report, "vpc_changes");
    assert_eq!(f.status, Status::Pass);
    assert_eq!(
        f.warnings,
        [
            "not matched, and no longer possible since EC2-Classic retired: AttachClassicLinkVpc, DetachClassicLinkVpc, DisableVpcClassicLink, EnableVpcClassicLink"
        ]
    );
}

#[test]
fn the_trail_must_be_multi_region_logging_and_log_the_events() {
    let mut account = compliant("7.0.0");
    account.trails = Ok(vec![Trail {
        multi_region: false,
        ..trail("main")
    }]);
    let report = audit(&account, "7.0.0");
    assert_eq!(report.count(Status::Fail), 15);
    assert_eq!(
        finding(&report, "vpc_changes").summary,
        "trail main is not multi-region: calls in other regions never reach it"
    );

    let mut account = compliant("7.0.0");
    account.trails = Ok(vec![Trail {
        status: Ok(TrailStatus::default()),
        ..trail("main")
    }]);
    assert_eq!(
        finding(&audit(&account, "7.0.0"), "vpc_changes").summary,
        "trail main is not logging"
    );

    // Management events, but not those of KMS.
    let mut account = compliant("7.0.0");
    account.trails = Ok(vec![Trail {
        selectors: Ok(Selectors::Basic(vec![EventSelector {
            exclude_management_event_sources: vec!["kms.amazonaws.com".to_owned()],
            ..EventSelector::default()
        }])),
        ..trail("main")
    }]);
    let report = audit(&account, "7.0.0");
    assert_eq!(
        only_failures(&report),
        [("cmk_disable_or_deletion", Status::Fail)]
    );
    assert_eq!(
        finding(&report, "cmk_disable_or_deletion").summary,
        "trail main's event selectors do not log DisableKey, ScheduleKeyDeletion"
    );

    // Advanced selectors logging management events: fine. Read-only ones only: not.
    let advanced = |read_only: Option<&str>| {
        let mut fields = vec![AdvancedFieldSelector {
            field: "eventCategory".to_owned(),
            equals: Some(vec!["Management".to_owned()]),
            starts_with: None,
            ends_with: None,
            not_equals: None,
            not_starts_with: None,
            not_ends_with: None,
        }];
        if let Some(value) = read_only {
            fields.push(AdvancedFieldSelector {
                field: "readOnly".to_owned(),
                equals: Some(vec![value.to_owned()]),
                ..fields[0].clone()
            });
        }
        Ok(Selectors::Advanced(vec![AdvancedEventSelector {
            name: None,
            field_selectors: fields,
        }]))
    };
    let mut account = compliant("7.0.0");
    account.trails = Ok(vec![Trail {
        selectors: advanced(None),
        ..trail("main")
    }]);
    assert_eq!(only_failures(&audit(&account, "7.0.0")), []);
    account.trails = Ok(vec![Trail {
        selectors: advanced(Some("true")),
        ..trail("main")
    }]);
    let report = audit(&account, "7.0.0");
    assert_eq!(report.count(Status::Fail), 15);
    assert!(
        finding(&report, "iam_policy_changes")
            .summary
            .starts_with("trail main's event selectors do not log DeleteGroupPolicy, ")
    );

    // Of several trails, the one that meets the control decides.
    let mut account = compliant("7.0.0");
    account.trails = Ok(vec![
        Trail {
            multi_region: false,
            ..trail("regional")
        },
        trail("main"),
        Trail {
            log_group_arn: None,
            ..trail("to-s3-only")
        },
    ]);
    let report = audit(&account, "7.0.0");
    assert_eq!(only_failures(&report), []);
    assert_eq!(
        finding(&report, "iam_policy_changes")
            .evidence
            .trail
            .as_ref()
            .map(|t| t.trail.name.as_str()),
        Some("main")
    );

    // No trail, a trail without a log group, a log group that is not there.
    let mut account = compliant("7.0.0");
    account.trails = Ok(Vec::new());
    assert_eq!(
        finding(&audit(&account, "7.0.0"), "iam_policy_changes").summary,
        "no trail in us-east-1: no CloudTrail events reach a log group"
    );
    account.trails = Ok(vec![Trail {
        log_group_arn: None,
        ..trail("main")
    }]);
    assert_eq!(
        finding(&audit(&account, "7.0.0"), "iam_policy_changes").summary,
        "trail main sends its events to no CloudWatch Logs group"
    );
    let mut account = compliant("7.0.0");
    account
        .log_groups
        .insert(GROUP_ARN.to_owned(), Ok(LogGroup::default()));
    assert_eq!(
        finding(&audit(&account, "7.0.0"), "iam_policy_changes").summary,
        "log group CloudTrail/Default, where trail main delivers, does not exist"
    );
}

#[test]
fn the_alarm_must_be_tripped_by_one_event_and_notify_a_confirmed_subscriber() {
    type Change = fn(&mut Alarm);
    let cases: [(&str, Change, &str); 6] = [
        (
            "disabled",
            |a| a.actions_enabled = false,
            "filter iam_policy_changes: alarm iam_policy_changes has its actions disabled",
        ),
        (
            "240 periods",
            |a| a.evaluation_periods = 240,
            "filter iam_policy_changes: alarm iam_policy_changes needs 240 breaching periods out of 240: one event makes one",
        ),
        (
            "threshold 5",
            |a| a.threshold = Some(5.0),
            "filter iam_policy_changes: alarm iam_policy_changes is not tripped by one event: its Sum of 1 is not GreaterThanOrEqualToThreshold 5",
        ),
        (
            "below",
            |a| a.comparison_operator = "LessThanThreshold".to_owned(),
            "filter iam_policy_changes: alarm iam_policy_changes is not tripped by one event: its Sum of 1 is not LessThanThreshold 1",
        ),
        (
            "no topic",
            |a| a.alarm_actions = vec!["arn:aws:automate:us-east-1:ec2:stop".to_owned()],
            "filter iam_policy_changes: alarm iam_policy_changes has no ALARM action notifying an SNS topic",
        ),
        (
            "other namespace",
            |a| a.namespace = Some("LogMetrics".to_owned()),
            "filter iam_policy_changes: no alarm watches its metric CISBenchmark/iam_policy_changes",
        ),
    ];
    for (case, change, problem) in cases {
        let mut account = compliant("7.0.0");
        change(alarm(&mut account, "iam_policy_changes"));
        let report = audit(&account, "7.0.0");
        assert_eq!(
            only_failures(&report),
            [("iam_policy_changes", Status::Fail)],
            "{case}"
        );
        let f = finding(&report, "iam_policy_changes");
        assert_eq!(f.problems, [problem], "{case}");
        assert_eq!(
            f.missing_events,
            Vec::<String>::new(),
            "{case}: the filter matches them all"
        );
    }
    // Two periods of five, but one breaching datapoint enough: fine.
    let mut account = compliant("7.0.0");
    let a = alarm(&mut account, "iam_policy_changes");
    a.evaluation_periods = 5;
    a.datapoints_to_alarm = Some(1);
    assert_eq!(only_failures(&audit(&account, "7.0.0")), []);

    // Pending confirmation, and a topic that is gone.
    let mut account = compliant("7.0.0");
    account.topics.insert(
        TOPIC.to_owned(),
        Ok(Some(vec![Subscription {
            protocol: "email".to_owned(),
            endpoint: "secops@example.com".to_owned(),
            arn: "PendingConfirmation".to_owned(),
        }])),
    );
    let report = audit(&account, "7.0.0");
    assert_eq!(report.count(Status::Fail), 15);
    assert_eq!(
        finding(&report, "vpc_changes").summary,
        format!(
            "filter vpc_changes: alarm vpc_changes notifies topic {TOPIC}, which has no confirmed subscription (1 pending confirmation)"
        )
    );
    account.topics.insert(TOPIC.to_owned(), Ok(None));
    assert_eq!(
        finding(&audit(&account, "7.0.0"), "vpc_changes").summary,
        format!(
            "filter vpc_changes: alarm vpc_changes notifies topic {TOPIC}, which does not exist"
        )
    );

    // An alarm on metric math that includes the filter's metric: a person must judge it.
    let mut account = compliant("7.0.0");
    let a = alarm(&mut account, "iam_policy_changes");
    a.namespace = None;
    a.metric_name = None;
    a.statistic = None;
    a.metrics = vec![MetricQuery {
        id: "m1".to_owned(),
        namespace: "CISBenchmark".to_owned(),
        name: "iam_policy_changes".to_owned(),
        dimensions: BTreeMap::new(),
    }];
    let report = audit(&account, "7.0.0");
    assert_eq!(
        only_failures(&report),
        [("iam_policy_changes", Status::Manual)]
    );
    assert_eq!(
        finding(&report, "iam_policy_changes").summary,
        "filter iam_policy_changes is watched only by iam_policy_changes, whose response to one event the audit cannot judge: iam_policy_changes is an alarm on metric math"
    );
}

#[test]
fn settings_that_keep_one_event_from_alarming_fail_the_control() {
    type Change = fn(&mut cis::account::Account);
    let cases: [(&str, Change, &str); 5] = [
        (
            "breaching",
            |acc| alarm(acc, "vpc_changes").treat_missing_data = Some("breaching".to_owned()),
            "treats missing data as breaching: it is in ALARM while nothing happens, so an event changes nothing",
        ),
        (
            "default value, average",
            |acc| {
                alarm(acc, "vpc_changes").statistic = Some("Average".to_owned());
                filter(acc, "vpc_changes").transformations[0].default_value = Some(0.0);
            },
            "is on the Average of a metric whose filter publishes 0 for every other event: one event does not decide it",
        ),
        (
            "unit",
            |acc| alarm(acc, "vpc_changes").unit = Some("Seconds".to_owned()),
            "asks for unit Seconds, which the filter's metric is not published in: it sees no data",
        ),
        (
            "percentile over few samples",
            |acc| {
                let a = alarm(acc, "vpc_changes");
                a.statistic = None;
                a.extended_statistic = Some("p90".to_owned());
                a.evaluate_low_sample_count_percentile = Some("ignore".to_owned());
            },
            "ignores percentiles over few samples: a period with one event is not evaluated",
        ),
        (
            "default value, sample count",
            |acc| {
                alarm(acc, "vpc_changes").statistic = Some("SampleCount".to_owned());
                filter(acc, "vpc_changes").transformations[0].default_value = Some(0.0);
            },
            "is on the SampleCount of a metric whose filter publishes 0 for every other event: one event does not decide it",
        ),
    ];
    for (case, change, why) in cases {
        let mut account = compliant("7.0.0");
        change(&mut account);
        let report = audit(&account, "7.0.0");
        assert_eq!(
            only_failures(&report),
            [("vpc_changes", Status::Fail)],
            "{case}"
        );
        assert_eq!(
            finding(&report, "vpc_changes").problems,
            [format!("filter vpc_changes: alarm vpc_changes {why}")],
            "{case}"
        );
    }
    // A filter with dimensions from each event: the alarm watches one value of them.
    let mut account = compliant("7.0.0");
    filter(&mut account, "vpc_changes").transformations[0]
        .dimensions
        .insert("Source".to_owned(), "$.eventSource".to_owned());
    alarm(&mut account, "vpc_changes")
        .dimensions
        .insert("Source".to_owned(), "ec2.amazonaws.com".to_owned());
    assert_eq!(
        only_failures(&audit(&account, "7.0.0")),
        [("vpc_changes", Status::Manual)]
    );
}

#[test]
fn what_is_known_to_fail_fails_even_beside_what_cannot_be_read() {
    // A filter one call short, and the alarms unreadable: FAIL, naming the call.
    let mut account = compliant("7.0.0");
    let iam = filter(&mut account, "iam_policy_changes");
    iam.pattern = iam.pattern.replace("||($.eventName=DetachRolePolicy)", "");
    account
        .alarms
        .insert("us-east-1".to_owned(), Err("AccessDenied: no".to_owned()));
    let report = audit(&account, "7.0.0");
    let f = finding(&report, "iam_policy_changes");
    assert_eq!(f.status, Status::Fail);
    assert_eq!(f.missing_events, ["DetachRolePolicy"]);
    assert_eq!(finding(&report, "vpc_changes").status, Status::Error);
    // A trail that is not logging, with its log group in another account: FAIL, not MANUAL.
    let mut account = compliant("7.0.0");
    account.account_id = Some("999999999999".to_owned());
    account.trails = Ok(vec![Trail {
        status: Ok(TrailStatus::default()),
        ..trail("main")
    }]);
    let report = audit(&account, "7.0.0");
    assert_eq!(report.count(Status::Fail), 15);
    assert_eq!(
        finding(&report, "vpc_changes").summary,
        "trail main is not logging"
    );
}

#[test]
fn split_filters_meet_a_control_together() {
    let mut account = compliant("7.0.0");
    let fs = filters(&mut account);
    fs.retain(|f| f.name != "cmk_disable_or_deletion");
    fs.push(MetricFilter {
        name: "kms-disable".to_owned(),
        pattern: "{ $.eventName = DisableKey }".to_owned(),
        transformations: vec![metric("kms-disable")],
    });
    fs.push(MetricFilter {
        name: "kms-deletion".to_owned(),
        pattern:
            r#"{ $.eventSource = "kms.amazonaws.com" && $.eventName = "ScheduleKeyDeletion" }"#
                .to_owned(),
        transformations: vec![metric("kms-deletion")],
    });
    alarms(&mut account).extend([alarm_on("kms-disable"), alarm_on("kms-deletion")]);
    let report = audit(&account, "7.0.0");
    let f = finding(&report, "cmk_disable_or_deletion");
    assert_eq!(f.status, Status::Pass);
    assert_eq!(
        f.warnings,
        ["met by 2 filters together (split): kms-disable, kms-deletion"]
    );
    assert_eq!(
        f.summary,
        "filters kms-disable + kms-deletion on CloudTrail/Default catch every required event; alarms kms-deletion, kms-disable notify a confirmed subscriber"
    );

    // Without the second alarm, ScheduleKeyDeletion reaches nobody.
    alarms(&mut account).retain(|a| a.name != "kms-deletion");
    let report = audit(&account, "7.0.0");
    let f = finding(&report, "cmk_disable_or_deletion");
    assert_eq!(f.status, Status::Fail);
    assert_eq!(
        f.problems,
        ["filter kms-deletion: no alarm watches its metric CISBenchmark/kms-deletion"]
    );
}

#[test]
fn what_cannot_be_read_or_judged_from_here_is_not_a_failure() {
    let mut account = compliant("7.0.0");
    account.account_id = Some("999999999999".to_owned());
    let report = audit(&account, "7.0.0");
    assert_eq!(report.count(Status::Manual), 15);
    assert_eq!(
        finding(&report, "vpc_changes").summary,
        "log group CloudTrail/Default belongs to account 111122223333: audit it from that account"
    );

    let mut account = compliant("7.0.0");
    account.alarms.insert(
        "us-east-1".to_owned(),
        Err("AccessDenied: not allowed".to_owned()),
    );
    let report = audit(&account, "7.0.0");
    assert_eq!(report.count(Status::Error), 15);
    assert_eq!(
        finding(&report, "vpc_changes").problems[0],
        "cannot list the alarms of us-east-1: AccessDenied: not allowed"
    );

    let mut account = compliant("7.0.0");
    account.trails = Err("AccessDeniedException: no".to_owned());
    assert_eq!(audit(&account, "7.0.0").count(Status::Error), 15);
}
