//! A Schedule's `schedule` and `timeZone`, parsed once: when runs are due. The API crate holds
//! it so the local store, the gateway and the operator accept exactly the same expressions.

use std::str::FromStr;

use chrono::{DateTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use k8s_openapi::jiff::Timestamp;

/// A valid cron expression in a valid time zone.
#[derive(Debug, Clone)]
pub struct Cadence {
    cron: Cron,
    zone: Tz,
}

impl Cadence {
    /// Parses `schedule` (five fields or a macro; no seconds field, so runs are whole minutes)
    /// and `time_zone` (IANA name, default UTC). The error names the field.
    pub fn parse(schedule: &str, time_zone: Option<&str>) -> Result<Self, (&'static str, String)> {
        let zone = match time_zone {
            None => Tz::UTC,
            Some(name) => Tz::from_str(name).map_err(|_| {
                (
                    "spec.timeZone",
                    format!("{name:?} is not an IANA time zone such as Europe/Berlin or UTC"),
                )
            })?,
        };
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .build()
            .parse(schedule.trim())
            .map_err(|e| {
                (
                    "spec.schedule",
                    format!(
                        "{schedule:?} is not a cron schedule ({e}): use five fields, minute hour day-of-month month day-of-week, such as \"0 9 * * 1-5\", or @hourly, @daily, @weekly, @monthly"
                    ),
                )
            })?;
        Ok(Self { cron, zone })
    }

    /// The first time after `after` (strictly) when a run is due; `None` when there is none
    /// (a date that never comes, such as 30 February).
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let local = self.local(after)?;
        let next = self.cron.find_next_occurrence(&local, false).ok()?;
        Timestamp::new(next.timestamp(), 0).ok()
    }

    fn local(&self, at: Timestamp) -> Option<DateTime<Tz>> {
        let utc: DateTime<Utc> = DateTime::from_timestamp(at.as_second(), 0)?;
        Some(self.zone.from_utc_datetime(&utc.naive_utc()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn weekdays_are_standard_cron_numbers_with_sunday_zero_or_seven() {
        // 2026-12-04 is a Friday.
        let weekdays = Cadence::parse("0 9 * * 1-5", None).expect("valid");
        assert_eq!(
            weekdays.next_after(at("2026-12-04T09:00:00Z")),
            Some(at("2026-12-07T09:00:00Z")),
            "Friday 09:00 → Monday 09:00, not Saturday or Sunday"
        );
        let sunday = Cadence::parse("0 0 * * 7", None).expect("valid");
        assert_eq!(
            sunday.next_after(at("2026-12-04T00:00:00Z")),
            Some(at("2026-12-06T00:00:00Z"))
        );
        let sunday_zero = Cadence::parse("0 0 * * 0", None).expect("valid");
        assert_eq!(
            sunday_zero.next_after(at("2026-12-04T00:00:00Z")),
            Some(at("2026-12-06T00:00:00Z"))
        );
    }

    #[test]
    fn the_time_zone_moves_the_run_and_follows_daylight_saving() {
        let berlin = Cadence::parse("0 9 * * *", Some("Europe/Berlin")).expect("valid");
        // Winter: UTC+1.
        assert_eq!(
            berlin.next_after(at("2026-12-04T00:00:00Z")),
            Some(at("2026-12-04T08:00:00Z"))
        );
        // Summer: UTC+2.
        assert_eq!(
            berlin.next_after(at("2026-07-01T00:00:00Z")),
            Some(at("2026-07-01T07:00:00Z"))
        );
    }

    #[test]
    fn macros_and_strictly_after() {
        let hourly = Cadence::parse("@hourly", None).expect("valid");
        assert_eq!(
            hourly.next_after(at("2026-12-04T10:00:00Z")),
            Some(at("2026-12-04T11:00:00Z")),
            "a time that is itself due is not returned again"
        );
        let daily = Cadence::parse("@daily", None).expect("valid");
        assert_eq!(
            daily.next_after(at("2026-12-04T10:00:00Z")),
            Some(at("2026-12-05T00:00:00Z"))
        );
    }

    #[test]
    fn bad_input_names_the_field() {
        for bad in [
            "",
            "* * *",
            "61 * * * *",
            "0 0 * * 8",
            "every day",
            "0 0 0 * * *",
        ] {
            let err = Cadence::parse(bad, None).expect_err(bad);
            assert_eq!(err.0, "spec.schedule", "{bad}: {}", err.1);
        }
        let err = Cadence::parse("@daily", Some("Mars/Olympus")).expect_err("bad zone");
        assert_eq!(err.0, "spec.timeZone");
        assert!(err.1.contains("Mars/Olympus"), "{}", err.1);
    }
}
