//! CloudTrail: trails, the events their followers bring in, and the event history.
//!
//! A trail here mirrors a real one: its `S3BucketName` and `S3KeyPrefix` say where CloudTrail
//! delivers its files, and a follower (in the `ingest` crate) reads what appears there and
//! hands each object's events to [`Engine::commit_delivery`], which writes them into the trail's log
//! group as CloudTrail does — one log event per event, stream `<account>_CloudTrail_<region>`,
//! timestamp `eventTime` — while the trail is logging and for the events its selectors select.
//!
//! - `api.rs`: the operations' requests and responses;
//! - `trail.rs`: CreateTrail, UpdateTrail, DeleteTrail, GetTrail, DescribeTrails, ListTrails,
//!   logging, selectors and tags;
//! - `selectors.rs`: which events a trail logs;
//! - `deliver.rs`: an object's events into the event history and the trail's log group;
//! - `lookup.rs`: LookupEvents over the event history;
//! - `store.rs`: what the component needs kept.

pub mod api;
mod deliver;
mod lookup;
mod selectors;
pub mod store;
mod trail;

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use crate::error::CloudTrailException;
use crate::scope::Scope;
use crate::store::BoxFuture;
use crate::{ApiError, Empty, Engine};
use api::*;
pub use deliver::{Delivered, Delivery, MAX_LOG_EVENT_BYTES, ObjectEvents, logs_prefix};

/// The event history keeps events this long (CloudTrail's 90 days).
pub const HISTORY_MS: i64 = 90 * 24 * 3600 * 1000;

/// The event history, and the events a trail has met, are kept by the hour of `eventTime`:
/// a delivery looks for the events it carries among those of their hours only (an event
/// CloudTrail delivers again has the same time), and a backlog read in time order meets few
/// of its earlier hours.
pub const HOUR_MS: i64 = 3600 * 1000;

/// The hour an event time falls in, counted from the epoch.
pub fn hour_of(time_ms: i64) -> i64 {
    time_ms.div_euclid(HOUR_MS)
}

/// A set of event ids: those in the form of a UUID as CloudTrail writes it kept as their 128
/// bits (see [`crate::format::uuid_bits`]), so that a delivery's hundred thousand ids are
/// neither allocated nor hashed as text; any other as its text. Hashed with a seeded hash:
/// ids come from files anyone who can write to a bucket may write.
#[derive(Debug, Clone, Default)]
pub struct EventIds {
    uuids: std::collections::HashSet<u128, foldhash::fast::RandomState>,
    texts: std::collections::HashSet<String, foldhash::fast::RandomState>,
}

impl EventIds {
    /// Adds an event's id; `false` if it was there.
    pub fn insert_event(&mut self, event: &TrailEvent) -> bool {
        match event.event_id_bits {
            Some(bits) => self.insert_uuid(bits),
            None => {
                !self.texts.contains(event.event_id())
                    && self.insert_text(event.event_id().to_owned())
            }
        }
    }

    /// Adds the id of a UUID's bits; `false` if it was there.
    pub fn insert_uuid(&mut self, bits: u128) -> bool {
        self.uuids.insert(bits)
    }

    /// Room for `more` ids in a UUID's form.
    pub fn reserve_uuids(&mut self, more: usize) {
        self.uuids.reserve(more);
    }

    /// Adds an id that is not in a UUID's form; `false` if it was there.
    pub fn insert_text(&mut self, id: String) -> bool {
        self.texts.insert(id)
    }
}

/// A trail as kept.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTrail {
    /// Its configuration, as GetTrail shows it.
    pub trail: Trail,
    /// Basic selectors; ignored while advanced ones are set.
    pub event_selectors: Vec<EventSelector>,
    pub advanced_event_selectors: Option<Vec<AdvancedEventSelector>>,
    pub tags: Vec<Tag>,
    pub status: TrailStatus,
}

impl StoredTrail {
    /// The account the trail belongs to, from its ARN.
    pub fn account(&self) -> &str {
        crate::scope::Arn::parse(&self.trail.trail_arn).map_or("", |a| a.account)
    }

    /// The scope of its home region.
    pub fn home(&self) -> Option<Scope> {
        crate::scope::Arn::parse(&self.trail.trail_arn).and_then(|a| a.scope())
    }

