//! Trails: their configuration, logging, selectors and tags, with CloudTrail's checks and
//! messages.

use super::api::*;
use super::{CloudTrailException, StoredTrail, TrailStatus, log_group_of_arn, selectors};
use crate::paging::{self, Listing};
use crate::scope::{Arn, Scope};
use crate::store::Tx;
use crate::{ApiError, Context, Empty};

/// Trails per region and account (CloudTrail's quota).
const MAX_TRAILS: usize = 5;
/// Tags per trail.
const MAX_TAGS: usize = 50;
/// ListTrails pages.
const LIST_PAGE: usize = 50;

fn error(code: CloudTrailException, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message)
}

fn invalid_name(message: impl Into<String>) -> ApiError {
    error(CloudTrailException::InvalidTrailNameException, message)
}

/// A trail name as CloudTrail accepts it: 3 to 128 letters, digits, `.`, `_` and `-`,
/// starting and ending with a letter or digit, without two of `.`, `_`, `-` in a row, and not
/// shaped like an IP address.
pub(super) fn check_name(name: &str) -> Result<(), ApiError> {
    let n = name.chars().count();
    if n < 3 {
        return Err(invalid_name(format!(
            "Trail name too short. Minimum allowed length: 3 characters. Specified name length: {n} characters."
        )));
    }
    if n > 128 {
        return Err(invalid_name(format!(
            "Trail name too long. Maximum allowed length: 128 characters. Specified name length: {n} characters."
        )));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(name.chars().next()) {
        return Err(invalid_name(
            "Trail name must starts with a letter or number.",
        ));
    }
    if !alnum(name.chars().last()) {
        return Err(invalid_name(
            "Trail name must ends with a letter or number.",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(invalid_name(
            "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_).",
        ));
    }
    let punct = |c: char| matches!(c, '.' | '_' | '-');
    if name
        .as_bytes()
        .windows(2)
        .any(|w| punct(w[0] as char) && punct(w[1] as char))
    {
        return Err(invalid_name(
            "Trail name cannot contain adjacent periods (.), hyphens (-), or underscores (_).",
        ));
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(invalid_name(
            "Trail name must not be formatted as an IP address.",
        ));
    }
    Ok(())
}

/// A bucket name as S3 allows it: 3 to 63 lower-case letters, digits, `.` and `-`, starting and
/// ending with a letter or digit.
pub(super) fn check_bucket_name(bucket: &str) -> Result<(), ApiError> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !bucket.contains("..");
    if ok {
        Ok(())
    } else {
        Err(error(
            CloudTrailException::InvalidS3BucketNameException,
            format!("Bucket name is not valid: {bucket}"),
        ))
    }
}

fn trail_arn(scope: &Scope, name: &str) -> String {
    scope.arn("cloudtrail", &format!("trail/{name}"))
}

fn not_found(scope: &Scope, name: &str) -> ApiError {
    let arn = if name.starts_with("arn:") {
        name.to_owned()
    } else {
        trail_arn(scope, name)
    };
    error(
        CloudTrailException::TrailNotFoundException,
        format!("Unknown trail: {arn} for the user: {}", scope.account()),
    )
}

/// The trail a `Name` (a name or an ARN) names, seen from `scope`: one of its region, or a
/// multi-region trail of its account homed elsewhere (a shadow trail).
pub(super) fn find(tx: &mut dyn Tx, scope: &Scope, name: &str) -> Result<StoredTrail, ApiError> {
    if name.starts_with("arn:") {
        let parsed = Arn::parse(name)
            .filter(|a| a.service == "cloudtrail" && a.resource.starts_with("trail/"))
            .ok_or_else(|| {
                error(
                    CloudTrailException::CloudTrailARNInvalidException,
                    format!("ARN {name} is not valid."),
                )
            })?;
        if parsed.account != scope.account() {
            return Err(not_found(scope, name));
        }
        // By its ARN, a trail of the account is found from any region.
        return tx.trail(name)?.ok_or_else(|| not_found(scope, name));
    }
    check_name(name)?;
    if let Some(t) = tx.trail(&trail_arn(scope, name))? {
        return Ok(t);
    }
    tx.account_trails(scope.account())?
        .into_iter()
        .find(|t| t.trail.is_multi_region_trail && t.trail.name == name)
        .ok_or_else(|| not_found(scope, name))
}

/// The trail, for an operation only its home region may do.
fn find_at_home(tx: &mut dyn Tx, scope: &Scope, name: &str) -> Result<StoredTrail, ApiError> {
    let t = find(tx, scope, name)?;
    if t.trail.home_region != scope.region_name() {
        return Err(error(
            CloudTrailException::InvalidHomeRegionException,
            format!(
                "This operation must be called from the trail's home region, {}.",
                t.trail.home_region
            ),
        ));
    }
    Ok(t)
}

/// An empty string clears an optional member on update, as on AWS.
fn given(value: Option<String>) -> Option<Option<String>> {
    value.map(|v| (!v.is_empty()).then_some(v))
}

/// Checks what a trail refers to: its topic and its log group (in its scope), and the role
/// a log group needs.
fn check_references(tx: &mut dyn Tx, scope: &Scope, t: &Trail) -> Result<(), ApiError> {
    if let Some(arn) = &t.sns_topic_arn
        && tx.topic(arn)?.is_none()
    {
        return Err(error(
            CloudTrailException::InsufficientSnsTopicPolicyException,
            "SNS Topic does not exist or the topic policy is incorrect!",
        ));
    }
    if let Some(group_arn) = &t.cloud_watch_logs_log_group_arn {
        let unusable = || {
            error(
                CloudTrailException::InvalidCloudWatchLogsLogGroupArnException,
                "Check the log group ARN: CloudTrail can't validate it.",
            )
        };
        let parsed = Arn::parse(group_arn).ok_or_else(unusable)?;
        if parsed.region != scope.region_name() || parsed.account != scope.account() {
            return Err(unusable());
        }
        let name = log_group_of_arn(group_arn).ok_or_else(unusable)?;
        if tx.log_group(&name)?.is_none() {
            return Err(unusable());
        }
        match &t.cloud_watch_logs_role_arn {
            None => {
                return Err(error(
                    CloudTrailException::InvalidCloudWatchLogsRoleArnException,
                    "You must specify a role ARN as well as a log group.",
                ));
            }
            Some(role) if Arn::parse(role).is_none_or(|a| a.service != "iam") => {
                return Err(error(
                    CloudTrailException::InvalidCloudWatchLogsRoleArnException,
                    "Access denied. Check the trust relationships for your role.",
                ));
            }
            Some(_) => {}
        }
    } else if t.cloud_watch_logs_role_arn.is_some() {
        return Err(error(
            CloudTrailException::InvalidParameterCombinationException,
            "You must specify a log group as well as a role ARN.",
        ));
    }
    if let Some(prefix) = &t.s3_key_prefix
        && prefix.len() > 200
    {
        return Err(error(
            CloudTrailException::InvalidS3PrefixException,
            "The S3 key prefix is longer than 200 characters.",
        ));
    }
    Ok(())
}

/// The SNS topic a `SnsTopicName` (a name or an ARN) names, in `scope`.
fn topic_arn(scope: &Scope, name: &str) -> String {
    if name.starts_with("arn:") {
        name.to_owned()
    } else {
        scope.arn("sns", name)
    }
}

pub(super) fn create(tx: &mut dyn Tx, scope: &Scope, req: TrailRequest) -> Result<Trail, ApiError> {
    let arn = trail_arn(scope, &req.name);
    if tx.trail(&arn)?.is_some() {
        return Err(error(
            CloudTrailException::TrailAlreadyExistsException,
            format!(
                "Trail {} already exists for customer: {}",
                req.name,
                scope.account()
            ),
        ));
    }
    let here = tx
        .account_trails(scope.account())?
        .iter()
        .filter(|t| t.trail.home_region == scope.region_name())
        .count();
    if here >= MAX_TRAILS {
        return Err(error(
            CloudTrailException::MaximumNumberOfTrailsExceededException,
            format!(
                "User: {} already has {MAX_TRAILS} trails in {}.",
                scope.account(),
                scope.region_name()
            ),
        ));
    }
    check_tags(&req.tags_list)?;
    let bucket = req.s3_bucket_name.clone().ok_or_else(|| {
        ApiError::validation("1 validation error detected: Value null at 's3BucketName' failed to satisfy constraint: Member must not be null")
    })?;
    let sns = req.sns_topic_name.filter(|n| !n.is_empty());
    let trail = Trail {
        name: req.name,
        s3_bucket_name: bucket,
        s3_key_prefix: req.s3_key_prefix.filter(|p| !p.is_empty()),
        sns_topic_arn: sns.as_deref().map(|n| topic_arn(scope, n)),
        sns_topic_name: sns,
        include_global_service_events: req.include_global_service_events.unwrap_or(true),
        is_multi_region_trail: req.is_multi_region_trail.unwrap_or(false),
        home_region: scope.region_name().to_owned(),
        trail_arn: arn,
        log_file_validation_enabled: req.enable_log_file_validation.unwrap_or(false),
        cloud_watch_logs_log_group_arn: req
            .cloud_watch_logs_log_group_arn
            .filter(|a| !a.is_empty()),
        cloud_watch_logs_role_arn: req.cloud_watch_logs_role_arn.filter(|a| !a.is_empty()),
        kms_key_id: req.kms_key_id.filter(|k| !k.is_empty()),
        has_custom_event_selectors: false,
        has_insight_selectors: false,
        is_organization_trail: req.is_organization_trail.unwrap_or(false),
    };
    check_globals(&trail)?;
    check_references(tx, scope, &trail)?;
    let stored = StoredTrail {
        trail: trail.clone(),
        event_selectors: vec![EventSelector::default()],
        advanced_event_selectors: None,
        tags: req.tags_list,
        status: TrailStatus::default(),
    };
    tx.put_trail(&stored)?;
    // The model's CreateTrailResponse leaves out what only GetTrail shows (HomeRegion, the
    // selector flags); the wire drops them.
    Ok(trail)
}

/// A multi-region trail must take global service events (CloudTrail refuses otherwise).
fn check_globals(t: &Trail) -> Result<(), ApiError> {
    if t.is_multi_region_trail && !t.include_global_service_events {
        return Err(error(
            CloudTrailException::InvalidParameterCombinationException,
            "Multi-Region trail must include global service events.",
        ));
    }
    Ok(())
}

pub(super) fn update(tx: &mut dyn Tx, scope: &Scope, req: TrailRequest) -> Result<Trail, ApiError> {
    let mut stored = find_at_home(tx, scope, &req.name)?;
    let t = &mut stored.trail;
    if let Some(bucket) = req.s3_bucket_name.filter(|b| !b.is_empty()) {
        t.s3_bucket_name = bucket;
    }
    if let Some(prefix) = given(req.s3_key_prefix) {
        t.s3_key_prefix = prefix;
    }
    if let Some(sns) = given(req.sns_topic_name) {
        t.sns_topic_arn = sns.as_deref().map(|n| topic_arn(scope, n));
        t.sns_topic_name = sns;
    }
    if let Some(v) = req.include_global_service_events {
        t.include_global_service_events = v;
    }
    if let Some(v) = req.is_multi_region_trail {
        t.is_multi_region_trail = v;
    }
    if let Some(v) = req.enable_log_file_validation {
        t.log_file_validation_enabled = v;
    }
    if let Some(v) = given(req.cloud_watch_logs_log_group_arn) {
        t.cloud_watch_logs_log_group_arn = v;
    }
    if let Some(v) = given(req.cloud_watch_logs_role_arn) {
        t.cloud_watch_logs_role_arn = v;
    }
    if let Some(v) = given(req.kms_key_id) {
        t.kms_key_id = v;
    }
    if let Some(v) = req.is_organization_trail {
        t.is_organization_trail = v;
    }
    check_globals(t)?;
    let snapshot = t.clone();
    check_references(tx, scope, &snapshot)?;
    tx.put_trail(&stored)?;
    Ok(snapshot)
}

pub(super) fn delete(tx: &mut dyn Tx, scope: &Scope, name: &str) -> Result<Empty, ApiError> {
    let stored = find_at_home(tx, scope, name)?;
    tx.delete_trail(&stored.trail.trail_arn)?;
    Ok(Empty {})
}

/// The trails `scope` sees: its region's, and with shadow trails the account's multi-region
/// trails homed elsewhere.
fn visible(tx: &mut dyn Tx, scope: &Scope, shadows: bool) -> Result<Vec<StoredTrail>, ApiError> {
    Ok(tx
        .account_trails(scope.account())?
        .into_iter()
        .filter(|t| {
            t.trail.home_region == scope.region_name() || (shadows && t.trail.is_multi_region_trail)
        })
        .collect())
}

pub(super) fn describe(
    tx: &mut dyn Tx,
    scope: &Scope,
    req: DescribeTrailsRequest,
) -> Result<DescribeTrailsResponse, ApiError> {
    let shadows = req.include_shadow_trails.unwrap_or(true);
    let trail_list = if req.trail_name_list.is_empty() {
        visible(tx, scope, shadows)?
            .into_iter()
            .map(|t| t.trail)
            .collect()
    } else {
        // Names that name no trail are left out, as AWS does.
        let mut found = Vec::new();
        for name in &req.trail_name_list {
            match find(tx, scope, name) {
                Ok(t) if shadows || t.trail.home_region == scope.region_name() => {
                    found.push(t.trail)
                }
                Ok(_) => {}
                Err(e) if e.code == CloudTrailException::TrailNotFoundException.into() => {}
                Err(e) => return Err(e),
            }
        }
        found
    };
    Ok(DescribeTrailsResponse { trail_list })
}

pub(super) fn list(
    tx: &mut dyn Tx,
    scope: &Scope,
    req: ListTrailsRequest,
) -> Result<ListTrailsResponse, ApiError> {
    let after = match &req.next_token {
        Some(token) => Some(
            paging::key::<String>(Listing::Trails, token).ok_or_else(|| {
                error(
                    CloudTrailException::InvalidTokenException,
                    "The token is not valid.",
                )
            })?,
        ),
        None => None,
    };
    // Every trail of the account, whatever its home region (each says which it is).
    let mut trails: Vec<TrailInfo> = tx
        .account_trails(scope.account())?
        .into_iter()
        .map(|t| TrailInfo {
            trail_arn: t.trail.trail_arn,
            name: t.trail.name,
            home_region: t.trail.home_region,
        })
        .filter(|t| after.as_deref().is_none_or(|a| t.trail_arn.as_str() > a))
        .collect();
    let next_token = (trails.len() > LIST_PAGE).then(|| {
        trails.truncate(LIST_PAGE);
        paging::token(Listing::Trails, &trails[LIST_PAGE - 1].trail_arn)
    });
    Ok(ListTrailsResponse { trails, next_token })
}

fn seconds(ms: Option<i64>) -> Option<f64> {
    ms.map(|ms| ms as f64 / 1000.0)
}

fn text_time(ms: Option<i64>) -> String {
    ms.map(crate::format::iso8601_time).unwrap_or_default()
}

pub(super) fn status(s: &TrailStatus) -> TrailStatusResponse {
    TrailStatusResponse {
        is_logging: s.is_logging,
        latest_delivery_error: s.latest_delivery_error.clone(),
        latest_delivery_time: seconds(s.latest_delivery_ms),
        start_logging_time: seconds(s.start_logging_ms),
        stop_logging_time: seconds(s.stop_logging_ms),
        latest_cloud_watch_logs_delivery_error: s.latest_cloud_watch_logs_delivery_error.clone(),
        latest_cloud_watch_logs_delivery_time: seconds(s.latest_cloud_watch_logs_delivery_ms),
        latest_delivery_attempt_time: text_time(
            s.latest_delivery_attempt_ms.max(s.latest_delivery_ms),
        ),
        latest_notification_attempt_time: String::new(),
        latest_notification_attempt_succeeded: String::new(),
        latest_delivery_attempt_succeeded: text_time(s.latest_delivery_ms),
        time_logging_started: text_time(s.start_logging_ms),
        time_logging_stopped: text_time(s.stop_logging_ms),
    }
}

pub(super) fn set_logging(
    tx: &mut dyn Tx,
    ctx: &Context,
    scope: &Scope,
    name: &str,
    logging: bool,
) -> Result<Empty, ApiError> {
    let stored = find_at_home(tx, scope, name)?;
    let mut status = stored.status;
    if status.is_logging != logging {
        status.is_logging = logging;
        if logging {
            status.start_logging_ms = Some(ctx.now_ms);
        } else {
            status.stop_logging_ms = Some(ctx.now_ms);
        }
        tx.set_trail_status(&stored.trail.trail_arn, &status)?;
    }
    Ok(Empty {})
}

pub(super) fn selectors_of(t: &StoredTrail) -> EventSelectorsResponse {
    EventSelectorsResponse {
        trail_arn: t.trail.trail_arn.clone(),
        event_selectors: t
            .advanced_event_selectors
            .is_none()
            .then(|| t.event_selectors.clone()),
        advanced_event_selectors: t.advanced_event_selectors.clone(),
    }
}

pub(super) fn put_selectors(
    tx: &mut dyn Tx,
    scope: &Scope,
    req: PutEventSelectorsRequest,
) -> Result<EventSelectorsResponse, ApiError> {
    let mut stored = find_at_home(tx, scope, &req.trail_name)?;
    match (req.event_selectors, req.advanced_event_selectors) {
        (Some(_), Some(_)) => {
            return Err(error(
                CloudTrailException::InvalidParameterCombinationException,
                "You can use either EventSelectors or AdvancedEventSelectors, but not both.",
            ));
        }
        (None, None) => {
            return Err(error(
                CloudTrailException::InvalidEventSelectorsException,
                "Either EventSelectors or AdvancedEventSelectors is required.",
            ));
        }
        (Some(basic), None) => {
            selectors::check_basic(&basic)?;
            stored.event_selectors = basic;
            stored.advanced_event_selectors = None;
        }
        (None, Some(advanced)) => {
            selectors::check_advanced(&advanced)?;
            stored.advanced_event_selectors = Some(advanced);
        }
    }
    stored.trail.has_custom_event_selectors = true;
    tx.put_trail(&stored)?;
    Ok(selectors_of(&stored))
}

fn check_tags(tags: &[Tag]) -> Result<(), ApiError> {
    if tags.len() > MAX_TAGS {
        return Err(error(
            CloudTrailException::TagsLimitExceededException,
            format!("A trail has at most {MAX_TAGS} tags."),
        ));
    }
    if let Some(t) = tags.iter().find(|t| t.key.starts_with("aws:")) {
        return Err(error(
            CloudTrailException::InvalidTagParameterException,
            format!(
                "Tag key {} is reserved: keys may not start with aws:.",
                t.key
            ),
        ));
    }
    Ok(())
}

/// The trail a tagging call's `ResourceId` (a trail ARN) names.
fn tagged(tx: &mut dyn Tx, scope: &Scope, resource: &str) -> Result<StoredTrail, ApiError> {
    if !resource.starts_with("arn:") {
        return Err(error(
            CloudTrailException::CloudTrailARNInvalidException,
            format!("ARN {resource} is not valid."),
        ));
    }
    find(tx, scope, resource).map_err(|e| {
        if e.code == CloudTrailException::TrailNotFoundException.into() {
            error(
                CloudTrailException::ResourceNotFoundException,
                format!("Resource not found: {resource}"),
            )
        } else {
            e
        }
    })
}

pub(super) fn add_tags(
    tx: &mut dyn Tx,
    scope: &Scope,
    req: TagsRequest,
) -> Result<Empty, ApiError> {
    let mut stored = tagged(tx, scope, &req.resource_id)?;
    for tag in req.tags_list {
        match stored.tags.iter_mut().find(|t| t.key == tag.key) {
            Some(t) => t.value = tag.value,
            None => stored.tags.push(tag),
        }
    }
    check_tags(&stored.tags)?;
    tx.put_trail(&stored)?;
    Ok(Empty {})
}

pub(super) fn remove_tags(
    tx: &mut dyn Tx,
    scope: &Scope,
    req: TagsRequest,
) -> Result<Empty, ApiError> {
    let mut stored = tagged(tx, scope, &req.resource_id)?;
    // A tag given with a value goes only if its value is that one.
    stored.tags.retain(|t| {
        !req.tags_list
            .iter()
            .any(|r| r.key == t.key && (r.value.is_none() || r.value == t.value))
    });
    tx.put_trail(&stored)?;
    Ok(Empty {})
}

pub(super) fn list_tags(
    tx: &mut dyn Tx,
    scope: &Scope,
    req: ListTagsRequest,
) -> Result<ListTagsResponse, ApiError> {
    let mut resource_tag_list = Vec::new();
    for resource in &req.resource_id_list {
        let stored = tagged(tx, scope, resource)?;
        resource_tag_list.push(ResourceTag {
            resource_id: resource.clone(),
            tags_list: stored.tags,
        });
    }
    Ok(ListTagsResponse { resource_tag_list })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_as_cloudtrail_does() {
        for good in ["cis", "my-trail", "Org.Trail_1", "a1b"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "-trail",
            "trail-",
            "my--trail",
            "my._trail",
            "tr ail",
            "10.0.0.1",
        ] {
            let e = check_name(bad).expect_err(bad);
            assert_eq!(
                e.code,
                CloudTrailException::InvalidTrailNameException.into(),
                "{bad}"
            );
        }
        assert!(check_name(&"a".repeat(129)).is_err());
        assert!(check_bucket_name("my-bucket").is_ok());
        assert!(check_bucket_name("My_Bucket").is_err());
    }
}
