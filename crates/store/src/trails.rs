//! Trails, what their followers read and met, and the event history, in SQLite.
//!
//! The events a trail met and the event history are kept in blocks, a row per delivery and
//! hour of `eventTime` (a hundred thousand events of a backlog were two hundred thousand rows,
//! each inserted and indexed by the one writer, which bounded intake): `trail_sighting_blocks`
//! holds the ids a trail met in one account's and region's folder in the hour, packed (see
//! [`pack_ids`]); `event_history_blocks` holds a scope's management events of the hour (in two
//! rows when a log batch holds only some of them, so that those share its encoding), their
//! lookup attributes (see [`pack_attributes`]) and their JSON (as log event blocks hold
//! messages) compressed apart, so that LookupEvents inflates the JSON of the blocks that hold
//! events it answers only.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, params};

use engine::format::uuid_bits;
use engine::store::{StorageError, StorageResult as Result};
use engine::trails::store::{HistoryBlock, HistoryQuery, TrailStore};
use engine::trails::{
    EventIds, HistoryAttributes, HistoryEvent, StoredTrail, TrailStatus, hour_of,
};

use crate::error::storage;
use crate::sqlite::SqliteTx;

/// The hour of sightings whose event's time is not known: every hour's.
const ANY_HOUR: i64 = i64::MIN;

fn damaged(what: &str) -> StorageError {
    StorageError(format!(
        "a stored block of the event history is damaged: {what}"
    ))
}

/// Event ids packed: one in the form of a UUID as CloudTrail writes it as a 0 and its 16
/// bytes, any other as a 1, its length (4 bytes) and its UTF-8.
/// Each id comes with its bits if it has them (see [`engine::format::uuid_bits`]).
pub(crate) fn pack_ids<'a>(ids: impl IntoIterator<Item = (&'a str, Option<u128>)>) -> Vec<u8> {
    let mut packed = Vec::new();
    for (id, bits) in ids {
        match bits {
            Some(bits) => {
                packed.push(0);
                packed.extend_from_slice(&bits.to_be_bytes());
            }
            None => {
                packed.push(1);
                put_text(&mut packed, Some(id));
            }
        }
    }
    packed
}

/// Adds the ids of a blob written by [`pack_ids`] to `ids`.
fn unpack_ids(blob: &[u8], ids: &mut EventIds) -> Result<()> {
    // Room for as many UUIDs as the blob could hold (17 bytes each), as most ids are: the
    // set of an hour's ids is built once rather than grown again and again.
    ids.reserve_uuids(blob.len() / 17);
    let mut r = Reader(blob);
    while !r.0.is_empty() {
        match r.take(1)?[0] {
            0 => {
                let bits = u128::from_be_bytes(r.take(16)?.try_into().expect("sixteen bytes"));
                ids.insert_uuid(bits);
            }
            1 => {
                ids.insert_text(r.text()?.ok_or_else(|| damaged("an id without text"))?);
            }
            _ => return Err(damaged("an id of no known form")),
        }
    }
    Ok(())
}

/// A text's length (4 bytes; `u32::MAX` for none) and its UTF-8.
fn put_text(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(t) => {
            out.extend_from_slice(&(t.len() as u32).to_le_bytes());
            out.extend_from_slice(t.as_bytes());
        }
        None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
    }
}

/// Reads what [`pack_ids`] and [`pack_attributes`] write.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let (head, tail) = self
            .0
            .split_at_checked(n)
            .ok_or_else(|| damaged("cut short"))?;
        self.0 = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("four bytes"),
        ))
    }

    fn text(&mut self) -> Result<Option<String>> {
        let len = self.u32()?;
        if len == u32::MAX {
            return Ok(None);
        }
        let bytes = self.take(len as usize)?;
        std::str::from_utf8(bytes)
            .map(|t| Some(t.to_owned()))
            .map_err(|e| damaged(&e.to_string()))
    }
}

