//! Where Prowler's and Security Hub's string rules part from a judgement by meaning, and the
//! reasons the reports give.

mod common;

use cis::{Catalogue, Status};
use common::{compliant, filters, finding};

fn prowler<'r>(report: &'r cis::Report, control: &str) -> &'r cis::audit::OtherAuditor {
    finding(report, control)
        .other_auditors
        .iter()
        .find(|a| a.auditor == "Prowler")
        .expect("Prowler's view")
}

#[test]
fn prowler_fails_the_benchmarks_own_route_table_and_organizations_strings() {
    let report = cis::audit(
        &compliant("7.0.0"),
        &Catalogue::get().benchmark("7.0.0").expect("7.0.0"),
    );
    let disagreements: Vec<(&str, &str)> = report
        .findings
        .iter()
        .flat_map(|f| {
            f.other_auditors
                .iter()
                .filter(|a| !a.agrees)
                .map(move |a| (f.control.as_str(), a.verdict.as_str()))
        })
        .collect();
    assert_eq!(
        disagreements,
        [
            ("route_table_changes", "FAIL"),
            ("organizations_changes", "FAIL")
        ]
    );
    assert_eq!(
        prowler(&report, "route_table_changes").why,
        "its check cloudwatch_changes_to_network_route_tables_alarm_configured compares text: filter route_table_changes matches every required event, but Prowler does not find $.eventSource = ec2.amazonaws.com"
    );
    assert_eq!(
        prowler(&report, "organizations_changes").why,
        "its check cloudwatch_log_metric_filter_aws_organizations_changes compares text: filter organizations_changes matches every required event, but Prowler does not find $.eventName = CancelHandshake, $.eventName = CreateOrganization, $.eventName = EnableAllFeatures"
    );
    // v7.0 has no Security Hub strings.
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.other_auditors.iter().all(|a| a.auditor == "Prowler"))
    );
}

#[test]
fn prowler_passes_a_filter_that_can_never_match() {
    let mut account = compliant("7.0.0");
    let sg = filters(&mut account)
        .iter_mut()
        .find(|f| f.name == "security_group_changes")
        .expect("filter");
    sg.pattern = "{ ($.eventName = AuthorizeSecurityGroupIngress) && ($.eventName = AuthorizeSecurityGroupEgress) && ($.eventName = RevokeSecurityGroupIngress) && ($.eventName = RevokeSecurityGroupEgress) && ($.eventName = CreateSecurityGroup) && ($.eventName = DeleteSecurityGroup) && ($.eventName = ModifySecurityGroupRules) }".to_owned();
    let report = cis::audit(
        &account,
        &Catalogue::get().benchmark("7.0.0").expect("7.0.0"),
    );
    let f = finding(&report, "security_group_changes");
    assert_eq!(f.status, Status::Fail);
    assert_eq!(f.missing_events.len(), 7);
    // It is no filter of the control's, but the evidence shows it: it names the calls.
    assert!(f.evidence.filters.is_empty());
    let look_alikes: Vec<&str> = f
        .evidence
        .look_alikes
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(look_alikes, ["security_group_changes"]);
    let p = prowler(&report, "security_group_changes");
    assert_eq!(p.verdict, "PASS");
    assert!(!p.agrees);
    assert!(p.why.starts_with("its check cloudwatch_log_metric_filter_security_group_changes finds the text of every clause in filter security_group_changes and an alarm on a metric named security_group_changes; it does not look further, and "), "{}", p.why);
}

#[test]
fn security_hub_wants_its_own_string() {
    let report = cis::audit(
        &compliant("1.2.0"),
        &Catalogue::get().benchmark("1.2.0").expect("1.2.0"),
    );
    let hub: Vec<(&str, &str)> = report
        .findings
        .iter()
        .flat_map(|f| {
            f.other_auditors
                .iter()
                .filter(|a| a.auditor == "AWS Security Hub")
                .map(move |a| (f.control.as_str(), a.verdict.as_str()))
        })
        .collect();
    assert_eq!(hub.len(), 14);
    // The benchmark's own remediation strings of v1.2.0 differ from Security Hub's in spacing,
    // quoting or grouping, every one.
    assert!(hub.iter().all(|(_, v)| *v == "FAIL"), "{hub:?}");
    let f = finding(&report, "iam_policy_changes");
    let a = f
        .other_auditors
        .iter()
        .find(|a| a.auditor == "AWS Security Hub")
        .expect("view");
    assert!(a.why.starts_with("it accepts only its own string, character for character: {($.eventName=DeleteGroupPolicy)"), "{}", a.why);

    // With Security Hub's strings, it agrees.
    let mut account = compliant("1.2.0");
    let benchmark = Catalogue::get().benchmark("1.2.0").expect("1.2.0");
    for f in filters(&mut account) {
        let control = benchmark.control(&f.name).expect("control");
        f.pattern = control.security_hub_string().expect("a string").to_owned();
    }
    let report = cis::audit(&account, &benchmark);
    assert_eq!(report.count(Status::Pass), 14);
    assert!(report.findings.iter().all(|f| {
        f.other_auditors
            .iter()
            .filter(|a| a.auditor == "AWS Security Hub")
            .all(|a| a.agrees)
    }));
}
