//! Replay: CloudTrail events from archives run through a scope's metric filters, metrics and
//! alarms as the server runs the events of its log groups, on a clock that the events' own
//! times drive, to answer what a detection would have counted and which alarms would have
//! fired, and when.
//!
//! Every event goes to every log group of the scope (as if a trail delivered to each), through
//! one filter set of all their metric filters, the same matcher and the same datapoints the
//! server's `PutLogEvents` makes. Events are deduplicated on `eventID` (CloudTrail may deliver
//! an event twice, and archives overlap); an event without one is never a duplicate.
//!
//! Matching runs on worker threads beside the reader; the datapoints are gathered per second
//! of event time, and then played in time order into the engine: the clock is set to each
//! second's time before its datapoints are recorded (which evaluates the alarms on their
//! metrics at once, as on the server), and alarms due for time alone (a period closing, data
//! that stopped) are evaluated at their instants in between. Archives are not in time order
//! across files; gathering first makes the answer the one events arriving in time order give.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::alarms::evaluate::EXTRA_RANGE_PERIODS;
use crate::alarms::{AlarmKey, Evaluation};
use crate::logs::{GroupFilters, load_filters};
use crate::metrics::{Aggregate, Datum};
use crate::scope::Scope;
use crate::store::Tx;
use crate::{ApiError, Clock, Context, Engine, ManualClock};

/// A scope's metric filters, compiled together for replay.
pub struct Filters {
    compiled: Arc<GroupFilters>,
}

impl Engine {
    /// Every metric filter of every log group of `scope`, compiled for [`Filters::replay`].
    pub async fn replay_filters(&self, scope: &Scope) -> Result<Filters, ApiError> {
        let compiled = self.read(scope, |tx, _| load_filters(tx, None)).await?;
        Ok(Filters {
            compiled: Arc::new(compiled),
        })
    }
}

/// What a replay counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// Events read, duplicates included.
    pub events: u64,
    /// Events whose `eventID` was seen before.
    pub duplicates: u64,
    /// Events without an `eventTime` to put their datapoints at: counted, not played.
    pub untimed: u64,
    /// Matches of each filter, in the order of [`Filters::names`].
    pub matches: Vec<u64>,
    /// The datapoints the events made, summed per second of event time and metric.
    pub timeline: BTreeMap<i64, Vec<Datum>>,
}

/// An event as a [`Batch`] gives it: its JSON text, `eventID` and `eventTime` (epoch
/// milliseconds).
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'a> {
    pub json: &'a str,
    pub event_id: Option<&'a str>,
    pub time_ms: Option<i64>,
}

