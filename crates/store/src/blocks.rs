//! Log events, stored a batch to a row.
//!
//! Each accepted PutLogEvents batch is one row of `log_event_blocks`: its events (already in
//! time order, as PutLogEvents demands) packed together and LZ4-compressed, with the smallest
//! and largest timestamp. A row per event made the single writer insert and index each of
//! ~750 events per batch, which bounded ingest; a row per batch costs one insert, and one
//! compression of the whole batch packs better than one per message.
//!
//! An event's id is `block id × 10,000 + its index in the batch` (a batch holds at most 10,000
//! events), so ids grow with arrival and never change, not even when retention removes the
//! leading events of a block. Events are read in `(timestamp, id)`
//! order: blocks may overlap in time (a later batch may carry older events), so a read merges
//! the blocks that overlap its window, and stops once no further block can hold an event before
//! the last one it keeps. A batch spans at most 24 hours, which bounds the blocks a window's
//! index range has to visit.

use std::sync::{Mutex, PoisonError};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, params};

use engine::logs::{EventPage as Page, EventScope as Scope, MAX_SPAN_MS, PER_BLOCK, StoredEvent};

use crate::error::storage;
use engine::store::StorageError;

/// Packs events (timestamp, message), in time order, into a block: each as its timestamp
/// (8 bytes), its length (4 bytes) and its UTF-8, the whole LZ4-compressed.
pub(crate) fn pack<'a>(events: impl IntoIterator<Item = (i64, &'a str)>) -> Vec<u8> {
    // The block before and during compression is in buffers kept from one block to the
    // next: a delivery's blocks are megabytes each, and fresh buffers that size are pages the
    // kernel hands over and zeroes every time. Only the compressed block, a fraction of the
    // size, is allocated. (Kept for any thread: blocks are packed on whichever of a pool's
    // threads prepares a delivery.)
    let (mut raw, mut out) = SCRATCH
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop()
        .unwrap_or_default();
    raw.clear();
    for (timestamp, message) in events {
        raw.extend_from_slice(&timestamp.to_le_bytes());
        raw.extend_from_slice(&(message.len() as u32).to_le_bytes());
        raw.extend_from_slice(message.as_bytes());
    }
    let most = lz4_flex::block::get_maximum_output_size(raw.len());
    if out.len() < most {
        out.resize(most, 0);
    }
    let len = lz4_flex::block::compress_into(&raw, &mut out)
        .expect("room for the largest output LZ4 can make");
    let mut block = Vec::with_capacity(4 + len);
    block.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    block.extend_from_slice(&out[..len]);
    let mut kept = SCRATCH.lock().unwrap_or_else(PoisonError::into_inner);
    // A block of very large messages does not hold its memory after it.
    if kept.len() < SCRATCH_KEPT && raw.capacity() <= SCRATCH_KEPT_BYTES {
        kept.push((raw, out));
    }
    block
}

/// Buffers [`pack`] keeps for the next blocks: as many as blocks are packed at once (a
/// delivery's streams and its history, a PutLogEvents), each up to a size.
static SCRATCH: Mutex<Vec<(Vec<u8>, Vec<u8>)>> = Mutex::new(Vec::new());
const SCRATCH_KEPT: usize = 4;
const SCRATCH_KEPT_BYTES: usize = 16 << 20;

/// The events (timestamp, message) of a block written by [`pack`].
pub(crate) fn unpack(block: &[u8]) -> Result<Vec<(i64, String)>, StorageError> {
    let damaged = |what: &str| StorageError(format!("a stored block is damaged: {what}"));
    let raw = lz4_flex::decompress_size_prepended(block).map_err(|e| damaged(&e.to_string()))?;
    let mut events = Vec::new();
    let mut rest = raw.as_slice();
    while !rest.is_empty() {
        let (head, tail) = rest
            .split_at_checked(12)
            .ok_or_else(|| damaged("short header"))?;
        let timestamp = i64::from_le_bytes(head[..8].try_into().expect("eight bytes"));
        let len = u32::from_le_bytes(head[8..].try_into().expect("four bytes")) as usize;
        let (text, tail) = tail
            .split_at_checked(len)
            .ok_or_else(|| damaged("short message"))?;
        let message = std::str::from_utf8(text).map_err(|e| damaged(&e.to_string()))?;
        events.push((timestamp, message.to_owned()));
        rest = tail;
    }
    Ok(events)
}