    /// Whether the trail logs an event.
    pub fn selects(&self, event: &TrailEvent) -> bool {
        selects(
            &self.event_selectors,
            self.advanced_event_selectors.as_deref(),
            event,
        )
    }

    /// The log group it delivers to, by name, if it has one.
    pub fn log_group(&self) -> Option<String> {
        log_group_of_arn(self.trail.cloud_watch_logs_log_group_arn.as_deref()?)
    }
}

/// Whether a trail with these selectors logs an event: its advanced selectors when it has
/// them, else its basic ones.
pub fn selects(
    basic: &[EventSelector],
    advanced: Option<&[AdvancedEventSelector]>,
    event: &TrailEvent,
) -> bool {
    match advanced {
        Some(advanced) => selectors::advanced_selects(advanced, event),
        None => selectors::basic_selects(basic, event),
    }
}

/// The name of the log group a `CloudWatchLogsLogGroupArn` names
/// (`arn:aws:logs:<region>:<account>:log-group:<name>:*`).
fn log_group_of_arn(arn: &str) -> Option<String> {
    crate::scope::Arn::parse(arn)?
        .log_group()
        .map(str::to_owned)
}

/// What GetTrailStatus reports, as kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailStatus {
    pub is_logging: bool,
    pub start_logging_ms: Option<i64>,
    pub stop_logging_ms: Option<i64>,
    /// When an object was last read from the trail's bucket.
    pub latest_delivery_ms: Option<i64>,
    /// When the follower last failed to read, and why.
    pub latest_delivery_attempt_ms: Option<i64>,
    pub latest_delivery_error: Option<String>,
    pub latest_cloud_watch_logs_delivery_ms: Option<i64>,
    pub latest_cloud_watch_logs_delivery_error: Option<String>,
}

/// A field's text among a [`TrailEvent`]'s (see [`EventText`]): where it starts, and its
/// length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    start: u32,
    len: u32,
}

/// Where a [`TrailEvent`]'s texts are kept. Its JSON is a part of a text, either its own or
/// its delivery file's, read whole and shared by the file's events: a backlog's deliveries
/// are read, handed along and freed a hundred thousand events at a time, and a copy of each
/// event was as much work as finding its fields. The texts of its fields (decoded; a user
/// name worked out) are together in a small allocation of their own: each step of a delivery
/// reads a few fields of each event, and as stretches of the JSON they were a cache miss
/// each.
#[derive(Clone)]
struct EventText {
    source: Arc<String>,
    at: usize,
    json_len: u32,
    fields: Box<str>,
}

impl EventText {
    fn json(&self) -> &str {
        &self.source[self.at..][..self.json_len as usize]
    }

    fn of(&self, span: Span) -> &str {
        &self.fields[span.start as usize..][..span.len as usize]
    }
}

/// One CloudTrail event with the fields trailwatch looks at, and its JSON text as written.
#[derive(Clone)]
pub struct TrailEvent {
    text: EventText,
    event_id: Span,
    event_id_bits: Option<u128>,
    pub time_ms: i64,
    event_name: Option<Span>,
    event_source: Option<Span>,
    event_category: Option<Span>,
    event_type: Option<Span>,
    error_code: Option<Span>,
    pub read_only: Option<bool>,
    management_event: Option<bool>,
    user_arn: Option<Span>,
    username: Option<Span>,
    access_key_id: Option<Span>,
    pub session_credential_from_console: Option<bool>,
    vpc_endpoint_id: Option<Span>,
    /// `resources`: (type, ARN).
    resources: Vec<(Span, Span)>,
    /// Whether it is a management event, worked out once (see [`TrailEvent::is_management`]).
    management: bool,
}

