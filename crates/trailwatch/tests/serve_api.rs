//! Every operation of `trailwatch serve` through boto3 (CloudWatch over all three of its
//! protocols), SigV4 authentication, and bad input answered with AWS's error codes.

mod common;

use std::time::{Duration, SystemTime};

use common::{ACCESS_KEY_ID, HttpResponse, REGION, SECRET_ACCESS_KEY, Server, http};
use serde_json::{Value, json};

#[test]
fn logs_operations_through_boto3() {
    let server = Server::start();
    let out = server.python_ok("logs_ops.py", &[]);
    assert!(out.contains("all Logs checks passed"), "{out}");
}

fn cloudwatch_over(protocol: &str) {
    let server = Server::start();
    let out = server.python_ok("cloudwatch_ops.py", &[("TRAILWATCH_CW_PROTOCOL", protocol)]);
    assert!(
        out.contains(&format!("all CloudWatch checks passed over {protocol}")),
        "{out}"
    );
}

/// The table of bad CloudWatch inputs, answered as AWS answers them, storing nothing.
fn cloudwatch_bad_inputs_over(protocol: &str) {
    let server = Server::start();
    let out = server.python_ok(
        "cloudwatch_bad_inputs.py",
        &[("TRAILWATCH_CW_PROTOCOL", protocol)],
    );
    assert!(
        out.contains(&format!("bad inputs answered as AWS does over {protocol}")),
        "{out}"
    );
}

#[test]
fn cloudwatch_bad_inputs_over_aws_json_1_0() {
    cloudwatch_bad_inputs_over("json");
}

#[test]
fn cloudwatch_bad_inputs_over_aws_query() {
    cloudwatch_bad_inputs_over("query");
}

#[test]
fn cloudwatch_bad_inputs_over_rpc_v2_cbor() {
    cloudwatch_bad_inputs_over("smithy-rpc-v2-cbor");
}

#[test]
fn cloudwatch_operations_over_aws_json_1_0() {
    cloudwatch_over("json");
}

#[test]
fn cloudwatch_operations_over_aws_query() {
    cloudwatch_over("query");
}

#[test]
fn cloudwatch_operations_over_rpc_v2_cbor() {
    cloudwatch_over("smithy-rpc-v2-cbor");
}

#[test]
fn sns_operations_through_boto3() {
    let server = Server::start();
    let out = server.python_ok("sns_ops.py", &[]);
    assert!(out.contains("all SNS checks passed"), "{out}");
}

/// A POST to `/` signed as a client would sign it.
struct Call<'a> {
    target: Option<&'a str>,
    content_type: &'a str,
    body: &'a [u8],
    service: &'a str,
    at: SystemTime,
    key: &'a str,
    secret: &'a str,
}

impl<'a> Call<'a> {
    fn new(
        target: Option<&'a str>,
        content_type: &'a str,
        body: &'a [u8],
        service: &'a str,
    ) -> Self {
        Call {
            target,
            content_type,
            body,
            service,
            at: SystemTime::now(),
            key: ACCESS_KEY_ID,
            secret: SECRET_ACCESS_KEY,
        }
    }
}

fn signed(server: &Server, call: &Call) -> HttpResponse {
    let host = server.url.trim_start_matches("http://").to_owned();
    let date = aws::sigv4::format_amz_date(call.at);
    let mut headers: Vec<(&str, &str)> = vec![
        ("host", host.as_str()),
        ("x-amz-date", date.as_str()),
        ("content-type", call.content_type),
    ];
    if let Some(t) = call.target {
        headers.push(("x-amz-target", t));
    }
    let raw: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    let authorization = aws::sigv4::sign(
        &aws::sigv4::Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &raw,
            body: call.body,
        },
        &aws::sigv4::SigningParams {
            access_key_id: call.key,
            secret_access_key: call.secret,
            region: REGION,
            service: call.service,
        },
    )
    .expect("signs");
    let mut sent: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(k, _)| *k != "host")
        .copied()
        .collect();
    sent.push(("authorization", authorization.as_str()));
    http(&server.url, "POST", "/", &sent, call.body).expect("the server answers")
}

fn logs_call(server: &Server, operation: &str, body: &[u8]) -> HttpResponse {
    let target = format!("Logs_20140328.{operation}");
    signed(
        server,
        &Call::new(Some(&target), "application/x-amz-json-1.1", body, "logs"),
    )
}

fn error_type(r: &HttpResponse) -> String {
    let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    v["__type"].as_str().unwrap_or_default().to_owned()
}

fn group_count(server: &Server) -> usize {
    let groups = server.aws_ok(&["logs", "describe-log-groups"]);
    groups["logGroups"].as_array().map_or(0, Vec::len)
}

