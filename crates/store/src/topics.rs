//! Topics, subscriptions, tokens and the outbox in SQLite.

use rusqlite::{OptionalExtension, Row, params};

use engine::topics::outbox::{
    AttemptRecord, Attempted, DeliveryCounts, DeliveryQuery, DeliveryRecord, MessageKind,
    NewMessage, OutboxRow, Queued, StoredDelivery,
};
use engine::topics::store::{OutboxStore, TopicStore};
use engine::topics::{Attributes, ConfirmationToken, Subscription, TokenPurpose, Topic};

use crate::error::storage;
use crate::sqlite::{SqliteTx, scope_key, scope_of_key};
use engine::scope::Arn;
use engine::store::Tx as _;
use engine::store::{StorageError, StorageResult as Result};

/// Attributes as stored: a JSON object of strings. A store written by an older version may
/// hold other JSON values; they read as their JSON text.
fn attributes(text: &str) -> Attributes {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
        Ok(map) => map
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect(),
        Err(_) => Attributes::new(),
    }
}

fn attributes_text(a: &Attributes) -> String {
    serde_json::to_string(a).unwrap_or_else(|_| "{}".to_owned())
}

const SUBSCRIPTION_COLUMNS: &str =
    "arn, topic_arn, protocol, endpoint, confirmed, authenticated, attributes, owner";

fn subscription_of(r: &Row) -> rusqlite::Result<Subscription> {
    let topic_arn: String = r.get(1)?;
    // Rows from before owners were kept belong to their topic's account.
    let owner = match r.get::<_, Option<String>>(7)? {
        Some(owner) => owner,
        None => Arn::parse(&topic_arn)
            .map(|a| a.account.to_owned())
            .unwrap_or_default(),
    };
    Ok(Subscription {
        arn: r.get(0)?,
        topic_arn,
        protocol: r.get(2)?,
        endpoint: r.get(3)?,
        confirmed: r.get(4)?,
        authenticated: r.get(5)?,
        attributes: attributes(&r.get::<_, String>(6)?),
        owner,
    })
}