impl PartialEq for TrailEvent {
    /// The same JSON, and the same fields read from it (wherever its texts are kept).
    fn eq(&self, other: &TrailEvent) -> bool {
        fn texts(e: &TrailEvent) -> [Option<&str>; 9] {
            [
                e.event_name(),
                e.event_source(),
                e.event_category(),
                e.event_type(),
                e.error_code(),
                e.user_arn(),
                e.username(),
                e.access_key_id(),
                e.vpc_endpoint_id(),
            ]
        }
        fn flags(e: &TrailEvent) -> [Option<bool>; 3] {
            [
                e.read_only,
                e.management_event,
                e.session_credential_from_console,
            ]
        }
        (
            self.json(),
            self.event_id(),
            self.event_id_bits,
            self.time_ms,
        ) == (
            other.json(),
            other.event_id(),
            other.event_id_bits,
            other.time_ms,
        ) && texts(self) == texts(other)
            && flags(self) == flags(other)
            && self.resources().iter().eq(other.resources().iter())
    }
}

impl std::fmt::Debug for TrailEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrailEvent")
            .field("event_id", &self.event_id())
            .field("time_ms", &self.time_ms)
            .field("event_name", &self.event_name())
            .field("event_source", &self.event_source())
            .field("event_category", &self.event_category())
            .field("event_type", &self.event_type())
            .field("error_code", &self.error_code())
            .field("read_only", &self.read_only)
            .field("management_event", &self.management_event)
            .field("user_arn", &self.user_arn())
            .field("username", &self.username())
            .field("access_key_id", &self.access_key_id())
            .field(
                "session_credential_from_console",
                &self.session_credential_from_console,
            )
            .field("vpc_endpoint_id", &self.vpc_endpoint_id())
            .field("resources", &self.resources().iter().collect::<Vec<_>>())
            .field("json", &self.json())
            .finish()
    }
}

/// A string member, borrowed from the JSON where it has no escapes. (`Cow<str>` in an
/// `Option` would always be copied: serde borrows only into a bare `Cow`.)
struct Text<'a>(Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Text<'a>, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(Visit)
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Fields<'a> {
    #[serde(rename = "eventID", borrow)]
    event_id: Option<Text<'a>>,
    #[serde(borrow)]
    event_time: Option<Text<'a>>,
    #[serde(borrow)]
    event_name: Option<Text<'a>>,
    #[serde(borrow)]
    event_source: Option<Text<'a>>,
    #[serde(borrow)]
    event_category: Option<Text<'a>>,
    #[serde(borrow)]
    event_type: Option<Text<'a>>,
    #[serde(borrow)]
    error_code: Option<Text<'a>>,
    read_only: Option<Flag>,
    management_event: Option<bool>,
    #[serde(borrow)]
    user_identity: Option<UserIdentity<'a>>,
    session_credential_from_console: Option<Flag>,
    #[serde(borrow)]
    vpc_endpoint_id: Option<Text<'a>>,
    #[serde(default, borrow)]
    resources: Option<Vec<EventResource<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(borrow)]
    r#type: Option<Text<'a>>,
    #[serde(borrow)]
    arn: Option<Text<'a>>,
    #[serde(borrow)]
    user_name: Option<Text<'a>>,
    #[serde(borrow)]
    access_key_id: Option<Text<'a>>,
    #[serde(borrow)]
    session_context: Option<SessionContext<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionContext<'a> {
    #[serde(borrow)]
    session_issuer: Option<SessionIssuer<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionIssuer<'a> {
    #[serde(borrow)]
    user_name: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct EventResource<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Text<'a>>,
    #[serde(rename = "ARN", borrow)]
    arn: Option<Text<'a>>,
}

/// A flag CloudTrail writes as a boolean, or as a string in older events; `None` for any
/// other value.
struct Flag(Option<bool>);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Flag, D::Error> {
        Ok(Flag(match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(b) => Some(b),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }))
    }
}

/// Reads one member's raw value into its field, as serde does within the whole event: a
/// member given twice (even as null) is refused.
fn member<'a, T: Deserialize<'a>>(
    field: &mut Option<T>,
    seen: &mut bool,
    key: &str,
    raw: &'a str,
) -> Result<(), String> {
    if std::mem::replace(seen, true) {
        return Err(format!("not a CloudTrail event: duplicate field `{key}`"));
    }
    *field = serde_json::from_str::<Option<T>>(raw)
        .map_err(|e| format!("not a CloudTrail event: {key}: {e}"))?;
    Ok(())
}