/// What the event history keeps of a block's events besides their JSON, in their order: for
/// each its time (8 bytes), its id, name, source, user name and access key id (as
/// [`put_text`] writes them), whether it is read-only (0, 1, or 2 when it does not say) and
/// its resources (a count, 4 bytes, then each one's type and ARN), the whole LZ4-compressed.
pub(crate) fn pack_attributes<'a>(
    events: impl IntoIterator<Item = HistoryAttributes<'a>>,
) -> Vec<u8> {
    let mut raw = Vec::new();
    for e in events {
        raw.extend_from_slice(&e.time_ms.to_le_bytes());
        for text in [
            Some(e.event_id),
            Some(e.event_name),
            Some(e.event_source),
            e.username,
            e.access_key_id,
        ] {
            put_text(&mut raw, text);
        }
        raw.push(match e.read_only {
            Some(false) => 0,
            Some(true) => 1,
            None => 2,
        });
        raw.extend_from_slice(&(e.resources.len() as u32).to_le_bytes());
        for (kind, arn) in e.resources.iter() {
            put_text(&mut raw, Some(kind));
            put_text(&mut raw, Some(arn));
        }
    }
    lz4_flex::compress_prepend_size(&raw)
}

/// What [`engine::store::Store::encode_history`] answers: the events' ids (see [`pack_ids`]),
/// kept apart so that a delivery reads an hour's ids without inflating its attributes, after
/// their length (4 bytes), then their attributes (see [`pack_attributes`]).
pub(crate) fn encode_history<'a>(
    events: impl IntoIterator<Item = HistoryAttributes<'a>>,
) -> Vec<u8> {
    let events: Vec<HistoryAttributes<'a>> = events.into_iter().collect();
    let ids = pack_ids(events.iter().map(|e| (e.event_id, e.event_id_bits)));
    let mut encoded = Vec::with_capacity(4 + ids.len());
    encoded.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    encoded.extend_from_slice(&ids);
    encoded.extend_from_slice(&pack_attributes(events));
    encoded
}

/// The ids and the attributes of what [`encode_history`] wrote.
fn split_encoded(encoded: &[u8]) -> Result<(&[u8], &[u8])> {
    let mut r = Reader(encoded);
    let len = r.u32()? as usize;
    let ids = r.take(len)?;
    Ok((ids, r.0))
}

/// The events of a blob written by [`pack_attributes`], without their JSON.
fn unpack_attributes(blob: &[u8]) -> Result<Vec<HistoryEvent>> {
    let raw = lz4_flex::decompress_size_prepended(blob).map_err(|e| damaged(&e.to_string()))?;
    let mut r = Reader(&raw);
    let mut events = Vec::new();
    let needed = |t: Option<String>| t.ok_or_else(|| damaged("a field without text"));
    while !r.0.is_empty() {
        let time_ms = i64::from_le_bytes(r.take(8)?.try_into().expect("eight bytes"));
        let event_id = needed(r.text()?)?;
        let event_name = needed(r.text()?)?;
        let event_source = needed(r.text()?)?;
        let username = r.text()?;
        let access_key_id = r.text()?;
        let read_only = match r.take(1)?[0] {
            0 => Some(false),
            1 => Some(true),
            2 => None,
            _ => return Err(damaged("a read-only flag")),
        };
        let count = r.u32()?;
        let mut resources = Vec::new();
        for _ in 0..count {
            resources.push((needed(r.text()?)?, needed(r.text()?)?));
        }
        events.push(HistoryEvent {
            event_id,
            time_ms,
            event_name,
            event_source,
            read_only,
            username,
            access_key_id,
            resources,
            json: String::new(),
        });
    }
    Ok(events)
}

fn json<T: serde::Serialize>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StorageError(format!("{what}: {e}")))
}

fn parsed<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StorageError(format!("stored {what}: {e}")))
}

type Row = (String, String, Option<String>, String, String);

fn trail_of(row: Row) -> Result<StoredTrail> {
    let (config, selectors, advanced, tags, status) = row;
    Ok(StoredTrail {
        trail: parsed("trail", &config)?,
        event_selectors: parsed("event selectors", &selectors)?,
        advanced_event_selectors: advanced
            .map(|a| parsed("advanced event selectors", &a))
            .transpose()?,
        tags: parsed("tags", &tags)?,
        status: parsed("trail status", &status)?,
    })
}

