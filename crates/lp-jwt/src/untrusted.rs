//! Showing text that came from a token, a key or a server.
//!
//! Error messages end up in logs. A `kid` of `"x\n2024-01-01 INFO ok"` or
//! an `alg` holding `ESC[31m` would forge a log line or repaint a terminal
//! if it were written as is, and a 10 kB `iss` would drown the line it is
//! in. [`Untrusted`] is the one place where such text is made harmless; the
//! error types keep the value as received and only their `Display` goes
//! through it.

use std::fmt::{self, Write as _};

/// The cut for longer free text from outside, such as a JSON parser's
/// message (which may quote the input).
pub(crate) const MESSAGE_CHARS: usize = 200;

/// Text from outside (a token, a JWK, a server's answer), shown escaped and
/// cut so that it cannot forge or flood a log line.
///
/// `Display` writes at most [`Untrusted::max_chars`] characters of the text
/// (default [`Untrusted::DEFAULT_MAX_CHARS`]), then [`Untrusted::CUT_MARKER`]
/// when more followed. Each character is written:
///
/// - as an escape when Rust's `char::escape_debug` escapes it: control
///   characters (`\n`, `\r`, `\t`, `\0`, `ESC` as `\u{1b}`, DEL, the C1
///   range), and characters that print nothing or reorder what follows:
///   format characters such as U+202E RIGHT-TO-LEFT OVERRIDE or U+200B ZERO
///   WIDTH SPACE, U+2028/U+2029 line and paragraph separators, unassigned
///   and private-use code points, and combining marks (which would
///   otherwise stack on the text before them);
/// - `\` as `\\`, so that an escape written here cannot be confused with
///   the same characters sent by the server;
/// - as itself otherwise: quotes and letters of any script (`Zürich`,
///   `東京`) stay readable.
///
/// The output therefore never holds a control character, and is at most
/// `10 * max_chars + 3` bytes long (`\u{10ffff}` is the longest escape).
///
/// ```
/// use lp_jwt::Untrusted;
///
/// assert_eq!(Untrusted::new("Zürich").to_string(), "Zürich");
/// assert_eq!(
///     Untrusted::new("ok\n2024 INFO forged\u{1b}[31m").to_string(),
///     r"ok\n2024 INFO forged\u{1b}[31m",
/// );
/// assert_eq!(Untrusted::new("abcdef").max_chars(3).to_string(), "abc...");
/// ```
#[derive(Clone, Copy)]
pub struct Untrusted<'a> {
    text: &'a str,
    max_chars: usize,
}

impl<'a> Untrusted<'a> {
    /// How many characters are shown unless [`Untrusted::max_chars`] says
    /// otherwise: enough for any real `alg`, `kid`, `kty` or issuer.
    pub const DEFAULT_MAX_CHARS: usize = 64;

    /// Written after the shown characters when the text was cut.
    pub const CUT_MARKER: &'static str = "...";

    /// `text`, to be shown with the default cut.
    pub fn new(text: &'a str) -> Self {
        Untrusted {
            text,
            max_chars: Self::DEFAULT_MAX_CHARS,
        }
    }

    /// Shows at most `max_chars` characters of the text.
    pub fn max_chars(self, max_chars: usize) -> Self {
        Untrusted { max_chars, ..self }
    }

    /// The text as received, unescaped.
    pub fn as_str(&self) -> &'a str {
        self.text
    }
}

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.text.chars();
        for c in chars.by_ref().take(self.max_chars) {
            write_char(f, c)?;
        }
        if chars.next().is_some() {
            f.write_str(Self::CUT_MARKER)?;
        }
        Ok(())
    }
}

/// Shows the text the way `Display` does, in quotes, so that `{:?}` of a
/// value holding one is as safe to log as its `Display`.
impl fmt::Debug for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

fn write_char(f: &mut fmt::Formatter<'_>, c: char) -> fmt::Result {
    match c {
        '\\' => f.write_str("\\\\"),
        // escape_debug escapes quotes for Rust literals; here they are
        // harmless and escaping them would only hurt readability.
        '"' | '\'' => f.write_char(c),
        _ => {
            let mut escaped = c.escape_debug();
            if escaped.len() == 1 {
                f.write_char(c)
            } else {
                escaped.try_for_each(|e| f.write_char(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Untrusted;

    fn check(input: &str, max: usize, expected: &str) {
        assert_eq!(
            Untrusted::new(input).max_chars(max).to_string(),
            expected,
            "{input:?}"
        );
    }

    #[test]
    fn escapes_and_cuts() {
        for (input, max, expected) in [
            ("RS256", 64, "RS256"),
            ("", 64, ""),
            ("", 0, ""),
            ("a", 0, "..."),
            ("abc", 3, "abc"),
            ("abcd", 3, "abc..."),
            ("a\nb", 64, r"a\nb"),
            ("a\r\n\t\0", 64, r"a\r\n\t\0"),
            ("\u{1b}[31mred", 64, r"\u{1b}[31mred"),
            ("\u{7f}\u{85}\u{9b}", 64, r"\u{7f}\u{85}\u{9b}"),
            ("back\\slash", 64, r"back\\slash"),
            (r"\n", 64, r"\\n"),
            ("it's \"q\"", 64, "it's \"q\""),
            ("Zürich Ελλάδα 東京 😀", 64, "Zürich Ελλάδα 東京 😀"),
            ("abc\u{202e}def", 64, r"abc\u{202e}def"),
            ("a\u{200b}b\u{feff}", 64, r"a\u{200b}b\u{feff}"),
            ("l1\u{2028}l2\u{2029}", 64, r"l1\u{2028}l2\u{2029}"),
            ("e\u{301}", 64, r"e\u{301}"),
            // The cut counts characters of the input, not bytes.
            ("éééé", 2, "éé..."),
            ("\n\n\n", 2, r"\n\n..."),
        ] {
            check(input, max, expected);
        }
    }

    #[test]
    fn debug_is_quoted_display() {
        assert_eq!(format!("{:?}", Untrusted::new("a\nb")), r#""a\nb""#);
        assert_eq!(Untrusted::new("x\ny").as_str(), "x\ny");
    }

    #[test]
    fn longest_output_is_ten_bytes_a_character() {
        let worst = "\u{10ffff}".repeat(100);
        let shown = Untrusted::new(&worst).max_chars(7).to_string();
        assert_eq!(shown.len(), 10 * 7 + Untrusted::CUT_MARKER.len());
    }
}