impl TopicStore for SqliteTx<'_> {
    fn topic(&mut self, arn: &str) -> Result<Option<Topic>> {
        self.conn
            .prepare_cached("SELECT arn, name, attributes FROM topics WHERE arn = ?1")
            .map_err(storage)?
            .query_row([arn], |r| {
                Ok(Topic {
                    arn: r.get(0)?,
                    name: r.get(1)?,
                    attributes: attributes(&r.get::<_, String>(2)?),
                })
            })
            .optional()
            .map_err(storage)
    }

    fn insert_topic(&mut self, topic: &Topic) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO topics (arn, name, attributes) VALUES (?1, ?2, ?3)",
                params![topic.arn, topic.name, attributes_text(&topic.attributes)],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn set_topic_attributes(&mut self, arn: &str, attributes: &Attributes) -> Result<()> {
        self.conn
            .execute(
                "UPDATE topics SET attributes = ?2 WHERE arn = ?1",
                params![arn, attributes_text(attributes)],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn delete_topic(&mut self, arn: &str) -> Result<()> {
        // Subscriptions, removed ones included, go with it (foreign keys cascade).
        self.conn
            .execute("DELETE FROM topics WHERE arn = ?1", [arn])
            .map_err(storage)?;
        Ok(())
    }

    fn topic_arns(&mut self, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        self.conn
            .prepare_cached(
                "SELECT arn FROM topics WHERE substr(arn, 1, length(?3)) = ?3 AND arn > ?1
                 ORDER BY arn LIMIT ?2",
            )
            .map_err(storage)?
            .query_map(
                params![after.unwrap_or(""), limit_of(limit), self.sns_prefix()],
                |r| r.get(0),
            )
            .map_err(storage)?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(storage)
    }

    fn subscription(&mut self, arn: &str) -> Result<Option<Subscription>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE arn = ?1"
            ))
            .map_err(storage)?
            .query_row([arn], subscription_of)
            .optional()
            .map_err(storage)
    }

    fn endpoint_subscription(
        &mut self,
        topic_arn: &str,
        protocol: &str,
        endpoint: &str,
    ) -> Result<Option<Subscription>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions
                 WHERE topic_arn = ?1 AND protocol = ?2 AND endpoint = ?3"
            ))
            .map_err(storage)?
            .query_row(params![topic_arn, protocol, endpoint], subscription_of)
            .optional()
            .map_err(storage)
    }

    fn insert_subscription(&mut self, s: &Subscription) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO subscriptions (arn, topic_arn, protocol, endpoint, token, confirmed,
                                            authenticated, attributes, owner)
                 VALUES (?1, ?2, ?3, ?4, '', ?5, ?6, ?7, ?8)",
                params![
                    s.arn,
                    s.topic_arn,
                    s.protocol,
                    s.endpoint,
                    s.confirmed,
                    s.authenticated,
                    attributes_text(&s.attributes),
                    s.owner
                ],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn confirm_subscription(&mut self, arn: &str, authenticated: bool) -> Result<()> {
        self.conn
            .execute(
                "UPDATE subscriptions SET confirmed = 1, authenticated = MAX(authenticated, ?2)
                 WHERE arn = ?1",
                params![arn, authenticated],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn set_subscription_attributes(&mut self, arn: &str, attributes: &Attributes) -> Result<()> {
        self.conn
            .execute(
                "UPDATE subscriptions SET attributes = ?2 WHERE arn = ?1",
                params![arn, attributes_text(attributes)],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn subscriptions(
        &mut self,
        topic_arn: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Subscription>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions
                 WHERE (topic_arn = ?1
                        OR (?1 IS NULL AND substr(topic_arn, 1, length(?5)) = ?5 AND owner = ?6)
                        OR (?1 IS NULL AND owner IS NULL AND substr(topic_arn, 1, length(?4)) = ?4))
                   AND arn > ?2
                 ORDER BY arn LIMIT ?3"
            ))
            .map_err(storage)?
            .query_map(
                params![
                    topic_arn,
                    after.unwrap_or(""),
                    limit_of(limit),
                    self.sns_prefix(),
                    self.sns_region_prefix(),
                    self.scope().account()
                ],
                subscription_of,
            )
            .map_err(storage)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(storage)
    }

    fn confirmed_subscriptions(&mut self, topic_arn: &str) -> Result<Vec<Subscription>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions
                 WHERE topic_arn = ?1 AND confirmed = 1"
            ))
            .map_err(storage)?
            .query_map([topic_arn], subscription_of)
            .map_err(storage)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(storage)
    }

    fn unsubscribe(&mut self, arn: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO unsubscribed
                     (arn, topic_arn, protocol, endpoint, token, attributes, authenticated, owner)
                 SELECT arn, topic_arn, protocol, endpoint, '', attributes, authenticated, owner
                 FROM subscriptions WHERE arn = ?1",
                [arn],
            )
            .map_err(storage)?;
        self.conn
            .execute("DELETE FROM subscriptions WHERE arn = ?1", [arn])
            .map_err(storage)?;
        Ok(())
    }

    fn is_unsubscribed(&mut self, arn: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM unsubscribed WHERE arn = ?1", [arn], |_| {
                Ok(())
            })
            .optional()
            .map_err(storage)?
            .is_some())
    }

    fn restore_subscription(&mut self, arn: &str) -> Result<Option<String>> {
        // The endpoint may have subscribed again meanwhile: one endpoint, one subscription.
        let again: Option<String> = self
            .conn
            .query_row(
                "SELECT s.arn FROM subscriptions s JOIN unsubscribed u
                   ON s.topic_arn = u.topic_arn AND s.protocol = u.protocol AND s.endpoint = u.endpoint
                 WHERE u.arn = ?1",
                [arn],
                |r| r.get(0),
            )
            .optional()
            .map_err(storage)?;
        let restored = match again {
            Some(current) => Some(current),
            None => {
                let inserted = self
                    .conn
                    .execute(
                        "INSERT INTO subscriptions (arn, topic_arn, protocol, endpoint, token,
                                                    confirmed, attributes, authenticated, owner)
                         SELECT arn, topic_arn, protocol, endpoint, '', 1, attributes, authenticated,
                                owner
                         FROM unsubscribed WHERE arn = ?1",
                        [arn],
                    )
                    .map_err(storage)?;
                (inserted > 0).then(|| arn.to_owned())
            }
        };
        self.conn
            .execute("DELETE FROM unsubscribed WHERE arn = ?1", [arn])
            .map_err(storage)?;
        Ok(restored)
    }

    fn insert_token(&mut self, t: &ConfirmationToken) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO subscription_tokens
                     (token, subscription_arn, topic_arn, purpose, expires_ms, used_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(storage)?
            .execute(params![
                t.token,
                t.subscription_arn,
                t.topic_arn,
                t.purpose.as_str(),
                t.expires_ms,
                t.used_ms
            ])
            .map_err(storage)?;
        Ok(())
    }

    fn token(&mut self, token: &str) -> Result<Option<ConfirmationToken>> {
        let row: Option<(String, String, String, i64, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT subscription_arn, topic_arn, purpose, expires_ms, used_ms
                 FROM subscription_tokens WHERE token = ?1",
                [token],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(storage)?;
        row.map(
            |(subscription_arn, topic_arn, purpose, expires_ms, used_ms)| {
                Ok(ConfirmationToken {
                    token: token.to_owned(),
                    subscription_arn,
                    topic_arn,
                    purpose: TokenPurpose::parse(&purpose).ok_or_else(|| {
                        StorageError(format!("unknown token purpose {purpose:?}"))
                    })?,
                    expires_ms,
                    used_ms,
                })
            },
        )
        .transpose()
    }

    fn use_token(&mut self, token: &str, at_ms: i64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE subscription_tokens SET used_ms = COALESCE(used_ms, ?2) WHERE token = ?1",
                params![token, at_ms],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn revoke_confirm_tokens(&mut self, subscription_arn: &str) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM subscription_tokens WHERE subscription_arn = ?1 AND purpose = 'confirm'",
                [subscription_arn],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn expire_tokens(&mut self, now_ms: i64) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM subscription_tokens WHERE expires_ms <= ?1",
                [now_ms],
            )
            .map_err(storage)?;
        self.conn
            .execute(
                "DELETE FROM unsubscribed WHERE NOT EXISTS
                   (SELECT 1 FROM subscription_tokens t WHERE t.subscription_arn = unsubscribed.arn
                      AND t.purpose = 'restore' AND t.used_ms IS NULL)",
                [],
            )
            .map_err(storage)?;
        Ok(())
    }
}

