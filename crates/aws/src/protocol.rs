//! Which service and wire protocol a request speaks, told apart as AWS's own front ends do
//! (reference §1.2): the rpcv2Cbor path, then `X-Amz-Target`, then form bodies by their
//! `Version`.

use crate::model::{self, Service};

/// The `X-Amz-Target` prefix of trailwatch's own operations (failed deliveries).
pub const OPERATOR_TARGET_PREFIX: &str = "Trailwatch_20261206";
/// Their SigV4 signing name.
pub const OPERATOR_SIGNING_NAME: &str = "trailwatch";

/// The `X-Amz-Target` prefix of CloudTrail's operations.
const CLOUDTRAIL_TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";

/// The services and their wire protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// CloudWatch Logs, awsJson1_1.
    LogsJson,
    /// CloudWatch, awsJson1_0 (query-compatible errors).
    CloudWatchJson,
    /// CloudWatch, rpcv2Cbor (query-compatible errors).
    CloudWatchCbor,
    /// CloudWatch, awsQuery.
    CloudWatchQuery,
    /// SNS, awsQuery.
    SnsQuery,
    /// CloudTrail, awsJson1_1.
    CloudTrailJson,
    /// STS, awsQuery.
    StsQuery,
    /// Organizations, awsJson1_1.
    OrganizationsJson,
    /// trailwatch's own operations (failed deliveries), awsJson1_1-style.
    Operator,
}

impl Protocol {
    /// The service model of the protocol's operations and errors; the operator API has no
    /// model and words its errors as CloudWatch Logs does.
    pub fn service(self) -> &'static Service {
        match self {
            Protocol::LogsJson | Protocol::Operator => model::logs(),
            Protocol::CloudWatchJson | Protocol::CloudWatchCbor | Protocol::CloudWatchQuery => {
                model::cloudwatch()
            }
            Protocol::SnsQuery => model::sns(),
            Protocol::CloudTrailJson => model::cloudtrail(),
            Protocol::StsQuery => model::sts(),
            Protocol::OrganizationsJson => model::organizations(),
        }
    }

    /// The SigV4 signing name.
    pub fn signing_name(self) -> &'static str {
        match self {
            Protocol::LogsJson => "logs",
            Protocol::SnsQuery => "sns",
            Protocol::CloudTrailJson => "cloudtrail",
            Protocol::StsQuery => "sts",
            Protocol::OrganizationsJson => "organizations",
            Protocol::Operator => OPERATOR_SIGNING_NAME,
            Protocol::CloudWatchJson | Protocol::CloudWatchCbor | Protocol::CloudWatchQuery => {
                "monitoring"
            }
        }
    }

    /// Whether replies are awsQuery XML.
    pub fn is_query(self) -> bool {
        matches!(
            self,
            Protocol::CloudWatchQuery | Protocol::SnsQuery | Protocol::StsQuery
        )
    }

    /// The `Content-Type` of JSON bodies: awsJson1_0 for CloudWatch, 1.1 otherwise.
    pub fn json_content_type(self) -> &'static str {
        if self == Protocol::CloudWatchJson {
            "application/x-amz-json-1.0"
        } else {
            "application/x-amz-json-1.1"
        }
    }
}

/// What a POST's head says it is, before its body is read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Addressed {
    /// A service and operation named by the path or `X-Amz-Target`.
    Operation(Protocol, String),
    /// A form body, whose `Version` names the service.
    Form,
    /// An `X-Amz-Target` of no service served here.
    UnknownTarget,
    /// Nothing an AWS API request has.
    NotAws,
}

/// Tells a POST apart by its path, `X-Amz-Target` and `Content-Type`, in that order.
pub(crate) fn address(path: &str, target: Option<&str>, content_type: &str) -> Addressed {
    if let Some(op) = path.strip_prefix("/service/GraniteServiceVersion20100801/operation/") {
        return Addressed::Operation(Protocol::CloudWatchCbor, op.to_owned());
    }
    if let Some((prefix, op)) = target.and_then(|t| t.rsplit_once('.')) {
        let protocol = match prefix {
            "Logs_20140328" => Protocol::LogsJson,
            "GraniteServiceVersion20100801" => Protocol::CloudWatchJson,
            OPERATOR_TARGET_PREFIX => Protocol::Operator,
            // botocore's long form, and the Smithy SDKs' (Rust, Go v2, JavaScript v3).
            CLOUDTRAIL_TARGET_PREFIX | "CloudTrail_20131101" => Protocol::CloudTrailJson,
            "AWSOrganizationsV20161128" => Protocol::OrganizationsJson,
            _ => return Addressed::UnknownTarget,
        };
        return Addressed::Operation(protocol, op.to_owned());
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        Addressed::Form
    } else {
        Addressed::NotAws
    }
}

