//! The audit written for other tools and for people.

mod common;

use cis::report::{self, Format};
use cis::{Catalogue, Report};
use common::{compliant, filters};
use serde_json::Value;

/// v7.0 on an account where one control fails: iam_policy_changes lacks DetachRolePolicy.
fn one_failing() -> Report {
    let mut account = compliant("7.0.0");
    account.read_at_ms = 1_796_000_000_000;
    let iam = filters(&mut account)
        .iter_mut()
        .find(|f| f.name == "iam_policy_changes")
        .expect("filter");
    iam.pattern = iam.pattern.replace("||($.eventName=DetachRolePolicy)", "");
    cis::audit(
        &account,
        &Catalogue::get().benchmark("7.0.0").expect("7.0.0"),
    )
}

#[test]
fn json_has_the_findings_and_their_evidence() {
    let json: Value = serde_json::from_str(&report::json(&one_failing())).expect("JSON");
    assert_eq!(json["cis_version"], "7.0.0");
    assert_eq!(json["account"], "111122223333");
    assert_eq!(json["time"], "2026-11-30T00:53:20.000Z");
    let findings = json["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 15);
    let iam = findings
        .iter()
        .find(|f| f["control"] == "iam_policy_changes")
        .expect("iam");
    assert_eq!(iam["cis_number"], "5.4");
    assert_eq!(iam["status"], "FAIL");
    assert_eq!(
        iam["missing_events"],
        serde_json::json!(["DetachRolePolicy"])
    );
    assert!(iam["warnings"].is_array());
    let filter = &iam["evidence"]["filters"][0];
    let miss = filter["verdicts"]
        .as_array()
        .expect("verdicts")
        .iter()
        .find(|v| v["event"] == "iam:DetachRolePolicy")
        .expect("the verdict");
    assert_eq!(miss["matched"], false);
    assert_eq!(miss["role"], "required");
    assert!(miss["explanation"]["clauses"].is_array(), "{miss}");
}

#[test]
fn csv_has_prowlers_compliance_columns() {
    let csv = report::csv(&one_failing());
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "PROVIDER;DESCRIPTION;ACCOUNTID;REGION;ASSESSMENTDATE;REQUIREMENTS_ID;REQUIREMENTS_DESCRIPTION;REQUIREMENTS_ATTRIBUTES_SECTION;REQUIREMENTS_ATTRIBUTES_SUBSECTION;REQUIREMENTS_ATTRIBUTES_PROFILE;REQUIREMENTS_ATTRIBUTES_ASSESSMENTSTATUS;REQUIREMENTS_ATTRIBUTES_DESCRIPTION;REQUIREMENTS_ATTRIBUTES_RATIONALESTATEMENT;REQUIREMENTS_ATTRIBUTES_IMPACTSTATEMENT;REQUIREMENTS_ATTRIBUTES_REMEDIATIONPROCEDURE;REQUIREMENTS_ATTRIBUTES_AUDITPROCEDURE;REQUIREMENTS_ATTRIBUTES_ADDITIONALINFORMATION;REQUIREMENTS_ATTRIBUTES_DEFAULTVALUE;REQUIREMENTS_ATTRIBUTES_REFERENCES;STATUS;STATUSEXTENDED;RESOURCEID;RESOURCENAME;CHECKID;MUTED;FRAMEWORK;NAME"
    );
    assert_eq!(lines.len(), 17, "a header, 15 rows and the empty rest");
    let iam: Vec<&str> = lines
        .iter()
        .find(|l| l.contains(";iam_policy_changes;"))
        .expect("the row")
        .split(';')
        .collect();
    assert_eq!(iam.len(), 27);
    assert_eq!(
        &iam[..8],
        [
            "aws",
            "CIS AWS Foundations Benchmark v7.0.0: the monitoring controls, audited by trailwatch",
            "111122223333",
            "us-east-1",
            "2026-11-30 00:53:20.000",
            "5.4",
            "Ensure IAM policy changes are monitored",
            "5 Monitoring"
        ]
    );
    assert_eq!(iam[19], "FAIL");
    assert!(
        iam[20].ends_with("(missing: DetachRolePolicy)"),
        "{}",
        iam[20]
    );
    assert_eq!(iam[21], common::GROUP_ARN);
    assert_eq!(
        &iam[23..],
        [
            "iam_policy_changes",
            "False",
            "CIS",
            "CIS Amazon Web Services Foundations Benchmark v7.0.0"
        ]
    );
}

