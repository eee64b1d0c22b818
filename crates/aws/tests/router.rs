//! The router in process, without sockets: how requests are told apart (reference §1.2) and
//! how each protocol answers, successes and errors alike (§1.3, §1.4), as a client sees it —
//! status, content type, the request id in header and body, the error code where each
//! protocol carries it, and AWS's message. Every case takes milliseconds.
//!
//! Values asserted here are what AWS answers as far as the reference records it; where it
//! records nothing, what trailwatch answers today, so that a restructuring of the crate can be
//! checked against it.

use std::io::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use ciborium::Value as Cbor;
use engine::{Config, Engine};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "000000000000";
const ACCESS_KEY_ID: &str = "AKIDROUTERTEST000000";
const SECRET_ACCESS_KEY: &str = "router-test-secret";

const LOGS_JSON: &str = "application/x-amz-json-1.1";
const CLOUDWATCH_JSON: &str = "application/x-amz-json-1.0";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";
const CLOUDWATCH_XMLNS: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";
const SNS_XMLNS: &str = "http://sns.amazonaws.com/doc/2010-03-31/";
/// The `__type` namespace of CloudWatch's modelled errors on JSON and CBOR.
const CLOUDWATCH_SHAPE: &str = "com.amazonaws.cloudwatch.v2010_08_01#";
const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

// ---------------------------------------------------------------------------------------------
// The server and its answers.

struct Server {
    app: axum::Router,
    /// Holds the database until the test ends.
    _dir: tempfile::TempDir,
}

fn server(auth: aws::Auth) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store::SqliteStore::open(dir.path(), &Default::default()).expect("store");
    let engine = Engine::new(
        Config::new(dir.path().to_path_buf(), "http://127.0.0.1:4566"),
        Arc::new(store),
    );
    let app = aws::router(aws::State::new(Arc::new(engine), auth, None));
    Server { app, _dir: dir }
}

fn open_server() -> Server {
    server(aws::Auth::None)
}

fn signing_server() -> Server {
    server(aws::Auth::single_key(ACCESS_KEY_ID, SECRET_ACCESS_KEY))
}

impl Server {
    async fn call(&self, request: Request<Body>) -> Answer {
        let response = self
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers every request");
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("a complete body");
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header"))
    }

    /// The `x-amzn-RequestId` every AWS answer carries.
    #[track_caller]
    fn request_id(&self) -> &str {
        let id = self
            .header("x-amzn-requestid")
            .unwrap_or_else(|| panic!("no x-amzn-requestid: {self:?}"));
        assert!(!id.is_empty(), "{self:?}");
        id
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    #[track_caller]
    fn cbor(&self) -> Cbor {
        ciborium::from_reader(&self.body[..]).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    #[track_caller]
    fn xml(&self) -> Xml {
        Xml::parse(self.text())
    }
}

/// A JSON success of `content_type`, its body.
#[track_caller]
fn json_ok(a: &Answer, content_type: &str) -> Value {
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert_eq!(a.header("content-type"), Some(content_type), "{a:?}");
    a.request_id();
    a.json()
}

/// An rpcv2Cbor success with output, its body.
#[track_caller]
fn cbor_ok(a: &Answer) -> Cbor {
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert_eq!(a.header("smithy-protocol"), Some("rpc-v2-cbor"), "{a:?}");
    assert_eq!(a.header("content-type"), Some("application/cbor"), "{a:?}");
    a.request_id();
    a.cbor()
}

/// An awsQuery success: `<{operation}Response>` in `namespace` with the request id of the
/// header in its `ResponseMetadata`.
#[track_caller]
fn xml_ok(a: &Answer, operation: &str, namespace: &str) -> Xml {
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert_eq!(a.header("content-type"), Some("text/xml"), "{a:?}");
    let xml = a.xml();
    let root = format!("{operation}Response");
    assert_eq!(xml.root, root, "{a:?}");
    assert_eq!(xml.namespace.as_deref(), Some(namespace), "{a:?}");
    assert_eq!(
        xml.get(&format!("{root}/ResponseMetadata/RequestId")),
        Some(a.request_id()),
        "{a:?}"
    );
    xml
}

/// What an awsJson error must show. `query_error` is the `x-amzn-query-error` of
/// query-compatible CloudWatch, `None` where the header must be absent (Logs).
struct JsonError<'a> {
    status: u16,
    content_type: &'a str,
    type_name: &'a str,
    message: Option<&'a str>,
    query_error: Option<&'a str>,
}

#[track_caller]
fn assert_json_error(a: &Answer, expected: &JsonError) {
    assert_eq!(a.status.as_u16(), expected.status, "{a:?}");
    assert_eq!(
        a.header("content-type"),
        Some(expected.content_type),
        "{a:?}"
    );
    a.request_id();
    let body = a.json();
    assert_eq!(body["__type"], expected.type_name, "{a:?}");
    match expected.message {
        Some(m) => assert_eq!(body["message"], m, "{a:?}"),
        None => assert!(body.get("message").is_none(), "{a:?}"),
    }
    // The Rust SDK reads the code from this header; botocore strips any namespace.
    let short = expected.type_name.rsplit('#').next();
    assert_eq!(a.header("x-amzn-errortype"), short, "{a:?}");
    assert_eq!(
        a.header("x-amzn-query-error"),
        expected.query_error,
        "{a:?}"
    );
}

/// What an rpcv2Cbor error must show: the CBOR map of `__type` and `message`, and the
/// query-compatible code in `x-amzn-query-error`.
#[track_caller]
fn assert_cbor_error(a: &Answer, status: u16, type_name: &str, message: &str, query_error: &str) {
    assert_eq!(a.status.as_u16(), status, "{a:?}");
    assert_eq!(a.header("content-type"), Some("application/cbor"), "{a:?}");
    assert_eq!(a.header("smithy-protocol"), Some("rpc-v2-cbor"), "{a:?}");
    assert_eq!(a.header("x-amzn-query-error"), Some(query_error), "{a:?}");
    a.request_id();
    let body = a.cbor();
    assert_eq!(cbor_text(&body, "__type"), Some(type_name), "{a:?}");
    assert_eq!(cbor_text(&body, "message"), Some(message), "{a:?}");
}

/// An awsQuery `ErrorResponse`: its `Type`, `Code`, `Message` (unchecked when `None`) and the
/// header's request id. `namespace` is unchecked when `None`.
#[track_caller]
fn assert_query_error(
    a: &Answer,
    status: u16,
    namespace: Option<&str>,
    code: &str,
    message: Option<&str>,
) {
    assert_eq!(a.status.as_u16(), status, "{a:?}");
    assert_eq!(a.header("content-type"), Some("text/xml"), "{a:?}");
    let xml = a.xml();
    assert_eq!(xml.root, "ErrorResponse", "{a:?}");
    if let Some(ns) = namespace {
        assert_eq!(xml.namespace.as_deref(), Some(ns), "{a:?}");
    }
    let fault = if status >= 500 { "Receiver" } else { "Sender" };
    assert_eq!(xml.get("ErrorResponse/Error/Type"), Some(fault), "{a:?}");
    assert_eq!(xml.get("ErrorResponse/Error/Code"), Some(code), "{a:?}");
    if let Some(m) = message {
        assert_eq!(xml.get("ErrorResponse/Error/Message"), Some(m), "{a:?}");
    }
    assert_eq!(
        xml.get("ErrorResponse/RequestId"),
        Some(a.request_id()),
        "{a:?}"
    );
}

/// A plain-text answer outside the AWS protocols.
#[track_caller]
fn assert_plain(a: &Answer, status: u16, text: &str) {
    assert_eq!(a.status.as_u16(), status, "{a:?}");
    assert_eq!(
        a.header("content-type"),
        Some("text/plain; charset=utf-8"),
        "{a:?}"
    );
    assert_eq!(a.text(), text, "{a:?}");
}

// ---------------------------------------------------------------------------------------------
// Requests as clients send them.

fn post(path: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::builder().method(Method::POST).uri(path);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(body.into()).expect("a valid request")
}

/// CloudWatch Logs over awsJson1_1, as botocore sends it.
fn logs(operation: &str, body: Value) -> Request<Body> {
    let target = format!("Logs_20140328.{operation}");
    post(
        "/",
        &[("x-amz-target", &target), ("content-type", LOGS_JSON)],
        body.to_string(),
    )
}

/// CloudWatch over awsJson1_0; botocore sends `x-amzn-query-mode: true`.
fn cloudwatch_json(operation: &str, body: Value, query_mode: bool) -> Request<Body> {
    let target = format!("GraniteServiceVersion20100801.{operation}");
    let mut headers = vec![
        ("x-amz-target", target.as_str()),
        ("content-type", CLOUDWATCH_JSON),
    ];
    if query_mode {
        headers.push(("x-amzn-query-mode", "true"));
    }
    post("/", &headers, body.to_string())
}

fn cbor_path(operation: &str) -> String {
    format!("/service/GraniteServiceVersion20100801/operation/{operation}")
}

const CBOR_HEADERS: [(&str, &str); 3] = [
    ("content-type", "application/cbor"),
    ("smithy-protocol", "rpc-v2-cbor"),
    ("accept", "application/cbor"),
];

/// CloudWatch over rpcv2Cbor, as the Rust SDK sends it (with `x-amzn-query-mode: true` when
/// `query_mode`).
fn cloudwatch_cbor(operation: &str, body: &Cbor, query_mode: bool) -> Request<Body> {
    let mut headers = CBOR_HEADERS.to_vec();
    if query_mode {
        headers.push(("x-amzn-query-mode", "true"));
    }
    post(&cbor_path(operation), &headers, cbor_bytes(body))
}

fn cbor_bytes(v: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).expect("CBOR encodes into a Vec");
    out
}

