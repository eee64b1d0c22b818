//! Followers: the places real CloudTrail delivers to, read as files appear there, into the
//! trails that name them.
//!
//! A trail names a bucket and a key prefix; CloudTrail writes under
//! `<prefix>/AWSLogs/[<org-id>/]<account>/CloudTrail/<region>/YYYY/MM/DD/`. The [`Follower`]
//! looks at every logging trail in turn: for each account and region it reads the objects it
//! has not read, from the day before that of the last one it read (keys sort in time order, and
//! a late file is still found), and hands each object's events to [`Engine::commit_delivery`],
//! which records the object as read in the same write as its events. A restart therefore
//! neither reads an object twice nor misses one; an object that cannot be read is reported in
//! the trail's status, and the follower goes on (after it, once reading it again cannot help).
//!
//! Where buckets are is a [`Buckets`]: a folder standing in for them ([`Folder`]), or S3 (the
//! binary's, through the AWS SDK); [`Layered`] puts a folder before S3.

mod folder;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use engine::store::BoxFuture;
use engine::trails::{BucketCheck, Delivered, ObjectEvents, StoredTrail, TrailEvent, logs_prefix};
use engine::{ApiError, Engine};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Objects fetched and parsed ahead of the one being delivered.
const AHEAD: usize = 16;
/// Deliveries prepared, or being prepared, ahead of the write.
const PREPARED: usize = 2;
/// A write delivers at most this many objects, or about this many bytes of events.
const BATCH_OBJECTS: usize = 64;
const BATCH_BYTES: usize = 16 << 20;

pub use folder::Folder;

/// An object as read.
#[derive(Debug, Clone)]
pub struct Object {
    pub bytes: Vec<u8>,
    /// Whether it is whole: an S3 object always is, a file once nothing has written to it
    /// for a while. An object that is not yet whole and cannot be read is tried again later.
    pub settled: bool,
}

/// Why an object could not be read.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub reason: String,
    /// Whether reading it again will not help (access denied, archived, not a file): it is
    /// then passed over, reported in the trail's status. Otherwise it is tried again later and
    /// nothing after it is read meanwhile.
    pub lasting: bool,
}

impl Unreadable {
    /// A failure that may pass (a connection, a timeout).
    pub fn passing(reason: impl Into<String>) -> Unreadable {
        Unreadable {
            reason: reason.into(),
            lasting: false,
        }
    }
}

/// Where buckets are read from.
pub trait Buckets: BucketCheck {
    /// Every key under `prefix` (which ends with `/`), at any depth, after `start_after`, in
    /// key order.
    fn list<'a>(
        &'a self,
        bucket: &'a str,
        prefix: &'a str,
        start_after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<String>, String>>;
    /// The names of the folders right under `prefix` (S3's common prefixes), without `/`.
    fn children<'a>(
        &'a self,
        bucket: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, String>>;
    /// An object's bytes.
    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Object, Unreadable>>;
}

/// A folder before another place: buckets the folder holds are read there, others from the
/// other place.
pub struct Layered {
    pub first: Arc<Folder>,
    pub then: Option<Arc<dyn Buckets>>,
}

impl Layered {
    async fn pick(&self, bucket: &str) -> Result<&dyn Buckets, String> {
        if self.first.exists(bucket).await? {
            return Ok(&*self.first);
        }
        Ok(match &self.then {
            Some(then) => &**then,
            None => &*self.first,
        })
    }
}

impl BucketCheck for Layered {
    fn exists<'a>(&'a self, bucket: &'a str) -> BoxFuture<'a, Result<bool, String>> {
        Box::pin(async move { self.pick(bucket).await?.exists(bucket).await })
    }
}

impl Buckets for Layered {
    fn list<'a>(
        &'a self,
        bucket: &'a str,
        prefix: &'a str,
        start_after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move {
            self.pick(bucket)
                .await?
                .list(bucket, prefix, start_after)
                .await
        })
    }

    fn children<'a>(
        &'a self,
        bucket: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move { self.pick(bucket).await?.children(bucket, prefix).await })
    }

    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Object, Unreadable>> {
        Box::pin(async move {
            let picked = self.pick(bucket).await.map_err(Unreadable::passing)?;
            picked.get(bucket, key).await
        })
    }
}

/// Follows every logging trail's bucket.
pub struct Follower {
    engine: Arc<Engine>,
    buckets: Arc<dyn Buckets>,
    /// Signalled when something may have been written (a folder's notifications).
    wake: Arc<Notify>,
    /// How long to wait between looks when nothing signals.
    interval: Duration,
}

