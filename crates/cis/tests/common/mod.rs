//! Accounts built in memory for the audit's tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use cis::account::{
    Account, Alarm, LogGroup, MetricFilter, Selectors, Subscription, Trail, TrailStatus,
    Transformation,
};
use cis::{Catalogue, Report};

pub const GROUP_ARN: &str = "arn:aws:logs:us-east-1:111122223333:log-group:CloudTrail/Default:*";
pub const TOPIC: &str = "arn:aws:sns:us-east-1:111122223333:cis";

pub fn trail(name: &str) -> Trail {
    Trail {
        name: name.to_owned(),
        arn: format!("arn:aws:cloudtrail:us-east-1:111122223333:trail/{name}"),
        home_region: "us-east-1".to_owned(),
        multi_region: true,
        organization: false,
        log_group_arn: Some(GROUP_ARN.to_owned()),
        status: Ok(TrailStatus {
            is_logging: true,
            ..TrailStatus::default()
        }),
        selectors: Ok(Selectors::default()),
    }
}

pub fn metric(name: &str) -> Transformation {
    Transformation {
        namespace: "CISBenchmark".to_owned(),
        name: name.to_owned(),
        value: "1".to_owned(),
        dimensions: BTreeMap::new(),
        default_value: None,
        unit: None,
    }
}

pub fn alarm_on(name: &str) -> Alarm {
    Alarm {
        name: name.to_owned(),
        arn: format!("arn:aws:cloudwatch:us-east-1:111122223333:alarm:{name}"),
        actions_enabled: true,
        alarm_actions: vec![TOPIC.to_owned()],
        namespace: Some("CISBenchmark".to_owned()),
        metric_name: Some(name.to_owned()),
        statistic: Some("Sum".to_owned()),
        period: Some(300),
        evaluation_periods: 1,
        threshold: Some(1.0),
        comparison_operator: "GreaterThanOrEqualToThreshold".to_owned(),
        ..Alarm::default()
    }
}

/// An account meeting every control of `version` with the benchmark's own strings.
pub fn compliant(version: &str) -> Account {
    let benchmark = Catalogue::get().benchmark(version).expect("version");
    let mut account = Account::empty("us-east-1");
    account.account_id = Some("111122223333".to_owned());
    account.trails = Ok(vec![trail("main")]);
    let filters = benchmark
        .controls
        .iter()
        .map(|c| MetricFilter {
            name: c.id().to_owned(),
            pattern: c.literal().pattern.clone(),
            transformations: vec![metric(c.id())],
        })
        .collect();
    account.log_groups.insert(
        GROUP_ARN.to_owned(),
        Ok(LogGroup {
            exists: true,
            metric_filters: filters,
        }),
    );
    let alarms = benchmark
        .controls
        .iter()
        .map(|c| alarm_on(c.id()))
        .collect();
    account.alarms.insert("us-east-1".to_owned(), Ok(alarms));
    account.topics.insert(
        TOPIC.to_owned(),
        Ok(Some(vec![Subscription {
            protocol: "email".to_owned(),
            endpoint: "secops@example.com".to_owned(),
            arn: format!("{TOPIC}:0b1c"),
        }])),
    );
    account
}

pub fn audit(account: &Account, version: &str) -> Report {
    cis::audit(
        account,
        &Catalogue::get().benchmark(version).expect("version"),
    )
}

pub fn finding<'r>(report: &'r Report, control: &str) -> &'r cis::Finding {
    report
        .findings
        .iter()
        .find(|f| f.control == control)
        .expect("a finding")
}

pub fn filters(account: &mut Account) -> &mut Vec<MetricFilter> {
    &mut account
        .log_groups
        .get_mut(GROUP_ARN)
        .expect("the group")
        .as_mut()
        .expect("read")
        .metric_filters
}

pub fn alarms(account: &mut Account) -> &mut Vec<Alarm> {
    account
        .alarms
        .get_mut("us-east-1")
        .expect("the region")
        .as_mut()
        .expect("read")
}

pub fn alarm<'a>(account: &'a mut Account, name: &str) -> &'a mut Alarm {
    alarms(account)
        .iter_mut()
        .find(|a| a.name == name)
        .expect("the alarm")
}

pub fn filter<'a>(account: &'a mut Account, name: &str) -> &'a mut MetricFilter {
    filters(account)
        .iter_mut()
        .find(|f| f.name == name)
        .expect("the filter")
}