/// Stores a packed batch whose timestamps run from `first_ms` to `last_ms`.
pub(crate) fn insert(
    c: &Connection,
    scope_key: &str,
    group: &str,
    stream: &str,
    (first_ms, last_ms): (i64, i64),
    ingestion_ms: i64,
    block: &[u8],
) -> Result<(), StorageError> {
    c.prepare_cached(
        "INSERT INTO log_event_blocks (group_name, stream_name, first_ms, last_ms, ingestion_ms, events, scope)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .map_err(storage)?
    .execute(params![
        group,
        stream,
        first_ms,
        last_ms,
        ingestion_ms,
        block,
        scope_key
    ])
    .map_err(storage)?;
    Ok(())
}

struct Block {
    id: i64,
    /// Leading events removed by retention.
    skipped: i64,
    stream: String,
    first_ms: i64,
    last_ms: i64,
    ingestion: i64,
    events: Vec<u8>,
}

impl Block {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Block> {
        Ok(Block {
            id: r.get(0)?,
            stream: r.get(1)?,
            first_ms: r.get(2)?,
            last_ms: r.get(3)?,
            ingestion: r.get(4)?,
            events: match r.get_ref(5)? {
                ValueRef::Blob(b) => b.to_vec(),
                _ => Vec::new(),
            },
            skipped: r.get(6)?,
        })
    }

    fn events(self) -> Result<impl Iterator<Item = StoredEvent>, StorageError> {
        let first_id = self.id * PER_BLOCK as i64 + self.skipped;
        let (stream, ingestion) = (self.stream, self.ingestion);
        Ok(unpack(&self.events)?
            .into_iter()
            .enumerate()
            .map(move |(i, (timestamp, message))| StoredEvent {
                id: first_id + i as i64,
                stream: stream.clone(),
                timestamp,
                ingestion,
                message,
            }))
    }
}

const COLUMNS: &str = "id, stream_name, first_ms, last_ms, ingestion_ms, events, skipped";

/// Up to `limit` events of `scope` after `after` in `(timestamp, id)` order, of blocks whose
/// stream `stream_wanted` accepts, that `keep` accepts.
pub(crate) fn forward(
    c: &Connection,
    scope_key: &str,
    scope: &Scope<'_>,
    after: (i64, i64),
    limit: usize,
    stream_wanted: impl Fn(&str) -> bool,
    mut keep: impl FnMut(&StoredEvent) -> bool,
) -> Result<Page, StorageError> {
    let from = scope.start.max(after.0);
    let lowest_first = from.saturating_sub(MAX_SPAN_MS);
    let mut stmt = match scope.stream {
        Some(_) => c.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM log_event_blocks
             WHERE scope = ?6 AND group_name = ?1 AND stream_name = ?2
               AND first_ms >= ?3 AND first_ms < ?4 AND last_ms >= ?5
             ORDER BY first_ms, id"
        )),
        None => c.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM log_event_blocks
             WHERE scope = ?6 AND group_name = ?1 AND ?2 IS NULL
               AND first_ms >= ?3 AND first_ms < ?4 AND last_ms >= ?5
             ORDER BY first_ms, id"
        )),
    }
    .map_err(storage)?;
    let mut rows = stmt
        .query(params![
            scope.group,
            scope.stream,
            lowest_first,
            scope.end,
            from,
            scope_key
        ])
        .map_err(storage)?;
    let mut kept: Vec<StoredEvent> = Vec::new();
    let mut more = false;
    while let Some(row) = rows.next().map_err(storage)? {
        let block = Block::from_row(row).map_err(storage)?;
        // Every event of this block and the next comes after the last one kept.
        if kept.len() >= limit && kept.last().is_some_and(|e| block.first_ms > e.timestamp) {
            more = true;
            break;
        }
        if !stream_wanted(&block.stream) {
            continue;
        }
        for event in block.events()? {
            if event.timestamp >= from
                && event.timestamp < scope.end
                && event.key() > after
                && keep(&event)
            {
                kept.push(event);
            }
        }
        if kept.len() >= limit {
            kept.sort_unstable_by_key(StoredEvent::key);
            more |= kept.len() > limit;
            kept.truncate(limit);
        }
    }
    kept.sort_unstable_by_key(StoredEvent::key);
    Ok(Page { events: kept, more })
}