const COLUMNS: &str = "config, selectors, advanced, tags, status";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

/// The blob in column `i` of a row.
fn blob<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r [u8]> {
    r.get_ref(i)
        .map_err(storage)?
        .as_blob()
        .map_err(|e| StorageError(e.to_string()))
}

impl SqliteTx<'_> {
    /// History events with their JSON, read from their blocks.
    fn with_json(&self, events: Vec<(HistoryEvent, i64, usize)>) -> Result<Vec<HistoryEvent>> {
        let mut blocks: HashMap<i64, Vec<(i64, String)>> = HashMap::new();
        let mut statement = self
            .conn
            .prepare_cached("SELECT events FROM event_history_blocks WHERE id = ?1")
            .map_err(storage)?;
        let mut found = Vec::with_capacity(events.len());
        for (mut event, block, i) in events {
            let packed = match blocks.entry(block) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => v.insert(
                    statement
                        .query_row([block], |r| r.get::<_, Vec<u8>>(0))
                        .map_err(storage)
                        .and_then(|b| crate::blocks::unpack(&b))?,
                ),
            };
            let json = packed
                .get_mut(i)
                .ok_or_else(|| damaged("fewer events than attributes"))?;
            event.json = std::mem::take(&mut json.1);
            found.push(event);
        }
        Ok(found)
    }

    fn trails_where(
        &self,
        condition: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<StoredTrail>> {
        let rows: Vec<Row> = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM trails WHERE {condition} ORDER BY arn"
            ))
            .map_err(storage)?
            .query_map(args, row)
            .map_err(storage)?
            .collect::<rusqlite::Result<_>>()
            .map_err(storage)?;
        rows.into_iter().map(trail_of).collect()
    }
}

