//! The audit for other tools: Prowler-style compliance CSV, Security Hub's ASFF and OCSF
//! Compliance Findings.

use serde_json::{Value, json};

use crate::audit::{Finding, Report, Status};
use crate::catalogue::Catalogue;

/// The benchmark's name as Security Hub and Prowler write it.
fn standard(report: &Report) -> String {
    format!("CIS AWS Foundations Benchmark v{}", report.cis_version)
}

/// The ARN a finding is about: the log group the trail delivers to, else the trail, else the
/// account.
fn resource(report: &Report, f: &Finding) -> (String, String, &'static str) {
    if let Some(g) = &f.evidence.log_group {
        return (g.arn.clone(), g.name.clone(), "AwsLogsLogGroup");
    }
    if let Some(t) = &f.evidence.trail {
        return (
            t.trail.arn.clone(),
            t.trail.name.clone(),
            "AwsCloudTrailTrail",
        );
    }
    let account = report.account.clone().unwrap_or_default();
    (format!("AWS::::Account:{account}"), account, "AwsAccount")
}

/// The columns of Prowler's CIS compliance CSV (`AWSCISModel`), in its order.
const CSV_COLUMNS: [&str; 27] = [
    "PROVIDER",
    "DESCRIPTION",
    "ACCOUNTID",
    "REGION",
    "ASSESSMENTDATE",
    "REQUIREMENTS_ID",
    "REQUIREMENTS_DESCRIPTION",
    "REQUIREMENTS_ATTRIBUTES_SECTION",
    "REQUIREMENTS_ATTRIBUTES_SUBSECTION",
    "REQUIREMENTS_ATTRIBUTES_PROFILE",
    "REQUIREMENTS_ATTRIBUTES_ASSESSMENTSTATUS",
    "REQUIREMENTS_ATTRIBUTES_DESCRIPTION",
    "REQUIREMENTS_ATTRIBUTES_RATIONALESTATEMENT",
    "REQUIREMENTS_ATTRIBUTES_IMPACTSTATEMENT",
    "REQUIREMENTS_ATTRIBUTES_REMEDIATIONPROCEDURE",
    "REQUIREMENTS_ATTRIBUTES_AUDITPROCEDURE",
    "REQUIREMENTS_ATTRIBUTES_ADDITIONALINFORMATION",
    "REQUIREMENTS_ATTRIBUTES_DEFAULTVALUE",
    "REQUIREMENTS_ATTRIBUTES_REFERENCES",
    "STATUS",
    "STATUSEXTENDED",
    "RESOURCEID",
    "RESOURCENAME",
    "CHECKID",
    "MUTED",
    "FRAMEWORK",
    "NAME",
];

