//! Confirmation tokens: the `Token` of each SubscriptionConfirmation and
//! UnsubscribeConfirmation, which its `SubscribeURL` (or ConfirmSubscription) presents.
//!
//! Each message gets a token of its own; a token expires three days after it was sent, and
//! does what it is for once: a subscription's confirmation tokens die with the subscription,
//! and the token that restores an unsubscribed subscription restores it once. So a link in
//! an old message cannot bring back a subscription its owner has since removed.

use rusqlite::{Connection, OptionalExtension, params};

use crate::schema::TOKEN_LIFETIME_MS;
use crate::store::sql;
use crate::{ApiError, Context};

const INVALID: &str = "InvalidParameterException";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Confirm a pending subscription (a SubscriptionConfirmation's).
    Confirm,
    /// Bring back a removed subscription (an UnsubscribeConfirmation's).
    Restore,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Confirm => "confirm",
            Purpose::Restore => "restore",
        }
    }
}

/// A new token for one confirmation message: 64 random hex digits (AWS's are long opaque hex
/// strings too).
pub(crate) fn issue(
    c: &Connection,
    ctx: &Context,
    purpose: Purpose,
    subscription_arn: &str,
    topic_arn: &str,
) -> Result<String, ApiError> {
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    c.prepare_cached(
        "INSERT INTO subscription_tokens (token, subscription_arn, topic_arn, purpose, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .map_err(sql)?
    .execute(params![
        token,
        subscription_arn,
        topic_arn,
        purpose.as_str(),
        ctx.now_ms + TOKEN_LIFETIME_MS
    ])
    .map_err(sql)?;
    Ok(token)
}

/// Presents a token for `topic_arn`: confirms its pending subscription, or restores its
/// removed one. Gives the subscription's ARN. Presenting a used token again answers the same
/// ARN while the subscription exists, as AWS does, and changes nothing.
pub(crate) fn redeem(
    c: &Connection,
    ctx: &Context,
    token: &str,
    topic_arn: &str,
) -> Result<String, ApiError> {
    let found: Option<(String, String, String, i64, Option<i64>)> = c
        .query_row(
            "SELECT subscription_arn, topic_arn, purpose, expires_ms, used_ms
             FROM subscription_tokens WHERE token = ?1",
            [token],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()
        .map_err(sql)?;
    let invalid = || ApiError::new(INVALID, "Invalid token");
    let Some((arn, topic, purpose, expires_ms, used_ms)) = found else {
        return Err(invalid());
    };
    if expires_ms <= ctx.now_ms {
        return Err(invalid());
    }
    if topic != topic_arn {
        return Err(ApiError::new(INVALID, "Invalid parameter: Topic"));
    }
    let exists = c
        .query_row("SELECT 1 FROM subscriptions WHERE arn = ?1", [&arn], |_| {
            Ok(())
        })
        .optional()
        .map_err(sql)?
        .is_some();
    let arn = if purpose == Purpose::Restore.as_str() && used_ms.is_none() {
        restore(c, &arn, exists)?.ok_or_else(invalid)?
    } else if exists {
        arn
    } else {
        return Err(invalid());
    };
    c.execute(
        "UPDATE subscription_tokens SET used_ms = COALESCE(used_ms, ?2) WHERE token = ?1",
        params![token, ctx.now_ms],
    )
    .map_err(sql)?;
    Ok(arn)
}

/// Brings back the removed subscription `arn`, with the attributes and the
/// `AuthenticateOnUnsubscribe` it had. If the endpoint has subscribed to the topic again
/// meanwhile, that subscription stands and is the answer: one endpoint, one subscription.
fn restore(c: &Connection, arn: &str, exists: bool) -> Result<Option<String>, ApiError> {
    if exists {
        return Ok(Some(arn.to_owned()));
    }
    let again: Option<String> = c
        .query_row(
            "SELECT s.arn FROM subscriptions s JOIN unsubscribed u
               ON s.topic_arn = u.topic_arn AND s.protocol = u.protocol AND s.endpoint = u.endpoint
             WHERE u.arn = ?1",
            [arn],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql)?;
    let restored = match again {
        Some(current) => Some(current),
        None => {
            let inserted = c
                .execute(
                    "INSERT INTO subscriptions (arn, topic_arn, protocol, endpoint, token, confirmed, attributes, authenticated)
                     SELECT arn, topic_arn, protocol, endpoint, '', 1, attributes, authenticated
                     FROM unsubscribed WHERE arn = ?1",
                    [arn],
                )
                .map_err(sql)?;
            (inserted > 0).then(|| arn.to_owned())
        }
    };
    c.execute("DELETE FROM unsubscribed WHERE arn = ?1", [arn])
        .map_err(sql)?;
    Ok(restored)
}

/// Ends the confirmation tokens of a subscription that is being removed.
pub(crate) fn revoke(c: &Connection, subscription_arn: &str) -> Result<(), ApiError> {
    c.execute(
        "DELETE FROM subscription_tokens WHERE subscription_arn = ?1 AND purpose = 'confirm'",
        [subscription_arn],
    )
    .map_err(sql)?;
    Ok(())
}

/// Forgets expired tokens, and the removed subscriptions no token can restore any more.
pub(crate) fn expire(c: &Connection, now_ms: i64) -> Result<(), ApiError> {
    c.execute(
        "DELETE FROM subscription_tokens WHERE expires_ms <= ?1",
        [now_ms],
    )
    .map_err(sql)?;
    c.execute(
        "DELETE FROM unsubscribed WHERE NOT EXISTS
           (SELECT 1 FROM subscription_tokens t WHERE t.subscription_arn = unsubscribed.arn
              AND t.purpose = 'restore' AND t.used_ms IS NULL)",
        [],
    )
    .map_err(sql)?;
    Ok(())
}
