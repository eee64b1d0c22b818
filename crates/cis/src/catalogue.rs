//! The monitoring controls of every CIS AWS Foundations Benchmark version: numbers, titles,
//! the pattern strings of the benchmark's text, and the events each control must catch.
//!
//! The data is `data/cis-patterns.json` (`data/README.md` says where its strings come from); this
//! module only reads it and answers per version.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// The newest benchmark version, the default.
pub const LATEST: &str = "7.0.0";

/// Every control of every version, as recorded.
#[derive(Debug)]
pub struct Catalogue {
    versions: Vec<String>,
    sections: BTreeMap<String, String>,
    controls: Vec<Entry>,
}

/// One control across versions.
#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(skip)]
    id: String,
    titles: BTreeMap<String, String>,
    control_numbers: BTreeMap<String, String>,
    #[serde(default)]
    security_hub_control: Option<String>,
    patterns: Vec<PatternText>,
    intent: String,
    required_events: Vec<Example>,
    #[serde(default)]
    allowed_exclusions: Vec<Example>,
    #[serde(default)]
    negative_events: Vec<Example>,
    #[serde(default)]
    gaps_not_required_by_cis: Vec<String>,
}

/// One pattern string found in the benchmark's text (or Security Hub's documentation).
#[derive(Debug, Clone, Deserialize)]
pub struct PatternText {
    /// The versions whose text has exactly this string.
    pub versions: Vec<String>,
    /// Where in the text: `remediation_cli`, `audit_expected`, `security_hub_doc`, … (the
    /// file's `field_guide` lists them).
    pub kind: String,
    pub pattern: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// A representative CloudTrail event: one the control must catch, may leave out, or need not
/// catch.
#[derive(Debug, Clone, Deserialize)]
pub struct Example {
    /// What the event is, e.g. `iam:PutRolePolicy`.
    pub label: String,
    /// The event as CloudTrail writes it, compact JSON.
    #[serde(deserialize_with = "compact")]
    pub event: String,
    /// The versions it applies to; every version when absent.
    #[serde(default)]
    versions: Option<Vec<String>>,
    /// An event that can no longer occur (EC2-Classic): missing it is not a failure.
    #[serde(default)]
    pub obsolete: bool,
    /// Why a control may leave it out, or a remark on it.
    #[serde(default, alias = "note")]
    pub reason: Option<String>,
}

fn compact<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(value.to_string())
}

impl Example {
    fn applies_to(&self, version: &str) -> bool {
        self.versions
            .as_ref()
            .is_none_or(|v| v.iter().any(|v| v == version))
    }

    /// The event's `eventName`.
    pub fn event_name(&self) -> Option<String> {
        self.field("eventName")
    }

    /// The event's `eventSource`.
    pub fn event_source(&self) -> Option<String> {
        self.field("eventSource")
    }

    fn field(&self, name: &str) -> Option<String> {
        let value: serde_json::Value = serde_json::from_str(&self.event).ok()?;
        value.get(name)?.as_str().map(str::to_owned)
    }
}

#[derive(Deserialize)]
struct File {
    versions: BTreeMap<String, VersionInfo>,
    controls: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct VersionInfo {
    section: String,
}

static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();

impl Catalogue {
    /// The catalogue built into trailwatch.
    pub fn get() -> &'static Catalogue {
        CATALOGUE.get_or_init(|| {
            let file: File = serde_json::from_str(include_str!("../data/cis-patterns.json"))
                .expect("the built-in catalogue parses (checked by its tests)");
            let mut versions: Vec<String> = file.versions.keys().cloned().collect();
            versions.sort_by_key(|v| version_key(v));
            let controls = file
                .controls
                .into_iter()
                .map(|(id, mut entry)| {
                    entry.id = id;
                    entry
                })
                .collect();
            Catalogue {
                versions,
                sections: file
                    .versions
                    .into_iter()
                    .map(|(v, info)| (v, info.section))
                    .collect(),
                controls,
            }
        })
    }

    /// The versions, oldest first.
    pub fn versions(&self) -> &[String] {
        &self.versions
    }

