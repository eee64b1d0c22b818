//! When each alarm next needs evaluating for time alone.
//!
//! Data arriving evaluates the alarms on its metric at once; what time alone changes (a period
//! closing, data that stopped arriving) it changes at the end of the alarm's current period.
//! So each alarm waits in a queue keyed by that instant, and a tick evaluates only the alarms
//! whose instant has come: its cost follows the alarms due, not all alarms.
//!
//! The queue lives in memory beside the store. An alarm is put in it when it is evaluated (on
//! creation, on data, on its due instant) and leaves it when an evaluation finds it gone; at
//! start every alarm is due at once, as the periods that closed while the server was down have
//! to be looked at anyway.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;

use crate::scope::Scope;

/// An alarm of a scope.
pub(crate) type AlarmKey = (Scope, String);

/// The alarms' next evaluation instants.
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Whether the store's alarms have been put in the queue.
    loaded: bool,
    /// `(instant, alarm)`, earliest first; an entry is current while `next` holds its instant.
    queue: BinaryHeap<Reverse<(i64, AlarmKey)>>,
    next: HashMap<AlarmKey, i64>,
}

impl Schedule {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the store's alarms still have to be loaded.
    pub fn needs_loading(&self) -> bool {
        !self.lock().loaded
    }

    /// Puts every alarm of the store in the queue, due at `at_ms`.
    pub fn load(&self, names: Vec<AlarmKey>, at_ms: i64) {
        let mut inner = self.lock();
        for name in names {
            inner.set(name, at_ms);
        }
        inner.loaded = true;
    }

    /// Schedules `alarm` for `at_ms` (replacing its earlier instant).
    pub fn set(&self, scope: &Scope, alarm: &str, at_ms: i64) {
        self.lock().set((scope.clone(), alarm.to_owned()), at_ms);
    }

    /// Takes the alarms due at `now_ms` out of the queue.
    pub fn take_due(&self, now_ms: i64) -> Vec<AlarmKey> {
        let mut inner = self.lock();
        let mut due = Vec::new();
        while inner
            .queue
            .peek()
            .is_some_and(|Reverse((at, _))| *at <= now_ms)
        {
            let Some(Reverse((at, name))) = inner.queue.pop() else {
                break;
            };
            if inner.next.get(&name) == Some(&at) {
                inner.next.remove(&name);
                due.push(name);
            }
        }
        due
    }

    /// The earliest instant an alarm is due at, if one waits.
    pub fn next_due(&self) -> Option<i64> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        // Entries replaced by later ones are dropped on the way to the current earliest.
        while let Some(Reverse((at, name))) = inner.queue.peek() {
            if inner.next.get(name) == Some(at) {
                return Some(*at);
            }
            inner.queue.pop();
        }
        None
    }

    /// How many alarms wait.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().next.len()
    }
}

impl Inner {
    fn set(&mut self, name: AlarmKey, at_ms: i64) {
        if self.next.insert(name.clone(), at_ms) == Some(at_ms) {
            return;
        }
        self.queue.push(Reverse((at_ms, name)));
        // Entries replaced by later ones stay in the heap until popped; when they outnumber the
        // current ones, rebuild it.
        if self.queue.len() > 2 * self.next.len() + 64 {
            self.queue = self
                .next
                .iter()
                .map(|(name, at)| Reverse((*at, name.clone())))
                .collect();
        }
    }
}

/// The end of the period holding `now_ms`, for a period of `period_s` seconds: when an alarm
/// with that period next needs evaluating for time alone.
pub(crate) fn period_end_ms(now_ms: i64, period_s: i64) -> i64 {
    let period_ms = period_s.max(1) * 1000;
    (now_ms.div_euclid(period_ms) + 1) * period_ms
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Region;

    fn here() -> Scope {
        Scope::new(
            "000000000000",
            Region::named("us-east-1").expect("a known region"),
        )
    }

    fn names(due: Vec<AlarmKey>) -> Vec<String> {
        due.into_iter().map(|(_, name)| name).collect()
    }

    #[test]
    fn alarms_come_due_once_at_their_latest_instant() {
        let s = Schedule::default();
        s.set(&here(), "a", 10);
        s.set(&here(), "b", 20);
        s.set(&here(), "a", 30);
        assert_eq!(names(s.take_due(25)), ["b"]);
        assert!(s.take_due(25).is_empty());
        assert_eq!(names(s.take_due(30)), ["a"]);
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn the_next_due_instant_is_the_earliest_still_current() {
        let s = Schedule::default();
        assert_eq!(s.next_due(), None);
        s.set(&here(), "a", 10);
        s.set(&here(), "b", 20);
        // a's instant of 10 is replaced: 20 is the earliest that stands.
        s.set(&here(), "a", 30);
        assert_eq!(s.next_due(), Some(20));
        assert_eq!(names(s.take_due(20)), ["b"]);
        assert_eq!(s.next_due(), Some(30));
    }

    #[test]
    fn the_same_name_in_two_scopes_is_two_alarms() {
        let s = Schedule::default();
        let there = Scope::new(
            "000000000000",
            Region::named("eu-west-1").expect("a known region"),
        );
        s.set(&here(), "a", 10);
        s.set(&there, "a", 20);
        assert_eq!(s.take_due(15), [(here(), "a".to_owned())]);
        assert_eq!(s.take_due(20), [(there, "a".to_owned())]);
    }

    #[test]
    fn instants_are_period_ends() {
        assert_eq!(period_end_ms(0, 60), 60_000);
        assert_eq!(period_end_ms(59_999, 60), 60_000);
        assert_eq!(period_end_ms(60_000, 60), 120_000);
        assert_eq!(period_end_ms(-1, 10), 0);
    }

    #[test]
    fn stale_entries_do_not_pile_up() {
        let s = Schedule::default();
        for at in 0..10_000 {
            s.set(&here(), "a", at);
        }
        assert!(s.lock().queue.len() < 200);
        assert_eq!(names(s.take_due(i64::MAX)), ["a"]);
    }
}