impl TrailStore for SqliteTx<'_> {
    fn trail(&mut self, arn: &str) -> Result<Option<StoredTrail>> {
        Ok(self.trails_where("arn = ?1", &[&arn])?.pop())
    }

    fn put_trail(&mut self, t: &StoredTrail) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO trails (arn, account, config, selectors, advanced, tags, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (arn) DO UPDATE SET config = ?3, selectors = ?4, advanced = ?5,
                     tags = ?6",
                params![
                    t.trail.trail_arn,
                    t.account(),
                    json("trail", &t.trail)?,
                    json("event selectors", &t.event_selectors)?,
                    t.advanced_event_selectors
                        .as_ref()
                        .map(|a| json("advanced event selectors", a))
                        .transpose()?,
                    json("tags", &t.tags)?,
                    json("trail status", &t.status)?,
                ],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn set_trail_status(&mut self, arn: &str, status: &TrailStatus) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE trails SET status = ?2 WHERE arn = ?1")
            .map_err(storage)?
            .execute(params![arn, json("trail status", status)?])
            .map_err(storage)?;
        Ok(())
    }

    fn delete_trail(&mut self, arn: &str) -> Result<bool> {
        let gone = self
            .conn
            .execute("DELETE FROM trails WHERE arn = ?1", [arn])
            .map_err(storage)?;
        self.conn
            .execute("DELETE FROM trail_objects WHERE trail_arn = ?1", [arn])
            .map_err(storage)?;
        self.conn
            .execute(
                "DELETE FROM trail_sighting_blocks WHERE trail_arn = ?1",
                [arn],
            )
            .map_err(storage)?;
        Ok(gone > 0)
    }

    fn account_trails(&mut self, account: &str) -> Result<Vec<StoredTrail>> {
        self.trails_where("account = ?1", &[&account])
    }

    fn all_trails(&mut self) -> Result<Vec<StoredTrail>> {
        self.trails_where("1", &[])
    }

    fn object_read(&mut self, trail: &str, key: &str) -> Result<bool> {
        self.conn
            .prepare_cached("SELECT 1 FROM trail_objects WHERE trail_arn = ?1 AND key = ?2")
            .map_err(storage)?
            .exists([trail, key])
            .map_err(storage)
    }

    fn mark_object_read(&mut self, trail: &str, key: &str, at_ms: i64) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO trail_objects (trail_arn, key, read_ms) VALUES (?1, ?2, ?3)",
            )
            .map_err(storage)?
            .execute(params![trail, key, at_ms])
            .map_err(storage)?;
        Ok(())
    }

    fn objects_read(&mut self, trail: &str, prefix: &str, after: &str) -> Result<Vec<String>> {
        // Keys from `prefix` up to the first key past every key it starts.
        let end = format!("{prefix}\u{10FFFF}");
        self.conn
            .prepare_cached(
                "SELECT key FROM trail_objects
                 WHERE trail_arn = ?1 AND key >= ?2 AND key < ?3 AND key > ?4 ORDER BY key",
            )
            .map_err(storage)?
            .query_map(params![trail, prefix, end, after], |r| r.get(0))
            .map_err(storage)?
            .collect::<rusqlite::Result<_>>()
            .map_err(storage)
    }

    fn last_object_read(&mut self, trail: &str, prefix: &str) -> Result<Option<String>> {
        let end = format!("{prefix}\u{10FFFF}");
        self.conn
            .prepare_cached(
                "SELECT max(key) FROM trail_objects WHERE trail_arn = ?1 AND key >= ?2 AND key < ?3",
            )
            .map_err(storage)?
            .query_row(params![trail, prefix, end], |r| r.get(0))
            .map_err(storage)
    }

    fn sightings(&mut self, trail: &str, place: &str, hour: i64) -> Result<EventIds> {
        // Sightings moved from a store that kept no place are in every place (''), and those
        // of unknown time in every hour (see `migrate_rows`).
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT ids FROM trail_sighting_blocks
                 WHERE trail_arn = ?1 AND place IN (?2, '') AND hour IN (?3, ?4)",
            )
            .map_err(storage)?;
        let mut rows = statement
            .query(params![trail, place, hour, ANY_HOUR])
            .map_err(storage)?;
        let mut ids = EventIds::default();
        while let Some(r) = rows.next().map_err(storage)? {
            unpack_ids(blob(r, 0)?, &mut ids)?;
        }
        Ok(ids)
    }

    fn record_sightings(
        &mut self,
        trail: &str,
        place: &str,
        hour: i64,
        ids: &mut dyn Iterator<Item = (&str, Option<u128>)>,
        at_ms: i64,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO trail_sighting_blocks (trail_arn, place, hour, recorded_ms, ids)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(storage)?
            .execute(params![trail, place, hour, at_ms, pack_ids(ids)])
            .map_err(storage)?;
        Ok(())
    }

    fn history_ids(&mut self, hour: i64) -> Result<EventIds> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT ids FROM event_history_blocks WHERE scope = ?1 AND hour = ?2")
            .map_err(storage)?;
        let mut rows = statement
            .query(params![self.scope_key, hour])
            .map_err(storage)?;
        let mut ids = EventIds::default();
        while let Some(r) = rows.next().map_err(storage)? {
            unpack_ids(blob(r, 0)?, &mut ids)?;
        }
        Ok(ids)
    }

    fn record_history(&mut self, block: &HistoryBlock<'_>) -> Result<()> {
        if !self.history_scopes.contains(&self.scope_key) {
            self.conn
                .prepare_cached("INSERT OR IGNORE INTO event_history_scopes (scope) VALUES (?1)")
                .map_err(storage)?
                .execute([&self.scope_key])
                .map_err(storage)?;
            self.history_scopes.push(self.scope_key.clone());
        }
        let (ids, attributes) = split_encoded(block.attributes)?;
        self.conn
            .prepare_cached(
                "INSERT INTO event_history_blocks (scope, hour, first_ms, last_ms, count, ids,
                     attributes, events)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(storage)?
            .execute(params![
                self.scope_key,
                block.hour,
                block.first_ms,
                block.last_ms,
                block.count as i64,
                ids,
                attributes,
                block.events,
            ])
            .map_err(storage)?;
        Ok(())
    }

    fn event_history(
        &mut self,
        query: &HistoryQuery<'_>,
        keep: &mut dyn FnMut(&HistoryEvent) -> bool,
    ) -> Result<Vec<HistoryEvent>> {
        // Latest first, an hour at a time; `before` continues after the last event of the
        // previous page.
        let (before_ms, before_id) = query.before.unwrap_or((i64::MAX, ""));
        let in_page = |e: &HistoryEvent| {
            (query.start_ms..=query.end_ms).contains(&e.time_ms)
                && (e.time_ms < before_ms
                    || (e.time_ms == before_ms
                        && (before_id.is_empty() || *e.event_id < *before_id)))
        };
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT id, hour, attributes FROM event_history_blocks
                 WHERE scope = ?1 AND hour >= ?2 AND hour <= ?3
                 ORDER BY hour DESC",
            )
            .map_err(storage)?;
        let mut rows = statement
            .query(params![
                self.scope_key,
                hour_of(query.start_ms),
                hour_of(query.end_ms.min(before_ms))
            ])
            .map_err(storage)?;
        let mut found = Vec::new();
        // The events of the hour being read, each with its block and place in it.
        let mut hour: Vec<(HistoryEvent, i64, usize)> = Vec::new();
        let mut current = None;
        loop {
            let row = rows.next().map_err(storage)?;
            let next = row
                .map(|r| r.get::<_, i64>(1))
                .transpose()
                .map_err(storage)?;
            if next != current && !hour.is_empty() {
                hour.retain(|(e, _, _)| in_page(e));
                hour.sort_by(|(a, _, _), (b, _, _)| {
                    (b.time_ms, &b.event_id).cmp(&(a.time_ms, &a.event_id))
                });
                let kept: Vec<_> = hour
                    .drain(..)
                    .filter(|(e, _, _)| keep(e))
                    .take(query.limit - found.len())
                    .collect();
                found.extend(self.with_json(kept)?);
                if found.len() >= query.limit {
                    break;
                }
            }
            let Some(r) = row else {
                break;
            };
            current = next;
            let block: i64 = r.get(0).map_err(storage)?;
            let events = unpack_attributes(blob(r, 2)?)?;
            hour.extend(events.into_iter().enumerate().map(|(i, e)| (e, block, i)));
        }
        Ok(found)
    }

    fn expire_history(&mut self, before_ms: i64) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM event_history_blocks
                 WHERE scope IN (SELECT scope FROM event_history_scopes) AND hour < ?1",
                [hour_of(before_ms)],
            )
            .map_err(storage)?;
        self.conn
            .execute(
                "DELETE FROM trail_sighting_blocks WHERE recorded_ms < ?1",
                [before_ms],
            )
            .map_err(storage)?;
        Ok(())
    }
}

