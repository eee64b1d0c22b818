//! The outbox worker: delivers what the engine queues.
//!
//! Guarantees, and how they are kept:
//!
//! - **One attempt in flight per message.** The worker holds each pending message in exactly
//!   one place: waiting in its endpoint's queue, or out for one attempt. It goes back into the
//!   queue only after that attempt's outcome is committed, so it is never picked twice and
//!   never gets an attempt more than its policy allows.
//! - **One endpoint never holds up another.** Messages queue by endpoint server
//!   (`scheme://host:port`); each server gets at most [`WorkerLimits::per_endpoint`] attempts
//!   at once, so a server that hangs ties up only its own slots, never the round. Every
//!   attempt ends within [`DELIVERY_TIMEOUT`](crate::DELIVERY_TIMEOUT).
//! - **Nothing is dropped in silence.** A message whose delivery policy runs out stays in the
//!   store as a failed delivery, for operators to list and redrive.
//!
//! Scheduling lives in memory; the store holds the truth. At start the worker loads every
//! pending message, afterwards those queued since (the engine signals each commit that queues
//! some), so a crash costs at most a repeated attempt.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use engine::Engine;
use engine::endpoint::{EndpointPolicy, origin_of};
use engine::outbox::{Delivery, MessageKind};
use tokio::task::JoinSet;

use crate::{
    DELIVERY_TIMEOUT, DeliveryHeaders, DeliveryOutcome, Envelope, EnvelopeKind, Error,
    SignatureVersion, SigningKey,
};

/// How many attempts run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerLimits {
    /// In all. Each holds a connection, so this bounds the file descriptors deliveries use.
    pub in_flight: usize,
    /// To one endpoint server.
    pub per_endpoint: usize,
}

impl Default for WorkerLimits {
    fn default() -> Self {
        WorkerLimits {
            in_flight: 64,
            per_endpoint: 4,
        }
    }
}

/// How long the worker waits when nothing is due and nothing signals (a safety net: the
/// engine signals every commit that queues a message).
const IDLE_WAKE: Duration = Duration::from_secs(60);
/// When the outcome of an attempt could not be recorded, the message is tried again after
/// this long (it is still pending in the store).
const RECORD_RETRY_MS: i64 = 5_000;

/// An endpoint server's waiting messages and its attempts under way.
#[derive(Debug, Default)]
struct EndpointQueue {
    /// Each subscription's waiting messages, `(due, id)`, earliest first: kept apart so that
    /// one subscription's throttle policy holds back only its own messages.
    subscriptions: HashMap<Arc<str>, BinaryHeap<Reverse<(i64, i64)>>>,
    in_flight: usize,
}

/// A message taken out for an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Taken {
    origin: Arc<str>,
    id: i64,
    subscription: Arc<str>,
}

/// Which message goes next: per-endpoint queues ordered by due time, slots per endpoint and in
/// all, and subscriptions' throttle policies.
#[derive(Debug, Default)]
struct Scheduler {
    queues: HashMap<Arc<str>, EndpointQueue>,
    /// Subscriptions whose throttle policy holds their next attempt until this time.
    not_before: HashMap<Arc<str>, i64>,
    /// The least time between two attempts to a subscription, from its throttle policy, as
    /// learnt from its messages.
    gaps: HashMap<Arc<str>, i64>,
    in_flight: usize,
}

impl Scheduler {
    fn push(&mut self, origin: &str, subscription: &Arc<str>, due_ms: i64, id: i64) {
        let queue = match self.queues.get_mut(origin) {
            Some(q) => q,
            None => self.queues.entry(Arc::from(origin)).or_default(),
        };
        queue
            .subscriptions
            .entry(subscription.clone())
            .or_default()
            .push(Reverse((due_ms, id)));
    }

    /// The subscription of this queue whose next message may go first, and when; nothing if
    /// the queue has no free slot.
    fn ready_in(&self, queue: &EndpointQueue, limits: &WorkerLimits) -> Option<(i64, Arc<str>)> {
        if queue.in_flight >= limits.per_endpoint {
            return None;
        }
        queue
            .subscriptions
            .iter()
            .filter_map(|(subscription, waiting)| {
                let Reverse((due_ms, _)) = waiting.peek()?;
                let held = self.not_before.get(subscription).copied().unwrap_or(0);
                Some(((*due_ms).max(held), subscription.clone()))
            })
            .min()
    }

