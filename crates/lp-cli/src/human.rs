//! Durations and dates for people: "59m 12s", "3h ago", "2017-05-13",
//! "2018-04-25T08:51:10Z".

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `2018-04-25T08:51:10Z`: ISO 8601 in UTC, to the second (earlier than
/// 1970 counts back from the epoch).
pub fn iso8601(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let d = before.duration();
            -i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2) - i64::from(d.subsec_nanos() > 0)
        }
    };
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = lp_emulator::civil_from_days(days);
    let (h, m, s) = (rest / 3_600, rest / 60 % 60, rest % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

/// `expires 2018-04-25T08:51:10Z (1524646270)`: the date for people, the
/// epoch seconds as the token carries them.
pub fn date_line(label: &str, t: SystemTime) -> String {
    let epoch = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs().to_string(),
        Err(before) => format!("-{}", before.duration().as_secs()),
    };
    format!("{label} {} ({epoch})", iso8601(t))
}

/// "expires in 59m 12s" or "expired 3h 2m ago", relative to `now`.
pub fn expiry_line(exp: SystemTime, now: SystemTime) -> String {
    match exp.duration_since(now) {
        Ok(left) => format!("expires in {}", short(left)),
        Err(past) => format!("expired {} ago", short(past.duration())),
    }
}

/// The two most significant units of a duration: `8y 216d`, `1d 2h`,
/// `59m 12s`, `5s`. A year counts as 365 days.
pub fn short(d: Duration) -> String {
    let s = d.as_secs();
    let (years, days) = (s / 31_536_000, s / 86_400 % 365);
    let (hours, mins, secs) = (s / 3_600 % 24, s / 60 % 60, s % 60);
    let parts = [
        (years, "y"),
        (days, "d"),
        (hours, "h"),
        (mins, "m"),
        (secs, "s"),
    ];
    let last = parts.len() - 1;
    let first = parts.iter().position(|&(n, _)| n > 0).unwrap_or(last);
    parts[first..]
        .iter()
        .take(2)
        .filter(|&&(n, _)| n > 0 || first == last)
        .map(|(n, u)| format!("{n}{u}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The ISO date of a Sentinel key id's date part: `13-05-17` (day, month,
/// two-digit year) is `2017-05-13`. `None` unless it is such a date.
pub fn kid_date(part: &str) -> Option<String> {
    let mut fields = part.split('-');
    let mut next = || -> Option<u32> {
        let f = fields.next()?;
        if f.len() != 2 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        f.parse().ok()
    };
    let (day, month, year) = (next()?, next()?, next()?);
    let valid = fields.next().is_none() && (1..=31).contains(&day) && (1..=12).contains(&month);
    valid.then(|| format!("20{year:02}-{month:02}-{day:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_durations() {
        let check = |secs: u64, want: &str| assert_eq!(short(Duration::from_secs(secs)), want);
        check(0, "0s");
        check(5, "5s");
        check(3552, "59m 12s");
        check(3600, "1h");
        check(3 * 3600 + 61, "3h 1m");
        check(86_400 + 7200 + 5, "1d 2h");
        check(365 * 86_400, "1y");
        check(8 * 365 * 86_400 + 216 * 86_400 + 11 * 3600, "8y 216d");
    }

    #[test]
    fn expiry_lines() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            expiry_line(now + Duration::from_secs(3552), now),
            "expires in 59m 12s"
        );
        assert_eq!(
            expiry_line(now - Duration::from_secs(3 * 3600), now),
            "expired 3h ago"
        );
    }

    #[test]
    fn iso_dates() {
        let check = |secs: i64, want: &str| {
            let t = if secs >= 0 {
                UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
            } else {
                UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
            };
            assert_eq!(iso8601(t), want, "{secs}");
        };
        check(0, "1970-01-01T00:00:00Z");
        check(1_524_646_270, "2018-04-25T08:51:10Z");
        check(1_524_642_670, "2018-04-25T07:51:10Z");
        check(951_782_400, "2000-02-29T00:00:00Z");
        check(253_402_300_799, "9999-12-31T23:59:59Z");
        check(-1, "1969-12-31T23:59:59Z");
        assert_eq!(
            date_line("expires", UNIX_EPOCH + Duration::from_secs(1_524_646_270)),
            "expires 2018-04-25T08:51:10Z (1524646270)"
        );
    }

    #[test]
    fn kid_dates() {
        let check = |part: &str, want: Option<&str>| {
            assert_eq!(kid_date(part).as_deref(), want, "{part}");
        };
        check("13-05-17", Some("2017-05-13"));
        check("01-12-26", Some("2026-12-01"));
        check("32-05-17", None);
        check("13-13-17", None);
        check("13-05", None);
        check("13-05-17-1", None);
        check("1-5-17", None);
        check("+1-05-17", None);
        check("", None);
    }
}
