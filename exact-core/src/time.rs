//! Timestamps as EXACT writes them: naive ISO-8601 with six-digit microseconds
//! (`2021-06-15T10:20:30.123456`), interpreted as UTC. A time a client sent comes back as the
//! same string (EXACT-Sync asserts it), so storage keeps microseconds exactly.

use crate::{Error, Result};
use chrono::{DateTime, NaiveDateTime};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(pub i64);

const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

impl Timestamp {
    /// Builds a timestamp from microseconds since the epoch.
    pub fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    /// Microseconds since the epoch.
    pub fn micros(self) -> i64 {
        self.0
    }

    /// Parses EXACT's naive format; also accepts RFC 3339 with an offset (converted to UTC),
    /// a space instead of `T`, and no fraction.
    pub fn parse(field: &str, text: &str) -> Result<Self> {
        let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f"))
            .or_else(|_| DateTime::parse_from_rfc3339(text).map(|d| d.naive_utc()))
            .map_err(|_| {
                Error::invalid(
                    field,
                    format!("{text:?} is not a datetime like 2021-06-15T10:20:30.123456"),
                )
            })?;
        Ok(Timestamp(naive.and_utc().timestamp_micros()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match DateTime::from_timestamp_micros(self.0) {
            Some(d) => write!(f, "{}", d.naive_utc().format(FORMAT)),
            None => write!(f, "{}", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse("time", &text).map_err(serde::de::Error::custom)
    }
}

/// Where "now" comes from; tests inject a fixed or stepping clock.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        Timestamp(micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_exact_format() {
        let t = Timestamp::parse("time", "2021-06-15T10:20:30.123456").unwrap();
        assert_eq!(t.to_string(), "2021-06-15T10:20:30.123456");
        let t = Timestamp::parse("time", "2021-06-15T10:20:30").unwrap();
        assert_eq!(t.to_string(), "2021-06-15T10:20:30.000000");
        let t = Timestamp::parse("time", "2021-06-15T12:20:30.5+02:00").unwrap();
        assert_eq!(t.to_string(), "2021-06-15T10:20:30.500000");
    }

    #[test]
    fn rejects_garbage_naming_the_field() {
        let e = Timestamp::parse("last_edit_time", "yesterday").unwrap_err();
        assert!(e.to_string().contains("last_edit_time"), "{e}");
    }
}