    /// The monitoring controls of one version, in the benchmark's order; `None` for a version
    /// the catalogue does not have.
    pub fn benchmark(&self, version: &str) -> Option<Benchmark<'_>> {
        let (version, section) = self.sections.get_key_value(version)?;
        let mut controls: Vec<Control<'_>> = self
            .controls
            .iter()
            .filter_map(|entry| {
                Some(Control {
                    number: entry.control_numbers.get(version)?,
                    title: entry.titles.get(version)?,
                    version,
                    entry,
                })
            })
            .collect();
        controls.sort_by_key(|c| version_key(c.number));
        Some(Benchmark {
            version,
            section,
            controls,
        })
    }
}

/// `4.10` after `4.9`; `1.10.0` after `1.9.0`.
fn version_key(v: &str) -> Vec<u32> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// One version's monitoring section.
#[derive(Debug, Clone)]
pub struct Benchmark<'a> {
    pub version: &'a str,
    /// e.g. `4 Monitoring`.
    pub section: &'a str,
    pub controls: Vec<Control<'a>>,
}

impl<'a> Benchmark<'a> {
    /// The control with a stable id, e.g. `iam_policy_changes`.
    pub fn control(&self, id: &str) -> Option<&Control<'a>> {
        self.controls.iter().find(|c| c.id() == id)
    }
}

/// One control as one version states it.
#[derive(Debug, Clone, Copy)]
pub struct Control<'a> {
    /// Its number in this version, e.g. `4.4`.
    pub number: &'a str,
    pub title: &'a str,
    pub version: &'a str,
    entry: &'a Entry,
}

/// The kinds of text, most authoritative first, from which a version's own remediation
/// string is taken: the remediation command, then the audit text. Transcriptions with a
/// syntax error (`*_typo`) and strings only users quote are never taken.
const LITERAL_KINDS: &[&str] = &[
    "remediation_cli",
    "remediation_cli_or_audit",
    "audit_expected",
];

impl<'a> Control<'a> {
    /// The stable id, e.g. `iam_policy_changes`.
    pub fn id(&self) -> &'a str {
        &self.entry.id
    }

    /// What the control is for, in a sentence or two.
    pub fn intent(&self) -> &'a str {
        &self.entry.intent
    }

    /// The Security Hub control that checks it, if any (e.g. `CloudWatch.4 …`).
    pub fn security_hub_control(&self) -> Option<&'a str> {
        self.entry.security_hub_control.as_deref()
    }

    /// Every pattern string recorded for this version.
    pub fn patterns(&self) -> impl Iterator<Item = &'a PatternText> + use<'a> {
        let version = self.version;
        self.entry
            .patterns
            .iter()
            .filter(move |p| p.versions.iter().any(|v| v == version))
    }

    /// The version's own string: what `cis apply --style literal` writes, so that auditors
    /// comparing strings pass too.
    pub fn literal(&self) -> &'a PatternText {
        LITERAL_KINDS
            .iter()
            .find_map(|kind| self.patterns().find(|p| p.kind == *kind))
            .or_else(|| self.patterns().find(|p| !p.kind.ends_with("_typo")))
            .expect("every control of every version has a usable string (checked by tests)")
    }

    /// The string Security Hub requires verbatim, where it checks this version.
    pub fn security_hub_string(&self) -> Option<&'a str> {
        self.patterns()
            .find(|p| p.kind == "security_hub_doc")
            .map(|p| p.pattern.as_str())
    }

    /// The events a filter must match.
    pub fn required(&self) -> impl Iterator<Item = &'a Example> + use<'a> {
        let version = self.version;
        self.entry
            .required_events
            .iter()
            .filter(move |e| e.applies_to(version))
    }

    /// Events the control lets a filter leave out (matching them is fine too).
    pub fn allowed_exclusions(&self) -> impl Iterator<Item = &'a Example> + use<'a> {
        let version = self.version;
        self.entry
            .allowed_exclusions
            .iter()
            .filter(move |e| e.applies_to(version))
    }

    /// Events the benchmark's own string does not match: a filter matching them is broader
    /// than the control asks, noisy rather than wrong.
    pub fn negatives(&self) -> impl Iterator<Item = &'a Example> + use<'a> {
        let version = self.version;
        self.entry
            .negative_events
            .iter()
            .filter(move |e| e.applies_to(version))
    }

    /// Related calls the benchmark does not ask for.
    pub fn gaps(&self) -> &'a [String] {
        &self.entry.gaps_not_required_by_cis
    }
}