#[test]
fn wrong_secret_unknown_key_and_unsigned_requests_are_refused_and_change_nothing() {
    let server = Server::start();
    let create = ["logs", "create-log-group", "--log-group-name", "g"];

    let err = String::from_utf8_lossy(
        &server
            .aws_as(&create, ACCESS_KEY_ID, "not-the-secret")
            .stderr,
    )
    .into_owned();
    assert!(
        err.contains("(InvalidSignatureException)")
            && err.contains("The request signature we calculated does not match"),
        "{err}"
    );
    let err = String::from_utf8_lossy(
        &server
            .aws_as(&create, "AKIDUNKNOWN000000000", SECRET_ACCESS_KEY)
            .stderr,
    )
    .into_owned();
    assert!(
        err.contains("(UnrecognizedClientException)")
            && err.contains("The security token included in the request is invalid."),
        "{err}"
    );
    // Unsigned, and SNS over awsQuery with a wrong secret.
    let err = server.aws_err(&["logs", "describe-log-groups", "--no-sign-request"]);
    assert!(
        err.contains("(MissingAuthenticationTokenException)"),
        "{err}"
    );
    let err = String::from_utf8_lossy(
        &server
            .aws_as(
                &["sns", "create-topic", "--name", "t"],
                ACCESS_KEY_ID,
                "wrong",
            )
            .stderr,
    )
    .into_owned();
    assert!(err.contains("(SignatureDoesNotMatch)"), "{err}");

    // A credential scope for a region no partition lists.
    let nowhere = server.aws(&[
        "logs",
        "create-log-group",
        "--log-group-name",
        "g",
        "--region",
        "eu-west-9",
    ]);
    let err = String::from_utf8_lossy(&nowhere.stderr).into_owned();
    assert!(!nowhere.status.success(), "an unknown region is refused");
    assert!(err.contains("(InvalidSignatureException)"), "{err}");
    assert!(
        err.contains("'eu-west-9' is not a region of any AWS partition"),
        "{err}"
    );

    assert_eq!(group_count(&server), 0, "nothing was created");
    let topics = server.aws_ok(&["sns", "list-topics"]);
    assert_eq!(topics["Topics"], json!([]));
}

#[test]
fn requests_signed_outside_the_allowed_skew_are_refused() {
    let server = Server::start();
    let body = br#"{"logGroupName":"skewed"}"#;
    for offset in [-360i64, 360] {
        let at = if offset < 0 {
            SystemTime::now() - Duration::from_secs(offset.unsigned_abs())
        } else {
            SystemTime::now() + Duration::from_secs(offset as u64)
        };
        let mut call = Call::new(
            Some("Logs_20140328.CreateLogGroup"),
            "application/x-amz-json-1.1",
            body,
            "logs",
        );
        call.at = at;
        let r = signed(&server, &call);
        assert_eq!(r.status, 403, "{r:?}");
        assert_eq!(error_type(&r), "InvalidSignatureException", "{r:?}");
        assert!(
            r.body.contains("Signature expired") || r.body.contains("Signature not yet current"),
            "{r:?}"
        );
    }
    // A scope for another service is refused too.
    let r = signed(
        &server,
        &Call::new(
            Some("Logs_20140328.CreateLogGroup"),
            "application/x-amz-json-1.1",
            body,
            "monitoring",
        ),
    );
    assert_eq!(error_type(&r), "InvalidSignatureException", "{r:?}");
    assert_eq!(group_count(&server), 0);
    // The same request, on time and with the right scope, works.
    let r = logs_call(&server, "CreateLogGroup", body);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(group_count(&server), 1);
}