    /// Takes the messages that may go now: the earliest first, one per endpoint per pass, so
    /// that no endpoint's backlog takes every free slot.
    fn take_due(&mut self, now_ms: i64, limits: &WorkerLimits) -> Vec<Taken> {
        let mut taken = Vec::new();
        loop {
            let mut ready: Vec<(i64, Arc<str>, Arc<str>)> = self
                .queues
                .iter()
                .filter_map(|(origin, q)| {
                    self.ready_in(q, limits)
                        .filter(|(at, _)| *at <= now_ms)
                        .map(|(at, subscription)| (at, origin.clone(), subscription))
                })
                .collect();
            if ready.is_empty() {
                return taken;
            }
            ready.sort();
            for (_, origin, subscription) in ready {
                if self.in_flight >= limits.in_flight {
                    return taken;
                }
                let Some(queue) = self.queues.get_mut(&origin) else {
                    continue;
                };
                let Some(waiting) = queue.subscriptions.get_mut(&subscription) else {
                    continue;
                };
                let Some(Reverse((_, id))) = waiting.pop() else {
                    continue;
                };
                if waiting.is_empty() {
                    queue.subscriptions.remove(&subscription);
                }
                queue.in_flight += 1;
                self.in_flight += 1;
                if let Some(gap) = self.gaps.get(&subscription) {
                    self.not_before.insert(subscription.clone(), now_ms + gap);
                }
                taken.push(Taken {
                    origin,
                    id,
                    subscription,
                });
            }
        }
    }

    /// An attempt ended: frees its slot, and queues the message again if it has another
    /// attempt due.
    fn finished(&mut self, taken: &Taken, again_at: Option<i64>) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some(queue) = self.queues.get_mut(&taken.origin) {
            queue.in_flight = queue.in_flight.saturating_sub(1);
        }
        match again_at {
            Some(due_ms) => self.push(&taken.origin, &taken.subscription, due_ms, taken.id),
            None => {
                if self
                    .queues
                    .get(&taken.origin)
                    .is_some_and(|q| q.subscriptions.is_empty() && q.in_flight == 0)
                {
                    self.queues.remove(&taken.origin);
                }
            }
        }
    }

    /// Learns a subscription's throttle policy (the least milliseconds between two of its
    /// attempts, `None` without one) as an attempt to it starts at `now_ms`.
    fn throttle(&mut self, subscription: &Arc<str>, gap_ms: Option<i64>, now_ms: i64) {
        match gap_ms {
            Some(gap) => {
                self.gaps.insert(subscription.clone(), gap);
                let at = self.not_before.entry(subscription.clone()).or_insert(0);
                *at = (*at).max(now_ms + gap);
            }
            None => {
                self.gaps.remove(subscription);
            }
        }
    }

    /// When something next becomes ready: a message waiting for an endpoint with a free
    /// slot, while there is a free slot at all (else only an attempt's end frees one).
    fn next_ready_at(&mut self, now_ms: i64, limits: &WorkerLimits) -> Option<i64> {
        self.not_before.retain(|_, at| *at > now_ms);
        if self.in_flight >= limits.in_flight {
            return None;
        }
        self.queues
            .values()
            .filter_map(|q| self.ready_in(q, limits).map(|(at, _)| at))
            .min()
    }
}

/// The outbox worker (see the module documentation).
pub struct Worker {
    engine: Arc<Engine>,
    client: reqwest::Client,
    key: Arc<SigningKey>,
    signing_cert_url: Arc<str>,
    endpoint_policy: Arc<EndpointPolicy>,
    limits: WorkerLimits,
}

impl Worker {
    /// A worker delivering the engine's outbox, signing with `key` (whose certificate is
    /// served at `signing_cert_url`), contacting only the endpoints the engine's endpoint
    /// policy allows.
    pub fn new(
        engine: Arc<Engine>,
        key: Arc<SigningKey>,
        signing_cert_url: &str,
        limits: WorkerLimits,
    ) -> Result<Worker, Error> {
        let endpoint_policy = Arc::new(engine.config().endpoint_policy.clone());
        let client = crate::http_client(endpoint_policy.clone())?;
        Ok(Worker {
            engine,
            client,
            key,
            signing_cert_url: Arc::from(signing_cert_url),
            endpoint_policy,
            limits: WorkerLimits {
                in_flight: limits.in_flight.max(1),
                per_endpoint: limits.per_endpoint.max(1),
            },
        })
    }

