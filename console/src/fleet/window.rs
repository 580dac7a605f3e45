//! A group's maintenance window: a time of day, a length, the days of the week it opens on,
//! and the zone the time of day is read in (UTC, a named IANA zone, or each device's own).
//!
//! Zone arithmetic is jiff's, over the time zone database bundled into the binary. A window
//! opens at its start time on each of its days, read as wall-clock time in its zone, and
//! stays open for its length of elapsed time. Across a change of clocks that means: a start
//! that falls in a gap (clocks going forward) opens at the same distance past the gap, one
//! that falls in an overlap (clocks going back) opens at the first of the two, and a window
//! spanning the change lasts its length in real time, not in wall-clock time.

use std::fmt;
use std::time::Duration;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::rejected::Rejected;

/// Longest window: a day. A longer one would overlap the next day's opening.
pub const MAX_LENGTH_SECS: i64 = 24 * 60 * 60;

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The days of the week a window opens on, as a bit set with Monday as bit 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days(u8);

impl Days {
    pub const EVERY: Days = Days(0x7f);

    /// The days in `bits` as stored; `None` for no day or unknown bits.
    pub fn from_bits(bits: i64) -> Option<Days> {
        u8::try_from(bits)
            .ok()
            .filter(|b| *b != 0 && *b & 0x80 == 0)
            .map(Days)
    }

    pub fn bits(self) -> i64 {
        i64::from(self.0)
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.to_monday_zero_offset()) != 0
    }

    /// `every-day`, or days and ranges such as `mon-fri` or `sat,sun` (a range may wrap,
    /// `fri-mon`).
    pub fn parse(text: &str) -> Result<Days, Rejected> {
        if matches!(text, "every-day" | "daily") {
            return Ok(Days::EVERY);
        }
        let index = |name: &str| {
            DAY_NAMES.iter().position(|d| *d == name).ok_or_else(|| {
                Rejected::Invalid(format!(
                    "{name:?} is not a day: use mon, tue, wed, thu, fri, sat, sun, ranges such \
                     as mon-fri, or every-day"
                ))
            })
        };
        let mut bits = 0u8;
        for part in text.split(',') {
            let (first, last) = match part.split_once('-') {
                Some((first, last)) => (index(first)?, index(last)?),
                None => (index(part)?, index(part)?),
            };
            let mut day = first;
            loop {
                bits |= 1 << day;
                if day == last {
                    break;
                }
                day = (day + 1) % 7;
            }
        }
        Ok(Days(bits))
    }
}

impl fmt::Display for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Days::EVERY {
            return f.write_str("every-day");
        }
        let names: Vec<&str> = (0..7)
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| DAY_NAMES[i])
            .collect();
        f.write_str(&names.join(","))
    }
}

/// The zone a window's time of day is read in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowZone {
    Utc,
    /// Each device's own zone, as its inventory reports it.
    Local,
    /// An IANA zone the console's database knows, such as `Europe/Berlin`.
    Named(String),
}

impl WindowZone {
    /// `utc`, `local`, or an IANA zone name the bundled database knows.
    pub fn parse(text: &str) -> Result<WindowZone, Rejected> {
        if text.eq_ignore_ascii_case("utc") {
            return Ok(WindowZone::Utc);
        }
        if text == "local" {
            return Ok(WindowZone::Local);
        }
        match jiff::tz::db().get(text) {
            Ok(_) => Ok(WindowZone::Named(text.to_owned())),
            Err(_) => Err(Rejected::Invalid(format!(
                "unknown time zone {:?}: use utc, local or an IANA name such as Europe/Berlin",
                text.chars().take(64).collect::<String>()
            ))),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            WindowZone::Utc => "utc",
            WindowZone::Local => "local",
            WindowZone::Named(name) => name,
        }
    }

    /// The zone to read the window in for a device that reported `device_zone`. A device
    /// whose zone is missing or unknown to the console is taken to be on UTC, the same
    /// fallback the agent uses when the device has none configured.
    pub fn resolve(&self, device_zone: Option<&str>) -> TimeZone {
        let named = match self {
            WindowZone::Utc => None,
            WindowZone::Local => device_zone,
            WindowZone::Named(name) => Some(name.as_str()),
        };
        named
            .and_then(|name| jiff::tz::db().get(name).ok())
            .unwrap_or(TimeZone::UTC)
    }
}