#[test]
fn asff_findings_carry_what_security_hub_requires() {
    let asff: Value = serde_json::from_str(&report::asff(&one_failing())).expect("JSON");
    let findings = asff.as_array().expect("an array");
    assert_eq!(findings.len(), 15);
    for f in findings {
        for key in [
            "SchemaVersion",
            "Id",
            "ProductArn",
            "GeneratorId",
            "AwsAccountId",
            "Types",
            "CreatedAt",
            "UpdatedAt",
            "Severity",
            "Title",
            "Description",
            "Resources",
        ] {
            assert!(!f[key].is_null(), "{key} missing in {f}");
        }
        assert_eq!(f["SchemaVersion"], "2018-10-08");
        assert_eq!(
            f["ProductArn"],
            "arn:aws:securityhub:us-east-1:111122223333:product/111122223333/default"
        );
        assert_eq!(f["CreatedAt"], f["UpdatedAt"]);
        assert!(
            f["Description"]
                .as_str()
                .is_some_and(|d| !d.is_empty() && d.len() <= 1024)
        );
    }
    let iam = findings
        .iter()
        .find(|f| f["ProductFields"]["trailwatch/control"] == "iam_policy_changes")
        .expect("iam");
    assert_eq!(iam["Compliance"]["Status"], "FAILED");
    assert_eq!(
        iam["Compliance"]["RelatedRequirements"][0],
        "CIS AWS Foundations Benchmark v7.0.0/5.4"
    );
    assert_eq!(iam["Severity"]["Label"], "LOW");
    let types: Vec<&str> = iam["Resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["Type"].as_str())
        .collect();
    assert_eq!(types, ["AwsAccount", "AwsCloudTrailTrail", "Other"]);
    let vpc = findings
        .iter()
        .find(|f| f["ProductFields"]["trailwatch/control"] == "vpc_changes")
        .expect("vpc");
    assert_eq!(vpc["Compliance"]["Status"], "PASSED");
    let types: Vec<&str> = vpc["Resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["Type"].as_str())
        .collect();
    assert_eq!(
        types,
        [
            "AwsAccount",
            "AwsCloudTrailTrail",
            "Other",
            "AwsCloudWatchAlarm",
            "AwsSnsTopic"
        ]
    );
}

#[test]
fn ocsf_compliance_findings_are_class_2003() {
    let ocsf: Value = serde_json::from_str(&report::ocsf(&one_failing())).expect("JSON");
    let events = ocsf.as_array().expect("an array");
    assert_eq!(events.len(), 15);
    for e in events {
        assert_eq!(e["class_uid"], 2003);
        assert_eq!(e["category_uid"], 2);
        assert_eq!(e["type_uid"], 200301);
        assert_eq!(e["activity_id"], 1);
        assert_eq!(e["time"], 1_796_000_000_000_i64);
        assert_eq!(e["metadata"]["version"], "1.3.0");
        assert_eq!(e["metadata"]["product"]["name"], "trailwatch");
        assert_eq!(e["cloud"]["account"]["uid"], "111122223333");
        assert!(e["finding_info"]["uid"].is_string() && e["finding_info"]["title"].is_string());
        assert_eq!(
            e["compliance"]["standards"][0],
            "CIS AWS Foundations Benchmark v7.0.0"
        );
    }
    let iam = events
        .iter()
        .find(|e| e["compliance"]["requirements"][0] == "iam_policy_changes")
        .expect("iam");
    assert_eq!(iam["compliance"]["control"], "5.4");
    assert_eq!(iam["compliance"]["status_id"], 3);
    assert_eq!(iam["compliance"]["status"], "Fail");
    assert_eq!(iam["unmapped"]["missing_events"][0], "DetachRolePolicy");
}

#[test]
fn html_is_one_page_with_nothing_from_elsewhere() {
    let html = Format::Html.render(&one_failing());
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href=\"http"));
    assert_eq!(html.matches("<section class=\"finding\"").count(), 15);
    assert!(
        html.contains("<section class=\"finding\" id=\"iam_policy_changes\" data-status=\"FAIL\">")
    );
    assert!(html.contains("Missing events: DetachRolePolicy"));
    // Patterns are shown as text, never as markup.
    assert!(html.contains("{($.eventName=DeleteGroupPolicy)||"));
    assert!(!html.contains("<$"));
    // Where Prowler disagrees, the page says so.
    assert!(html.contains("<strong>Prowler</strong> would say <span class=\"status FAIL\">FAIL</span>: its check cloudwatch_changes_to_network_route_tables_alarm_configured compares text"));
}
