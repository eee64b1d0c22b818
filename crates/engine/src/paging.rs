//! Page tokens: what a listing answers as `NextToken`/`nextToken` so that the next call
//! continues after the last item it returned.
//!
//! One scheme serves every listing: the token holds the listing it belongs to and the key of
//! the last item returned (a name, an id, an event's position), as base64url JSON, so that
//! clients treat it as opaque, as they must AWS's. A token of one listing presented to another,
//! or one that was altered, does not decode.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The listings that page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    Topics,
    Subscriptions,
    LogGroups,
    LogStreams,
    MetricFilters,
    /// GetLogEvents, reading forward.
    EventsForward,
    /// GetLogEvents, reading backward.
    EventsBackward,
    /// FilterLogEvents.
    FilteredEvents,
    Alarms,
    AlarmHistory,
    Metrics,
    MetricData,
    Trails,
    /// LookupEvents.
    EventHistory,
}

impl Listing {
    fn tag(self) -> &'static str {
        match self {
            Listing::Topics => "topics",
            Listing::Subscriptions => "subscriptions",
            Listing::LogGroups => "log-groups",
            Listing::LogStreams => "log-streams",
            Listing::MetricFilters => "metric-filters",
            Listing::EventsForward => "events-forward",
            Listing::EventsBackward => "events-backward",
            Listing::FilteredEvents => "filtered-events",
            Listing::Alarms => "alarms",
            Listing::AlarmHistory => "alarm-history",
            Listing::Metrics => "metrics",
            Listing::MetricData => "metric-data",
            Listing::Trails => "trails",
            Listing::EventHistory => "event-history",
        }
    }

    /// The visible prefix of the listing's tokens: GetLogEvents tokens start with `f/` and
    /// `b/` on AWS, and some tools look at it.
    fn prefix(self) -> &'static str {
        match self {
            Listing::EventsForward => "f/",
            Listing::EventsBackward => "b/",
            _ => "",
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Wrapped<K> {
    l: String,
    k: K,
}

/// The token that continues `listing` after the item whose key is `key`.
pub(crate) fn token<K: Serialize>(listing: Listing, key: K) -> String {
    let text = serde_json::to_vec(&Wrapped {
        l: listing.tag().to_owned(),
        k: key,
    })
    .unwrap_or_default();
    format!("{}{}", listing.prefix(), URL_SAFE_NO_PAD.encode(text))
}

/// The key a token of `listing` continues after; `None` if it is not such a token.
pub(crate) fn key<K: DeserializeOwned>(listing: Listing, token: &str) -> Option<K> {
    let body = token.strip_prefix(listing.prefix())?;
    let bytes = URL_SAFE_NO_PAD.decode(body).ok()?;
    let wrapped: Wrapped<K> = serde_json::from_slice(&bytes).ok()?;
    (wrapped.l == listing.tag()).then_some(wrapped.k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_belong_to_their_listing() {
        let t = token(Listing::Topics, "arn:aws:sns:us-east-1:1:a");
        assert_eq!(
            key::<String>(Listing::Topics, &t).as_deref(),
            Some("arn:aws:sns:us-east-1:1:a")
        );
        assert_eq!(key::<String>(Listing::Subscriptions, &t), None);
        let e = token(Listing::EventsForward, (5_i64, 7_i64));
        assert!(e.starts_with("f/"));
        assert_eq!(key::<(i64, i64)>(Listing::EventsForward, &e), Some((5, 7)));
        assert_eq!(key::<(i64, i64)>(Listing::EventsBackward, &e), None);
        for bad in ["", "a/xyz", "f/!!!", "b/e30"] {
            assert_eq!(
                key::<(i64, i64)>(Listing::EventsForward, bad),
                None,
                "{bad}"
            );
        }
    }
}