/// A recurring maintenance window of a device group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupWindow {
    /// Wall-clock time of day it opens, in `zone`.
    pub start: Time,
    /// How long it stays open, in seconds of elapsed time.
    pub length_secs: i64,
    pub days: Days,
    pub zone: WindowZone,
}

impl GroupWindow {
    /// A window from the CLI's and the API's words: `start` as `HH:MM`, `length` as a
    /// duration (`2h`, `90m`) of a minute to a day, `days` as [`Days::parse`] takes them
    /// (every day when absent), `zone` as [`WindowZone::parse`] takes it.
    pub fn parse(
        start: &str,
        length: &str,
        days: Option<&str>,
        zone: &str,
    ) -> Result<GroupWindow, Rejected> {
        let start = parse_time_of_day(start)?;
        let length_secs = humantime::parse_duration(length)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .filter(|secs| (60..=MAX_LENGTH_SECS).contains(secs))
            .ok_or_else(|| {
                Rejected::Invalid(format!(
                    "window length {length:?} is not a duration from 1m to 24h"
                ))
            })?;
        Ok(GroupWindow {
            start,
            length_secs,
            days: days.map(Days::parse).transpose()?.unwrap_or(Days::EVERY),
            zone: WindowZone::parse(zone)?,
        })
    }

    /// Minutes past midnight of the start, as stored.
    pub fn start_minute(&self) -> i64 {
        i64::from(self.start.hour()) * 60 + i64::from(self.start.minute())
    }

    /// Whether the window, read in `tz`, is open at `now`.
    pub fn is_open(&self, now: Timestamp, tz: &TimeZone) -> bool {
        self.next_opening(now, tz) == Some(now)
    }

    /// `now` when the window is open at `now`, else when it next opens (within a week and a
    /// day; `None` only if no opening can be computed).
    pub fn next_opening(&self, now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let today = now.to_zoned(tz.clone()).date();
        // A window is at most a day long, so one that holds `now` opened today or
        // yesterday; the day before is looked at too, for a long window across a change of
        // clocks.
        (-2..=8)
            .filter_map(|offset: i64| today.checked_add(offset.days()).ok())
            .filter_map(|date| self.opening_on(date, tz))
            .find_map(|opening| {
                let closing = opening.as_second() + self.length_secs;
                if opening <= now && now.as_second() < closing {
                    Some(now)
                } else {
                    (opening > now).then_some(opening)
                }
            })
    }

    /// When the window opens on `date`, if it opens that day.
    fn opening_on(&self, date: Date, tz: &TimeZone) -> Option<Timestamp> {
        if !self.days.contains(date.weekday()) {
            return None;
        }
        // jiff's "compatible" choice: past a gap, the first of an overlap.
        let zoned = tz
            .to_ambiguous_zoned(date.to_datetime(self.start))
            .compatible()
            .ok()?;
        Some(zoned.timestamp())
    }

    /// `22:00 for 2h every-day, local` style, for lists and audit entries.
    pub fn describe(&self) -> String {
        let length = humantime::format_duration(Duration::from_secs(
            u64::try_from(self.length_secs).unwrap_or(0),
        ));
        format!(
            "{:02}:{:02} for {length} {}, {}",
            self.start.hour(),
            self.start.minute(),
            self.days,
            self.zone.as_str()
        )
    }

    /// The window as JSON, in the words [`GroupWindow::parse`] takes.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "start": format!("{:02}:{:02}", self.start.hour(), self.start.minute()),
            "length": humantime::format_duration(Duration::from_secs(
                u64::try_from(self.length_secs).unwrap_or(0),
            )).to_string(),
            "days": self.days.to_string(),
            "zone": self.zone.as_str(),
        })
    }
}