    /// Delivers until the runtime stops. An attempt cut short by the stop is not recorded,
    /// so it is made again after the next start.
    pub async fn run(self) {
        let signal = self.engine.outbox_signal();
        let mut scheduler = Scheduler::default();
        let mut tasks: JoinSet<Option<i64>> = JoinSet::new();
        let mut out: HashMap<tokio::task::Id, Taken> = HashMap::new();
        let mut last_id = 0;
        let mut load = true;
        loop {
            if load {
                match self.engine.queued_deliveries(last_id).await {
                    Ok(rows) => {
                        load = false;
                        for q in rows {
                            last_id = last_id.max(q.id);
                            let subscription = Arc::from(q.subscription_arn);
                            scheduler.push(&origin_of(&q.endpoint), &subscription, q.due_ms, q.id);
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "Cannot read the outbox."),
                }
            }
            let now = self.engine.now_ms();
            let taken = scheduler.take_due(now, &self.limits);
            if !taken.is_empty() {
                self.start(&mut scheduler, &mut tasks, &mut out, taken)
                    .await;
                continue;
            }
            let mut wait = match scheduler.next_ready_at(now, &self.limits) {
                Some(at) => Duration::from_millis((at - now).max(0) as u64).min(IDLE_WAKE),
                None => IDLE_WAKE,
            };
            if load {
                // The outbox could not be read: try again soon.
                wait = wait.min(Duration::from_secs(1));
            }
            tokio::select! {
                _ = signal.notified() => load = true,
                Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    let (id, again_at) = match done {
                        Ok((id, again_at)) => (id, again_at),
                        Err(e) => {
                            // A panicking attempt leaves its message pending in the store.
                            tracing::error!(error = %e, "A delivery attempt failed unexpectedly.");
                            (e.id(), Some(self.engine.now_ms() + RECORD_RETRY_MS))
                        }
                    };
                    if let Some(taken) = out.remove(&id) {
                        scheduler.finished(&taken, again_at);
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Reads the taken messages and starts an attempt for each that is still to deliver.
    async fn start(
        &self,
        scheduler: &mut Scheduler,
        tasks: &mut JoinSet<Option<i64>>,
        out: &mut HashMap<tokio::task::Id, Taken>,
        taken: Vec<Taken>,
    ) {
        let ids = taken.iter().map(|t| t.id).collect();
        let deliveries = match self.engine.deliveries(ids).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "Cannot read the outbox.");
                let later = self.engine.now_ms() + RECORD_RETRY_MS;
                for t in &taken {
                    scheduler.finished(t, Some(later));
                }
                return;
            }
        };
        let mut found: HashMap<i64, Delivery> = deliveries.into_iter().map(|d| (d.id, d)).collect();
        for t in taken {
            // Delivered, dropped or redriven meanwhile, or its subscription is gone.
            let Some(d) = found.remove(&t.id) else {
                scheduler.finished(&t, None);
                continue;
            };
            let gap = d
                .policy
                .throttle
                .map(|t| 1000 / i64::from(t.max_receives_per_second.max(1)));
            scheduler.throttle(&t.subscription, gap, self.engine.now_ms());
            let attempt = AttemptTask {
                engine: self.engine.clone(),
                client: self.client.clone(),
                key: self.key.clone(),
                signing_cert_url: self.signing_cert_url.clone(),
                endpoint_policy: self.endpoint_policy.clone(),
            };
            let handle = tasks.spawn(attempt.run(d));
            out.insert(handle.id(), t);
        }
    }
}

/// What one attempt needs.
struct AttemptTask {
    engine: Arc<Engine>,
    client: reqwest::Client,
    key: Arc<SigningKey>,
    signing_cert_url: Arc<str>,
    endpoint_policy: Arc<EndpointPolicy>,
}

impl AttemptTask {
    /// Makes the attempt and records its outcome; gives when the message is due again, if its
    /// policy allows another attempt.
    async fn run(self, d: Delivery) -> Option<i64> {
        let outcome =
            tokio::time::timeout(DELIVERY_TIMEOUT + Duration::from_secs(1), self.send(&d))
                .await
                .unwrap_or_else(|_| DeliveryOutcome::Failed {
                    status: None,
                    error: format!("no answer within {} s", DELIVERY_TIMEOUT.as_secs()),
                });
        let now = self.engine.now_ms();
        let attempt = next_step(&d, outcome, now);
        let again_at = match &attempt {
            engine::outbox::Attempt::RetryAt(at, _) => Some(*at),
            _ => None,
        };
        match self.engine.record_attempt(d.id, attempt).await {
            Ok(()) => again_at,
            Err(e) => {
                tracing::error!(error = %e, id = d.id, "Cannot record a delivery attempt; it will be made again.");
                Some(now + RECORD_RETRY_MS)
            }
        }
    }

    async fn send(&self, d: &Delivery) -> DeliveryOutcome {
        // Each region's links are its own, as each region has its own SNS endpoint on AWS: a
        // link followed with another region's ARN is refused.
        let public_url = &self.engine.config().public_url;
        let public_url = &match engine::scope::Arn::parse(&d.topic_arn) {
            Some(arn) => format!("{public_url}/{}", arn.region),
            None => public_url.clone(),
        };
        let subscribe_url = d
            .token
            .as_deref()
            .map(|t| crate::subscribe_url(public_url, &d.topic_arn, t))
            .unwrap_or_default();
        let unsubscribe_url = crate::unsubscribe_url(public_url, &d.subscription_arn);
        let token = d.token.as_deref().unwrap_or_default();
        let kind = match d.kind {
            MessageKind::SubscriptionConfirmation => EnvelopeKind::SubscriptionConfirmation {
                token,
                subscribe_url: &subscribe_url,
            },
            MessageKind::UnsubscribeConfirmation => EnvelopeKind::UnsubscribeConfirmation {
                token,
                subscribe_url: &subscribe_url,
            },
            MessageKind::Notification => EnvelopeKind::Notification {
                subject: d.subject.as_deref(),
                unsubscribe_url: &unsubscribe_url,
                message_attributes: d.message_attributes.as_deref(),
            },
        };
        let envelope = Envelope {
            kind,
            message_id: &d.message_id,
            topic_arn: &d.topic_arn,
            message: &d.message,
            timestamp: UNIX_EPOCH + Duration::from_millis(d.timestamp_ms.max(0) as u64),
            signature_version: if d.signature_version == "2" {
                SignatureVersion::V2
            } else {
                SignatureVersion::V1
            },
            signing_cert_url: &self.signing_cert_url,
        };
        let mut headers = DeliveryHeaders::for_envelope(&envelope, Some(&d.subscription_arn));
        let notification = d.kind == MessageKind::Notification;
        if notification {
            headers.content_type = d
                .policy
                .request
                .as_ref()
                .map(|r| r.header_content_type.as_str());
        }
        // Raw delivery sends notifications as the bare message; confirmations keep their
        // envelope.
        let body = if d.raw && notification {
            headers.raw_delivery = true;
            d.message.clone()
        } else {
            envelope.to_signed_json(&self.key)
        };
        crate::deliver(
            &self.client,
            &self.endpoint_policy,
            &d.endpoint,
            headers,
            body,
        )
        .await
    }
}

/// What an attempt's outcome means for the message under its delivery policy.
fn next_step(d: &Delivery, outcome: DeliveryOutcome, now_ms: i64) -> engine::outbox::Attempt {
    use engine::outbox::Attempt as Step;
    match outcome {
        DeliveryOutcome::Delivered { status } => {
            tracing::info!(endpoint = %d.endpoint, kind = d.kind.as_str(), status, "Delivered.");
            Step::Delivered
        }
        DeliveryOutcome::Rejected { error } => {
            tracing::warn!(endpoint = %d.endpoint, error = %error, "Delivery impossible; kept as a failed delivery.");
            Step::Failed(error)
        }
        DeliveryOutcome::Failed { error, .. } => {
            let retry = u32::try_from(d.attempts + 1).unwrap_or(u32::MAX);
            match d.policy.retry.delay_before_retry(retry) {
                Some(delay) => {
                    let at = now_ms + jittered(delay).as_millis() as i64;
                    tracing::warn!(endpoint = %d.endpoint, error = %error, retry, "Delivery failed; will retry.");
                    Step::RetryAt(at, error)
                }
                None => {
                    tracing::warn!(endpoint = %d.endpoint, error = %error, attempts = retry, "Delivery failed; the delivery policy has no attempt left; kept as a failed delivery.");
                    Step::Failed(error)
                }
            }
        }
    }
}

/// A retry delay with up to a tenth added at random, so that the messages of one outage do
/// not all come back at the same instant (SNS jitters its delays too).
fn jittered(delay: Duration) -> Duration {
    let tenth = delay.as_millis() as u64 / 10;
    if tenth == 0 {
        return delay;
    }
    let random = getrandom::u64().unwrap_or(0);
    delay + Duration::from_millis(random % (tenth + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: WorkerLimits = WorkerLimits {
        in_flight: 8,
        per_endpoint: 2,
    };

    fn push(s: &mut Scheduler, origin: &str, subscription: &str, due_ms: i64, id: i64) {
        s.push(origin, &Arc::from(subscription), due_ms, id);
    }

    fn ids(taken: &[Taken]) -> Vec<i64> {
        taken.iter().map(|t| t.id).collect()
    }

    #[test]
    fn a_message_is_out_once_and_back_only_when_finished() {
        let mut s = Scheduler::default();
        push(&mut s, "http://a", "s", 0, 1);
        let first = s.take_due(10, &LIMITS);
        assert_eq!(ids(&first), [1]);
        assert!(s.take_due(10, &LIMITS).is_empty(), "taken once");
        s.finished(&first[0], Some(20));
        assert!(s.take_due(19, &LIMITS).is_empty(), "not before its retry");
        assert_eq!(s.take_due(20, &LIMITS).len(), 1);
    }

    #[test]
    fn a_stuck_endpoint_keeps_only_its_own_slots() {
        let mut s = Scheduler::default();
        for id in 0..70 {
            push(&mut s, "http://hangs", "dead", 0, id);
        }
        push(&mut s, "http://healthy", "live", 5, 100);
        let round = s.take_due(10, &LIMITS);
        assert_eq!(
            round.iter().filter(|t| t.id == 100).count(),
            1,
            "the healthy endpoint's message goes at once"
        );
        assert_eq!(
            round
                .iter()
                .filter(|t| &*t.origin == "http://hangs")
                .count(),
            LIMITS.per_endpoint
        );
        // While the stuck endpoint's attempts hang, later messages elsewhere still go.
        push(&mut s, "http://healthy", "live", 11, 101);
        assert_eq!(ids(&s.take_due(12, &LIMITS)), [101]);
    }

    #[test]
    fn the_total_is_capped_and_shared_across_endpoints() {
        let mut s = Scheduler::default();
        for e in 0..10 {
            for id in 0..3 {
                push(&mut s, &format!("http://e{e}"), "s", 0, e * 10 + id);
            }
        }
        let round = s.take_due(0, &LIMITS);
        assert_eq!(round.len(), LIMITS.in_flight);
        let mut origins: Vec<_> = round.iter().map(|t| t.origin.clone()).collect();
        origins.sort();
        origins.dedup();
        assert_eq!(origins.len(), LIMITS.in_flight, "one per endpoint first");
    }

    #[test]
    fn with_every_slot_taken_only_an_attempts_end_wakes_the_worker() {
        let mut s = Scheduler::default();
        for e in 0..10 {
            push(&mut s, &format!("http://e{e}"), "s", 0, e);
        }
        assert_eq!(s.take_due(0, &LIMITS).len(), LIMITS.in_flight);
        // Messages are due, but no slot is free: there is nothing to wait for but an end.
        assert_eq!(s.next_ready_at(5, &LIMITS), None);
    }

    #[test]
    fn a_throttled_subscription_waits_its_turn_and_only_its_own() {
        let mut s = Scheduler::default();
        for id in 1..=4 {
            push(&mut s, "http://a", "slow", 0, id);
        }
        // Before its policy is known, a subscription gets its endpoint's slots.
        let first = s.take_due(0, &LIMITS);
        assert_eq!(first.len(), LIMITS.per_endpoint);
        // Its policy, read as the attempts start: two a second.
        for t in &first {
            s.throttle(&t.subscription, Some(500), 0);
            s.finished(t, None);
        }
        // Another subscription of the same server is not held back.
        push(&mut s, "http://a", "other", 50, 9);
        let other = s.take_due(100, &LIMITS);
        assert_eq!(ids(&other), [9]);
        s.finished(&other[0], None);
        assert_eq!(s.next_ready_at(100, &LIMITS), Some(500));
        assert_eq!(
            s.take_due(500, &LIMITS).len(),
            1,
            "one per gap, not a burst"
        );
        assert_eq!(s.next_ready_at(500, &LIMITS), Some(1000));
    }
}