#[test]
fn bad_input_gets_aws_error_codes_never_a_500() {
    let server = Server::start();
    // Malformed JSON.
    let r = logs_call(&server, "CreateLogGroup", b"{\"logGroupName\": ");
    assert_eq!(
        (r.status, error_type(&r).as_str()),
        (400, "SerializationException"),
        "{r:?}"
    );
    // A wrong type.
    let r = logs_call(&server, "CreateLogGroup", br#"{"logGroupName": 42}"#);
    assert_eq!(
        (r.status, error_type(&r).as_str()),
        (400, "SerializationException"),
        "{r:?}"
    );
    // An unknown operation.
    let r = logs_call(&server, "FlyToTheMoon", b"{}");
    assert_eq!(
        (r.status, error_type(&r).as_str()),
        (400, "UnknownOperationException"),
        "{r:?}"
    );
    // An operation of the model that is not served yet.
    let r = logs_call(
        &server,
        "PutSubscriptionFilter",
        br#"{"logGroupName":"g","filterName":"f","filterPattern":"","destinationArn":"arn:aws:lambda:us-east-1:000000000000:function:f"}"#,
    );
    assert_eq!(
        (r.status, error_type(&r).as_str()),
        (400, "UnknownOperationException"),
        "{r:?}"
    );
    // A missing resource.
    let r = logs_call(&server, "DescribeLogStreams", br#"{"logGroupName":"nope"}"#);
    assert_eq!(
        (r.status, error_type(&r).as_str()),
        (400, "ResourceNotFoundException"),
        "{r:?}"
    );

    // CloudWatch over JSON: query-compatible error header.
    let cw = |body: &[u8]| {
        signed(
            &server,
            &Call::new(
                Some("GraniteServiceVersion20100801.PutMetricAlarm"),
                "application/x-amz-json-1.0",
                body,
                "monitoring",
            ),
        )
    };
    let r = cw(br#"{"AlarmName": "a", "EvaluationPeriods": "x", "ComparisonOperator": "GreaterThanThreshold"}"#);
    assert_eq!(
        (r.status, error_type(&r).as_str()),
        (400, "SerializationException"),
        "{r:?}"
    );
    let r = cw(br#"{"AlarmName":"a","MetricName":"m","Namespace":"n","Statistic":"Sum","Period":7,"EvaluationPeriods":1,"Threshold":1,"ComparisonOperator":"GreaterThanThreshold"}"#);
    assert_eq!(r.status, 400, "{r:?}");
    let query_error = r
        .headers
        .iter()
        .find(|(k, _)| k == "x-amzn-query-error")
        .map(|(_, v)| v.as_str());
    assert_eq!(query_error, Some("InvalidParameterValue;Sender"), "{r:?}");

    // Malformed CBOR.
    let host = server.url.trim_start_matches("http://").to_owned();
    let date = aws::sigv4::format_amz_date(SystemTime::now());
    let body = b"\xbf\x61";
    let path = "/service/GraniteServiceVersion20100801/operation/PutMetricAlarm";
    let headers: Vec<(&str, &[u8])> = vec![
        ("host", host.as_bytes()),
        ("x-amz-date", date.as_bytes()),
        ("content-type", b"application/cbor"),
        ("smithy-protocol", b"rpc-v2-cbor"),
    ];
    let authorization = aws::sigv4::sign(
        &aws::sigv4::Request {
            method: "POST",
            path,
            query: "",
            headers: &headers,
            body,
        },
        &aws::sigv4::SigningParams {
            access_key_id: ACCESS_KEY_ID,
            secret_access_key: SECRET_ACCESS_KEY,
            region: REGION,
            service: "monitoring",
        },
    )
    .expect("signs");
    let r = http(
        &server.url,
        "POST",
        path,
        &[
            ("x-amz-date", &date),
            ("content-type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("authorization", &authorization),
        ],
        body,
    )
    .expect("answer");
    assert_eq!(r.status, 400, "{r:?}");

    // A malformed form body and an unknown action on SNS.
    let r = signed(
        &server,
        &Call::new(
            None,
            "application/x-www-form-urlencoded; charset=utf-8",
            b"Action=LaunchRocket&Version=2010-03-31",
            "sns",
        ),
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("<Code>InvalidAction</Code>"), "{r:?}");
    let r = signed(
        &server,
        &Call::new(
            None,
            "application/x-www-form-urlencoded; charset=utf-8",
            b"Action=CreateTopic&Version=2010-03-31&Attributes.entry.1.key=%ZZ",
            "sns",
        ),
    );
    assert_eq!(r.status, 400, "{r:?}");

    assert_eq!(group_count(&server), 0, "nothing was stored");
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn generated_credentials_are_kept_private_and_printed_once() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let mut first = Server::start_with_env(&data, &[], &[]);
    let printed = first.printed_until_exit();
    let key = printed
        .iter()
        .find_map(|l| l.strip_prefix("export AWS_ACCESS_KEY_ID="))
        .expect("key printed")
        .to_owned();
    let secret = printed
        .iter()
        .find_map(|l| l.strip_prefix("export AWS_SECRET_ACCESS_KEY="))
        .expect("secret printed")
        .to_owned();
    // A second start on the same directory: the same keys, kept private, not printed again.
    let mut again = Server::start_with_env(&data, &[], &[]);
    let out = again.aws_as(&["logs", "describe-log-groups"], &key, &secret);
    assert!(
        out.status.success(),
        "the same key works after a restart: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("credentials.json"))
            .expect("kept")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "readable only by its owner: {mode:o}");
    }
    assert!(
        again.printed_until_exit().is_empty(),
        "printed only on the first start"
    );
}

#[test]
fn only_one_of_the_key_variables_is_a_start_up_error() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path())
        .env("TRAILWATCH_ACCESS_KEY_ID", "AKIDONLY")
        .env_remove("TRAILWATCH_SECRET_ACCESS_KEY")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TRAILWATCH_SECRET_ACCESS_KEY"), "{err}");
}

#[test]
fn auth_none_serves_unsigned_requests_and_warns() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with_env(&tmp.path().join("data"), &["--auth", "none"], &[]);
    let out = server.aws(&[
        "logs",
        "create-log-group",
        "--log-group-name",
        "open",
        "--no-sign-request",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(group_count(&server), 1);
    let log = server.log();
    assert!(log.contains("Authentication is off"), "{log}");
    assert!(
        server.stdout_rest.lock().expect("lock").is_empty(),
        "no credentials are generated without authentication"
    );
}