/// `HH:MM`, 00:00 to 23:59.
fn parse_time_of_day(text: &str) -> Result<Time, Rejected> {
    let parsed = text.split_once(':').and_then(|(h, m)| {
        let (h, m) = (h.parse::<i8>().ok()?, m.parse::<i8>().ok()?);
        (text.len() == 5).then_some(())?;
        Time::new(h, m, 0, 0).ok()
    });
    parsed.ok_or_else(|| {
        Rejected::Invalid(format!(
            "window start {:?} is not a time of day HH:MM",
            text.chars().take(16).collect::<String>()
        ))
    })
}

/// The start minute as stored back to a time of day.
pub fn time_of_minute(minute: i64) -> Option<Time> {
    let hour = i8::try_from(minute / 60).ok()?;
    let minute = i8::try_from(minute % 60).ok()?;
    Time::new(hour, minute, 0, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    fn window(start: &str, length: &str, days: Option<&str>, zone: &str) -> GroupWindow {
        GroupWindow::parse(start, length, days, zone).expect("window")
    }

    fn zone(name: &str) -> TimeZone {
        jiff::tz::db().get(name).expect("zone")
    }

    #[test]
    fn a_utc_window_opens_at_its_start_for_its_length() {
        let w = window("22:00", "2h", None, "utc");
        let utc = w.zone.resolve(None);
        assert!(!w.is_open(at("2026-07-01T21:59:59Z"), &utc));
        assert!(w.is_open(at("2026-07-01T22:00:00Z"), &utc));
        assert!(w.is_open(at("2026-07-01T23:59:59Z"), &utc));
        assert!(!w.is_open(at("2026-07-02T00:00:00Z"), &utc));
        assert_eq!(
            w.next_opening(at("2026-07-02T00:00:00Z"), &utc),
            Some(at("2026-07-02T22:00:00Z"))
        );
    }

    #[test]
    fn a_window_crossing_midnight_belongs_to_the_day_it_opens() {
        // Mondays only, 23:00 for two hours: open early on Tuesday, not early on Monday.
        let w = window("23:00", "2h", Some("mon"), "utc");
        let utc = TimeZone::UTC;
        assert_eq!(
            at("2026-07-06T00:00:00Z").to_zoned(utc.clone()).weekday(),
            Weekday::Monday
        );
        assert!(!w.is_open(at("2026-07-06T00:30:00Z"), &utc), "Monday 00:30");
        assert!(w.is_open(at("2026-07-06T23:30:00Z"), &utc), "Monday 23:30");
        assert!(w.is_open(at("2026-07-07T00:30:00Z"), &utc), "Tuesday 00:30");
        assert!(
            !w.is_open(at("2026-07-07T01:00:00Z"), &utc),
            "Tuesday 01:00"
        );
        assert_eq!(
            w.next_opening(at("2026-07-07T01:00:00Z"), &utc),
            Some(at("2026-07-13T23:00:00Z"))
        );
    }

    #[test]
    fn local_windows_follow_the_device_zone_and_utc_ones_do_not() {
        let local = window("22:00", "2h", None, "local");
        let utc = window("22:00", "2h", None, "utc");
        // 22:30 on 30 June in New York (EDT, UTC-4) is 02:30 UTC on 1 July.
        let now = at("2026-07-01T02:30:00Z");
        let new_york = local.zone.resolve(Some("America/New_York"));
        assert!(local.is_open(now, &new_york));
        assert!(!utc.is_open(now, &utc.zone.resolve(Some("America/New_York"))));
        // A device that reported no zone, or one the console does not know, is on UTC.
        assert!(!local.is_open(now, &local.zone.resolve(None)));
        assert!(!local.is_open(now, &local.zone.resolve(Some("Mars/Olympus"))));
        assert!(local.is_open(at("2026-07-01T22:30:00Z"), &local.zone.resolve(None)));
        // A named zone is the same for every device.
        let berlin = window("00:00", "1h", None, "Europe/Berlin");
        assert!(berlin.is_open(at("2026-06-30T22:30:00Z"), &berlin.zone.resolve(None)));
    }

    #[test]
    fn a_start_in_the_spring_forward_gap_opens_after_the_gap() {
        // Berlin, 29 March 2026: 02:00 CET becomes 03:00 CEST, so 02:30 does not exist and
        // the window opens at 03:30 CEST (01:30 UTC).
        let w = window("02:30", "1h", None, "Europe/Berlin");
        let berlin = zone("Europe/Berlin");
        assert_eq!(
            w.next_opening(at("2026-03-29T00:00:00Z"), &berlin),
            Some(at("2026-03-29T01:30:00Z"))
        );
        assert!(!w.is_open(at("2026-03-29T01:15:00Z"), &berlin));
        assert!(w.is_open(at("2026-03-29T02:29:00Z"), &berlin));
        assert!(!w.is_open(at("2026-03-29T02:30:00Z"), &berlin));
        // The day after, 02:30 CEST is 00:30 UTC.
        assert!(w.is_open(at("2026-03-30T00:30:00Z"), &berlin));
    }

    #[test]
    fn a_window_across_a_change_of_clocks_lasts_its_length_in_real_time() {
        // Berlin, 01:00 for three hours on the night clocks go forward: 00:00 to 03:00 UTC,
        // which on the wall is 01:00 CET to 05:00 CEST.
        let w = window("01:00", "3h", None, "Europe/Berlin");
        let berlin = zone("Europe/Berlin");
        assert!(w.is_open(at("2026-03-29T02:59:00Z"), &berlin));
        assert!(!w.is_open(at("2026-03-29T03:00:00Z"), &berlin));
    }

    #[test]
    fn a_start_in_the_fall_back_overlap_opens_once_at_the_first_pass() {
        // New York, 1 November 2026: 02:00 EDT becomes 01:00 EST, so 01:30 happens twice
        // (05:30 and 06:30 UTC). The window opens at the first and is closed at the second.
        let w = window("01:30", "30m", None, "America/New_York");
        let new_york = zone("America/New_York");
        assert_eq!(
            w.next_opening(at("2026-11-01T00:00:00Z"), &new_york),
            Some(at("2026-11-01T05:30:00Z"))
        );
        assert!(w.is_open(at("2026-11-01T05:45:00Z"), &new_york));
        assert!(!w.is_open(at("2026-11-01T06:45:00Z"), &new_york));
        // Standard time afterwards: 01:30 EST is 06:30 UTC.
        assert!(w.is_open(at("2026-11-02T06:45:00Z"), &new_york));
    }

    #[test]
    fn days_parse_as_lists_ranges_and_every_day() {
        assert_eq!(Days::parse("every-day").expect("days"), Days::EVERY);
        assert_eq!(
            Days::parse("mon-fri").expect("days").to_string(),
            "mon,tue,wed,thu,fri"
        );
        assert_eq!(
            Days::parse("fri-mon").expect("days").to_string(),
            "mon,fri,sat,sun"
        );
        assert_eq!(Days::parse("sat,sun").expect("days").bits(), 0x60);
        assert!(Days::parse("monday").is_err());
        assert!(Days::parse("").is_err());
        assert_eq!(Days::from_bits(0), None);
        assert_eq!(Days::from_bits(0x7f), Some(Days::EVERY));
    }

    #[test]
    fn windows_parse_and_refuse_what_they_cannot_mean() {
        let w = window("07:05", "90m", Some("mon-fri"), "Europe/Berlin");
        assert_eq!(w.start_minute(), 7 * 60 + 5);
        assert_eq!(time_of_minute(w.start_minute()), Some(w.start));
        assert_eq!(
            w.describe(),
            "07:05 for 1h 30m mon,tue,wed,thu,fri, Europe/Berlin"
        );
        assert_eq!(w.to_json()["length"], "1h 30m");
        for (start, length, zone) in [
            ("24:00", "1h", "utc"),
            ("7:05", "1h", "utc"),
            ("07:60", "1h", "utc"),
            ("07:00", "25h", "utc"),
            ("07:00", "10s", "utc"),
            ("07:00", "1h", "Europe/Atlantis"),
            ("07:00", "1h", "Local"),
        ] {
            assert!(
                GroupWindow::parse(start, length, None, zone).is_err(),
                "{start} {length} {zone}"
            );
        }
    }
}