/// A CBOR map from text keys.
fn cbor_map(entries: Vec<(&str, Cbor)>) -> Cbor {
    Cbor::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Cbor::Text(k.to_owned()), v))
            .collect(),
    )
}

fn text(s: &str) -> Cbor {
    Cbor::Text(s.to_owned())
}

fn cbor_get<'a>(v: &'a Cbor, key: &str) -> Option<&'a Cbor> {
    v.as_map()?
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

fn cbor_text<'a>(v: &'a Cbor, key: &str) -> Option<&'a str> {
    cbor_get(v, key)?.as_text()
}

fn form_body(params: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// An awsQuery request (SNS or CloudWatch, by the `Version` in `params`).
fn query(params: &[(&str, &str)]) -> Request<Body> {
    post("/", &[("content-type", FORM)], form_body(params))
}

fn cloudwatch_query(action: &str, params: &[(&str, &str)]) -> Request<Body> {
    let mut all = vec![("Action", action), ("Version", "2010-08-01")];
    all.extend_from_slice(params);
    query(&all)
}

fn sns_query(action: &str, params: &[(&str, &str)]) -> Request<Body> {
    let mut all = vec![("Action", action), ("Version", "2010-03-31")];
    all.extend_from_slice(params);
    query(&all)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip into a Vec");
    encoder.finish().expect("gzip into a Vec")
}

/// Who signs a request, and for which signing name.
struct Signer<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    service: &'a str,
}