/// Up to `limit` events of one stream before `before`, the latest first.
pub(crate) fn backward(
    c: &Connection,
    scope_key: &str,
    scope: &Scope<'_>,
    before: (i64, i64),
    limit: usize,
) -> Result<Page, StorageError> {
    // The latest timestamp an event may have; blocks starting after it hold none.
    let to = (scope.end.saturating_sub(1)).min(before.0);
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM log_event_blocks
             WHERE scope = ?6 AND group_name = ?1 AND stream_name = ?2
               AND last_ms >= ?3 AND last_ms <= ?4 AND first_ms <= ?5
             ORDER BY last_ms DESC, id DESC"
        ))
        .map_err(storage)?;
    let mut rows = stmt
        .query(params![
            scope.group,
            scope.stream,
            scope.start,
            to.saturating_add(MAX_SPAN_MS),
            to,
            scope_key
        ])
        .map_err(storage)?;
    let mut kept: Vec<StoredEvent> = Vec::new();
    let mut more = false;
    let latest_first = |a: &StoredEvent, b: &StoredEvent| b.key().cmp(&a.key());
    while let Some(row) = rows.next().map_err(storage)? {
        let block = Block::from_row(row).map_err(storage)?;
        if kept.len() >= limit && kept.last().is_some_and(|e| block.last_ms < e.timestamp) {
            more = true;
            break;
        }
        for event in block.events()? {
            if event.timestamp >= scope.start && event.timestamp <= to && event.key() < before {
                kept.push(event);
            }
        }
        if kept.len() >= limit {
            kept.sort_unstable_by(latest_first);
            more |= kept.len() > limit;
            kept.truncate(limit);
        }
    }
    kept.sort_unstable_by(latest_first);
    Ok(Page { events: kept, more })
}

/// Deletes the blocks of `group` (of one stream, if given).
pub(crate) fn delete(
    c: &Connection,
    scope_key: &str,
    group: &str,
    stream: Option<&str>,
) -> Result<(), StorageError> {
    c.execute(
        "DELETE FROM log_event_blocks
         WHERE scope = ?3 AND group_name = ?1 AND (?2 IS NULL OR stream_name = ?2)",
        params![group, stream, scope_key],
    )
    .map_err(storage)?;
    Ok(())
}

/// Deletes the events of `group` older than `cutoff_ms`: whole blocks, and the leading events
/// of blocks that also hold newer ones (events in a block are in time order).
pub(crate) fn expire(
    c: &Connection,
    scope_key: &str,
    group: &str,
    cutoff_ms: i64,
) -> Result<(), StorageError> {
    c.prepare_cached(
        "DELETE FROM log_event_blocks
         WHERE scope = ?3 AND group_name = ?1 AND first_ms < ?2 AND last_ms < ?2",
    )
    .map_err(storage)?
    .execute(params![group, cutoff_ms, scope_key])
    .map_err(storage)?;
    let straddling = c
        .prepare_cached(
            "SELECT id, events FROM log_event_blocks
             WHERE scope = ?4 AND group_name = ?1 AND first_ms < ?2 AND first_ms >= ?3",
        )
        .map_err(storage)?
        .query_map(
            params![
                group,
                cutoff_ms,
                cutoff_ms.saturating_sub(MAX_SPAN_MS),
                scope_key
            ],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
        )
        .map_err(storage)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(storage)?;
    for (id, block) in straddling {
        let events = unpack(&block)?;
        let expired = events.iter().take_while(|(t, _)| *t < cutoff_ms).count();
        let kept = &events[expired..];
        let Some((first_ms, _)) = kept.first() else {
            continue;
        };
        c.prepare_cached(
            "UPDATE log_event_blocks SET events = ?2, first_ms = ?3, skipped = skipped + ?4
             WHERE id = ?1",
        )
        .map_err(storage)?
        .execute(params![
            id,
            pack(kept.iter().map(|(t, m)| (*t, m.as_str()))),
            first_ms,
            expired as i64
        ])
        .map_err(storage)?;
    }
    Ok(())
}