/// The protocol a form request is answered in before its body is read: the service of its
/// credential scope, else SNS.
pub(crate) fn form_guess(scope_service: Option<&str>) -> Protocol {
    if scope_service == Some("monitoring") {
        Protocol::CloudWatchQuery
    } else if scope_service == Some("sts") {
        Protocol::StsQuery
    } else {
        Protocol::SnsQuery
    }
}

/// The service of a form body: its `Version`, else its credential scope's service.
pub(crate) fn form_protocol(version: &str, scope_service: Option<&str>) -> Option<Protocol> {
    if version == model::sns().api_version || scope_service == Some("sns") {
        Some(Protocol::SnsQuery)
    } else if version == model::cloudwatch().api_version || scope_service == Some("monitoring") {
        Some(Protocol::CloudWatchQuery)
    } else if version == model::sts().api_version || scope_service == Some("sts") {
        Some(Protocol::StsQuery)
    } else {
        None
    }
}

/// The service of a SigV4 credential scope (`AKID/date/region/SERVICE/aws4_request`).
pub(crate) fn scope_service(authorization: &str) -> Option<&str> {
    credential_part(authorization, 3)
}

/// The region of an `Authorization` header's credential scope, read without checking it.
pub(crate) fn scope_region(authorization: &str) -> Option<&str> {
    credential_part(authorization, 2)
}

fn credential_part(authorization: &str, n: usize) -> Option<&str> {
    let credential = authorization.split("Credential=").nth(1)?;
    let scope = credential.split([',', ' ']).next()?;
    scope.split('/').nth(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cbor_path_comes_before_the_target_and_the_target_before_the_body() {
        let cbor = "/service/GraniteServiceVersion20100801/operation/DescribeAlarms";
        let form = "application/x-www-form-urlencoded";
        assert_eq!(
            address(cbor, Some("Logs_20140328.CreateLogGroup"), form),
            Addressed::Operation(Protocol::CloudWatchCbor, "DescribeAlarms".into())
        );
        assert_eq!(
            address("/", Some("Logs_20140328.CreateLogGroup"), form),
            Addressed::Operation(Protocol::LogsJson, "CreateLogGroup".into())
        );
        assert_eq!(
            address("/", Some("Kinesis_20131202.PutRecord"), form),
            Addressed::UnknownTarget
        );
        assert_eq!(
            address(
                "/",
                Some("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.GetTrailStatus"),
                "application/x-amz-json-1.1"
            ),
            Addressed::Operation(Protocol::CloudTrailJson, "GetTrailStatus".into())
        );
        assert_eq!(
            address(
                "/",
                Some("CloudTrail_20131101.GetTrailStatus"),
                "application/x-amz-json-1.1"
            ),
            Addressed::Operation(Protocol::CloudTrailJson, "GetTrailStatus".into())
        );
        assert_eq!(address("/", None, form), Addressed::Form);
        assert_eq!(address("/", None, "application/json"), Addressed::NotAws);
    }

    #[test]
    fn forms_are_told_apart_by_version_then_scope() {
        assert_eq!(form_protocol("2010-03-31", None), Some(Protocol::SnsQuery));
        assert_eq!(
            form_protocol("2010-08-01", None),
            Some(Protocol::CloudWatchQuery)
        );
        assert_eq!(
            form_protocol("", Some("monitoring")),
            Some(Protocol::CloudWatchQuery)
        );
        assert_eq!(form_protocol("2011-06-15", None), Some(Protocol::StsQuery));
        assert_eq!(form_protocol("2099-01-01", None), None);
        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=0";
        assert_eq!(scope_service(auth), Some("monitoring"));
    }
}
