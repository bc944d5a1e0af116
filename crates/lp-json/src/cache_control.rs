//! How long an answer may be reused, from its `Cache-Control` header.

use std::time::Duration;

use http::HeaderMap;
use http::header::CACHE_CONTROL;

/// The longest lifetime [`cache_max_age`] returns: a day. A server that
/// says "a year" still gets its keys or map looked at again daily, so a
/// mistake on its side does not stick to a long-running client.
pub const MAX_CACHE_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// The `max-age` of an answer's `Cache-Control` (RFC 9111 section 5.2),
/// for a private client such as ours, capped at [`MAX_CACHE_AGE`].
///
/// Returns `None`, meaning "no usable lifetime: use your own default or do
/// not keep it", when:
///
/// - there is no `Cache-Control` header, or none with `max-age`;
/// - any directive is `no-store` or `no-cache` (with or without an
///   argument: `no-cache="set-cookie"` is read as plain `no-cache`), in
///   any header line and in any position, even after a `max-age`;
/// - the first `max-age` has no argument or one that is not a whole
///   number of seconds (`max-age=`, `max-age=-1`, `max-age=1.5`,
///   `max-age=abc`);
/// - a header line is not readable as visible ASCII, or is not a
///   comma-separated list of `name[=value]` directives (such as an
///   unterminated quoted string): it might hide a `no-store`.
///
/// The other rules:
///
/// - Several `Cache-Control` lines are read as one list, in order
///   (RFC 9110 section 5.3); empty list elements are allowed.
/// - Directive names are case-insensitive (`Max-Age=60`); spaces or tabs
///   around `,` and `=` are allowed.
/// - The first `max-age` counts; later ones are ignored (RFC 9111 section
///   4.2.1 lets a cache use the first).
/// - The argument may be quoted (`max-age="60"`); senders must not do
///   this, but reading it costs nothing.
/// - A number too large for any integer is not garbage: it saturates, and
///   so ends at the cap, like every value over [`MAX_CACHE_AGE`].
/// - `max-age=0` is `Some(Duration::ZERO)`: the answer is stale at once.
///   Whether to refetch every time is the caller's policy.
/// - `s-maxage` is for shared caches and is ignored, as are `private`,
///   `public`, `must-revalidate`, `immutable` and unknown directives.
///
/// ```
/// use std::time::Duration;
/// use lp_json::cache_max_age;
///
/// let mut headers = http::HeaderMap::new();
/// assert_eq!(cache_max_age(&headers), None);
/// headers.insert("cache-control", "public, max-age=3600".parse()?);
/// assert_eq!(cache_max_age(&headers), Some(Duration::from_secs(3600)));
/// headers.append("cache-control", "no-cache".parse()?);
/// assert_eq!(cache_max_age(&headers), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn cache_max_age(headers: &HeaderMap) -> Option<Duration> {
    // The first max-age seen: `Some(None)` when its argument was garbage.
    let mut max_age: Option<Option<Duration>> = None;
    for line in headers.get_all(CACHE_CONTROL) {
        let directives = directives(line.to_str().ok()?)?;
        for (name, argument) in directives {
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return None;
            }
            if name.eq_ignore_ascii_case("max-age") && max_age.is_none() {
                max_age = Some(argument.and_then(delta_seconds));
            }
        }
    }
    max_age.flatten().map(|age| age.min(MAX_CACHE_AGE))
}

/// RFC 9111 section 1.2.2 delta-seconds: one or more digits, saturating
/// rather than failing on overflow.
fn delta_seconds(argument: &str) -> Option<Duration> {
    if argument.is_empty() || !argument.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Duration::from_secs(argument.parse().unwrap_or(u64::MAX)))
}

const WHITESPACE: [char; 2] = [' ', '\t'];

/// Splits one header line into `(name, argument)` pairs, a quoted
/// argument without its quotes (escapes left in). `None` when the line is
/// not such a list.
fn directives(line: &str) -> Option<Vec<(&str, Option<&str>)>> {
    let mut out = Vec::new();
    let mut rest = line.trim_start_matches(WHITESPACE);
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start_matches(WHITESPACE);
            continue;
        }
        let name_end = rest.find(['=', ',', ' ', '\t']).unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_end);
        if name.is_empty() {
            return None;
        }
        let after = after.trim_start_matches(WHITESPACE);
        let (argument, after) = match after.strip_prefix('=') {
            Some(value) => {
                let (argument, after) = argument(value.trim_start_matches(WHITESPACE))?;
                (Some(argument), after)
            }
            None => (None, after),
        };
        out.push((name, argument));
        rest = after.trim_start_matches(WHITESPACE);
        if !rest.is_empty() {
            // The next thing must be the comma before the next directive.
            rest = rest.strip_prefix(',')?.trim_start_matches(WHITESPACE);
        }
    }
    Some(out)
}

