//! What the auditors people already run would say of the same account, so a report can say
//! where they disagree with a judgement by meaning, and why.
//!
//! Each auditor's rule is restated from its documented behaviour (see the reference notes on
//! CIS auditors): Prowler 5.x looks for the text of each clause of the benchmark's string in a
//! filter on any trail's log group, and for an alarm on a metric of the filter's name; Security
//! Hub (CIS v1.2.0 and v1.4.0) wants its own string, character for character, on a
//! multi-region trail's log group, with an alarm notifying a topic with a subscriber.

use regex::Regex;

use crate::account::{Account, MetricFilter, is_topic, log_group_of};
use crate::audit::{Finding, OtherAuditor, Status};
use crate::catalogue::Control;

/// How Prowler recognises a control's filter: clause texts that must all occur, in any order,
/// or (two controls) one regular expression over the whole pattern.
struct ProwlerRule {
    check: &'static str,
    source: Option<&'static str>,
    names: &'static [&'static str],
    /// `(field, operator, value)`.
    extra: &'static [(&'static str, &'static str, &'static str)],
    ordered: Option<&'static str>,
}

const fn names(
    check: &'static str,
    source: Option<&'static str>,
    names: &'static [&'static str],
) -> ProwlerRule {
    ProwlerRule {
        check,
        source,
        names,
        extra: &[],
        ordered: None,
    }
}

fn prowler_rule(control: &str) -> Option<ProwlerRule> {
    Some(match control {
        "unauthorized_api_calls" => ProwlerRule {
            ordered: Some(
                r"\$\.errorCode\s*=\s*.?\*UnauthorizedOperation.+\$\.errorCode\s*=\s*.?AccessDenied\*.?",
            ),
            ..names(
                "cloudwatch_log_metric_filter_unauthorized_api_calls",
                None,
                &[],
            )
        },
        "console_signin_without_mfa" => ProwlerRule {
            extra: &[("additionalEventData.MFAUsed", "!=", "Yes")],
            ..names(
                "cloudwatch_log_metric_filter_sign_in_without_mfa",
                None,
                &["ConsoleLogin"],
            )
        },
        "root_account_usage" => ProwlerRule {
            ordered: Some(
                r"\$\.userIdentity\.type\s*=\s*.?Root.+\$\.userIdentity\.invokedBy NOT EXISTS.+\$\.eventType\s*!=\s*.?AwsServiceEvent.?",
            ),
            ..names("cloudwatch_log_metric_filter_root_usage", None, &[])
        },
        "iam_policy_changes" => names(
            "cloudwatch_log_metric_filter_policy_changes",
            None,
            &[
                "DeleteGroupPolicy",
                "DeleteRolePolicy",
                "DeleteUserPolicy",
                "PutGroupPolicy",
                "PutRolePolicy",
                "PutUserPolicy",
                "CreatePolicy",
                "DeletePolicy",
                "CreatePolicyVersion",
                "DeletePolicyVersion",
                "AttachRolePolicy",
                "DetachRolePolicy",
                "AttachUserPolicy",
                "DetachUserPolicy",
                "AttachGroupPolicy",
                "DetachGroupPolicy",
            ],
        ),
        "cloudtrail_config_changes" => names(
            "cloudwatch_log_metric_filter_and_alarm_for_cloudtrail_configuration_changes_enabled",
            None,
            &[
                "CreateTrail",
                "UpdateTrail",
                "DeleteTrail",
                "StartLogging",
                "StopLogging",
            ],
        ),
        "console_auth_failures" => ProwlerRule {
            extra: &[("errorMessage", "=", "Failed authentication")],
            ..names(
                "cloudwatch_log_metric_filter_authentication_failures",
                None,
                &["ConsoleLogin"],
            )
        },
        "cmk_disable_or_deletion" => names(
            "cloudwatch_log_metric_filter_disable_or_scheduled_deletion_of_kms_cmk",
            Some("kms.amazonaws.com"),
            &["DisableKey", "ScheduleKeyDeletion"],
        ),
        "s3_bucket_policy_changes" => names(
            "cloudwatch_log_metric_filter_for_s3_bucket_policy_changes",
            Some("s3.amazonaws.com"),
            &[
                "PutBucketAcl",
                "PutBucketPolicy",
                "PutBucketCors",
                "PutBucketLifecycle",
                "PutBucketReplication",
                "DeleteBucketPolicy",
                "DeleteBucketCors",
                "DeleteBucketLifecycle",
                "DeleteBucketReplication",
            ],
        ),
        "aws_config_changes" => names(
            "cloudwatch_log_metric_filter_and_alarm_for_aws_config_configuration_changes_enabled",
            Some("config.amazonaws.com"),
            &[
                "StopConfigurationRecorder",
                "DeleteDeliveryChannel",
                "PutDeliveryChannel",
                "PutConfigurationRecorder",
            ],
        ),
        "security_group_changes" => names(
            "cloudwatch_log_metric_filter_security_group_changes",
            None,
            &[
                "AuthorizeSecurityGroupIngress",
                "AuthorizeSecurityGroupEgress",
                "RevokeSecurityGroupIngress",
                "RevokeSecurityGroupEgress",
                "CreateSecurityGroup",
                "DeleteSecurityGroup",
            ],
        ),
        "nacl_changes" => names(
            "cloudwatch_changes_to_network_acls_alarm_configured",
            None,
            &[
                "CreateNetworkAcl",
                "CreateNetworkAclEntry",
                "DeleteNetworkAcl",
                "DeleteNetworkAclEntry",
                "ReplaceNetworkAclEntry",
                "ReplaceNetworkAclAssociation",
            ],
        ),
        "network_gateway_changes" => names(
            "cloudwatch_changes_to_network_gateways_alarm_configured",
            None,
            &[
                "CreateCustomerGateway",
                "DeleteCustomerGateway",
                "AttachInternetGateway",
                "CreateInternetGateway",
                "DeleteInternetGateway",
                "DetachInternetGateway",
            ],
        ),
        "route_table_changes" => names(
            "cloudwatch_changes_to_network_route_tables_alarm_configured",
            Some("ec2.amazonaws.com"),
            &[
                "CreateRoute",
                "CreateRouteTable",
                "ReplaceRoute",
                "ReplaceRouteTableAssociation",
                "DeleteRouteTable",
                "DeleteRoute",
                "DisassociateRouteTable",
            ],
        ),
        "vpc_changes" => names(
            "cloudwatch_changes_to_vpcs_alarm_configured",
            None,
            &[
                "CreateVpc",
                "DeleteVpc",
                "ModifyVpcAttribute",
                "AcceptVpcPeeringConnection",
                "CreateVpcPeeringConnection",
                "DeleteVpcPeeringConnection",
                "RejectVpcPeeringConnection",
                "AttachClassicLinkVpc",
                "DetachClassicLinkVpc",
                "DisableVpcClassicLink",
                "EnableVpcClassicLink",
            ],
        ),
        "organizations_changes" => names(
            "cloudwatch_log_metric_filter_aws_organizations_changes",
            Some("organizations.amazonaws.com"),
            &[
                "AcceptHandshake",
                "AttachPolicy",
                "CancelHandshake",
                "CreateAccount",
                "CreateOrganization",
                "CreateOrganizationalUnit",
                "CreatePolicy",
                "DeclineHandshake",
                "DeleteOrganization",
                "DeleteOrganizationalUnit",
                "DeletePolicy",
                "EnableAllFeatures",
                "EnablePolicyType",
                "InviteAccountToOrganization",
                "LeaveOrganization",
                "DetachPolicy",
                "DisablePolicyType",
                "MoveAccount",
                "RemoveAccountFromOrganization",
                "UpdateOrganizationalUnit",
                "UpdatePolicy",
            ],
        ),
        _ => return None,
    })
}

