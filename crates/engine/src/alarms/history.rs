//! Alarm history: configuration updates, state updates and actions, kept after their alarm,
//! as on AWS; and DescribeAlarmHistory.

use super::api::{AlarmHistoryItem, DescribeAlarmHistoryRequest, DescribeAlarmHistoryResponse};
use crate::ApiError;
use crate::error::CloudWatchException;
use crate::paging::{self, Listing};
use crate::store::Tx;

/// One history item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryItem {
    pub alarm_name: String,
    pub timestamp_ms: i64,
    /// `ConfigurationUpdate`, `StateUpdate` or `Action`.
    pub item_type: String,
    pub summary: String,
    /// `HistoryData`: JSON text.
    pub data: String,
}

/// Which history items to read.
#[derive(Debug, Clone)]
pub struct HistoryQuery<'a> {
    pub alarm_name: Option<&'a str>,
    pub item_type: Option<&'a str>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub ascending: bool,
    /// Items after (before, descending) this id.
    pub after_id: Option<i64>,
    pub limit: usize,
}

/// Appends an item to an alarm's history.
pub(crate) fn append(
    tx: &mut dyn Tx,
    alarm: &str,
    at_ms: i64,
    item_type: &str,
    summary: &str,
    data: &str,
) -> Result<(), ApiError> {
    tx.append_history(&HistoryItem {
        alarm_name: alarm.to_owned(),
        timestamp_ms: at_ms,
        item_type: item_type.to_owned(),
        summary: summary.to_owned(),
        data: data.to_owned(),
    })?;
    Ok(())
}

pub(super) fn describe(
    tx: &mut dyn Tx,
    req: DescribeAlarmHistoryRequest,
) -> Result<DescribeAlarmHistoryResponse, ApiError> {
    if !req.alarm_types.is_empty() && !req.alarm_types.iter().any(|t| t == "MetricAlarm") {
        return Ok(DescribeAlarmHistoryResponse {
            alarm_history_items: Vec::new(),
            next_token: None,
        });
    }
    let after_id: Option<i64> = match &req.next_token {
        None => None,
        Some(t) => Some(paging::key(Listing::AlarmHistory, t).ok_or_else(|| {
            ApiError::new(
                CloudWatchException::InvalidNextToken,
                "The next token is invalid.",
            )
        })?),
    };
    let limit = req.max_records.unwrap_or(100).clamp(1, 100) as usize;
    let mut rows = tx.history(&HistoryQuery {
        alarm_name: req.alarm_name.as_deref(),
        item_type: req.history_item_type.as_deref(),
        start_ms: req.start_date.map_or(i64::MIN, |s| (s * 1000.0) as i64),
        end_ms: req.end_date.map_or(i64::MAX, |s| (s * 1000.0) as i64),
        ascending: req.scan_by.as_deref() == Some("TimestampAscending"),
        after_id,
        limit: limit + 1,
    })?;
    let next_token = (rows.len() > limit).then(|| {
        rows.truncate(limit);
        let last = rows.last().map_or(0, |(id, _)| *id);
        paging::token(Listing::AlarmHistory, last)
    });
    Ok(DescribeAlarmHistoryResponse {
        alarm_history_items: rows
            .into_iter()
            .map(|(_, item)| AlarmHistoryItem {
                alarm_name: item.alarm_name,
                alarm_type: "MetricAlarm".to_owned(),
                timestamp: item.timestamp_ms as f64 / 1000.0,
                history_item_type: item.item_type,
                history_summary: item.summary,
                history_data: item.data,
            })
            .collect(),
        next_token,
    })
}
