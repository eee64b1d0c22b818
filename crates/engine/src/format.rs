//! The texts AWS writes numbers, instants and regions in.

/// A Java-style rendering of a double, as CloudWatch's texts show values: `1.0`, `21.5`,
/// `1.0E7`.
pub fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e7).contains(&a) {
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_owned()
        } else {
            format!("{mantissa}.0")
        };
        return format!("{mantissa}E{exp}");
    }
    if v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Formats epoch milliseconds in UTC with a `time` format description; an instant `time`
/// cannot represent prints as the plain number.
pub(crate) fn utc(ms: i64, format: &[time::format_description::BorrowedFormatItem<'_>]) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// `yyyy-MM-dd'T'HH:mm:ss.SSS+0000`, the timestamp form of CloudWatch's JSON payloads.
pub fn payload_time(ms: i64) -> String {
    utc(
        ms,
        time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
        ),
    )
}

/// `yyyy-MM-ddTHH:mm:ss.SSSZ`, the ISO 8601 form of awsQuery replies and SNS messages.
pub fn iso8601_time(ms: i64) -> String {
    utc(
        ms,
        time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ),
    )
}

/// An `eventTime` in epoch milliseconds: RFC 3339 as CloudTrail writes it
/// (`2023-07-10T11:54:39Z`), or `2023-07-10 11:54:39[.fff]` in UTC as Athena and data-lake
/// exports write it.
pub fn event_time_ms(time: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    let t = match time::OffsetDateTime::parse(time, &Rfc3339) {
        Ok(t) => t,
        Err(_) if time.len() > 10 && time.as_bytes()[10] == b' ' => {
            let mut text = time.replacen(' ', "T", 1);
            if !text.ends_with('Z') {
                text.push('Z');
            }
            time::OffsetDateTime::parse(&text, &Rfc3339).ok()?
        }
        Err(_) => return None,
    };
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The bits of an event id in a UUID's form as CloudTrail writes it,
/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lower-case hex; `None` for any other text (upper-case
/// digits too, so that two ids equal as bits are equal as text: 36 characters are the
/// hyphenated form only). Stores and replay keep such ids in 16 bytes.
pub fn uuid_bits(id: &str) -> Option<u128> {
    if id.len() != 36 || id.bytes().any(|c| c.is_ascii_uppercase()) {
        return None;
    }
    uuid::Uuid::try_parse(id).ok().map(|u| u.as_u128())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_keep_their_identity_as_bits() {
        let id = "6c1eed73-00ee-4810-8009-c9ce5990c100";
        assert_eq!(uuid_bits(id), Some(0x6c1eed73_00ee_4810_8009_c9ce5990c100));
        // Upper-case digits are other text, not the same id; so is anything not hyphenated
        // as a UUID, or not hex.
        for other in [
            "6C1EED73-00EE-4810-8009-C9CE5990C100",
            "policy-change-1",
            "6c1eed7300ee48108009c9ce5990c100",
            "6c1eed73-00ee-4810-8009-c9ce5990c10g",
            "",
        ] {
            assert_eq!(uuid_bits(other), None, "{other}");
        }
    }
}