/// A token or quoted-string argument at the start of `value`, and what
/// follows it.
fn argument(value: &str) -> Option<(&str, &str)> {
    let Some(quoted) = value.strip_prefix('"') else {
        let end = value.find([',', ' ', '\t']).unwrap_or(value.len());
        return Some(value.split_at(end));
    };
    let mut escaped = false;
    for (i, c) in quoted.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            // The quote is one byte: both ends are character boundaries.
            '"' => return Some((quoted.get(..i)?, quoted.get(i + 1..)?)),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            let value = http::HeaderValue::from_bytes(line.as_bytes()).unwrap();
            headers.append(CACHE_CONTROL, value);
        }
        headers
    }

    fn check(lines: &[&str], expected: Option<u64>) {
        assert_eq!(
            cache_max_age(&headers(lines)),
            expected.map(Duration::from_secs),
            "{lines:?}"
        );
    }

    const DAY: u64 = 24 * 60 * 60;

    #[test]
    fn max_age_rules() {
        for (lines, expected) in [
            // Absent.
            (&[][..], None),
            (&["public"], None),
            (&[""], None),
            // Plain, with other directives, any case, spaces and tabs.
            (&["max-age=3600"], Some(3600)),
            (&["public, max-age=600, must-revalidate"], Some(600)),
            (&["Max-Age=60"], Some(60)),
            (&["MAX-AGE=60"], Some(60)),
            (&["  private ,\tmax-age = 60 , "], Some(60)),
            (&[",,max-age=60,,"], Some(60)),
            (&["max-age=0"], Some(0)),
            (&["max-age=007"], Some(7)),
            // Quoted, with commas and escapes in other quoted arguments.
            (&["max-age=\"60\""], Some(60)),
            (&["private=\"a, b\", max-age=60"], Some(60)),
            (&["x=\"q\\\"uote, \\\\\", max-age=60"], Some(60)),
            // Over the cap, and beyond any integer.
            (&["max-age=86400"], Some(DAY)),
            (&["max-age=86401"], Some(DAY)),
            (&["max-age=31536000"], Some(DAY)),
            (&["max-age=99999999999999999999999999999"], Some(DAY)),
            // no-store and no-cache win wherever they are.
            (&["no-store"], None),
            (&["no-cache"], None),
            (&["max-age=60, no-store"], None),
            (&["No-Cache, max-age=60"], None),
            (&["no-cache=\"set-cookie\", max-age=60"], None),
            (&["max-age=60", "no-store"], None),
            (&["no-cache", "max-age=60"], None),
            // Several lines are one list; the first max-age counts.
            (&["public", "max-age=60"], Some(60)),
            (&["max-age=60", "max-age=10"], Some(60)),
            (&["max-age=60, max-age=10"], Some(60)),
            (&["max-age=abc, max-age=60"], None),
            // s-maxage is for shared caches.
            (&["s-maxage=600"], None),
            (&["s-maxage=600, max-age=60"], Some(60)),
            (&["max-age=60, s-maxage=600"], Some(60)),
            // Garbage arguments.
            (&["max-age"], None),
            (&["max-age="], None),
            (&["max-age=-1"], None),
            (&["max-age=+1"], None),
            (&["max-age=1.5"], None),
            (&["max-age=1e3"], None),
            (&["max-age=60s"], None),
            (&["max-age=\"\""], None),
            (&["max-age=\"6 0\""], None),
            (&["max-age=\"\\60\""], None),
            // Lines that are not a directive list.
            (&["max-age=60 junk"], None),
            (&["=60"], None),
            (&["max-age=\"60"], None),
            (&["private=\"unterminated, max-age=60"], None),
            (&["max-age=60", "x=\"open"], None),
        ] {
            check(lines, expected);
        }
    }

    #[test]
    fn unreadable_lines_give_none() {
        let mut headers = headers(&["max-age=60"]);
        headers.append(
            CACHE_CONTROL,
            http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        assert_eq!(cache_max_age(&headers), None);
    }

    proptest! {
        #[test]
        fn never_panics_and_stays_under_the_cap(
            lines in prop::collection::vec("[ -~\t]{0,40}", 0..4),
        ) {
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            if let Some(age) = cache_max_age(&headers(&lines)) {
                prop_assert!(age <= MAX_CACHE_AGE);
            }
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(
            lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..4),
        ) {
            let mut headers = HeaderMap::new();
            for line in lines {
                if let Ok(value) = http::HeaderValue::from_bytes(&line) {
                    headers.append(CACHE_CONTROL, value);
                }
            }
            let _ = cache_max_age(&headers);
        }

        #[test]
        fn any_max_age_is_read_capped(
            secs in any::<u64>(),
            before in prop::sample::select(vec!["", "public, ", "private=\"a,b\", ", "s-maxage=5,"]),
            name in prop::sample::select(vec!["max-age", "Max-Age", "MAX-AGE"]),
        ) {
            let line = format!("{before}{name}={secs}");
            prop_assert_eq!(
                cache_max_age(&headers(&[&line])),
                Some(Duration::from_secs(secs).min(MAX_CACHE_AGE))
            );
        }
    }
}
