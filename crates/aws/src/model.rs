//! The AWS service models (botocore's `service-2.json`), read at start-up.
//!
//! Shapes, operation names, query result wrappers and error codes come from these files rather
//! than from hand-written tables, so what we accept and answer is checkable against AWS's own
//! description and cannot drift from it. The files in `models/` are botocore's, gzip-compressed
//! as botocore ships them (Apache-2.0; see `models/README.md`).

use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use std::fmt;

/// One AWS service's operations and shapes.
#[derive(Debug)]
pub struct Service {
    /// `apiVersion`, e.g. `2010-08-01`; awsQuery requests carry it as `Version`.
    pub api_version: String,
    /// `targetPrefix` of the JSON protocols, e.g. `Logs_20140328`.
    pub target_prefix: Option<String>,
    /// Namespace of awsQuery XML replies.
    pub xml_namespace: Option<String>,
    /// Operations by name.
    pub operations: HashMap<String, Operation>,
    /// Shapes by name.
    pub shapes: HashMap<String, Shape>,
}

/// One operation of a service.
#[derive(Debug, Deserialize)]
pub struct Operation {
    /// The operation's name, e.g. `PutMetricAlarm`.
    pub name: String,
    /// The input structure, if any.
    pub input: Option<ShapeRef>,
    /// The output structure, if any.
    pub output: Option<ShapeRef>,
}

/// A reference to a shape, as operations and members hold them.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShapeRef {
    /// The shape's name.
    pub shape: String,
    /// awsQuery: the element that wraps the output (`CreateTopicResult`).
    pub result_wrapper: Option<String>,
}

/// The modelled error of an exception shape.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorTrait {
    /// The awsQuery error code, when it differs from the shape name.
    pub code: Option<String>,
    /// The HTTP status code.
    pub http_status_code: Option<u16>,
    /// Whether the client is at fault (`Sender`) rather than the service (`Receiver`).
    #[serde(default)]
    pub sender_fault: bool,
}

/// A shape: a type with its constraints.
#[derive(Debug, Deserialize)]
pub struct Shape {
    /// What kind of value this is.
    #[serde(rename = "type")]
    pub kind: ShapeKind,
    /// Structure members, in model order.
    #[serde(default)]
    pub members: Members,
    /// Required structure members.
    #[serde(default)]
    pub required: Vec<String>,
    /// List element shape.
    pub member: Option<ShapeRef>,
    /// Map key shape.
    pub key: Option<ShapeRef>,
    /// Map value shape.
    pub value: Option<ShapeRef>,
    /// Minimum length, count or value.
    pub min: Option<f64>,
    /// Maximum length, count or value.
    pub max: Option<f64>,
    /// Regular expression a string must match.
    pub pattern: Option<Pattern>,
    /// Allowed string values.
    #[serde(rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    /// Set on exception shapes.
    pub error: Option<ErrorTrait>,
    /// Whether this shape is an exception.
    #[serde(default)]
    pub exception: bool,
}

/// A string shape's pattern, compiled as the model is read: checking a value takes no lock
/// and compiles nothing.
#[derive(Debug)]
pub struct Pattern {
    /// The pattern as the model writes it, for error messages.
    pub text: String,
    /// The pattern anchored at both ends (Java's `matches`); `None` when the `regex` crate
    /// cannot compile it, and then it is not enforced rather than rejecting every value.
    regex: Option<regex::Regex>,
}

impl Pattern {
    /// Whether `text` matches the pattern as a whole.
    pub fn matches(&self, text: &str) -> bool {
        self.regex.as_ref().is_none_or(|re| re.is_match(text))
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Pattern, D::Error> {
        let text = String::deserialize(deserializer)?;
        let regex = regex::Regex::new(&format!("^(?:{text})$")).ok();
        Ok(Pattern { text, regex })
    }
}

/// The kinds of shapes botocore models use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShapeKind {
    /// A structure with named members.
    Structure,
    /// A list.
    List,
    /// A map.
    Map,
    /// A string.
    String,
    /// A 32-bit integer.
    Integer,
    /// A 64-bit integer.
    Long,
    /// A double.
    Double,
    /// A float.
    Float,
    /// A boolean.
    Boolean,
    /// A point in time (epoch seconds on JSON and CBOR, ISO 8601 on awsQuery).
    Timestamp,
    /// Bytes (base64 on JSON and awsQuery).
    Blob,
}