/// A field as Python's `csv` module writes it with `;`: quoted when it holds the delimiter, a
/// quote or a line break, quotes doubled.
fn csv_field(value: &str) -> String {
    if value.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// The report as Prowler's CIS compliance CSV: `;`-separated, one row per control, with
/// Prowler's column names, so spreadsheets and scripts built for Prowler's output read it.
/// The profile and the automated/manual flag are left empty: the sources disagree on them.
pub fn csv(report: &Report) -> String {
    let section = Catalogue::get()
        .benchmark(&report.cis_version)
        .map(|b| b.section.to_owned())
        .unwrap_or_default();
    let date = report
        .time
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned();
    let mut out = CSV_COLUMNS.join(";");
    out.push_str("\r\n");
    for f in &report.findings {
        let control = Catalogue::get()
            .benchmark(&report.cis_version)
            .and_then(|b| b.control(&f.control).copied());
        let (resource_id, resource_name, _) = resource(report, f);
        let mut extended = f.summary.clone();
        if !f.missing_events.is_empty() {
            extended.push_str(&format!(" (missing: {})", f.missing_events.join(", ")));
        }
        let row = [
            "aws".to_owned(),
            format!("{}: the monitoring controls, audited by trailwatch", standard(report)),
            report.account.clone().unwrap_or_default(),
            report.region.clone(),
            date.clone(),
            f.cis_number.clone(),
            f.title.clone(),
            section.clone(),
            String::new(),
            String::new(),
            String::new(),
            control.map(|c| c.intent().to_owned()).unwrap_or_default(),
            String::new(),
            String::new(),
            format!("trailwatch cis apply --cis-version {} --log-group <the trail's log group> --topic <topic>", report.cis_version),
            "A multi-region, logging trail delivers to a log group whose metric filters match every call the control names, with an alarm tripped by one event notifying a topic with a confirmed subscription.".to_owned(),
            f.warnings.join(" "),
            String::new(),
            String::new(),
            f.status.as_str().to_owned(),
            extended,
            resource_id,
            resource_name,
            f.control.clone(),
            "False".to_owned(),
            "CIS".to_owned(),
            format!("CIS Amazon Web Services Foundations Benchmark v{}", report.cis_version),
        ];
        let fields: Vec<String> = row.iter().map(|v| csv_field(v)).collect();
        out.push_str(&fields.join(";"));
        out.push_str("\r\n");
    }
    out
}

/// The report as AWS Security Finding Format findings, ready for Security Hub's
/// `BatchImportFindings` (a JSON array, one finding per control).
pub fn asff(report: &Report) -> String {
    let account = report.account.clone().unwrap_or_default();
    let findings: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let (compliance, severity) = match f.status {
                Status::Pass => ("PASSED", "INFORMATIONAL"),
                Status::Fail => ("FAILED", "LOW"),
                Status::Manual => ("WARNING", "INFORMATIONAL"),
                Status::Error => ("NOT_AVAILABLE", "INFORMATIONAL"),
            };
            let mut resources = vec![json!({
                "Type": "AwsAccount",
                "Id": format!("AWS::::Account:{account}"),
                "Partition": "aws",
                "Region": report.region,
            })];
            if let Some(t) = &f.evidence.trail {
                resources.push(json!({"Type": "AwsCloudTrailTrail", "Id": t.trail.arn, "Partition": "aws", "Region": t.trail.home_region}));
            }
            if let Some(g) = &f.evidence.log_group {
                resources.push(json!({"Type": "Other", "Id": g.arn, "Partition": "aws", "Region": g.region}));
            }
            for filter in f.evidence.filters.iter().filter(|x| x.meets) {
                for a in &filter.alarms {
                    resources.push(json!({"Type": "AwsCloudWatchAlarm", "Id": a.alarm.arn, "Partition": "aws", "Region": report.region}));
                    for t in &a.topics {
                        resources.push(json!({"Type": "AwsSnsTopic", "Id": t.arn, "Partition": "aws", "Region": report.region}));
                    }
                }
            }
            resources.truncate(32);
            let mut description = f.summary.clone();
            if description.len() > 1024 {
                let mut cut = 1020;
                while !description.is_char_boundary(cut) {
                    cut -= 1;
                }
                description.truncate(cut);
                description.push_str("...");
            }
            json!({
                "SchemaVersion": "2018-10-08",
                "Id": format!("trailwatch/cis/v{}/{}/{account}/{}", report.cis_version, f.control, report.region),
                "ProductArn": format!("arn:aws:securityhub:{}:{account}:product/{account}/default", report.region),
                "GeneratorId": format!("trailwatch/cis-aws-foundations-benchmark/v/{}/{}", report.cis_version, f.cis_number),
                "AwsAccountId": account,
                "Types": ["Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark"],
                "CreatedAt": report.time,
                "UpdatedAt": report.time,
                "Severity": {"Label": severity},
                "Title": format!("{} {}", f.cis_number, f.title),
                "Description": description,
                "Resources": resources,
                "Compliance": {
                    "Status": compliance,
                    "RelatedRequirements": [format!("{}/{}", standard(report), f.cis_number)],
                },
                "ProductFields": {
                    "ProviderName": "trailwatch",
                    "trailwatch/control": f.control,
                    "trailwatch/status": f.status.as_str(),
                    "trailwatch/missing_events": f.missing_events.join(", "),
                },
                "RecordState": "ACTIVE",
            })
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&findings).unwrap_or_default();
    out.push('\n');
    out
}

/// The report as OCSF Compliance Findings (class 2003, schema 1.3.0), a JSON array.
pub fn ocsf(report: &Report) -> String {
    let account = report.account.clone().unwrap_or_default();
    let events: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let (status_id, status) = match f.status {
                Status::Pass => (1, "Pass"),
                Status::Manual => (2, "Warning"),
                Status::Fail => (3, "Fail"),
                Status::Error => (0, "Unknown"),
            };
            let (severity_id, severity) = match f.status {
                Status::Fail => (2, "Low"),
                _ => (1, "Informational"),
            };
            let (uid, name, kind) = resource(report, f);
            json!({
                "activity_id": 1,
                "activity_name": "Create",
                "category_uid": 2,
                "category_name": "Findings",
                "class_uid": 2003,
                "class_name": "Compliance Finding",
                "type_uid": 200301,
                "type_name": "Compliance Finding: Create",
                "time": report.time_ms,
                "severity_id": severity_id,
                "severity": severity,
                "status_id": 1,
                "status": "New",
                "message": f.summary,
                "metadata": {
                    "version": "1.3.0",
                    "product": {"name": "trailwatch", "vendor_name": "trailwatch", "version": env!("CARGO_PKG_VERSION")},
                    "profiles": ["cloud"],
                },
                "finding_info": {
                    "uid": format!("trailwatch-cis-v{}-{}-{account}-{}", report.cis_version, f.control, report.region),
                    "title": format!("{} {}", f.cis_number, f.title),
                    "desc": f.summary,
                    "created_time": report.time_ms,
                    "types": [standard(report)],
                },
                "compliance": {
                    "standards": [standard(report)],
                    "control": f.cis_number,
                    "requirements": [f.control],
                    "status_id": status_id,
                    "status": status,
                    "status_code": f.status.as_str(),
                    "status_detail": f.problems.join("; "),
                },
                "resources": [{"uid": uid, "name": name, "type": kind, "region": report.region}],
                "cloud": {
                    "provider": "AWS",
                    "region": report.region,
                    "account": {"uid": account, "type_id": 10, "type": "AWS Account"},
                },
                "unmapped": {
                    "missing_events": f.missing_events,
                    "warnings": f.warnings,
                },
            })
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&events).unwrap_or_default();
    out.push('\n');
    out
}
