//! Time in SigV4's basic ISO 8601 form, and in the HTTP `Date` form of clients without
//! `X-Amz-Date`.

use std::time::{SystemTime, UNIX_EPOCH};

use super::AMZ_DATE_LEN;

/// `yyyymmddTHHMMSSZ`.
const AMZ_DATE: &[time::format_description::BorrowedFormatItem<'_>] =
    time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
/// HTTP `Date` (IMF-fixdate): `Sun, 30 Aug 2015 12:36:00 GMT`.
const IMF_FIXDATE: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

pub(super) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// `secs` in SigV4's form; instants outside years 0–9999 (no clock shows them) are clamped.
pub(super) fn format_unix(secs: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(if secs < 0 {
        time::PrimitiveDateTime::MIN.assume_utc()
    } else {
        time::PrimitiveDateTime::MAX.assume_utc()
    });
    t.format(AMZ_DATE).unwrap_or_default()
}

pub(super) fn parse_amz_date(text: &str) -> Option<i64> {
    // The form has a fixed width; `[year]` alone would also read a sign.
    if text.len() != AMZ_DATE_LEN || !text.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let t = time::PrimitiveDateTime::parse(text, AMZ_DATE).ok()?;
    Some(t.assume_utc().unix_timestamp())
}

pub(super) fn parse_imf_fixdate(text: &str) -> Option<i64> {
    let t = time::PrimitiveDateTime::parse(text, IMF_FIXDATE).ok()?;
    Some(t.assume_utc().unix_timestamp())
}