/// Members of a structure in model order, which awsQuery XML replies follow.
#[derive(Debug, Default)]
pub struct Members(pub Vec<(String, ShapeRef)>);

impl Members {
    /// The member called `name`.
    pub fn get(&self, name: &str) -> Option<&ShapeRef> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }
}

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Members, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of structure members")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some((name, member)) = map.next_entry::<String, ShapeRef>()? {
                    members.push((name, member));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModelFile {
    metadata: Metadata,
    operations: HashMap<String, Operation>,
    shapes: HashMap<String, Shape>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    api_version: String,
    target_prefix: Option<String>,
    xml_namespace: Option<String>,
}

impl Service {
    fn from_gzip(bytes: &[u8]) -> Service {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut text)
            .expect("the embedded service models are valid gzip");
        let file: ModelFile =
            serde_json::from_str(&text).expect("the embedded service models are valid JSON");
        Service {
            api_version: file.metadata.api_version,
            target_prefix: file.metadata.target_prefix,
            xml_namespace: file.metadata.xml_namespace,
            operations: file.operations,
            shapes: file.shapes,
        }
    }

    /// The shape called `name`. Models are closed: every reference names an existing shape.
    pub fn shape(&self, name: &str) -> &Shape {
        self.shapes
            .get(name)
            .unwrap_or_else(|| panic!("the service model has no shape {name}"))
    }

    /// The modelled error of the exception shape `name`, if the model has that shape.
    pub fn error(&self, name: &str) -> Option<&ErrorTrait> {
        self.shapes.get(name).and_then(|s| s.error.as_ref())
    }
}

/// CloudWatch Logs (awsJson1_1).
pub fn logs() -> &'static Service {
    static MODEL: OnceLock<Service> = OnceLock::new();
    MODEL.get_or_init(|| Service::from_gzip(include_bytes!("../models/logs.json.gz")))
}

/// CloudWatch (awsJson1_0, rpcv2Cbor, awsQuery).
pub fn cloudwatch() -> &'static Service {
    static MODEL: OnceLock<Service> = OnceLock::new();
    MODEL.get_or_init(|| Service::from_gzip(include_bytes!("../models/cloudwatch.json.gz")))
}

/// SNS (awsQuery).
pub fn sns() -> &'static Service {
    static MODEL: OnceLock<Service> = OnceLock::new();
    MODEL.get_or_init(|| Service::from_gzip(include_bytes!("../models/sns.json.gz")))
}

/// CloudTrail's model.
pub fn cloudtrail() -> &'static Service {
    static MODEL: OnceLock<Service> = OnceLock::new();
    MODEL.get_or_init(|| Service::from_gzip(include_bytes!("../models/cloudtrail.json.gz")))
}

/// Organizations' model.
pub fn organizations() -> &'static Service {
    static MODEL: OnceLock<Service> = OnceLock::new();
    MODEL.get_or_init(|| Service::from_gzip(include_bytes!("../models/organizations.json.gz")))
}

/// STS's model.
pub fn sts() -> &'static Service {
    static MODEL: OnceLock<Service> = OnceLock::new();
    MODEL.get_or_init(|| Service::from_gzip(include_bytes!("../models/sts.json.gz")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_load_and_know_the_seed_operations() {
        let cw = cloudwatch();
        assert_eq!(cw.api_version, "2010-08-01");
        assert_eq!(
            cw.target_prefix.as_deref(),
            Some("GraniteServiceVersion20100801")
        );
        let put = &cw.operations["PutMetricAlarm"];
        assert_eq!(
            put.input.as_ref().map(|r| r.shape.as_str()),
            Some("PutMetricAlarmInput")
        );
        let rnf = cw.error("ResourceNotFound").expect("modelled");
        assert_eq!(rnf.http_status_code, Some(404));
        assert_eq!(logs().target_prefix.as_deref(), Some("Logs_20140328"));
        let create = &sns().operations["CreateTopic"];
        let wrapper = create
            .output
            .as_ref()
            .and_then(|o| o.result_wrapper.as_deref());
        assert_eq!(wrapper, Some("CreateTopicResult"));
    }
}