/// What the event history keeps of an event besides its JSON.
fn attributes_of(e: &HistoryEvent) -> HistoryAttributes<'_> {
    HistoryAttributes {
        event_id: &e.event_id,
        event_id_bits: engine::format::uuid_bits(&e.event_id),
        time_ms: e.time_ms,
        event_name: &e.event_name,
        event_source: &e.event_source,
        read_only: e.read_only,
        username: e.username.as_deref(),
        access_key_id: e.access_key_id.as_deref(),
        resources: engine::trails::Resources::Texts(&e.resources),
    }
}

/// Moves the event history and the sightings of a store that kept them a row per event into
/// blocks: the history by scope and hour, the sightings by trail, in every place (those rows
/// did not say whose folder an event came from), and by the hour of the event's time where the
/// history has the event, else in every hour (a data event's time was not kept). One that
/// cannot be read stops the move, leaving the store as it was.
pub(crate) fn migrate_rows(c: &Connection) -> rusqlite::Result<()> {
    let history = crate::schema::table_exists(c, "event_history")?;
    let sightings = crate::schema::table_exists(c, "trail_sightings")?;
    if !history && !sightings {
        return Ok(());
    }
    let unreadable = |e: StorageError| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, e.0.into())
    };
    let tx = c.unchecked_transaction()?;
    // Event times by id, for the sightings.
    let mut times: HashMap<String, i64> = HashMap::new();
    if history {
        // The JSON was kept as text before it was kept LZ4'd.
        let json_column = if crate::schema::has_column(c, "event_history", "event_lz4")? {
            "event_lz4"
        } else {
            "event"
        };
        let mut select = tx.prepare(&format!(
            "SELECT scope, event_id, time_ms, event_name, event_source, read_only, username,
                    access_key_id, resources, {json_column}
             FROM event_history ORDER BY scope, time_ms, event_id",
        ))?;
        let mut insert = tx.prepare(
            "INSERT INTO event_history_blocks (scope, hour, first_ms, last_ms, count, ids,
                 attributes, events)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut flush = |scope: &str, events: &mut Vec<HistoryEvent>| -> rusqlite::Result<()> {
            if let (Some(first), Some(last)) = (events.first(), events.last()) {
                insert.execute(params![
                    scope,
                    hour_of(first.time_ms),
                    first.time_ms,
                    last.time_ms,
                    events.len() as i64,
                    pack_ids(
                        events
                            .iter()
                            .map(|e| (e.event_id.as_str(), uuid_bits(&e.event_id)))
                    ),
                    pack_attributes(events.iter().map(attributes_of)),
                    crate::blocks::pack(events.iter().map(|e| (e.time_ms, e.json.as_str()))),
                ])?;
            }
            events.clear();
            Ok(())
        };
        let mut rows = select.query([])?;
        let mut block: (String, i64) = (String::new(), i64::MIN);
        let mut events = Vec::new();
        while let Some(r) = rows.next()? {
            let scope: String = r.get(0)?;
            let time_ms: i64 = r.get(2)?;
            if (&scope, hour_of(time_ms)) != (&block.0, block.1) {
                flush(&block.0, &mut events)?;
                block = (scope, hour_of(time_ms));
            }
            let resources: String = r.get(8)?;
            let json = match r.get_ref(9)? {
                rusqlite::types::ValueRef::Text(t) => String::from_utf8(t.to_vec()).ok(),
                rusqlite::types::ValueRef::Blob(b) => lz4_flex::decompress_size_prepended(b)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok()),
                _ => None,
            }
            .ok_or_else(|| unreadable(damaged("an event's JSON")))?;
            let event = HistoryEvent {
                event_id: r.get(1)?,
                time_ms,
                event_name: r.get(3)?,
                event_source: r.get(4)?,
                read_only: r.get(5)?,
                username: r.get(6)?,
                access_key_id: r.get(7)?,
                resources: parsed("resources", &resources).map_err(unreadable)?,
                json,
            };
            times.insert(event.event_id.clone(), time_ms);
            events.push(event);
        }
        flush(&block.0, &mut events)?;
        // Stores from before expiry visited scopes by their key had no row of their own here.
        tx.execute_batch(
            "INSERT OR IGNORE INTO event_history_scopes (scope)
             SELECT DISTINCT scope FROM event_history_blocks",
        )?;
    }
    if sightings {
        let mut blocks: BTreeMap<(String, i64), (i64, Vec<String>)> = BTreeMap::new();
        let mut select = tx.prepare("SELECT trail_arn, event_id, time_ms FROM trail_sightings")?;
        let mut rows = select.query([])?;
        while let Some(r) = rows.next()? {
            let (trail, id, met_ms): (String, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let hour = times.get(&id).map_or(ANY_HOUR, |t| hour_of(*t));
            let (recorded, ids) = blocks.entry((trail, hour)).or_insert((met_ms, Vec::new()));
            *recorded = (*recorded).max(met_ms);
            ids.push(id);
        }
        let mut insert = tx.prepare(
            "INSERT INTO trail_sighting_blocks (trail_arn, place, hour, recorded_ms, ids)
             VALUES (?1, '', ?2, ?3, ?4)",
        )?;
        for ((trail, hour), (recorded, ids)) in blocks {
            insert.execute(params![
                trail,
                hour,
                recorded,
                pack_ids(ids.iter().map(|id| (id.as_str(), uuid_bits(id))))
            ])?;
        }
    }
    tx.execute_batch("DROP TABLE IF EXISTS event_history; DROP TABLE IF EXISTS trail_sightings;")?;
    tx.commit()
}