/// [`member`] for a string: one without escapes is taken as it stands, without a parser (the
/// scan that handed it over checked its JSON).
fn text_member<'a>(
    field: &mut Option<Text<'a>>,
    seen: &mut bool,
    key: &str,
    raw: &'a str,
) -> Result<(), String> {
    let plain = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|inner| !inner.contains('\\'));
    match plain {
        Some(inner) if !*seen => {
            *seen = true;
            *field = Some(Text(Cow::Borrowed(inner)));
            Ok(())
        }
        _ => member(field, seen, key, raw),
    }
}

/// A [`TrailEvent`]'s fields' texts, put one after another.
struct Placing(String);

impl Placing {
    fn place(&mut self, text: &str) -> Span {
        let start = self.0.len();
        self.0.push_str(text);
        Span {
            start: start as u32,
            len: text.len() as u32,
        }
    }

    fn place_some(&mut self, text: Option<&str>) -> Option<Span> {
        text.map(|t| self.place(t))
    }
}

impl TrailEvent {
    /// The top-level members [`TrailEvent::from_members`] reads.
    pub const FIELDS: &'static [&'static str] = &[
        "eventID",
        "eventTime",
        "eventName",
        "eventSource",
        "eventCategory",
        "eventType",
        "errorCode",
        "readOnly",
        "managementEvent",
        "userIdentity",
        "sessionCredentialFromConsole",
        "vpcEndpointId",
        "resources",
    ];

    /// Reads an event; the reason it is not one otherwise (no `eventID`, no `eventTime`).
    pub fn parse(json: String) -> Result<TrailEvent, String> {
        let source = Arc::new(json);
        let fields: Fields<'_> =
            serde_json::from_str(&source).map_err(|e| format!("not a CloudTrail event: {e}"))?;
        TrailEvent::from_fields(&source, fields, (source.clone(), 0))
    }

    /// [`TrailEvent::parse`] of an event whose JSON was checked by a validating scan that
    /// picked its top-level members of [`TrailEvent::FIELDS`] on the way (keys decoded, values
    /// raw, each a slice of `json`): the same event, from those members alone, without
    /// reading the whole again.
    pub fn from_members(
        json: &str,
        members: &[(Cow<'_, str>, &str)],
    ) -> Result<TrailEvent, String> {
        let fields = TrailEvent::fields_of(members)?;
        TrailEvent::from_fields(json, fields, (Arc::new(json.to_owned()), 0))
    }

    /// [`TrailEvent::from_members`] of an event whose JSON is a part of `source` (its
    /// delivery file, read whole): the event keeps its JSON there, sharing `source` with the
    /// file's other events, rather than in a copy of its own.
    pub fn from_members_in(
        source: &Arc<String>,
        json: &str,
        members: &[(Cow<'_, str>, &str)],
    ) -> Result<TrailEvent, String> {
        let at = (json.as_ptr() as usize)
            .checked_sub(source.as_ptr() as usize)
            .filter(|at| at + json.len() <= source.len());
        let Some(at) = at else {
            return TrailEvent::from_members(json, members);
        };
        let fields = TrailEvent::fields_of(members)?;
        TrailEvent::from_fields(json, fields, (source.clone(), at))
    }

    /// The fields of [`TrailEvent::FIELDS`] read from an event's members.
    fn fields_of<'m>(members: &'m [(Cow<'_, str>, &'m str)]) -> Result<Fields<'m>, String> {
        let mut f = Fields::default();
        let mut seen = [false; TrailEvent::FIELDS.len()];
        for (key, raw) in members {
            let (key, raw): (&str, &str) = (key, raw);
            let Some(n) = TrailEvent::FIELDS.iter().position(|k| *k == key) else {
                continue;
            };
            let seen = &mut seen[n];
            match n {
                0 => text_member(&mut f.event_id, seen, key, raw)?,
                1 => text_member(&mut f.event_time, seen, key, raw)?,
                2 => text_member(&mut f.event_name, seen, key, raw)?,
                3 => text_member(&mut f.event_source, seen, key, raw)?,
                4 => text_member(&mut f.event_category, seen, key, raw)?,
                5 => text_member(&mut f.event_type, seen, key, raw)?,
                6 => text_member(&mut f.error_code, seen, key, raw)?,
                7 => member(&mut f.read_only, seen, key, raw)?,
                8 => member(&mut f.management_event, seen, key, raw)?,
                9 => member(&mut f.user_identity, seen, key, raw)?,
                10 => member(&mut f.session_credential_from_console, seen, key, raw)?,
                11 => text_member(&mut f.vpc_endpoint_id, seen, key, raw)?,
                _ => member(&mut f.resources, seen, key, raw)?,
            }
        }
        Ok(f)
    }

    /// The event read from its fields, its JSON kept at `at` in `source`.
    fn from_fields(
        json: &str,
        fields: Fields<'_>,
        (source, at): (Arc<String>, usize),
    ) -> Result<TrailEvent, String> {
        let event_id = fields
            .event_id
            .filter(|id| !id.is_empty())
            .ok_or("the event has no eventID")?;
        let time = fields.event_time.ok_or("the event has no eventTime")?;
        let time_ms = crate::format::event_time_ms(&time)
            .ok_or_else(|| format!("eventTime {:?} is not an ISO-8601 time", &*time))?;
        let identity = fields.user_identity;
        let username: Option<&str> = identity.as_ref().and_then(|u| {
            u.user_name
                .as_deref()
                .or_else(|| match u.r#type.as_deref() {
                    Some("Root") => Some("root"),
                    // An assumed role's user is its session: the ARN's last part.
                    Some("AssumedRole") => u
                        .arn
                        .as_deref()
                        .and_then(|a| a.rsplit('/').next())
                        .or_else(|| {
                            u.session_context
                                .as_ref()?
                                .session_issuer
                                .as_ref()?
                                .user_name
                                .as_deref()
                        }),
                    _ => None,
                })
        });
        let user_arn = identity.as_ref().and_then(|u| u.arn.as_deref());
        let access_key_id = identity.as_ref().and_then(|u| u.access_key_id.as_deref());
        let resources = fields.resources.unwrap_or_default();
        let resources: Vec<(&str, &str)> = resources
            .iter()
            .map(|r| {
                (
                    r.kind.as_deref().unwrap_or_default(),
                    r.arn.as_deref().unwrap_or_default(),
                )
            })
            .collect();
        let texts = [
            fields.event_name.as_deref(),
            fields.event_source.as_deref(),
            fields.event_category.as_deref(),
            fields.event_type.as_deref(),
            fields.error_code.as_deref(),
            user_arn,
            access_key_id,
            username,
            fields.vpc_endpoint_id.as_deref(),
        ];
        // Exactly the room they take: the texts are kept as a `Box<str>`, which would
        // otherwise be moved to fit.
        let room = event_id.len()
            + texts.iter().flatten().map(|t| t.len()).sum::<usize>()
            + resources
                .iter()
                .map(|(k, a)| k.len() + a.len())
                .sum::<usize>();
        let mut p = Placing(String::with_capacity(room));
        let event_id_span = p.place(&event_id);
        let [
            event_name,
            event_source,
            event_category,
            event_type,
            error_code,
            user_arn,
            access_key_id,
            username,
            vpc_endpoint_id,
        ] = texts.map(|t| p.place_some(t));
        let mut event = TrailEvent {
            text: EventText {
                source,
                at,
                json_len: json.len() as u32,
                fields: Box::default(),
            },
            event_id_bits: crate::format::uuid_bits(&event_id),
            event_id: event_id_span,
            time_ms,
            event_name,
            event_source,
            event_category,
            event_type,
            error_code,
            read_only: fields.read_only.and_then(|f| f.0),
            management_event: fields.management_event,
            user_arn,
            access_key_id,
            username,
            session_credential_from_console: fields
                .session_credential_from_console
                .and_then(|f| f.0),
            vpc_endpoint_id,
            resources: resources
                .iter()
                .map(|(kind, arn)| (p.place(kind), p.place(arn)))
                .collect(),
            management: false,
        };
        event.text.fields = p.0.into_boxed_str();
        event.management = event.category() == "Management";
        Ok(event)
    }

    fn get(&self, span: Option<Span>) -> Option<&str> {
        span.map(|s| self.text.of(s))
    }

    /// The event's JSON, as written.
    pub fn json(&self) -> &str {
        self.text.json()
    }

    pub fn event_id(&self) -> &str {
        self.text.of(self.event_id)
    }

    /// The event id's bits, if it is in a UUID's form (see [`crate::format::uuid_bits`]),
    /// worked out once where the event is read, off the writer.
    pub fn event_id_bits(&self) -> Option<u128> {
        self.event_id_bits
    }

    /// `eventCategory`, as written (see [`TrailEvent::category`]).
    pub fn event_category(&self) -> Option<&str> {
        self.get(self.event_category)
    }

    pub fn event_name(&self) -> Option<&str> {
        self.get(self.event_name)
    }

    pub fn event_source(&self) -> Option<&str> {
        self.get(self.event_source)
    }

    pub fn event_type(&self) -> Option<&str> {
        self.get(self.event_type)
    }

    pub fn error_code(&self) -> Option<&str> {
        self.get(self.error_code)
    }

    /// `userIdentity.arn`.
    pub fn user_arn(&self) -> Option<&str> {
        self.get(self.user_arn)
    }

    /// The user the event history names: `userIdentity.userName`, `root` for the root user,
    /// an assumed role's session name.
    pub fn username(&self) -> Option<&str> {
        self.get(self.username)
    }

    /// `userIdentity.accessKeyId`.
    pub fn access_key_id(&self) -> Option<&str> {
        self.get(self.access_key_id)
    }

    pub fn vpc_endpoint_id(&self) -> Option<&str> {
        self.get(self.vpc_endpoint_id)
    }

    /// `resources`: each one's type and ARN.
    pub fn resources(&self) -> Resources<'_> {
        Resources::Spans(self)
    }

    /// `eventCategory`; events written before it existed are management events, unless they
    /// say otherwise.
    pub fn category(&self) -> &str {
        match (self.event_category(), self.management_event) {
            (Some(c), _) => c,
            (None, Some(false)) => "Data",
            (None, _) => "Management",
        }
    }

    /// Whether it is a management event (what the event history keeps).
    pub fn is_management(&self) -> bool {
        self.management
    }
}