impl ProwlerRule {
    /// The clause texts the rule looks for, each as (what people read, regex).
    fn clauses(&self) -> Vec<(String, String)> {
        if let Some(ordered) = self.ordered {
            return vec![(
                "its clauses in the benchmark's order".to_owned(),
                format!("(?s){ordered}"),
            )];
        }
        let mut clauses = Vec::new();
        if let Some(source) = self.source {
            clauses.push((
                format!("$.eventSource = {source}"),
                format!(r"(?s)\$\.eventSource\s*=\s*.?{}", regex::escape(source)),
            ));
        }
        for name in self.names {
            clauses.push((
                format!("$.eventName = {name}"),
                format!(r"(?s)\$\.eventName\s*=\s*.?{}\b", regex::escape(name)),
            ));
        }
        for (field, op, value) in self.extra {
            let op_re = if *op == "!=" { r"\s*!=\s*" } else { r"\s*=\s*" };
            clauses.push((
                format!("$.{field} {op} {value}"),
                format!(
                    r"(?s)\$\.{}{op_re}.?{}",
                    regex::escape(field),
                    regex::escape(value)
                ),
            ));
        }
        clauses
    }

    fn compiled(&self) -> Vec<(String, Regex)> {
        self.clauses()
            .into_iter()
            .filter_map(|(text, re)| Some((text, Regex::new(&re).ok()?)))
            .collect()
    }
}

/// The clauses a pattern lacks; none when Prowler takes it for the control's filter.
fn lacking(clauses: &[(String, Regex)], pattern: &str) -> Vec<String> {
    clauses
        .iter()
        .filter(|(_, re)| !re.is_match(pattern))
        .map(|(text, _)| text.clone())
        .collect()
}