/// Work for a replay's worker threads: something that, read, gives events (and notes, such as
/// malformed input to tell, in their place among the events). Reading — parsing, inflating —
/// is done by the workers, so that the thread feeding them only hands work over.
pub trait Batch: Send {
    /// What a batch has to say besides events; said in input order.
    type Note: Send;
    fn read(self, event: &mut dyn FnMut(EventRef<'_>), note: &mut dyn FnMut(Self::Note));
}

/// An event owned, for batches of events already read.
#[derive(Debug, Clone)]
pub struct Owned {
    pub json: String,
    pub event_id: Option<String>,
    pub time_ms: Option<i64>,
}

impl Batch for Vec<Owned> {
    type Note = std::convert::Infallible;
    fn read(self, event: &mut dyn FnMut(EventRef<'_>), _: &mut dyn FnMut(Self::Note)) {
        for e in &self {
            event(EventRef {
                json: &e.json,
                event_id: e.event_id.as_deref(),
                time_ms: e.time_ms,
            });
        }
    }
}

/// A worker's verdicts on a batch's events, in input order. Every event passes through the
/// one thread that deduplicates, so what it reads of an event is kept small — a byte of
/// `kinds`, and the 128 bits of an `eventID` in CloudTrail's form (a lower-case UUID) — and
/// only the events that matched a filter or made a datapoint carry more.
struct Verdicts<N> {
    /// Per event: which of the lists below hold something of it ([`UUID`], [`TEXT`],
    /// [`OUTCOME`]) and whether it has a time ([`TIMED`]).
    kinds: Vec<u8>,
    /// The `eventID`s that are lower-case UUIDs, as their bits.
    uuids: Vec<u128>,
    /// Any other `eventID`, as its text (never equal to a UUID's text: see [`crate::format::uuid_bits`]).
    texts: Vec<String>,
    /// What the events that matched a filter or made a datapoint gave.
    outcomes: Vec<Outcome>,
    /// What the batch said besides events, in its order.
    notes: Vec<N>,
}

const UUID: u8 = 1;
const TEXT: u8 = 2;
const OUTCOME: u8 = 4;
const TIMED: u8 = 8;

/// What one event gave: the filters it matched and the datapoints it made, at its time.
struct Outcome {
    time_ms: Option<i64>,
    matched: Vec<usize>,
    data: Vec<Datum>,
}

impl<N> Verdicts<N> {
    fn new() -> Verdicts<N> {
        Verdicts {
            kinds: Vec::new(),
            uuids: Vec::new(),
            texts: Vec::new(),
            outcomes: Vec::new(),
            notes: Vec::new(),
        }
    }
}

impl Filters {
    /// Each filter's log group and name, in the order counts are given.
    pub fn names(&self) -> Vec<(String, String)> {
        self.compiled
            .names()
            .map(|(g, n)| (g.to_owned(), n.to_owned()))
            .collect()
    }

    /// Replays the batches `feed` gives (on the calling thread): `workers` threads read and
    /// match them, and their verdicts are taken back in the order the batches were given, so
    /// that deduplication keeps the first of each `eventID` whatever thread matched it and
    /// notes are said (to `said`, on another thread) in input order.
    pub fn replay<B: Batch>(
        &self,
        workers: usize,
        feed: impl FnOnce(&mut dyn FnMut(B)),
        mut said: impl FnMut(B::Note) + Send,
    ) -> Counts {
        use std::sync::mpsc;
        let workers = workers.max(1);
        let (result_tx, result_rx) = mpsc::channel::<(u64, Verdicts<B::Note>)>();
        let filters = self.compiled.names().count();
        std::thread::scope(|s| {
            let mut batch_txs = Vec::with_capacity(workers);
            for _ in 0..workers {
                // Two batches in flight a worker: reading never runs far ahead of matching.
                let (tx, rx) = mpsc::sync_channel::<(u64, B)>(2);
                batch_txs.push(tx);
                let results = result_tx.clone();
                let compiled = &self.compiled;
                s.spawn(move || {
                    let mut matcher = compiled.matcher();
                    for (seq, batch) in rx {
                        let verdicts = std::cell::RefCell::new(Verdicts::new());
                        let mut data = Vec::new();
                        batch.read(
                            &mut |e| {
                                let v = &mut *verdicts.borrow_mut();
                                let mut kind = 0;
                                match e.event_id.map(|id| (id, crate::format::uuid_bits(id))) {
                                    Some((_, Some(bits))) => {
                                        v.uuids.push(bits);
                                        kind |= UUID;
                                    }
                                    Some((id, None)) => {
                                        v.texts.push(id.to_owned());
                                        kind |= TEXT;
                                    }
                                    None => {}
                                }
                                if e.time_ms.is_some() {
                                    kind |= TIMED;
                                }
                                let at = e.time_ms.unwrap_or(0);
                                let matched = matcher.data(e.json, at, &mut data);
                                if !matched.is_empty() || !data.is_empty() {
                                    v.outcomes.push(Outcome {
                                        time_ms: e.time_ms,
                                        matched: matched.to_vec(),
                                        data: std::mem::take(&mut data),
                                    });
                                    kind |= OUTCOME;
                                }
                                v.kinds.push(kind);
                            },
                            &mut |note| verdicts.borrow_mut().notes.push(note),
                        );
                        if results.send((seq, verdicts.into_inner())).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(result_tx);
            let merger = s.spawn(move || {
                let mut tally = Tally::new(filters);
                let mut waiting = BTreeMap::new();
                let mut next = 0u64;
                for (seq, found) in result_rx {
                    waiting.insert(seq, found);
                    while let Some(mut found) = waiting.remove(&next) {
                        next += 1;
                        std::mem::take(&mut found.notes)
                            .into_iter()
                            .for_each(&mut said);
                        tally.add(found);
                    }
                }
                tally.counts()
            });
            let mut seq = 0u64;
            feed(&mut |batch| {
                // A worker gone (it panicked) leaves its batches unread; the scope re-raises
                // its panic when it ends.
                let _ = batch_txs[(seq % workers as u64) as usize].send((seq, batch));
                seq += 1;
            });
            // The workers end when their batches do, and the merger when the workers do.
            drop(batch_txs);
            merger
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

/// A metric's identity and unit, for summing its datapoints of one second.
type MetricKey = (String, String, Vec<(String, String)>, String);

/// The verdicts taken in input order: duplicates dropped, matches counted, datapoints summed.
struct Tally {
    counts: Counts,
    ids: crate::trails::EventIds,
    seconds: BTreeMap<i64, HashMap<MetricKey, Datum>>,
}

impl Tally {
    fn new(filters: usize) -> Tally {
        Tally {
            counts: Counts {
                matches: vec![0; filters],
                ..Counts::default()
            },
            ids: crate::trails::EventIds::default(),
            seconds: BTreeMap::new(),
        }
    }

    fn add<N>(&mut self, verdicts: Verdicts<N>) {
        let mut uuids = verdicts.uuids.into_iter();
        let mut texts = verdicts.texts.into_iter();
        let mut outcomes = verdicts.outcomes.into_iter();
        self.counts.events += verdicts.kinds.len() as u64;
        for kind in verdicts.kinds {
            let first = if kind & UUID != 0 {
                uuids.next().is_none_or(|id| self.ids.insert_uuid(id))
            } else if kind & TEXT != 0 {
                texts.next().is_none_or(|id| self.ids.insert_text(id))
            } else {
                true
            };
            let outcome = if kind & OUTCOME != 0 {
                outcomes.next()
            } else {
                None
            };
            if !first {
                self.counts.duplicates += 1;
                continue;
            }
            if kind & TIMED == 0 {
                self.counts.untimed += 1;
            }
            if let Some(outcome) = outcome {
                self.add_outcome(outcome);
            }
        }
    }

    fn add_outcome(
        &mut self,
        Outcome {
            time_ms,
            matched,
            data,
        }: Outcome,
    ) {
        for i in matched {
            self.counts.matches[i] += 1;
        }
        let Some(time_ms) = time_ms else {
            return;
        };
        let second = time_ms.div_euclid(1000) * 1000;
        let metrics = self.seconds.entry(second).or_default();
        for mut d in data {
            let key = (
                d.namespace.clone(),
                d.metric_name.clone(),
                d.dimensions.clone(),
                d.unit.clone(),
            );
            d.timestamp_ms = second;
            match metrics.get_mut(&key) {
                Some(sum) => sum.stats = merged(sum.stats, d.stats),
                None => {
                    metrics.insert(key, d);
                }
            }
        }
    }

    fn counts(mut self) -> Counts {
        self.counts.timeline = self
            .seconds
            .into_iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(second, m)| (second, m.into_values().collect()))
            .collect();
        self.counts
    }
}

fn merged(a: Aggregate, b: Aggregate) -> Aggregate {
    Aggregate {
        sum: a.sum + b.sum,
        count: a.count + b.count,
        min: a.min.min(b.min),
        max: a.max.max(b.max),
    }
}

impl Engine {
    /// Plays `timeline` (datapoints by second, from [`Filters::replay`]) into the metrics of
    /// `scope` on `clock`, which must be the clock this engine was made with: at each second
    /// its datapoints are recorded, evaluating the alarms on their metrics then, and between
    /// seconds the alarms due for time alone are evaluated at their instants. Where no data
    /// comes for longer than every alarm looks back, alarms stand still (an evaluation of no
    /// data repeats its verdict), so the clock jumps to the next data. Play ends when the
    /// periods open at the last datapoint have closed.
    ///
    /// Play runs on the store's writer, [`RUN`] seconds of data to a write: the evaluations
    /// and datapoints of a run are a few hundred small steps, each cheaper than a round trip
    /// to the writer would be.
    pub async fn play(
        &self,
        clock: &ManualClock,
        scope: &Scope,
        timeline: BTreeMap<i64, Vec<Datum>>,
    ) -> Result<(), ApiError> {
        let (quiet_ms, longest_period_ms) = self
            .read(scope, |tx, _| {
                let mut quiet: i64 = 0;
                let mut longest: i64 = 60_000;
                for (alarm_scope, name) in tx.all_alarms()? {
                    tx.enter(&alarm_scope);
                    if let Some(a) = tx.alarm(&name)?
                        && let Some(w) = a.config.watched()
                        && let Some(r) = a.config.rule()
                    {
                        let period_ms = w.period.max(1) * 1000;
                        let range = (r.evaluation_periods + EXTRA_RANGE_PERIODS + 2) as i64;
                        quiet = quiet.max(range * period_ms);
                        longest = longest.max(period_ms);
                    }
                }
                Ok((quiet, longest))
            })
            .await?;
        let mut player = Player {
            now_ms: clock.now_ms(),
            last: None,
            quiet_ms,
            idle: HashMap::new(),
        };
        let mut timeline = timeline.into_iter().peekable();
        while timeline.peek().is_some() {
            let run: Vec<(i64, Vec<Datum>)> = timeline.by_ref().take(RUN).collect();
            player = self
                .write(scope, move |tx, ctx| {
                    for (second, data) in run {
                        player.second(tx, ctx, second, &data)?;
                    }
                    Ok(player)
                })
                .await?;
            clock.set(player.now_ms);
        }
        if let Some(last) = player.last {
            let end = crate::alarms::period_end_ms(last + quiet_ms, longest_period_ms / 1000);
            player = self
                .write(scope, move |tx, ctx| {
                    player.through(tx, ctx, end)?;
                    Ok(player)
                })
                .await?;
            clock.set(player.now_ms);
        }
        Ok(())
    }
}

/// Seconds of data played in one write.
const RUN: usize = 256;

/// Where play has got to, carried from one write to the next.
struct Player {
    /// The replay's clock.
    now_ms: i64,
    /// The last second of data played.
    last: Option<i64>,
    /// How long after data alarms still change for time alone.
    quiet_ms: i64,
    /// Alarms whose last evaluation was [`Evaluation::Idle`] and whose metric has had no data
    /// since, with their periods: when they fall due they are not evaluated, as that would
    /// change nothing, only put back in the schedule at the end of their period, as an
    /// evaluation would. (Play is the only writer of its scope's metrics and alarms.)
    idle: HashMap<AlarmKey, i64>,
}

impl Player {
    /// Plays one second of data: the alarms due for time alone since the last second (up to
    /// where they stand still), those due now, then the data, which evaluates the alarms on
    /// its metrics.
    fn second(
        &mut self,
        tx: &mut dyn Tx,
        ctx: &Context,
        second: i64,
        data: &[Datum],
    ) -> Result<(), ApiError> {
        if let Some(last) = self.last {
            self.through(tx, ctx, second.min(last + self.quiet_ms))?;
        }
        // Due alarms (at the first second: every alarm) are evaluated here, before the data:
        // what time alone changed up to now.
        self.now_ms = self.now_ms.max(second);
        self.tick(tx, ctx)?;
        // The alarms the data evaluates are not idle any more.
        for name in crate::metrics::record(tx, &self.at(ctx), data)? {
            self.idle.remove(&(tx.scope().clone(), name));
        }
        self.last = Some(second);
        Ok(())
    }

    /// Moves the clock to each instant an alarm is due at up to `bound`, evaluating them there.
    fn through(&mut self, tx: &mut dyn Tx, ctx: &Context, bound: i64) -> Result<(), ApiError> {
        while let Some(due) = ctx.alarm_schedule.next_due()
            && due <= bound
        {
            self.now_ms = self.now_ms.max(due);
            self.tick(tx, ctx)?;
        }
        Ok(())
    }

    /// What [`Engine::tick`] does at the clock's time, in this write, but for idle alarms,
    /// which are only scheduled again.
    fn tick(&mut self, tx: &mut dyn Tx, ctx: &Context) -> Result<(), ApiError> {
        if ctx.alarm_schedule.needs_loading() {
            ctx.alarm_schedule.load(tx.all_alarms()?, self.now_ms);
        }
        let due = ctx.alarm_schedule.take_due(self.now_ms);
        let ctx = self.at(ctx);
        let mut evaluated = Vec::with_capacity(due.len());
        for key in due {
            match self.idle.get(&key) {
                Some(&period_s) => ctx.alarm_schedule.set(
                    &key.0,
                    &key.1,
                    crate::alarms::period_end_ms(self.now_ms, period_s),
                ),
                None => evaluated.push((key.0.clone(), key)),
            }
        }
        let idle = &mut self.idle;
        crate::store::in_their_scopes(tx, evaluated, |tx, key| {
            if let Evaluation::Idle { period_s } =
                crate::alarms::evaluate_telling(tx, &ctx, &key.1)?
            {
                idle.insert(key, period_s);
            }
            Ok(())
        })
    }

    /// `ctx` at the clock's time.
    fn at(&self, ctx: &Context) -> Context {
        Context {
            now_ms: self.now_ms,
            ..ctx.clone()
        }
    }
}
