//! Ids and timestamps.

use serde::Serialize;

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Current UTC time at microsecond precision (what PostgreSQL stores).
pub fn now() -> chrono::NaiveDateTime {
    use chrono::{SubsecRound, Utc};
    Utc::now().naive_utc().trunc_subsecs(6)
}

pub fn utc(ts: chrono::NaiveDateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_naive_utc_and_offset(ts, chrono::Utc)
}

/// Serializes a timestamp exactly as chrono does (RFC 3339 in UTC, `Z`, a fraction of 0, 3,
/// 6 or 9 digits), written into a stack buffer: chrono's `Display` path, one character at
/// a time through serde_json's escaper, was ~4 % of the machine on the contact list
/// (BENCHMARKS.md). Years outside 0000–9999 and leap seconds take chrono's path.
pub fn rfc3339<S: serde::Serializer>(ts: &chrono::DateTime<chrono::Utc>, s: S) -> Result<S::Ok, S::Error> {
    use chrono::{Datelike, Timelike};
    let (year, nanos) = (ts.year(), ts.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return ts.serialize(s);
    }
    let mut buf = *b"0000-00-00T00:00:00.000000000Z";
    let mut put = |at: usize, width: usize, mut value: u32| {
        for i in (at..at + width).rev() {
            buf[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year as u32);
    put(5, 2, ts.month());
    put(8, 2, ts.day());
    put(11, 2, ts.hour());
    put(14, 2, ts.minute());
    put(17, 2, ts.second());
    let digits = match nanos {
        0 => 0,
        n if n % 1_000_000 == 0 => 3,
        n if n % 1_000 == 0 => 6,
        _ => 9,
    };
    put(20, 9, nanos);
    let len = if digits == 0 { 19 } else { 20 + digits };
    buf[len] = b'Z';
    // Only ASCII digits and separators were written.
    s.serialize_str(std::str::from_utf8(&buf[..=len]).unwrap_or_default())
}
