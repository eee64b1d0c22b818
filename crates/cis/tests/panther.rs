//! A cross-check on real, labelled events: the unit tests of Panther's detection rules for the
//! CIS monitoring activities (`testdata/cloudtrail/panther_cloudtrail_tests_labeled.jsonl`),
//! each run through the benchmark's own string for the control. Panther's rules are Python
//! with their own intent, so its labels are not filter semantics: every disagreement below was
//! read and is explained where it is listed.

use cis::Catalogue;
use filter::FilterPattern;
use serde::Deserialize;

#[derive(Deserialize)]
struct Labelled {
    rule_id: String,
    test_name: String,
    expected_match: bool,
    event: serde_json::Value,
}

/// Panther's rule for each control's activity.
const RULES: &[(&str, &str)] = &[
    (
        "AWS.CloudTrail.UnauthorizedAPICall",
        "unauthorized_api_calls",
    ),
    ("AWS.Console.LoginWithoutMFA", "console_signin_without_mfa"),
    ("AWS.Root.Activity", "root_account_usage"),
    ("AWS.IAM.PolicyModified", "iam_policy_changes"),
    ("AWS.CloudTrail.Created", "cloudtrail_config_changes"),
    ("AWS.CloudTrail.Stopped", "cloudtrail_config_changes"),
    ("AWS.Console.RootLoginFailed", "console_auth_failures"),
    ("AWS.KMS.CustomerManagedKeyLoss", "cmk_disable_or_deletion"),
    ("AWS.S3.BucketPolicyModified", "s3_bucket_policy_changes"),
    ("AWS.ConfigService.DisabledDeleted", "aws_config_changes"),
    ("AWS.EC2.SecurityGroupModified", "security_group_changes"),
    ("AWS.EC2.NetworkACLModified", "nacl_changes"),
    ("AWS.EC2.GatewayModified", "network_gateway_changes"),
    ("AWS.EC2.RouteTableModified", "route_table_changes"),
    ("AWS.EC2.VPCModified", "vpc_changes"),
];

