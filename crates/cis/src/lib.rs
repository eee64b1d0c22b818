//! The CIS AWS Foundations Benchmark's monitoring controls — "ensure a log metric filter and
//! alarm exist for …", 14 in v1.2.0 and 15 since — for every version of the benchmark.
//!
//! Auditors in use compare the filter's text with the benchmark's string, so a correct filter
//! written differently fails and a filter that can never fire passes. Here a control is met
//! when, on the log group of a multi-region trail that logs the control's events, metric
//! filters match (by the filter engine) a representative event of every call the control
//! names, and an alarm on their metric, tripped by one event, notifies a topic with a
//! confirmed subscription.
//!
//! - [`catalogue`]: the controls of every version, their strings and example events;
//! - [`judge`]: patterns judged on those events;
//! - [`account`]: what an audit reads of an account (gathered by the caller);
//! - [`audit`]: the audit, with its evidence chain;
//! - [`auditors`]: what Prowler and Security Hub would say of the same account;
//! - [`report`]: the audit as text, JSON, CSV, ASFF, OCSF or HTML;
//! - [`remedy`]: what to create so that every control passes.

pub mod account;
pub mod audit;
pub mod auditors;
pub mod catalogue;
pub mod judge;
pub mod remedy;
pub mod report;

pub use account::Account;
pub use audit::{Finding, Report, Status, audit};
pub use catalogue::{Benchmark, Catalogue, Control, LATEST};