/// What reading one object found.
struct Read {
    events: Vec<TrailEvent>,
    problems: Vec<String>,
    /// Problems in an object that may still be being written: to read again later.
    unsettled: bool,
}

impl Follower {
    pub fn new(
        engine: Arc<Engine>,
        buckets: Arc<dyn Buckets>,
        wake: Arc<Notify>,
        interval: Duration,
    ) -> Follower {
        Follower {
            engine,
            buckets,
            wake,
            interval,
        }
    }

    /// Follows until the task is dropped.
    pub async fn run(self) {
        let changes = self.engine.trail_changes();
        loop {
            self.look().await;
            tokio::select! {
                () = self.wake.notified() => {}
                () = changes.notified() => {}
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    /// One look at every logging trail's bucket.
    pub async fn look(&self) {
        let trails = match self.engine.all_trails().await {
            Ok(trails) => trails,
            Err(e) => {
                tracing::error!(error = %e, "Cannot list the trails to follow.");
                return;
            }
        };
        for trail in trails.iter().filter(|t| t.status.is_logging) {
            if let Err(reason) = self.follow(trail).await {
                self.failed(trail, reason).await;
            }
        }
    }

    async fn failed(&self, trail: &StoredTrail, reason: String) {
        tracing::warn!(trail = %trail.trail.trail_arn, %reason, "Cannot read the trail's bucket.");
        if let Err(e) = self
            .engine
            .delivery_failed(&trail.trail.trail_arn, reason)
            .await
        {
            tracing::error!(error = %e, "Cannot record a trail's delivery error.");
        }
    }

    /// Reads what is new for one trail.
    async fn follow(&self, trail: &StoredTrail) -> Result<(), String> {
        let bucket = &trail.trail.s3_bucket_name;
        if !self.buckets.exists(bucket).await? {
            return Err(format!("The S3 bucket {bucket} does not exist."));
        }
        let base = logs_prefix(trail);
        for (organization, account) in self.accounts(trail, &base).await? {
            let under = match &organization {
                Some(org) => format!("{base}{org}/{account}/CloudTrail/"),
                None => format!("{base}{account}/CloudTrail/"),
            };
            let regions = if trail.trail.is_multi_region_trail {
                self.buckets.children(bucket, &under).await?
            } else {
                vec![trail.trail.home_region.clone()]
            };
            for region in regions {
                let place = Place {
                    organization: organization.clone(),
                    account: account.clone(),
                    region,
                };
                // A place that cannot be read holds up no other.
                if let Err(reason) = self.follow_region(trail, &under, &place).await {
                    self.failed(trail, reason).await;
                }
            }
        }
        Ok(())
    }

    /// The accounts a trail reads: its own, or for an organization trail every account under
    /// `AWSLogs/` and under each organization's folder there.
    async fn accounts(
        &self,
        trail: &StoredTrail,
        base: &str,
    ) -> Result<Vec<(Option<String>, String)>, String> {
        if !trail.trail.is_organization_trail {
            return Ok(vec![(None, trail.account().to_owned())]);
        }
        let bucket = &trail.trail.s3_bucket_name;
        let mut accounts = Vec::new();
        for child in self.buckets.children(bucket, base).await? {
            if child.starts_with("o-") {
                for account in self
                    .buckets
                    .children(bucket, &format!("{base}{child}/"))
                    .await?
                {
                    accounts.push((Some(child.clone()), account));
                }
            } else {
                accounts.push((None, child));
            }
        }
        Ok(accounts)
    }

    async fn follow_region(
        &self,
        trail: &StoredTrail,
        under: &str,
        place: &Place,
    ) -> Result<(), String> {
        let arn = &trail.trail.trail_arn;
        let bucket = &trail.trail.s3_bucket_name;
        let prefix = format!("{under}{}/", place.region);
        // What was read is kept as `<bucket>/<key>`: a trail moved to another bucket reads
        // that one from its start.
        let kept = format!("{bucket}/{prefix}");
        let internal = |e: engine::ApiError| e.to_string();
        // From the start of the day before that of the last object read: a day's files sort in
        // time order, and one that arrived late — even after the next day's first — is still
        // among them.
        let last = self
            .engine
            .last_object_read(arn, &kept)
            .await
            .map_err(internal)?;
        let from = last.as_deref().and_then(|k| day_before(k, &kept));
        let keys = self.buckets.list(bucket, &prefix, from.as_deref()).await?;
        let after = from
            .as_deref()
            .map(|f| format!("{bucket}/{f}"))
            .unwrap_or_default();
        let read: HashSet<String> = self
            .engine
            .objects_read(arn, &kept, &after)
            .await
            .map_err(internal)?
            .into_iter()
            .collect();
        let mut keys = keys
            .into_iter()
            .filter(|k| !read.contains(&format!("{bucket}/{k}")));
        // Objects are fetched and parsed ahead, several at once, and delivered in key order,
        // as many in one write as are ready. Each delivery is prepared on its own task while
        // the next objects are gathered and the one before is written: a backlog keeps every
        // processor busy (preparing had waited for the gathering, and the gathering for it).
        let mut ahead: VecDeque<(String, JoinHandle<Result<Read, Unreadable>>)> = VecDeque::new();
        let mut preparing = Preparing::default();
        let mut writing: Option<JoinHandle<Result<Delivered, ApiError>>> = None;
        loop {
            self.fetch_ahead(&mut ahead, &mut keys, bucket);
            let mut batch = Vec::new();
            let mut bytes = 0;
            let mut stop = false;
            while let Some((key, fetching)) = ahead.pop_front() {
                let fetched = fetching
                    .await
                    .map_err(|e| format!("reading {key} failed: {e}"))?;
                match fetched {
                    // An object not yet whole, or that cannot be read: nothing after it is
                    // read until it is, so that none is passed over (the next look starts
                    // from the day before that of the last object read).
                    Err(e) if !e.lasting => {
                        self.failed(trail, format!("{bucket}/{key}: {}", e.reason))
                            .await;
                        stop = true;
                    }
                    Ok(read) if read.unsettled => stop = true,
                    // Reading it again will not help: passed over, and said in the status.
                    Err(e) => batch.push(ObjectEvents {
                        key: format!("{bucket}/{key}"),
                        account: place.account.clone(),
                        region: place.region.clone(),
                        organization: place.organization.clone(),
                        events: Vec::new(),
                        problems: vec![format!("cannot read: {}", e.reason)],
                    }),
                    Ok(read) => {
                        if let Some(first) = read.problems.first() {
                            // One line an object: a file of bad events would flood the log.
                            tracing::warn!(
                                trail = %arn,
                                problems = read.problems.len(),
                                first = %first,
                                "Malformed CloudTrail input."
                            );
                        }
                        bytes += read.events.iter().map(|e| e.json().len()).sum::<usize>();
                        batch.push(ObjectEvents {
                            key: format!("{bucket}/{key}"),
                            account: place.account.clone(),
                            region: place.region.clone(),
                            organization: place.organization.clone(),
                            events: read.events,
                            problems: read.problems,
                        });
                    }
                }
                self.fetch_ahead(&mut ahead, &mut keys, bucket);
                let ready = ahead.front().is_some_and(|(_, f)| f.is_finished());
                if stop || !ready || bytes >= BATCH_BYTES || batch.len() >= BATCH_OBJECTS {
                    break;
                }
            }
            let last = stop || batch.is_empty();
            if !batch.is_empty() {
                let (engine, arn) = (self.engine.clone(), arn.clone());
                preparing.0.push_back(tokio::spawn(async move {
                    engine.prepare_delivery(&arn, batch).await
                }));
            }
            // Writes go in key order, each once the one before is done.
            while preparing.0.len() >= PREPARED || (last && !preparing.0.is_empty()) {
                let Some(next) = preparing.0.pop_front() else {
                    break;
                };
                let delivery = next
                    .await
                    .map_err(|e| format!("preparing a delivery failed: {e}"))?
                    .map_err(|e| e.to_string())?;
                if !written(writing.take()).await? {
                    return Ok(());
                }
                // None: the trail stopped logging, or went; its other objects wait.
                let Some(delivery) = delivery else {
                    return Ok(());
                };
                let engine = self.engine.clone();
                writing = Some(tokio::spawn(async move {
                    engine.commit_delivery(delivery).await
                }));
            }
            if last {
                break;
            }
        }
        written(writing).await.map(|_| ())
    }

    /// Starts fetching and parsing the next keys, up to [`AHEAD`] at once.
    fn fetch_ahead(
        &self,
        ahead: &mut VecDeque<(String, JoinHandle<Result<Read, Unreadable>>)>,
        keys: &mut dyn Iterator<Item = String>,
        bucket: &str,
    ) {
        while ahead.len() < AHEAD {
            let Some(key) = keys.next() else {
                return;
            };
            let buckets = self.buckets.clone();
            let (bucket, name) = (bucket.to_owned(), key.clone());
            let fetching = tokio::spawn(async move {
                let object = buckets.get(&bucket, &name).await?;
                tokio::task::spawn_blocking(move || {
                    let mut read = read_object(&name, &object.bytes);
                    // A file still being written may be empty, cut at a line's end, or cut
                    // anywhere: it is read again once it has been left alone a while.
                    read.unsettled =
                        !object.settled && (!read.problems.is_empty() || read.events.is_empty());
                    read
                })
                .await
                .map_err(|e| Unreadable::passing(e.to_string()))
            });
            ahead.push_back((key, fetching));
        }
    }
}

/// Deliveries being prepared ([`Engine::prepare_delivery`]), in key order. Those the
/// follower does not come to write (it stopped: the trail stopped logging, a write failed)
/// are called off.
#[derive(Default)]
struct Preparing(VecDeque<JoinHandle<Result<Option<engine::trails::Delivery>, ApiError>>>);

impl Drop for Preparing {
    fn drop(&mut self) {
        for preparing in &self.0 {
            preparing.abort();
        }
    }
}

/// Waits for a write; whether its objects were taken (no write is a yes).
async fn written(writing: Option<JoinHandle<Result<Delivered, ApiError>>>) -> Result<bool, String> {
    let Some(writing) = writing else {
        return Ok(true);
    };
    let delivered = writing
        .await
        .map_err(|e| format!("a delivery failed: {e}"))?
        .map_err(|e| e.to_string())?;
    // Not taken: the trail stopped logging or went (or every object had been read: the next
    // look goes on from there).
    Ok(delivered.taken)
}

/// The account and region a prefix of objects belongs to.
struct Place {
    organization: Option<String>,
    account: String,
    region: String,
}

/// The prefix of the day before that of a key under `kept` (`<bucket>/<prefix>`), without
/// its bucket: `<prefix>YYYY/MM/DD`, if the key has that shape.
fn day_before(key: &str, kept: &str) -> Option<String> {
    let rest = key.strip_prefix(kept)?;
    let day = rest.get(..10)?;
    let number = |r: std::ops::Range<usize>| day.get(r)?.parse::<u16>().ok();
    let (y, m, d) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let month = time::Month::try_from(u8::try_from(m).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::from(y), month, u8::try_from(d).ok()?)
        .ok()?
        .previous_day()?;
    let prefix = kept.split_once('/')?.1;
    Some(format!(
        "{prefix}{:04}/{:02}/{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

/// An object's events, each checked to be a CloudTrail event, and what was wrong in it.
fn read_object(key: &str, bytes: &[u8]) -> Read {
    struct Collect {
        events: Vec<TrailEvent>,
        problems: Vec<String>,
    }
    impl crate::Visitor for Collect {
        fn event(&mut self, event: &crate::Event<'_>) {
            let read = match event.members() {
                Some(members) => match event.document() {
                    Some(document) => TrailEvent::from_members_in(document, event.json, members),
                    None => TrailEvent::from_members(event.json, members),
                },
                None => TrailEvent::parse(event.json.to_owned()),
            };
            match read {
                Ok(e) => self.events.push(e),
                Err(reason) => self
                    .problems
                    .push(format!("{}{}: {reason}", event.path, event.position)),
            }
        }
        fn malformed(&mut self, problem: crate::Malformed) {
            self.problems.push(problem.to_string());
        }
        fn skipped(&mut self, _: &str, _: crate::Skip) {}
        fn fields(&self) -> &'static [&'static str] {
            TrailEvent::FIELDS
        }
    }
    let mut collect = Collect {
        events: Vec::new(),
        problems: Vec::new(),
    };
    crate::read_bytes(key, bytes, &mut collect);
    Read {
        events: collect.events,
        problems: collect.problems,
        unsettled: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_starts_at_the_day_before_the_last_key_read() {
        let kept = "b/AWSLogs/1/CloudTrail/us-east-1/";
        assert_eq!(
            day_before(
                "b/AWSLogs/1/CloudTrail/us-east-1/2027/01/01/1_CloudTrail_us-east-1_20270101T0000Z_a.json.gz",
                kept
            )
            .as_deref(),
            Some("AWSLogs/1/CloudTrail/us-east-1/2026/12/31")
        );
        assert_eq!(
            day_before("b/AWSLogs/1/CloudTrail/us-east-1/2024/03/01/x", kept).as_deref(),
            Some("AWSLogs/1/CloudTrail/us-east-1/2024/02/29")
        );
        assert_eq!(
            day_before("b/AWSLogs/1/CloudTrail/us-east-1/x.json", kept),
            None
        );
    }
}