/// A `LIMIT` for SQLite, which takes a signed 64-bit count.
fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// `WHERE` of rows whose message still has somewhere to go: a message outlives its
/// subscription only to say the subscription is gone.
const ADDRESSABLE: &str = "(o.kind = 'UnsubscribeConfirmation'
    OR EXISTS (SELECT 1 FROM subscriptions s WHERE s.arn = o.subscription_arn))";

const RECORD_COLUMNS: &str = "id, message_id, kind, topic_arn, subscription_arn, endpoint, state,
    attempts, last_error, subject, alarm_name, next_attempt_ms, timestamp_ms, finished_ms";

fn record_of(r: &Row) -> rusqlite::Result<DeliveryRecord> {
    let state: String = r.get(6)?;
    let next: i64 = r.get(11)?;
    Ok(DeliveryRecord {
        id: r.get(0)?,
        message_id: r.get(1)?,
        kind: r.get(2)?,
        topic_arn: r.get(3)?,
        subscription_arn: r.get(4)?,
        endpoint: r.get(5)?,
        next_attempt_ms: (state == "pending").then_some(next),
        state,
        attempts: r.get(7)?,
        last_error: r.get(8)?,
        subject: r.get(9)?,
        alarm_name: r.get(10)?,
        published_ms: r.get(12)?,
        finished_ms: r.get(13)?,
    })
}

