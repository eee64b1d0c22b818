//! What alarms need kept.

use super::api::MetricAlarm;
use super::evaluate::AlarmState;
use super::history::{HistoryItem, HistoryQuery};
use crate::scope::Scope;
use crate::store::StorageResult as Result;

/// An alarm as kept: its configuration and its state.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlarm {
    pub config: MetricAlarm,
    pub state: AlarmState,
    pub reason: String,
    pub reason_data: Option<String>,
    pub updated_ms: i64,
    pub transitioned_ms: i64,
    pub config_updated_ms: i64,
}

/// A new alarm's state and reason.
pub const INITIAL_REASON: &str = "Unchecked: Initial alarm creation";

/// Alarms and their history.
pub trait AlarmStore {
    /// The alarm `name`, if it exists.
    fn alarm(&mut self, name: &str) -> Result<Option<StoredAlarm>>;
    /// Adds an alarm in `INSUFFICIENT_DATA`, or replaces an alarm's configuration keeping its
    /// state; `dims` is the canonical dimensions text of its metric. Whether it existed.
    fn put_alarm(&mut self, config: &MetricAlarm, dims: &str, at_ms: i64) -> Result<bool>;
    /// Replaces an alarm's configuration without counting it as reconfigured (the
    /// ActionsEnabled switch).
    fn replace_alarm_config(&mut self, config: &MetricAlarm) -> Result<()>;
    /// Sets an alarm's state and reason at `at_ms`; a transition when `transitioned`.
    fn set_alarm_state(
        &mut self,
        name: &str,
        state: AlarmState,
        reason: &str,
        reason_data: Option<&str>,
        at_ms: i64,
        transitioned: bool,
    ) -> Result<()>;
    /// Removes an alarm; whether it existed.
    fn delete_alarm(&mut self, name: &str) -> Result<bool>;
    /// Alarm names in order, after `after`.
    fn alarm_names(&mut self, after: Option<&str>) -> Result<Vec<String>>;
    /// Every alarm, in every scope.
    fn all_alarms(&mut self) -> Result<Vec<(Scope, String)>>;
    /// The names of the alarms on one metric (namespace, name, canonical dimensions), in order.
    fn alarms_on_metric(
        &mut self,
        namespace: &str,
        metric: &str,
        dims: &str,
    ) -> Result<Vec<String>>;
    /// Appends a history item.
    fn append_history(&mut self, item: &HistoryItem) -> Result<()>;
    /// History items matching `query` with their ids, in the query's order.
    fn history(&mut self, query: &HistoryQuery<'_>) -> Result<Vec<(i64, HistoryItem)>>;
}