/// The metric filters on the log groups of every trail, as Prowler gathers them (by group name,
/// whatever the trail's region, logging state or selectors).
fn trail_filters(account: &Account) -> Vec<&MetricFilter> {
    let Ok(trails) = &account.trails else {
        return Vec::new();
    };
    let mut filters = Vec::new();
    for arn in trails.iter().filter_map(|t| t.log_group_arn.as_deref()) {
        if let Some(Ok(group)) = account.log_groups.get(arn) {
            filters.extend(group.metric_filters.iter());
        }
    }
    filters
}

/// An alarm on a metric of this name, in any namespace and region (Prowler's test).
fn has_alarm_named(account: &Account, metric: &str) -> bool {
    account
        .alarms
        .values()
        .flatten()
        .flatten()
        .any(|a| a.metric_name.as_deref() == Some(metric))
}

fn prowler(account: &Account, finding: &Finding) -> Option<OtherAuditor> {
    let rule = prowler_rule(&finding.control)?;
    let clauses = rule.compiled();
    let filters = trail_filters(account);
    let recognised: Vec<&&MetricFilter> = filters
        .iter()
        .filter(|f| lacking(&clauses, &f.pattern).is_empty())
        .collect();
    let with_alarm = recognised.iter().find(|f| {
        f.transformations
            .first()
            .is_some_and(|t| has_alarm_named(account, &t.name))
    });
    let verdict = if with_alarm.is_some() { "PASS" } else { "FAIL" };
    let agrees = verdict == finding.status.as_str();
    let why = if agrees {
        String::new()
    } else if let Some(f) = with_alarm {
        format!(
            "its check {} finds the text of every clause in filter {} and an alarm on a metric named {}; it does not look further, and {}",
            rule.check,
            f.name,
            f.transformations.first().map_or("", |t| t.name.as_str()),
            finding.summary
        )
    } else if let Some(f) = recognised.first() {
        format!(
            "its check {} finds filter {} but no alarm on a metric of its name ({}); it looks for the metric's name only",
            rule.check,
            f.name,
            f.transformations.first().map_or("", |t| t.name.as_str())
        )
    } else {
        let meeting = finding.evidence.filters.iter().find(|f| f.meets);
        match meeting {
            Some(m) => format!(
                "its check {} compares text: filter {} matches every required event, but Prowler does not find {}",
                rule.check,
                m.name,
                lacking(&clauses, &m.judgement.pattern).join(", ")
            ),
            None => format!(
                "its check {} finds no filter with the text it looks for",
                rule.check
            ),
        }
    };
    Some(OtherAuditor {
        auditor: "Prowler".to_owned(),
        verdict: verdict.to_owned(),
        agrees,
        why,
    })
}

fn security_hub(
    account: &Account,
    control: &Control<'_>,
    finding: &Finding,
) -> Option<OtherAuditor> {
    let exact = control.security_hub_string()?;
    let trails = account.trails.as_ref().ok()?;
    let mut found_exact = None;
    let mut passes = false;
    for arn in trails
        .iter()
        .filter(|t| t.multi_region)
        .filter_map(|t| t.log_group_arn.as_deref())
    {
        let Some(Ok(group)) = account.log_groups.get(arn) else {
            continue;
        };
        let region = log_group_of(arn).map_or("", |g| g.0);
        for f in group.metric_filters.iter().filter(|f| f.pattern == exact) {
            found_exact = Some(f.name.clone());
            let Some(metric) = f.transformations.first() else {
                continue;
            };
            let alarms = account.alarms.get(region).into_iter().flatten().flatten();
            passes |= alarms
                .filter(|a| a.metric_name.as_deref() == Some(metric.name.as_str()))
                .flat_map(|a| a.alarm_actions.iter())
                .filter(|t| is_topic(t))
                .any(|t| matches!(account.topics.get(t), Some(Ok(Some(subs))) if !subs.is_empty()));
        }
    }
    let verdict = if passes { "PASS" } else { "FAIL" };
    let agrees = verdict == finding.status.as_str();
    let why = if agrees {
        String::new()
    } else if passes {
        format!(
            "it compares the filter with its own string and finds it; it does not see that {}",
            finding.summary
        )
    } else if found_exact.is_some() {
        "it finds its string, but no alarm on the metric notifying a topic with a subscriber"
            .to_owned()
    } else {
        format!("it accepts only its own string, character for character: {exact}")
    };
    Some(OtherAuditor {
        auditor: "AWS Security Hub".to_owned(),
        verdict: verdict.to_owned(),
        agrees,
        why,
    })
}

/// The Prowler check that audits a control, e.g. `cloudwatch_log_metric_filter_policy_changes`.
pub fn prowler_check(control: &str) -> Option<&'static str> {
    prowler_rule(control).map(|r| r.check)
}

/// The other auditors' verdicts on one control, when they would decide it.
pub fn views(account: &Account, control: &Control<'_>, finding: &Finding) -> Vec<OtherAuditor> {
    if matches!(finding.status, Status::Manual | Status::Error) {
        return Vec::new();
    }
    prowler(account, finding)
        .into_iter()
        .chain(security_hub(account, control, finding))
        .collect()
}