/// An event's resources: each one's type and ARN.
#[derive(Debug, Clone, Copy)]
pub enum Resources<'a> {
    /// As texts of their own.
    Texts(&'a [(String, String)]),
    /// As stretches of an event's texts.
    Spans(&'a TrailEvent),
}

impl<'a> Resources<'a> {
    pub fn len(self) -> usize {
        match self {
            Resources::Texts(r) => r.len(),
            Resources::Spans(e) => e.resources.len(),
        }
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Each resource's type and ARN.
    pub fn iter(self) -> impl Iterator<Item = (&'a str, &'a str)> {
        (0..self.len()).map(move |n| match self {
            Resources::Texts(r) => (r[n].0.as_str(), r[n].1.as_str()),
            Resources::Spans(e) => {
                let (kind, arn) = e.resources[n];
                (e.text.of(kind), e.text.of(arn))
            }
        })
    }
}

/// An event of the event history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    pub event_id: String,
    pub time_ms: i64,
    pub event_name: String,
    pub event_source: String,
    pub read_only: Option<bool>,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    pub resources: Vec<(String, String)>,
    pub json: String,
}

/// What the event history keeps of an event besides its JSON, borrowed from it.
#[derive(Debug, Clone, Copy)]
pub struct HistoryAttributes<'a> {
    pub event_id: &'a str,
    /// `event_id`'s bits, if it has them (see [`crate::format::uuid_bits`]).
    pub event_id_bits: Option<u128>,
    pub time_ms: i64,
    pub event_name: &'a str,
    pub event_source: &'a str,
    pub read_only: Option<bool>,
    pub username: Option<&'a str>,
    pub access_key_id: Option<&'a str>,
    pub resources: Resources<'a>,
}