/// Moves events stored a row each (`log_events`, before blocks) into blocks of one event, so
/// that an existing store keeps its events; then drops the old table.
pub(crate) fn migrate_rows(c: &Connection, scope: &str) -> Result<(), rusqlite::Error> {
    if !crate::schema::table_exists(c, "log_events")? {
        return Ok(());
    }
    let tx = c.unchecked_transaction()?;
    {
        let mut select = tx.prepare(
            "SELECT group_name, stream_name, timestamp_ms, ingestion_ms, message FROM log_events
             ORDER BY id",
        )?;
        let mut insert = tx.prepare(
            "INSERT INTO log_event_blocks (group_name, stream_name, first_ms, last_ms, ingestion_ms, events, scope)
             VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)",
        )?;
        let mut rows = select.query([])?;
        while let Some(r) = rows.next()? {
            // Messages were stored LZ4-compressed, or as plain text before that. One that
            // cannot be read stops the move, leaving the store as it was.
            let unreadable = |e: Box<dyn std::error::Error + Send + Sync>| {
                rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Blob, e)
            };
            let message = match r.get_ref(4)? {
                ValueRef::Blob(b) => lz4_flex::decompress_size_prepended(b)
                    .map_err(|e| unreadable(e.into()))
                    .and_then(|m| String::from_utf8(m).map_err(|e| unreadable(e.into())))?,
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                _ => return Err(unreadable("a message that is neither text nor blob".into())),
            };
            let timestamp: i64 = r.get(2)?;
            insert.execute(params![
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                timestamp,
                r.get::<_, i64>(3)?,
                pack([(timestamp, message.as_str())]),
                scope,
            ])?;
        }
    }
    tx.execute_batch("DROP TABLE log_events")?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The scope of the tests' events.
    const K: &str = "000000000000:us-east-1";

    fn store() -> Connection {
        let c = Connection::open_in_memory().expect("opens");
        c.execute_batch(crate::schema::SCHEMA).expect("schema");
        c
    }

    fn put(c: &Connection, stream: &str, timestamps: &[i64]) {
        let messages: Vec<String> = timestamps.iter().map(|t| format!("m{t}")).collect();
        let block = pack(
            timestamps
                .iter()
                .copied()
                .zip(messages.iter().map(String::as_str)),
        );
        let span = (timestamps[0], *timestamps.last().expect("events"));
        insert(c, K, "g", stream, span, 1, &block).expect("stored");
    }

    fn scope(stream: Option<&str>) -> Scope<'_> {
        Scope {
            group: "g",
            stream,
            start: i64::MIN,
            end: i64::MAX,
        }
    }

    #[test]
    fn blocks_round_trip_and_damage_is_an_error_not_a_panic() {
        let events = [(5, "{\"ünïcödé\":\"✓\"}"), (5, ""), (9, "x")];
        let block = pack(events);
        let back = unpack(&block).expect("unpacks");
        assert_eq!(back, events.map(|(t, m)| (t, m.to_string())));
        assert!(
            unpack(&block[..block.len() / 2])
                .is_err_and(|e| e.0.contains("a stored block is damaged"))
        );
        let truncated = lz4_flex::compress_prepend_size(&[1, 2, 3]);
        assert!(unpack(&truncated).is_err_and(|e| e.0.contains("a stored block is damaged")));
    }

    #[test]
    fn rows_of_an_older_store_move_into_blocks() {
        let c = Connection::open_in_memory().expect("opens");
        c.execute_batch(
            "CREATE TABLE log_events (id INTEGER PRIMARY KEY, group_name TEXT, stream_name TEXT,
                timestamp_ms INTEGER, ingestion_ms INTEGER, message BLOB);",
        )
        .expect("old table");
        c.execute(
            "INSERT INTO log_events VALUES (1, 'g', 's', 7, 8, ?1), (2, 'g', 's', 3, 8, 'plain')",
            [lz4_flex::compress_prepend_size(b"packed")],
        )
        .expect("old rows");
        c.execute_batch(crate::schema::SCHEMA).expect("schema");
        migrate_rows(&c, K).expect("migrates");
        let page = forward(
            &c,
            K,
            &scope(Some("s")),
            (i64::MIN, i64::MIN),
            10,
            |_| true,
            |_| true,
        )
        .expect("reads");
        let got: Vec<(i64, &str)> = page
            .events
            .iter()
            .map(|e| (e.timestamp, e.message.as_str()))
            .collect();
        assert_eq!(got, vec![(3, "plain"), (7, "packed")]);
        assert!(
            migrate_rows(&c, K).is_ok(),
            "a second open finds nothing to move"
        );
    }

    #[test]
    fn retention_removes_old_events_and_the_rest_keep_their_ids() {
        let c = store();
        put(&c, "a", &[1, 5, 9]);
        put(&c, "a", &[2, 3]);
        let all = |c: &Connection| {
            forward(
                c,
                K,
                &scope(None),
                (i64::MIN, i64::MIN),
                100,
                |_| true,
                |_| true,
            )
            .expect("reads")
            .events
        };
        let before = all(&c);
        expire(&c, K, "g", 4).expect("expires");
        let after = all(&c);
        let timestamps: Vec<i64> = after.iter().map(|e| e.timestamp).collect();
        assert_eq!(timestamps, vec![5, 9]);
        let kept: Vec<&StoredEvent> = before.iter().filter(|e| e.timestamp >= 4).collect();
        assert_eq!(
            after.iter().collect::<Vec<_>>(),
            kept,
            "same ids and messages"
        );
        expire(&c, K, "g", 100).expect("expires");
        assert!(all(&c).is_empty());
    }

    #[test]
    fn an_unreadable_row_stops_the_move_and_keeps_the_store() {
        let c = Connection::open_in_memory().expect("opens");
        c.execute_batch(
            "CREATE TABLE log_events (id INTEGER PRIMARY KEY, group_name TEXT, stream_name TEXT,
                timestamp_ms INTEGER, ingestion_ms INTEGER, message BLOB);
             INSERT INTO log_events VALUES (1, 'g', 's', 7, 8, x'ffffff7f0102');",
        )
        .expect("old table");
        c.execute_batch(crate::schema::SCHEMA).expect("schema");
        assert!(migrate_rows(&c, K).is_err());
        let rows: i64 = c
            .query_row("SELECT count(*) FROM log_events", [], |r| r.get(0))
            .expect("old table kept");
        assert_eq!(rows, 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

        /// Paging forward and backward through overlapping blocks of two streams, with any
        /// page size and window, yields every event once, in `(timestamp, id)` order.
        #[test]
        fn pages_follow_time_order_across_overlapping_blocks(
            batches in prop::collection::vec(
                (any::<bool>(), prop::collection::vec(0i64..50, 1..8)), 1..12),
            limit in 1usize..7,
            window in (0i64..30, 20i64..60),
        ) {
            let c = store();
            for (second, mut timestamps) in batches.clone() {
                timestamps.sort_unstable();
                put(&c, if second { "b" } else { "a" }, &timestamps);
            }
            let all = forward(&c, K, &scope(None), (i64::MIN, i64::MIN), usize::MAX, |_| true, |_| true)
                .expect("reads")
                .events;
            let mut sorted = all.clone();
            sorted.sort_by_key(StoredEvent::key);
            prop_assert_eq!(&all, &sorted);
            prop_assert_eq!(all.len(), batches.iter().map(|(_, t)| t.len()).sum::<usize>());

            let (start, end) = window;
            let expected: Vec<i64> = all
                .iter()
                .filter(|e| e.stream == "a" && e.timestamp >= start && e.timestamp < end)
                .map(|e| e.id)
                .collect();
            let stream = Scope { group: "g", stream: Some("a"), start, end };
            let (mut after, mut got) = ((i64::MIN, i64::MIN), Vec::new());
            loop {
                let page = forward(&c, K, &stream, after, limit, |_| true, |_| true).expect("reads");
                prop_assert!(page.events.len() <= limit);
                got.extend(page.events.iter().map(|e| e.id));
                match page.events.last() {
                    Some(last) => after = last.key(),
                    None => break,
                }
            }
            prop_assert_eq!(&got, &expected);

            let (mut before, mut got) = ((i64::MAX, i64::MAX), Vec::new());
            loop {
                let page = backward(&c, K, &stream, before, limit).expect("reads");
                prop_assert!(page.events.len() <= limit);
                got.extend(page.events.iter().map(|e| e.id));
                match page.events.last() {
                    Some(last) => before = last.key(),
                    None => break,
                }
            }
            got.reverse();
            prop_assert_eq!(&got, &expected);
        }
    }
}
