//! Confirmation tokens: the `Token` of each SubscriptionConfirmation and
//! UnsubscribeConfirmation, which its `SubscribeURL` (or ConfirmSubscription) presents.
//!
//! Each message gets a token of its own; a token expires three days after it was sent, and
//! does what it is for once: a subscription's confirmation tokens die with the subscription,
//! and the token that restores an unsubscribed subscription restores it once. So a link in
//! an old message cannot bring back a subscription its owner has since removed.

use super::{ConfirmationToken, INVALID, TokenPurpose};
use crate::store::Tx;
use crate::{ApiError, Context};

/// How long a confirmation token stays valid.
pub const TOKEN_LIFETIME_MS: i64 = 3 * 24 * 3600 * 1000;

/// A new token for one confirmation message: 64 random hex digits (AWS's are long opaque hex
/// strings too).
pub(crate) fn issue(
    tx: &mut dyn Tx,
    ctx: &Context,
    purpose: TokenPurpose,
    subscription_arn: &str,
    topic_arn: &str,
) -> Result<String, ApiError> {
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    tx.insert_token(&ConfirmationToken {
        token: token.clone(),
        subscription_arn: subscription_arn.to_owned(),
        topic_arn: topic_arn.to_owned(),
        purpose,
        expires_ms: ctx.now_ms + TOKEN_LIFETIME_MS,
        used_ms: None,
    })?;
    Ok(token)
}

/// Presents a token for `topic_arn`: confirms its pending subscription, or restores its
/// removed one. Gives the subscription's ARN. Presenting a used token again answers the same
/// ARN while the subscription exists, as AWS does, and changes nothing.
pub(crate) fn redeem(
    tx: &mut dyn Tx,
    ctx: &Context,
    token: &str,
    topic_arn: &str,
) -> Result<String, ApiError> {
    let invalid = || ApiError::new(INVALID, "Invalid token");
    let Some(found) = tx.token(token)? else {
        return Err(invalid());
    };
    if found.expires_ms <= ctx.now_ms {
        return Err(invalid());
    }
    if found.topic_arn != topic_arn {
        return Err(ApiError::new(INVALID, "Invalid parameter: Topic"));
    }
    let exists = tx.subscription(&found.subscription_arn)?.is_some();
    let arn = if found.purpose == TokenPurpose::Restore && found.used_ms.is_none() {
        if exists {
            found.subscription_arn
        } else {
            tx.restore_subscription(&found.subscription_arn)?
                .ok_or_else(invalid)?
        }
    } else if exists {
        found.subscription_arn
    } else {
        return Err(invalid());
    };
    tx.use_token(token, ctx.now_ms)?;
    Ok(arn)
}