impl OutboxStore for SqliteTx<'_> {
    fn queue_message(&mut self, m: &NewMessage<'_>, at_ms: i64) -> Result<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO outbox (kind, message_id, topic_arn, subscription_arn, protocol,
                                     endpoint, subject, message, token, timestamp_ms,
                                     next_attempt_ms, attributes, alarm_name, alarm_scope)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13)",
            )
            .map_err(storage)?
            .execute(params![
                m.kind.as_str(),
                m.message_id,
                m.topic_arn,
                m.subscription_arn,
                m.protocol,
                m.endpoint,
                m.subject,
                m.message,
                m.token,
                at_ms,
                m.attributes,
                m.alarm_name,
                m.alarm_scope.map(scope_key)
            ])
            .map_err(storage)?;
        Ok(self.conn.last_insert_rowid())
    }

    fn queued_after(&mut self, after_id: i64) -> Result<Vec<Queued>> {
        self.conn
            .prepare_cached(
                "SELECT id, endpoint, subscription_arn, next_attempt_ms FROM outbox
                 WHERE id > ?1 AND state = 'pending' ORDER BY id",
            )
            .map_err(storage)?
            .query_map([after_id], |r| {
                Ok(Queued {
                    id: r.get(0)?,
                    endpoint: r.get(1)?,
                    subscription_arn: r.get(2)?,
                    due_ms: r.get(3)?,
                })
            })
            .map_err(storage)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(storage)
    }

    fn pending_delivery(&mut self, id: i64) -> Result<Option<StoredDelivery>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT o.id, o.kind, o.message_id, o.topic_arn, o.subscription_arn, o.protocol,
                        o.endpoint, o.subject, o.message, o.token, o.timestamp_ms, o.attempts,
                        o.attributes, t.attributes, s.attributes
                 FROM outbox o
                   LEFT JOIN topics t ON t.arn = o.topic_arn
                   LEFT JOIN subscriptions s ON s.arn = o.subscription_arn
                 WHERE o.id = ?1 AND o.state = 'pending' AND {ADDRESSABLE}"
            ))
            .map_err(storage)?
            .query_row([id], |r| {
                Ok(StoredDelivery {
                    id: r.get(0)?,
                    kind: MessageKind::parse(&r.get::<_, String>(1)?),
                    message_id: r.get(2)?,
                    topic_arn: r.get(3)?,
                    subscription_arn: r.get(4)?,
                    protocol: r.get(5)?,
                    endpoint: r.get(6)?,
                    subject: r.get(7)?,
                    message: r.get(8)?,
                    token: r.get(9)?,
                    timestamp_ms: r.get(10)?,
                    attempts: r.get(11)?,
                    message_attributes: r.get(12)?,
                    topic_attributes: attributes(
                        &r.get::<_, Option<String>>(13)?.unwrap_or_default(),
                    ),
                    subscription_attributes: attributes(
                        &r.get::<_, Option<String>>(14)?.unwrap_or_default(),
                    ),
                })
            })
            .optional()
            .map_err(storage)
    }

    fn drop_orphaned(&mut self, now_ms: i64) -> Result<()> {
        self.conn
            .execute(
                &format!(
                    "UPDATE outbox AS o SET state = 'dropped', finished_ms = ?1
                     WHERE o.state = 'pending' AND NOT {ADDRESSABLE}"
                ),
                [now_ms],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn record_attempt(&mut self, id: i64, record: &AttemptRecord<'_>) -> Result<Option<Attempted>> {
        self.conn
            .query_row(
                "UPDATE outbox SET state = ?2, attempts = attempts + 1,
                     next_attempt_ms = COALESCE(?3, next_attempt_ms), last_error = ?4,
                     finished_ms = ?5
                 WHERE id = ?1 AND state = 'pending'
                 RETURNING kind, topic_arn, endpoint, alarm_name, attempts, alarm_scope",
                params![
                    id,
                    record.state,
                    record.next_attempt_ms,
                    record.error,
                    record.finished_ms
                ],
                |r| {
                    Ok(Attempted {
                        kind: MessageKind::parse(&r.get::<_, String>(0)?),
                        topic_arn: r.get(1)?,
                        endpoint: r.get(2)?,
                        alarm_name: r.get(3)?,
                        attempts: r.get(4)?,
                        alarm_scope: r
                            .get::<_, Option<String>>(5)?
                            .as_deref()
                            .and_then(scope_of_key),
                    })
                },
            )
            .optional()
            .map_err(storage)
    }

    fn list_deliveries(&mut self, q: &DeliveryQuery) -> Result<Vec<DeliveryRecord>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM outbox
                 WHERE id > ?1 AND (?2 IS NULL OR state = ?2)
                   AND (?3 IS NULL OR topic_arn = ?3)
                   AND (?4 IS NULL OR subscription_arn = ?4)
                 ORDER BY id LIMIT ?5"
            ))
            .map_err(storage)?
            .query_map(
                params![
                    q.after_id.unwrap_or(0),
                    q.state,
                    q.topic_arn,
                    q.subscription_arn,
                    limit_of(q.limit)
                ],
                record_of,
            )
            .map_err(storage)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(storage)
    }

    fn delivery_counts(&mut self, topic_arn: Option<&str>) -> Result<Vec<DeliveryCounts>> {
        self.conn
            .prepare_cached(
                "SELECT subscription_arn, topic_arn, endpoint,
                        SUM(state = 'pending'), SUM(state = 'delivered'), SUM(state = 'failed')
                 FROM outbox WHERE ?1 IS NULL OR topic_arn = ?1
                 GROUP BY subscription_arn ORDER BY subscription_arn",
            )
            .map_err(storage)?
            .query_map([topic_arn], |r| {
                Ok(DeliveryCounts {
                    subscription_arn: r.get(0)?,
                    topic_arn: r.get(1)?,
                    endpoint: r.get(2)?,
                    pending: r.get(3)?,
                    delivered: r.get(4)?,
                    failed: r.get(5)?,
                })
            })
            .map_err(storage)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(storage)
    }

    fn outbox_row(&mut self, id: i64) -> Result<Option<OutboxRow>> {
        self.conn
            .query_row(
                &format!(
                    "SELECT o.state, o.message_id, o.kind, o.subscription_arn, o.topic_arn,
                            {ADDRESSABLE}
                     FROM outbox o WHERE o.id = ?1"
                ),
                [id],
                |r| {
                    Ok(OutboxRow {
                        state: r.get(0)?,
                        message_id: r.get(1)?,
                        kind: MessageKind::parse(&r.get::<_, String>(2)?),
                        subscription_arn: r.get(3)?,
                        topic_arn: r.get(4)?,
                        addressable: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(storage)
    }

    fn failed_deliveries(&mut self, subscription_arn: &str) -> Result<Vec<i64>> {
        self.conn
            .prepare(
                "SELECT id FROM outbox WHERE subscription_arn = ?1 AND state = 'failed' ORDER BY id",
            )
            .map_err(storage)?
            .query_map([subscription_arn], |r| r.get(0))
            .map_err(storage)?
            .collect::<rusqlite::Result<Vec<i64>>>()
            .map_err(storage)
    }

    fn requeue(&mut self, id: i64, at_ms: i64, token: Option<&str>) -> Result<i64> {
        let new_id: i64 = self
            .conn
            .query_row(
                "INSERT INTO outbox (kind, message_id, topic_arn, subscription_arn, protocol,
                                     endpoint, subject, message, attributes, token, timestamp_ms,
                                     next_attempt_ms, alarm_name, alarm_scope)
                 SELECT kind, message_id, topic_arn, subscription_arn, protocol, endpoint, subject,
                        message, attributes, COALESCE(?3, token), timestamp_ms, ?2, alarm_name,
                        alarm_scope
                 FROM outbox WHERE id = ?1
                 RETURNING id",
                params![id, at_ms, token],
                |r| r.get(0),
            )
            .map_err(storage)?;
        self.conn
            .execute("UPDATE outbox SET state = 'redriven' WHERE id = ?1", [id])
            .map_err(storage)?;
        Ok(new_id)
    }
}
