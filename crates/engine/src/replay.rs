//! Replay: CloudTrail events from archives run through metric filters, as the server runs
//! the events of a log group, to answer what a detection would have counted.
//!
//! Events are deduplicated on `eventID` (CloudTrail may deliver an event twice, and archives
//! overlap); an event without one is never a duplicate. Each event goes through one filter set
//! of every metric filter, the same matcher the server's log groups use.

use std::collections::HashSet;

use filter::{FilterPattern, FilterSet, SetMatcher};

/// A metric filter named for replay, with its pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFilter {
    pub name: String,
    pub pattern: String,
}

/// Why a filter cannot be replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metric filter {name}: {reason}")]
pub struct FilterError {
    pub name: String,
    pub reason: String,
}

/// The filters compiled together.
pub struct Filters {
    names: Vec<String>,
    set: FilterSet,
}

impl Filters {
    /// Compiles the filters; the first that does not parse is the error.
    pub fn new(filters: &[NamedFilter]) -> Result<Filters, FilterError> {
        let mut patterns = Vec::with_capacity(filters.len());
        for f in filters {
            let parsed = FilterPattern::parse(&f.pattern).map_err(|e| FilterError {
                name: f.name.clone(),
                reason: e.to_string(),
            })?;
            patterns.push(parsed);
        }
        Ok(Filters {
            names: filters.iter().map(|f| f.name.clone()).collect(),
            set: FilterSet::new(patterns),
        })
    }

    /// A replay over these filters.
    pub fn replay(&self) -> Replay<'_> {
        Replay {
            filters: self,
            matcher: self.set.matcher(),
            matched: Vec::new(),
            seen: HashSet::new(),
            counts: Counts {
                matches: vec![0; self.names.len()],
                ..Counts::default()
            },
        }
    }

    /// The filters' names, in the order counts are given.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// What a replay counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Events read, duplicates included.
    pub events: u64,
    /// Events whose `eventID` was seen before.
    pub duplicates: u64,
    /// Matches of each filter, in the filters' order.
    pub matches: Vec<u64>,
}

/// One replay in progress.
pub struct Replay<'f> {
    filters: &'f Filters,
    matcher: SetMatcher<'f>,
    matched: Vec<usize>,
    seen: HashSet<String>,
    counts: Counts,
}

impl Replay<'_> {
    /// Takes one event: its JSON text and its `eventID`, if it has one.
    pub fn event(&mut self, json: &str, event_id: Option<&str>) {
        self.counts.events += 1;
        if let Some(id) = event_id
            && !self.seen.insert(id.to_owned())
        {
            self.counts.duplicates += 1;
            return;
        }
        self.matcher.matching(json, &mut self.matched);
        for &i in &self.matched {
            self.counts.matches[i] += 1;
        }
    }

    /// What has been counted so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// The filters replayed.
    pub fn filters(&self) -> &Filters {
        self.filters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(specs: &[(&str, &str)]) -> Filters {
        let named: Vec<NamedFilter> = specs
            .iter()
            .map(|(name, pattern)| NamedFilter {
                name: (*name).into(),
                pattern: (*pattern).into(),
            })
            .collect();
        Filters::new(&named).expect("valid filters")
    }

    #[test]
    fn events_are_counted_per_filter_and_duplicates_once() {
        let f = filters(&[
            ("puts", "{ $.eventName = Put* }"),
            ("roots", "{ $.userIdentity.type = Root }"),
        ]);
        let mut replay = f.replay();
        let put = r#"{"eventID":"1","eventName":"PutRolePolicy","userIdentity":{"type":"Root"}}"#;
        replay.event(put, Some("1"));
        replay.event(put, Some("1"));
        replay.event(r#"{"eventName":"PutUserPolicy"}"#, None);
        replay.event(r#"{"eventName":"PutUserPolicy"}"#, None);
        replay.event(r#"{"eventID":"2","eventName":"Get"}"#, Some("2"));
        let counts = replay.counts();
        assert_eq!(counts.events, 5);
        assert_eq!(counts.duplicates, 1);
        assert_eq!(counts.matches, [3, 1]);
    }

    #[test]
    fn a_bad_pattern_names_its_filter() {
        let named = [NamedFilter {
            name: "broken".into(),
            pattern: "{ $.eventName = ".into(),
        }];
        let err = Filters::new(&named).err().expect("an error");
        assert_eq!(err.name, "broken");
        assert!(
            err.to_string().starts_with("metric filter broken: "),
            "{err}"
        );
    }
}