#[test]
fn the_benchmark_strings_on_panthers_labelled_events() {
    let path = format!(
        "{}/../../testdata/cloudtrail/panther_cloudtrail_tests_labeled.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let benchmark = Catalogue::get()
        .benchmark(cis::LATEST)
        .expect("the latest version");
    let mut rows = Vec::new();
    for line in text.lines() {
        let l: Labelled = serde_json::from_str(line).expect("a labelled event");
        let Some((_, control)) = RULES.iter().find(|(rule, _)| *rule == l.rule_id) else {
            continue;
        };
        let c = benchmark.control(control).expect("a control");
        let pattern = FilterPattern::parse(&c.literal().pattern).expect("the string parses");
        let ours = pattern.matches(&l.event.to_string());
        rows.push((l.rule_id, l.test_name, l.expected_match, ours));
    }
    let disagreements: Vec<(&str, &str, bool)> = rows
        .iter()
        .filter(|(_, _, panther, ours)| panther != ours)
        .map(|(rule, test, _, ours)| (rule.as_str(), test.as_str(), *ours))
        .collect();
    let expected: Vec<(&str, &str, bool)> = DISAGREEMENTS
        .iter()
        .map(|(r, t, ours, _)| (*r, *t, *ours))
        .collect();
    assert_eq!(disagreements, expected);
    assert_eq!(rows.len(), 58);
    assert_eq!(
        rows.len() - disagreements.len(),
        35,
        "the events both decide alike"
    );
}

/// Every event on which the benchmark's string (third field: whether it matches) and
/// Panther's rule part, with the reason.
const DISAGREEMENTS: &[(&str, &str, bool, &str)] = &[
    (
        "AWS.CloudTrail.Created",
        "Error Creating CloudTrail",
        true,
        FAILED_CALLS,
    ),
    (
        "AWS.CloudTrail.Stopped",
        "CloudTrail Was Started",
        true,
        "StartLogging is a CloudTrail configuration change to CIS; Panther's rule is about stops only",
    ),
    (
        "AWS.CloudTrail.Stopped",
        "Error Stopping CloudTrail",
        true,
        FAILED_CALLS,
    ),
    (
        "AWS.ConfigService.DisabledDeleted",
        "Config Recorder Delivery Channel Created",
        true,
        "PutDeliveryChannel is in CIS's list; Panther's rule is about disabling and deleting",
    ),
    (
        "AWS.ConfigService.DisabledDeleted",
        "Error Deleting Config Recorder",
        true,
        FAILED_CALLS,
    ),
    (
        "AWS.Console.LoginWithoutMFA",
        "MFA Login - SAML",
        true,
        FEDERATED,
    ),
    (
        "AWS.Console.LoginWithoutMFA",
        "No MFA Login - New User",
        true,
        "a first sign-in of a new user, before MFA can be set up: Panther lets it pass, CIS does not",
    ),
    (
        "AWS.Console.LoginWithoutMFA",
        "AWS SSOv2 Login",
        true,
        FEDERATED,
    ),
    (
        "AWS.Console.LoginWithoutMFA",
        "AssumeRole from MFA User Session",
        true,
        FEDERATED,
    ),
    (
        "AWS.Console.LoginWithoutMFA",
        "No MFA - IAM Role and External IDP",
        true,
        FEDERATED,
    ),
    (
        "AWS.Console.RootLoginFailed",
        "Failed Root Login",
        false,
        "a failed sign-in recorded as responseElements.ConsoleLogin = Failure without an errorMessage: the benchmark's string looks for errorMessage = \"Failed authentication\" only (a gap the catalogue notes)",
    ),
    (
        "AWS.EC2.GatewayModified",
        "Error Modifying Network Gateway",
        true,
        FAILED_CALLS,
    ),
    (
        "AWS.EC2.NetworkACLModified",
        "Error Modifying Network ACL",
        true,
        FAILED_CALLS,
    ),
    (
        "AWS.EC2.RouteTableModified",
        "Error Modifying Route Table",
        true,
        FAILED_CALLS,
    ),
    (
        "AWS.EC2.SecurityGroupModified",
        "Error Mofidying Security Group",
        true,
        FAILED_CALLS,
    ),
    (
        "AWS.EC2.VPCModified",
        "Error Modifying VPC",
        true,
        FAILED_CALLS,
    ),
    (
        "AWS.IAM.PolicyModified",
        "IAM Policy Change Error",
        true,
        FAILED_CALLS,
    ),
    (
        "AWS.KMS.CustomerManagedKeyLoss",
        "KMS Disable Key Error",
        true,
        FAILED_CALLS,
    ),
    (
        "AWS.Root.Activity",
        "Root Activity - CreateServiceLinkedRole",
        true,
        ROOT,
    ),
    ("AWS.Root.Activity", "Root User Failed Activity", true, ROOT),
    (
        "AWS.Root.Activity",
        "Root Read-Only Enumeration",
        true,
        ROOT,
    ),
    (
        "AWS.S3.BucketPolicyModified",
        "S3 Bucket Policy Modified Error Response",
        true,
        FAILED_CALLS,
    ),
    (
        "AWS.CloudTrail.UnauthorizedAPICall",
        "Unauthorized API Call from Within AWS (FQDN)",
        true,
        "AccessDenied for a call made through an AWS service (sourceIPAddress sqs.amazonaws.com): the benchmark excludes only delivery.logs.amazonaws.com, Panther every service",
    ),
];

const FAILED_CALLS: &str = "a call that failed: the benchmark's string names the call whatever its outcome (an attempt is worth an alarm), Panther's rule wants it to have succeeded";
const FEDERATED: &str = "a federated or assumed-role sign-in with MFAUsed = No: CIS's first string counts it, its SSO alternative and Panther's rule do not";
const ROOT: &str = "root at work: CIS counts every use of root but AWS services' own, Panther leaves out service-linked roles, failures and read-only calls";