impl TrailEvent {
    /// What the event history keeps of the event besides its JSON.
    pub fn history_attributes(&self) -> HistoryAttributes<'_> {
        HistoryAttributes {
            event_id: self.event_id(),
            event_id_bits: self.event_id_bits,
            time_ms: self.time_ms,
            event_name: self.event_name().unwrap_or_default(),
            event_source: self.event_source().unwrap_or_default(),
            read_only: self.read_only,
            username: self.username(),
            access_key_id: self.access_key_id(),
            resources: self.resources(),
        }
    }
}

/// Whether the S3 buckets trails name exist, as the server can see them (a folder standing
/// in for a bucket, an S3-compatible endpoint, AWS S3).
pub trait BucketCheck: Send + Sync {
    /// `Ok(false)` when the bucket does not exist; `Err` when that cannot be told.
    fn exists<'a>(&'a self, bucket: &'a str) -> BoxFuture<'a, Result<bool, String>>;
}

/// The CloudTrail operations, in one account and region.
pub struct Trails<'e> {
    engine: &'e Engine,
    scope: Scope,
}

impl Engine {
    /// The CloudTrail operations in `scope`.
    pub fn trails(&self, scope: &Scope) -> Trails<'_> {
        Trails {
            engine: self,
            scope: scope.clone(),
        }
    }

    /// Signalled when a trail is created, changed or starts logging: a follower looks at once
    /// rather than at its next interval.
    pub fn trail_changes(&self) -> Arc<tokio::sync::Notify> {
        self.trail_changes.clone()
    }

    /// Every trail of every account, for the followers.
    pub async fn all_trails(&self) -> Result<Vec<StoredTrail>, ApiError> {
        self.read(&self.default_scope(), |tx, _| Ok(tx.all_trails()?))
            .await
    }
}

