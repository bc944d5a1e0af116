//! Durations for people: "59m 12s", "3h ago".

use std::time::{Duration, SystemTime};

/// "expires in 59m 12s" or "expired 3h 2m ago", relative to `now`.
pub fn expiry_line(exp: SystemTime, now: SystemTime) -> String {
    match exp.duration_since(now) {
        Ok(left) => format!("expires in {}", short(left)),
        Err(past) => format!("expired {} ago", short(past.duration())),
    }
}

/// The two most significant units of a duration: `1d 2h`, `59m 12s`, `5s`.
pub fn short(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins, secs) = (s / 86_400, s / 3_600 % 24, s / 60 % 60, s % 60);
    let parts = [(days, "d"), (hours, "h"), (mins, "m"), (secs, "s")];
    let first = parts.iter().position(|&(n, _)| n > 0).unwrap_or(3);
    parts[first..]
        .iter()
        .take(2)
        .filter(|&&(n, _)| n > 0 || first == 3)
        .map(|(n, u)| format!("{n}{u}"))
        .collect::<Vec<_>>()
        .join(" ")
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
}