impl<'a> Signer<'a> {
    fn new(service: &'a str) -> Signer<'a> {
        Signer {
            access_key_id: ACCESS_KEY_ID,
            secret_access_key: SECRET_ACCESS_KEY,
            service,
        }
    }
}

/// A POST signed as botocore signs it: every header given, plus `host` and `x-amz-date`,
/// over the body exactly as sent.
fn signed(path: &str, headers: &[(&str, &str)], body: Vec<u8>, signer: &Signer) -> Request<Body> {
    let date = aws::sigv4::format_amz_date(SystemTime::now());
    let mut all: Vec<(&str, &str)> = vec![("host", "127.0.0.1:4566"), ("x-amz-date", &date)];
    all.extend_from_slice(headers);
    let raw: Vec<(&str, &[u8])> = all.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    let authorization = aws::sigv4::sign(
        &aws::sigv4::Request {
            method: "POST",
            path,
            query: "",
            headers: &raw,
            body: &body,
        },
        &aws::sigv4::SigningParams {
            access_key_id: signer.access_key_id,
            secret_access_key: signer.secret_access_key,
            region: REGION,
            service: signer.service,
        },
    )
    .expect("signs");
    all.push(("authorization", &authorization));
    post(path, &all, body)
}

fn signed_logs(operation: &str, body: Value, signer: &Signer) -> Request<Body> {
    let target = format!("Logs_20140328.{operation}");
    signed(
        "/",
        &[("x-amz-target", &target), ("content-type", LOGS_JSON)],
        body.to_string().into_bytes(),
        signer,
    )
}

// ---------------------------------------------------------------------------------------------
// XML answers, read by element path.

/// An XML document as the element paths (`ErrorResponse/Error/Code`) and texts a client reads.
struct Xml {
    root: String,
    /// The root's `xmlns`.
    namespace: Option<String>,
    /// Every element in document order: its path and its text.
    elements: Vec<(String, String)>,
}

impl Xml {
    #[track_caller]
    fn parse(doc: &str) -> Xml {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_str(doc);
        let mut xml = Xml {
            root: String::new(),
            namespace: None,
            elements: Vec::new(),
        };
        // Names of the open elements, and the index of each in `elements`.
        let mut open: Vec<(String, usize)> = Vec::new();
        loop {
            let event = reader.read_event().unwrap_or_else(|e| panic!("{e}: {doc}"));
            match event {
                Event::Start(e) => {
                    let name = String::from_utf8(e.name().as_ref().to_vec()).expect("UTF-8");
                    if open.is_empty() {
                        xml.root.clone_from(&name);
                        xml.namespace = e
                            .try_get_attribute("xmlns")
                            .expect("well-formed attributes")
                            .map(|a| String::from_utf8(a.value.to_vec()).expect("UTF-8"));
                    }
                    let path = match open.last() {
                        Some((parent, _)) => format!("{parent}/{name}"),
                        None => name,
                    };
                    xml.elements.push((path.clone(), String::new()));
                    open.push((path, xml.elements.len() - 1));
                }
                Event::Empty(e) => {
                    let name = String::from_utf8(e.name().as_ref().to_vec()).expect("UTF-8");
                    let parent = open.last().map_or(String::new(), |(p, _)| format!("{p}/"));
                    xml.elements
                        .push((format!("{parent}{name}"), String::new()));
                }
                Event::End(_) => {
                    open.pop();
                }
                Event::Text(t) => {
                    if let Some((_, i)) = open.last() {
                        xml.elements[*i].1.push_str(&t.decode().expect("UTF-8"));
                    }
                }
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref().expect("a valid reference") {
                        Some(c) => c.to_string(),
                        None => {
                            let name = r.decode().expect("UTF-8");
                            quick_xml::escape::resolve_predefined_entity(&name)
                                .unwrap_or_else(|| panic!("unknown entity {name}: {doc}"))
                                .to_owned()
                        }
                    };
                    if let Some((_, i)) = open.last() {
                        xml.elements[*i].1.push_str(&resolved);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert!(open.is_empty(), "unclosed elements: {doc}");
        xml
    }

    /// The text of the first element at `path`.
    fn get(&self, path: &str) -> Option<&str> {
        self.all(path).into_iter().next()
    }

    /// The texts of every element at `path`.
    fn all(&self, path: &str) -> Vec<&str> {
        self.elements
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, t)| t.as_str())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Shared inputs.

/// A metric alarm as the CLI sends it over awsJson1_0 (reference §1.1).
fn alarm(name: &str) -> Value {
    json!({
        "AlarmName": name,
        "MetricName": "M",
        "Namespace": "CISBenchmark",
        "Statistic": "Sum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    })
}

fn alarm_cbor(name: &str) -> Cbor {
    cbor_map(vec![
        ("AlarmName", text(name)),
        ("MetricName", text("M")),
        ("Namespace", text("CISBenchmark")),
        ("Statistic", text("Sum")),
        ("Period", Cbor::Integer(60.into())),
        ("EvaluationPeriods", Cbor::Integer(2.into())),
        ("Threshold", Cbor::Float(2.5)),
        ("ComparisonOperator", text("GreaterThanThreshold")),
    ])
}

fn alarm_arn(name: &str) -> String {
    format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}")
}

fn set_alarm_state(name: &str) -> Value {
    json!({"AlarmName": name, "StateValue": "ALARM", "StateReason": "testing"})
}

// ---------------------------------------------------------------------------------------------
// Dispatch.

#[tokio::test(flavor = "current_thread")]
async fn healthz_answers_ok() {
    let s = open_server();
    let get = Request::get("/healthz")
        .body(Body::empty())
        .expect("request");
    assert_plain(&s.call(get).await, 200, "ok\n");
}

#[tokio::test(flavor = "current_thread")]
async fn logs_over_aws_json_1_1_creates_and_describes_a_log_group() {
    let s = open_server();
    let created = s
        .call(logs("CreateLogGroup", json!({"logGroupName": "trail"})))
        .await;
    assert_eq!(json_ok(&created, LOGS_JSON), json!({}));

    let described = s.call(logs("DescribeLogGroups", json!({}))).await;
    let body = json_ok(&described, LOGS_JSON);
    let groups = body["logGroups"].as_array().expect("logGroups");
    assert_eq!(groups.len(), 1, "{body}");
    assert_eq!(groups[0]["logGroupName"], "trail");
    assert_eq!(
        groups[0]["arn"],
        format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:trail:*")
    );
    assert_eq!(
        groups[0]["logGroupArn"],
        format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:trail")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_alarm_put_over_json_1_0_reads_back_over_cbor_and_query() {
    let s = open_server();
    let put = s
        .call(cloudwatch_json("PutMetricAlarm", alarm("A"), true))
        .await;
    assert_eq!(json_ok(&put, CLOUDWATCH_JSON), json!({}));

    // rpcv2Cbor, as the Rust SDK asks.
    let names = cbor_map(vec![("AlarmNames", Cbor::Array(vec![text("A")]))]);
    let described = cbor_ok(
        &s.call(cloudwatch_cbor("DescribeAlarms", &names, true))
            .await,
    );
    let alarms = cbor_get(&described, "MetricAlarms")
        .and_then(Cbor::as_array)
        .expect("MetricAlarms");
    assert_eq!(alarms.len(), 1, "{described:?}");
    let a = &alarms[0];
    assert_eq!(cbor_text(a, "AlarmName"), Some("A"));
    assert_eq!(cbor_text(a, "AlarmArn"), Some(alarm_arn("A").as_str()));
    assert_eq!(cbor_text(a, "StateValue"), Some("INSUFFICIENT_DATA"));
    assert_eq!(
        cbor_text(a, "StateReason"),
        Some("Unchecked: Initial alarm creation")
    );
    // Doubles stay doubles, timestamps are tag 1 (epoch seconds).
    assert_eq!(cbor_get(a, "Threshold"), Some(&Cbor::Float(1.0)));
    assert!(
        matches!(cbor_get(a, "StateUpdatedTimestamp"), Some(Cbor::Tag(1, _))),
        "{a:?}"
    );

    // awsQuery, as botocore before 1.42.7 asks.
    let answer = s
        .call(cloudwatch_query(
            "DescribeAlarms",
            &[("AlarmNames.member.1", "A")],
        ))
        .await;
    let xml = xml_ok(&answer, "DescribeAlarms", CLOUDWATCH_XMLNS);
    let member = "DescribeAlarmsResponse/DescribeAlarmsResult/MetricAlarms/member";
    assert_eq!(xml.all(&format!("{member}/AlarmName")), ["A"]);
    assert_eq!(
        xml.get(&format!("{member}/AlarmArn")),
        Some(alarm_arn("A").as_str())
    );
    assert_eq!(
        xml.get(&format!("{member}/StateValue")),
        Some("INSUFFICIENT_DATA")
    );
    assert_eq!(xml.get(&format!("{member}/Period")), Some("300"));
    assert_eq!(
        xml.get(&format!("{member}/Threshold"))
            .and_then(|t| t.parse::<f64>().ok()),
        Some(1.0)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn alarms_put_over_cbor_and_query_read_back_over_json_1_0() {
    let s = open_server();
    // rpcv2Cbor: an operation without output answers an empty body and no content type.
    let put = s
        .call(cloudwatch_cbor("PutMetricAlarm", &alarm_cbor("B"), true))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{put:?}");
    assert_eq!(
        put.header("smithy-protocol"),
        Some("rpc-v2-cbor"),
        "{put:?}"
    );
    assert_eq!(put.header("content-type"), None, "{put:?}");
    assert!(put.body.is_empty(), "{put:?}");
    put.request_id();

    // awsQuery: an operation without output answers only its ResponseMetadata.
    let put = s
        .call(cloudwatch_query(
            "PutMetricAlarm",
            &[
                ("AlarmName", "C"),
                ("MetricName", "M"),
                ("Namespace", "CISBenchmark"),
                ("Statistic", "Average"),
                ("Period", "3600"),
                ("EvaluationPeriods", "1"),
                ("Threshold", "7.5"),
                ("ComparisonOperator", "LessThanThreshold"),
            ],
        ))
        .await;
    let xml = xml_ok(&put, "PutMetricAlarm", CLOUDWATCH_XMLNS);
    assert_eq!(
        xml.elements
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>(),
        [
            "PutMetricAlarmResponse",
            "PutMetricAlarmResponse/ResponseMetadata",
            "PutMetricAlarmResponse/ResponseMetadata/RequestId",
        ]
    );

    let described = s
        .call(cloudwatch_json(
            "DescribeAlarms",
            json!({"AlarmNames": ["B", "C"]}),
            true,
        ))
        .await;
    let body = json_ok(&described, CLOUDWATCH_JSON);
    let alarms = body["MetricAlarms"].as_array().expect("MetricAlarms");
    let by_name = |name: &str| {
        alarms
            .iter()
            .find(|a| a["AlarmName"] == name)
            .unwrap_or_else(|| panic!("no alarm {name}: {body}"))
    };
    let b = by_name("B");
    assert_eq!(
        (&b["Period"], &b["EvaluationPeriods"], &b["Threshold"]),
        (&json!(60), &json!(2), &json!(2.5))
    );
    assert_eq!(b["ComparisonOperator"], "GreaterThanThreshold");
    let c = by_name("C");
    assert_eq!(
        (&c["Period"], &c["Statistic"], &c["Threshold"]),
        (&json!(3600), &json!("Average"), &json!(7.5))
    );
    assert_eq!(c["AlarmArn"], alarm_arn("C"));
    assert_eq!(alarms.len(), 2, "{body}");
    // Composite alarms are asked for only by AlarmTypes: none come back.
    assert_eq!(body["CompositeAlarms"], json!([]), "{body}");
}

#[tokio::test(flavor = "current_thread")]
async fn sns_over_query_creates_and_lists_a_topic() {
    let s = open_server();
    let created = s
        .call(sns_query("CreateTopic", &[("Name", "alerts")]))
        .await;
    let xml = xml_ok(&created, "CreateTopic", SNS_XMLNS);
    let arn = format!("arn:aws:sns:{REGION}:{ACCOUNT}:alerts");
    assert_eq!(
        xml.get("CreateTopicResponse/CreateTopicResult/TopicArn"),
        Some(arn.as_str())
    );

    let listed = s.call(sns_query("ListTopics", &[])).await;
    let xml = xml_ok(&listed, "ListTopics", SNS_XMLNS);
    assert_eq!(
        xml.all("ListTopicsResponse/ListTopicsResult/Topics/member/TopicArn"),
        [arn.as_str()]
    );
}

// ---------------------------------------------------------------------------------------------
// One engine error in each protocol.

#[tokio::test(flavor = "current_thread")]
async fn an_unknown_alarm_is_resource_not_found_in_every_cloudwatch_protocol() {
    let s = open_server();
    let message = "Alarm nope does not exist";
    let type_name = format!("{CLOUDWATCH_SHAPE}ResourceNotFound");
    let expected = |status| JsonError {
        status,
        content_type: CLOUDWATCH_JSON,
        type_name: &type_name,
        message: Some(message),
        query_error: Some("ResourceNotFound;Sender"),
    };
    // The modelled 404 only for clients in query mode; 400 otherwise (§1.4, [real]).
    let a = s
        .call(cloudwatch_json(
            "SetAlarmState",
            set_alarm_state("nope"),
            true,
        ))
        .await;
    assert_json_error(&a, &expected(404));
    let a = s
        .call(cloudwatch_json(
            "SetAlarmState",
            set_alarm_state("nope"),
            false,
        ))
        .await;
    assert_json_error(&a, &expected(400));

    let body = cbor_map(vec![
        ("AlarmName", text("nope")),
        ("StateValue", text("ALARM")),
        ("StateReason", text("testing")),
    ]);
    for (query_mode, status) in [(true, 404), (false, 400)] {
        let a = s
            .call(cloudwatch_cbor("SetAlarmState", &body, query_mode))
            .await;
        assert_cbor_error(&a, status, &type_name, message, "ResourceNotFound;Sender");
    }

    // awsQuery: always the modelled status.
    let a = s
        .call(cloudwatch_query(
            "SetAlarmState",
            &[
                ("AlarmName", "nope"),
                ("StateValue", "ALARM"),
                ("StateReason", "testing"),
            ],
        ))
        .await;
    assert_query_error(
        &a,
        404,
        Some(CLOUDWATCH_XMLNS),
        "ResourceNotFound",
        Some(message),
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_history_of_an_unknown_alarm_is_empty_not_an_error() {
    let s = open_server();
    let a = s
        .call(cloudwatch_json(
            "DescribeAlarmHistory",
            json!({"AlarmName": "nope"}),
            true,
        ))
        .await;
    assert_eq!(
        json_ok(&a, CLOUDWATCH_JSON)["AlarmHistoryItems"],
        json!([]),
        "{a:?}"
    );
}

/// The `__type` names the error shape and `x-amzn-query-error` its query code, which differ
/// for most CloudWatch errors (`InvalidFormatFault` → `InvalidFormat`).
#[tokio::test(flavor = "current_thread")]
async fn a_cloudwatch_error_is_typed_by_its_shape_and_coded_by_its_query_code() {
    let s = open_server();
    let put = s
        .call(cloudwatch_json("PutMetricAlarm", alarm("A"), true))
        .await;
    json_ok(&put, CLOUDWATCH_JSON);
    let message = "The value for parameter StateReasonData is not valid JSON.";
    let mut bad = set_alarm_state("A");
    bad["StateReasonData"] = json!("{not json");
    let type_name = format!("{CLOUDWATCH_SHAPE}InvalidFormatFault");
    for query_mode in [true, false] {
        let a = s
            .call(cloudwatch_json("SetAlarmState", bad.clone(), query_mode))
            .await;
        assert_json_error(
            &a,
            &JsonError {
                status: 400,
                content_type: CLOUDWATCH_JSON,
                type_name: &type_name,
                message: Some(message),
                query_error: Some("InvalidFormat;Sender"),
            },
        );
    }
    let a = s
        .call(cloudwatch_query(
            "SetAlarmState",
            &[
                ("AlarmName", "A"),
                ("StateValue", "ALARM"),
                ("StateReason", "testing"),
                ("StateReasonData", "{not json"),
            ],
        ))
        .await;
    assert_query_error(
        &a,
        400,
        Some(CLOUDWATCH_XMLNS),
        "InvalidFormat",
        Some(message),
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_missing_log_group_is_resource_not_found_exception() {
    let s = open_server();
    let a = s
        .call(logs("DescribeLogStreams", json!({"logGroupName": "nope"})))
        .await;
    assert_json_error(
        &a,
        &JsonError {
            status: 400,
            content_type: LOGS_JSON,
            type_name: "ResourceNotFoundException",
            message: Some("The specified log group does not exist."),
            query_error: None,
        },
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_missing_topic_is_not_found() {
    let s = open_server();
    let arn = format!("arn:aws:sns:{REGION}:{ACCOUNT}:nope");
    let a = s
        .call(sns_query("GetTopicAttributes", &[("TopicArn", &arn)]))
        .await;
    assert_query_error(
        &a,
        404,
        Some(SNS_XMLNS),
        "NotFound",
        Some("Topic does not exist"),
    );
}

// ---------------------------------------------------------------------------------------------
// Input the model refuses.

#[tokio::test(flavor = "current_thread")]
async fn a_broken_logs_constraint_is_invalid_parameter_exception() {
    let s = open_server();
    let long = "g".repeat(513);
    let a = s
        .call(logs("CreateLogGroup", json!({"logGroupName": long})))
        .await;
    let message = format!(
        "1 validation error detected: Value '{long}' at 'logGroupName' failed to satisfy constraint: Member must have length less than or equal to 512"
    );
    assert_json_error(
        &a,
        &JsonError {
            status: 400,
            content_type: LOGS_JSON,
            type_name: "InvalidParameterException",
            message: Some(&message),
            query_error: None,
        },
    );

    // A missing required member, in the same words.
    let a = s.call(logs("CreateLogGroup", json!({}))).await;
    assert_json_error(
        &a,
        &JsonError {
            status: 400,
            content_type: LOGS_JSON,
            type_name: "InvalidParameterException",
            message: Some(
                "1 validation error detected: Value null at 'logGroupName' failed to satisfy constraint: Member must not be null",
            ),
            query_error: None,
        },
    );

    let described = s.call(logs("DescribeLogGroups", json!({}))).await;
    assert_eq!(
        json_ok(&described, LOGS_JSON)["logGroups"],
        json!([]),
        "nothing was created"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_broken_cloudwatch_constraint_is_a_validation_error_in_every_protocol() {
    let s = open_server();
    let long = "a".repeat(256);
    let message = format!(
        "1 validation error detected: Value '{long}' at 'alarmName' failed to satisfy constraint: Member must have length less than or equal to 255"
    );
    let a = s
        .call(cloudwatch_json("PutMetricAlarm", alarm(&long), true))
        .await;
    assert_json_error(
        &a,
        &JsonError {
            status: 400,
            content_type: CLOUDWATCH_JSON,
            type_name: "com.amazon.coral.validate#ValidationException",
            message: Some(&message),
            query_error: Some("ValidationError;Sender"),
        },
    );

    let a = s
        .call(cloudwatch_cbor("PutMetricAlarm", &alarm_cbor(&long), true))
        .await;
    assert_cbor_error(
        &a,
        400,
        "com.amazon.coral.validate#ValidationException",
        &message,
        "ValidationError;Sender",
    );

    let a = s
        .call(cloudwatch_query(
            "DescribeAlarms",
            &[("AlarmNames.member.1", &long)],
        ))
        .await;
    let query_message = format!(
        "1 validation error detected: Value '{long}' at 'alarmNames.1.member' failed to satisfy constraint: Member must have length less than or equal to 255"
    );
    assert_query_error(
        &a,
        400,
        Some(CLOUDWATCH_XMLNS),
        "ValidationError",
        Some(&query_message),
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_missing_cloudwatch_member_is_missing_parameter_in_every_protocol() {
    let s = open_server();
    let message = "The parameter AlarmName is required.";
    let mut nameless = alarm("x");
    nameless
        .as_object_mut()
        .expect("an object")
        .remove("AlarmName");
    let type_name = format!("{CLOUDWATCH_SHAPE}MissingRequiredParameterException");
    let a = s
        .call(cloudwatch_json("PutMetricAlarm", nameless, true))
        .await;
    assert_json_error(
        &a,
        &JsonError {
            status: 400,
            content_type: CLOUDWATCH_JSON,
            type_name: &type_name,
            message: Some(message),
            query_error: Some("MissingParameter;Sender"),
        },
    );

    let a = s
        .call(cloudwatch_cbor(
            "PutMetricAlarm",
            &cbor_map(vec![("MetricName", text("M"))]),
            true,
        ))
        .await;
    assert_cbor_error(&a, 400, &type_name, message, "MissingParameter;Sender");

    let a = s
        .call(cloudwatch_query("PutMetricAlarm", &[("MetricName", "M")]))
        .await;
    assert_query_error(
        &a,
        400,
        Some(CLOUDWATCH_XMLNS),
        "MissingParameter",
        Some(message),
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_body_that_cannot_be_read_is_a_serialization_exception() {
    let s = open_server();
    let malformed = "{\"logGroupName\": ";
    let logs_request = post(
        "/",
        &[
            ("x-amz-target", "Logs_20140328.CreateLogGroup"),
            ("content-type", LOGS_JSON),
        ],
        malformed,
    );
    let a = s.call(logs_request).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{a:?}");
    assert_eq!(a.header("content-type"), Some(LOGS_JSON), "{a:?}");
    assert_eq!(a.json()["__type"], "SerializationException", "{a:?}");
    assert_eq!(a.header("x-amzn-errortype"), Some("SerializationException"));
    let message = a.json()["message"].as_str().map(str::to_owned);
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.starts_with("The request body is not valid JSON: ")),
        "{a:?}"
    );
    a.request_id();

    // Well-formed JSON of the wrong type.
    let a = s
        .call(logs("CreateLogGroup", json!({"logGroupName": 42})))
        .await;
    assert_json_error(
        &a,
        &JsonError {
            status: 400,
            content_type: LOGS_JSON,
            type_name: "SerializationException",
            message: Some("Expected a string for logGroupName"),
            query_error: None,
        },
    );

    // CloudWatch over JSON: the same, with its query-compatible header.
    let cw_request = post(
        "/",
        &[
            (
                "x-amz-target",
                "GraniteServiceVersion20100801.PutMetricAlarm",
            ),
            ("content-type", CLOUDWATCH_JSON),
            ("x-amzn-query-mode", "true"),
        ],
        "{\"AlarmName\": ",
    );
    let a = s.call(cw_request).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{a:?}");
    assert_eq!(a.header("content-type"), Some(CLOUDWATCH_JSON), "{a:?}");
    assert_eq!(a.json()["__type"], "SerializationException", "{a:?}");
    assert_eq!(
        a.header("x-amzn-query-error"),
        Some("SerializationException;Sender"),
        "{a:?}"
    );

    // CBOR that is not CBOR.
    let cbor_request = post(
        &cbor_path("PutMetricAlarm"),
        &CBOR_HEADERS,
        &b"\xbf\x61"[..],
    );
    let a = s.call(cbor_request).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{a:?}");
    assert_eq!(a.header("content-type"), Some("application/cbor"), "{a:?}");
    assert_eq!(
        a.header("x-amzn-query-error"),
        Some("SerializationException;Sender"),
        "{a:?}"
    );
    assert_eq!(
        cbor_text(&a.cbor(), "__type"),
        Some("SerializationException")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn unknown_operations_are_refused_in_each_protocol() {
    let s = open_server();
    let a = s.call(logs("FlyToTheMoon", json!({}))).await;
    assert_json_error(
        &a,
        &JsonError {
            status: 400,
            content_type: LOGS_JSON,
            type_name: "UnknownOperationException",
            message: Some("The operation FlyToTheMoon is not supported."),
            query_error: None,
        },
    );

    let message = "The operation FlyToTheMoon is not supported.";
    let a = s
        .call(cloudwatch_json("FlyToTheMoon", json!({}), true))
        .await;
    assert_json_error(
        &a,
        &JsonError {
            status: 400,
            content_type: CLOUDWATCH_JSON,
            type_name: "UnknownOperationException",
            message: Some(message),
            query_error: Some("UnknownOperationException;Sender"),
        },
    );
    let a = s
        .call(cloudwatch_cbor("FlyToTheMoon", &cbor_map(vec![]), true))
        .await;
    assert_cbor_error(
        &a,
        400,
        "UnknownOperationException",
        message,
        "UnknownOperationException;Sender",
    );

    // A target prefix of no service here.
    let a = s
        .call(post(
            "/",
            &[
                ("x-amz-target", "DynamoDB_20120810.ListTables"),
                ("content-type", CLOUDWATCH_JSON),
            ],
            "{}",
        ))
        .await;
    assert_json_error(
        &a,
        &JsonError {
            status: 400,
            content_type: LOGS_JSON,
            type_name: "UnknownOperationException",
            message: None,
            query_error: None,
        },
    );

    // awsQuery names an unknown action InvalidAction.
    let a = s.call(sns_query("LaunchRocket", &[])).await;
    assert_query_error(
        &a,
        400,
        Some(SNS_XMLNS),
        "InvalidAction",
        Some("The action LaunchRocket is not valid for this endpoint."),
    );
    let a = s.call(cloudwatch_query("LaunchRocket", &[])).await;
    assert_query_error(
        &a,
        400,
        Some(CLOUDWATCH_XMLNS),
        "InvalidAction",
        Some("The action LaunchRocket is not valid for this endpoint."),
    );
}

/// Operations the model knows and trailwatch does not serve are read against the model, then
/// refused by name as unknown operations; over awsQuery with the query code, keeping the
/// words of the refusal.
#[tokio::test(flavor = "current_thread")]
async fn operations_of_the_model_that_are_not_served_are_unknown_operations() {
    let s = open_server();
    let a = s
        .call(logs(
            "PutSubscriptionFilter",
            json!({
                "logGroupName": "g",
                "filterName": "f",
                "filterPattern": "",
                "destinationArn": "arn:aws:lambda:us-east-1:000000000000:function:f",
            }),
        ))
        .await;
    assert_json_error(
        &a,
        &JsonError {
            status: 400,
            content_type: LOGS_JSON,
            type_name: "UnknownOperationException",
            message: Some("The operation PutSubscriptionFilter is not supported."),
            query_error: None,
        },
    );

    let message = "The operation ListDashboards is not supported.";
    let a = s
        .call(cloudwatch_json("ListDashboards", json!({}), true))
        .await;
    assert_json_error(
        &a,
        &JsonError {
            status: 400,
            content_type: CLOUDWATCH_JSON,
            type_name: "UnknownOperationException",
            message: Some(message),
            query_error: Some("UnknownOperationException;Sender"),
        },
    );
    let a = s
        .call(cloudwatch_cbor("ListDashboards", &cbor_map(vec![]), true))
        .await;
    assert_cbor_error(
        &a,
        400,
        "UnknownOperationException",
        message,
        "UnknownOperationException;Sender",
    );
    let a = s.call(cloudwatch_query("ListDashboards", &[])).await;
    assert_query_error(
        &a,
        400,
        Some(CLOUDWATCH_XMLNS),
        "InvalidAction",
        Some(message),
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_form_of_no_known_api_version_is_invalid_action() {
    let s = open_server();
    for params in [
        vec![
            ("Action", "CreateTopic"),
            ("Version", "2099-01-01"),
            ("Name", "t"),
        ],
        vec![("Action", "CreateTopic"), ("Name", "t")],
    ] {
        let a = s.call(query(&params)).await;
        assert_query_error(
            &a,
            400,
            None,
            "InvalidAction",
            Some("The request names no known service API version."),
        );
    }
    let listed = s.call(sns_query("ListTopics", &[])).await;
    let xml = xml_ok(&listed, "ListTopics", SNS_XMLNS);
    assert!(
        xml.all("ListTopicsResponse/ListTopicsResult/Topics/member/TopicArn")
            .is_empty(),
        "nothing was created"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn methods_other_than_post_and_get_are_not_allowed() {
    let s = open_server();
    for method in [Method::PUT, Method::DELETE, Method::PATCH, Method::OPTIONS] {
        let request = Request::builder()
            .method(method)
            .uri("/")
            .header("x-amz-target", "Logs_20140328.DescribeLogGroups")
            .header("content-type", LOGS_JSON)
            .body(Body::from("{}"))
            .expect("request");
        let answer = s.call(request).await;
        assert_plain(&answer, 405, "Only POST and GET are supported.\n");
        assert_eq!(answer.header("allow"), Some("GET, POST"));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_post_that_is_no_aws_request_is_not_found() {
    let s = open_server();
    let text = "Not an AWS API request: expected X-Amz-Target, an rpcv2Cbor path or a form body.\n";
    // Neither a target, nor the rpcv2Cbor path, nor a form.
    let a = s
        .call(post("/", &[("content-type", "application/json")], "{}"))
        .await;
    assert_plain(&a, 404, text);
    // A target without an operation is no target.
    let a = s
        .call(post(
            "/",
            &[
                ("x-amz-target", "Logs_20140328"),
                ("content-type", LOGS_JSON),
            ],
            "{}",
        ))
        .await;
    assert_plain(&a, 404, text);
}

#[tokio::test(flavor = "current_thread")]
async fn a_get_of_anything_else_is_not_found() {
    let s = open_server();
    for uri in [
        "/",
        "/?Action=ListTopics",
        "/SimpleNotificationService-0.pem",
    ] {
        let get = Request::get(uri).body(Body::empty()).expect("request");
        assert_plain(&s.call(get).await, 404, "Not found.\n");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_unsupported_content_encoding_is_a_serialization_exception() {
    let s = open_server();
    let message = "The Content-Encoding br is not supported: send gzip or no encoding.";
    let a = s
        .call(post(
            "/",
            &[
                ("x-amz-target", "Logs_20140328.CreateLogGroup"),
                ("content-type", LOGS_JSON),
                ("content-encoding", "br"),
            ],
            r#"{"logGroupName":"g"}"#,
        ))
        .await;
    assert_json_error(
        &a,
        &JsonError {
            status: 400,
            content_type: LOGS_JSON,
            type_name: "SerializationException",
            message: Some(message),
            query_error: None,
        },
    );
    let a = s
        .call(post(
            "/",
            &[
                (
                    "x-amz-target",
                    "GraniteServiceVersion20100801.PutMetricAlarm",
                ),
                ("content-type", CLOUDWATCH_JSON),
                ("x-amzn-query-mode", "true"),
                ("content-encoding", "br"),
            ],
            alarm("A").to_string(),
        ))
        .await;
    assert_json_error(
        &a,
        &JsonError {
            status: 400,
            content_type: CLOUDWATCH_JSON,
            type_name: "SerializationException",
            message: Some(message),
            query_error: Some("SerializationException;Sender"),
        },
    );
    let described = s.call(logs("DescribeLogGroups", json!({}))).await;
    assert_eq!(
        json_ok(&described, LOGS_JSON)["logGroups"],
        json!([]),
        "nothing was created"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_gzip_encoded_body_is_inflated_and_a_corrupt_one_refused() {
    let s = open_server();
    // botocore gzips large PutMetricData bodies (reference §1.3), here over awsQuery.
    let body = form_body(&[
        ("Action", "PutMetricData"),
        ("Version", "2010-08-01"),
        ("Namespace", "Trail"),
        ("MetricData.member.1.MetricName", "Deletes"),
        ("MetricData.member.1.Value", "3"),
    ]);
    let a = s
        .call(post(
            "/",
            &[("content-type", FORM), ("content-encoding", "gzip")],
            gzip(body.as_bytes()),
        ))
        .await;
    xml_ok(&a, "PutMetricData", CLOUDWATCH_XMLNS);

    let listed = s
        .call(cloudwatch_json(
            "ListMetrics",
            json!({"Namespace": "Trail"}),
            true,
        ))
        .await;
    let body = json_ok(&listed, CLOUDWATCH_JSON);
    assert_eq!(
        body["Metrics"],
        json!([{"Namespace": "Trail", "MetricName": "Deletes", "Dimensions": []}]),
        "{body}"
    );

    // Bytes that are not gzip.
    let a = s
        .call(post(
            "/",
            &[
                ("x-amz-target", "Logs_20140328.CreateLogGroup"),
                ("content-type", LOGS_JSON),
                ("content-encoding", "gzip"),
            ],
            r#"{"logGroupName":"g"}"#,
        ))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{a:?}");
    assert_eq!(a.json()["__type"], "SerializationException", "{a:?}");
    assert!(
        a.json()["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("The gzip body could not be read: ")),
        "{a:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Authentication.

#[tokio::test(flavor = "current_thread")]
async fn unsigned_requests_are_refused_in_each_protocol() {
    let s = signing_server();
    let message = "Missing Authentication Token";
    let a = s
        .call(logs("CreateLogGroup", json!({"logGroupName": "g"})))
        .await;
    assert_json_error(
        &a,
        &JsonError {
            status: 403,
            content_type: LOGS_JSON,
            type_name: "MissingAuthenticationTokenException",
            message: Some(message),
            query_error: None,
        },
    );
    let a = s
        .call(cloudwatch_json("PutMetricAlarm", alarm("A"), true))
        .await;
    assert_json_error(
        &a,
        &JsonError {
            status: 403,
            content_type: CLOUDWATCH_JSON,
            type_name: "MissingAuthenticationTokenException",
            message: Some(message),
            query_error: Some("MissingAuthenticationToken;Sender"),
        },
    );
    let a = s
        .call(cloudwatch_cbor("PutMetricAlarm", &alarm_cbor("A"), true))
        .await;
    assert_cbor_error(
        &a,
        403,
        "MissingAuthenticationTokenException",
        message,
        "MissingAuthenticationToken;Sender",
    );
    // awsQuery: the code only. AWS's query services are reported to word the message
    // "Request is missing Authentication Token", which trailwatch does not (yet).
    let a = s.call(sns_query("CreateTopic", &[("Name", "t")])).await;
    assert_query_error(&a, 403, None, "MissingAuthenticationToken", None);
    let a = s.call(cloudwatch_query("DescribeAlarms", &[])).await;
    assert_query_error(&a, 403, None, "MissingAuthenticationToken", None);

    // Nothing was created.
    let described = s
        .call(signed_logs(
            "DescribeLogGroups",
            json!({}),
            &Signer::new("logs"),
        ))
        .await;
    assert_eq!(json_ok(&described, LOGS_JSON)["logGroups"], json!([]));
}

#[tokio::test(flavor = "current_thread")]
async fn signed_requests_are_served_and_wrongly_signed_ones_refused() {
    let s = signing_server();
    let create = json!({"logGroupName": "g"});

    let wrong_secret = Signer {
        secret_access_key: "not-the-secret",
        ..Signer::new("logs")
    };
    let a = s
        .call(signed_logs("CreateLogGroup", create.clone(), &wrong_secret))
        .await;
    assert_json_error(
        &a,
        &JsonError {
            status: 403,
            content_type: LOGS_JSON,
            type_name: "InvalidSignatureException",
            message: Some(SIGNATURE_MISMATCH),
            query_error: None,
        },
    );

    let unknown_key = Signer {
        access_key_id: "AKIDUNKNOWN000000000",
        ..Signer::new("logs")
    };
    let a = s
        .call(signed_logs("CreateLogGroup", create.clone(), &unknown_key))
        .await;
    assert_json_error(
        &a,
        &JsonError {
            status: 403,
            content_type: LOGS_JSON,
            type_name: "UnrecognizedClientException",
            message: Some("The security token included in the request is invalid."),
            query_error: None,
        },
    );

    // An Authorization header of another scheme.
    let a = s
        .call(post(
            "/",
            &[
                ("x-amz-target", "Logs_20140328.CreateLogGroup"),
                ("content-type", LOGS_JSON),
                ("authorization", "Bearer abc"),
            ],
            create.to_string(),
        ))
        .await;
    assert_json_error(
        &a,
        &JsonError {
            status: 400,
            content_type: LOGS_JSON,
            type_name: "IncompleteSignatureException",
            message: Some("Unsupported AWS 'algorithm': 'Bearer'."),
            query_error: None,
        },
    );

    // The same refusals over awsQuery, in its codes.
    let form = form_body(&[
        ("Action", "CreateTopic"),
        ("Version", "2010-03-31"),
        ("Name", "t"),
    ]);
    let sns_wrong_secret = Signer {
        secret_access_key: "not-the-secret",
        ..Signer::new("sns")
    };
    let a = s
        .call(signed(
            "/",
            &[("content-type", FORM)],
            form.clone().into_bytes(),
            &sns_wrong_secret,
        ))
        .await;
    assert_query_error(
        &a,
        403,
        Some(SNS_XMLNS),
        "SignatureDoesNotMatch",
        Some(SIGNATURE_MISMATCH),
    );
    let sns_unknown_key = Signer {
        access_key_id: "AKIDUNKNOWN000000000",
        ..Signer::new("sns")
    };
    let a = s
        .call(signed(
            "/",
            &[("content-type", FORM)],
            form.clone().into_bytes(),
            &sns_unknown_key,
        ))
        .await;
    assert_query_error(
        &a,
        403,
        Some(SNS_XMLNS),
        "InvalidClientTokenId",
        Some("The security token included in the request is invalid."),
    );

    // And over CloudWatch's JSON and CBOR, with the query code in the header.
    let cw_wrong_secret = Signer {
        secret_access_key: "not-the-secret",
        ..Signer::new("monitoring")
    };
    let a = s
        .call(signed(
            "/",
            &[
                (
                    "x-amz-target",
                    "GraniteServiceVersion20100801.DescribeAlarms",
                ),
                ("content-type", CLOUDWATCH_JSON),
                ("x-amzn-query-mode", "true"),
            ],
            b"{}".to_vec(),
            &cw_wrong_secret,
        ))
        .await;
    assert_json_error(
        &a,
        &JsonError {
            status: 403,
            content_type: CLOUDWATCH_JSON,
            type_name: "InvalidSignatureException",
            message: Some(SIGNATURE_MISMATCH),
            query_error: Some("SignatureDoesNotMatch;Sender"),
        },
    );
    let mut cbor_headers = CBOR_HEADERS.to_vec();
    cbor_headers.push(("x-amzn-query-mode", "true"));
    let a = s
        .call(signed(
            &cbor_path("DescribeAlarms"),
            &cbor_headers,
            cbor_bytes(&cbor_map(vec![])),
            &cw_wrong_secret,
        ))
        .await;
    assert_cbor_error(
        &a,
        403,
        "InvalidSignatureException",
        SIGNATURE_MISMATCH,
        "SignatureDoesNotMatch;Sender",
    );

    // Nothing so far was done; rightly signed, everything is.
    let a = s
        .call(signed_logs(
            "DescribeLogGroups",
            json!({}),
            &Signer::new("logs"),
        ))
        .await;
    assert_eq!(json_ok(&a, LOGS_JSON)["logGroups"], json!([]));
    let a = s
        .call(signed_logs("CreateLogGroup", create, &Signer::new("logs")))
        .await;
    json_ok(&a, LOGS_JSON);
    let a = s
        .call(signed(
            "/",
            &[("content-type", FORM)],
            form.into_bytes(),
            &Signer::new("sns"),
        ))
        .await;
    let xml = xml_ok(&a, "CreateTopic", SNS_XMLNS);
    assert_eq!(
        xml.get("CreateTopicResponse/CreateTopicResult/TopicArn"),
        Some(format!("arn:aws:sns:{REGION}:{ACCOUNT}:t").as_str())
    );
    let a = s
        .call(signed(
            &cbor_path("PutMetricAlarm"),
            &cbor_headers,
            cbor_bytes(&alarm_cbor("A")),
            &Signer::new("monitoring"),
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    let a = s
        .call(signed(
            "/",
            &[
                (
                    "x-amz-target",
                    "GraniteServiceVersion20100801.DescribeAlarms",
                ),
                ("content-type", CLOUDWATCH_JSON),
                ("x-amzn-query-mode", "true"),
            ],
            b"{}".to_vec(),
            &Signer::new("monitoring"),
        ))
        .await;
    assert_eq!(
        json_ok(&a, CLOUDWATCH_JSON)["MetricAlarms"][0]["AlarmName"],
        "A"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_form_signed_for_another_service_than_its_version_names_is_refused() {
    let s = signing_server();
    let form = form_body(&[
        ("Action", "CreateTopic"),
        ("Version", "2010-03-31"),
        ("Name", "t"),
    ]);
    let a = s
        .call(signed(
            "/",
            &[("content-type", FORM)],
            form.into_bytes(),
            &Signer::new("monitoring"),
        ))
        .await;
    assert_query_error(
        &a,
        403,
        Some(SNS_XMLNS),
        "SignatureDoesNotMatch",
        Some("Credential should be scoped to correct service: 'sns'."),
    );
    let listed = form_body(&[("Action", "ListTopics"), ("Version", "2010-03-31")]);
    let a = s
        .call(signed(
            "/",
            &[("content-type", FORM)],
            listed.into_bytes(),
            &Signer::new("sns"),
        ))
        .await;
    let xml = xml_ok(&a, "ListTopics", SNS_XMLNS);
    assert!(
        xml.all("ListTopicsResponse/ListTopicsResult/Topics/member/TopicArn")
            .is_empty(),
        "nothing was created"
    );
}

/// Clients sign the body they send: a gzip body's signature covers the compressed bytes.
#[tokio::test(flavor = "current_thread")]
async fn a_signed_gzip_body_is_verified_as_sent() {
    let s = signing_server();
    let body = gzip(
        form_body(&[
            ("Action", "PutMetricData"),
            ("Version", "2010-08-01"),
            ("Namespace", "Trail"),
            ("MetricData.member.1.MetricName", "Deletes"),
            ("MetricData.member.1.Value", "1"),
        ])
        .as_bytes(),
    );
    let a = s
        .call(signed(
            "/",
            &[("content-type", FORM), ("content-encoding", "gzip")],
            body,
            &Signer::new("monitoring"),
        ))
        .await;
    xml_ok(&a, "PutMetricData", CLOUDWATCH_XMLNS);
}