impl Trails<'_> {
    pub async fn create_trail(&self, req: TrailRequest) -> Result<Trail, ApiError> {
        trail::check_name(&req.name)?;
        if let Some(bucket) = &req.s3_bucket_name {
            self.check_bucket(bucket).await?;
        }
        let scope = self.scope.clone();
        let created = self
            .engine
            .write(&self.scope, move |tx, _| trail::create(tx, &scope, req))
            .await?;
        self.engine.trail_changes.notify_one();
        Ok(created)
    }

    pub async fn update_trail(&self, req: TrailRequest) -> Result<Trail, ApiError> {
        if let Some(bucket) = req.s3_bucket_name.as_deref().filter(|b| !b.is_empty()) {
            self.check_bucket(bucket).await?;
        }
        let scope = self.scope.clone();
        let updated = self
            .engine
            .write(&self.scope, move |tx, _| trail::update(tx, &scope, req))
            .await?;
        self.engine.trail_changes.notify_one();
        Ok(updated)
    }

    pub async fn delete_trail(&self, req: NameRequest) -> Result<Empty, ApiError> {
        let scope = self.scope.clone();
        self.engine
            .write(&self.scope, move |tx, _| {
                trail::delete(tx, &scope, &req.name)
            })
            .await
    }

    /// CloudTrail Insights is not served, so no trail has it on: AWS's answer for such a trail.
    pub async fn get_insight_selectors(
        &self,
        req: GetInsightSelectorsRequest,
    ) -> Result<Empty, ApiError> {
        let name = match (req.trail_name, req.event_data_store) {
            (Some(name), None) => name,
            (None, Some(_)) => {
                return Err(ApiError::new(
                    CloudTrailException::EventDataStoreNotFoundException,
                    "The specified event data store was not found.",
                ));
            }
            _ => {
                return Err(ApiError::new(
                    CloudTrailException::InvalidParameterCombinationException,
                    "You must specify either a trail name or an event data store, but not both.",
                ));
            }
        };
        let scope = self.scope.clone();
        self.engine
            .read(&self.scope, move |tx, _| {
                let trail = trail::find(tx, &scope, &name)?.trail;
                Err(ApiError::new(
                    CloudTrailException::InsightNotEnabledException,
                    format!(
                        "Trail {} does not have Insights enabled. Edit the trail settings to enable Insights, and then try the operation again.",
                        trail.name
                    ),
                ))
            })
            .await
    }

    pub async fn get_trail(&self, req: NameRequest) -> Result<GetTrailResponse, ApiError> {
        let scope = self.scope.clone();
        self.engine
            .read(&self.scope, move |tx, _| {
                let trail = trail::find(tx, &scope, &req.name)?.trail;
                Ok(GetTrailResponse { trail })
            })
            .await
    }

    pub async fn describe_trails(
        &self,
        req: DescribeTrailsRequest,
    ) -> Result<DescribeTrailsResponse, ApiError> {
        let scope = self.scope.clone();
        self.engine
            .read(&self.scope, move |tx, _| trail::describe(tx, &scope, req))
            .await
    }

    pub async fn list_trails(
        &self,
        req: ListTrailsRequest,
    ) -> Result<ListTrailsResponse, ApiError> {
        let scope = self.scope.clone();
        self.engine
            .read(&self.scope, move |tx, _| trail::list(tx, &scope, req))
            .await
    }

    pub async fn get_trail_status(
        &self,
        req: NameRequest,
    ) -> Result<TrailStatusResponse, ApiError> {
        let scope = self.scope.clone();
        self.engine
            .read(&self.scope, move |tx, _| {
                Ok(trail::status(&trail::find(tx, &scope, &req.name)?.status))
            })
            .await
    }

    pub async fn start_logging(&self, req: NameRequest) -> Result<Empty, ApiError> {
        self.set_logging(req.name, true).await
    }

    pub async fn stop_logging(&self, req: NameRequest) -> Result<Empty, ApiError> {
        self.set_logging(req.name, false).await
    }

    async fn set_logging(&self, name: String, logging: bool) -> Result<Empty, ApiError> {
        let scope = self.scope.clone();
        let done = self
            .engine
            .write(&self.scope, move |tx, ctx| {
                trail::set_logging(tx, ctx, &scope, &name, logging)
            })
            .await?;
        self.engine.trail_changes.notify_one();
        Ok(done)
    }

    pub async fn get_event_selectors(
        &self,
        req: GetEventSelectorsRequest,
    ) -> Result<EventSelectorsResponse, ApiError> {
        let scope = self.scope.clone();
        self.engine
            .read(&self.scope, move |tx, _| {
                Ok(trail::selectors_of(&trail::find(
                    tx,
                    &scope,
                    &req.trail_name,
                )?))
            })
            .await
    }

    pub async fn put_event_selectors(
        &self,
        req: PutEventSelectorsRequest,
    ) -> Result<EventSelectorsResponse, ApiError> {
        let scope = self.scope.clone();
        self.engine
            .write(&self.scope, move |tx, _| {
                trail::put_selectors(tx, &scope, req)
            })
            .await
    }

    pub async fn add_tags(&self, req: TagsRequest) -> Result<Empty, ApiError> {
        let scope = self.scope.clone();
        self.engine
            .write(&self.scope, move |tx, _| trail::add_tags(tx, &scope, req))
            .await
    }

    pub async fn remove_tags(&self, req: TagsRequest) -> Result<Empty, ApiError> {
        let scope = self.scope.clone();
        self.engine
            .write(&self.scope, move |tx, _| {
                trail::remove_tags(tx, &scope, req)
            })
            .await
    }

    pub async fn list_tags(&self, req: ListTagsRequest) -> Result<ListTagsResponse, ApiError> {
        let scope = self.scope.clone();
        self.engine
            .read(&self.scope, move |tx, _| trail::list_tags(tx, &scope, req))
            .await
    }

    pub async fn lookup_events(
        &self,
        req: LookupEventsRequest,
    ) -> Result<LookupEventsResponse, ApiError> {
        self.engine
            .read(&self.scope, move |tx, ctx| lookup::lookup(tx, ctx, req))
            .await
    }

    /// A bucket a trail names must exist where the server reads buckets.
    async fn check_bucket(&self, bucket: &str) -> Result<(), ApiError> {
        trail::check_bucket_name(bucket)?;
        let Some(check) = &self.engine.buckets else {
            return Ok(());
        };
        match check.exists(bucket).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(ApiError::new(
                CloudTrailException::S3BucketDoesNotExistException,
                format!("S3 bucket {bucket} does not exist."),
            )),
            Err(reason) => Err(ApiError::new(
                CloudTrailException::S3BucketDoesNotExistException,
                format!("S3 bucket {bucket} cannot be checked: {reason}"),
            )),
        }
    }
}

/// The engine's way of telling whether buckets exist, once set.
pub(crate) type Buckets = Option<Arc<dyn BucketCheck>>;
