//! A base64url decoder for the common case of `decode`: it decodes a
//! segment and finds the `.` after it in the same pass.
//!
//! perf put the base64 crate's decoding and the search for the two dots
//! (`str::find`, then `memchr`) at a fifth of decode's time. This reads
//! the characters of the alphabet from the start of the text, decodes
//! them, and stops at the first other byte, which a well-formed token has
//! at the end of its header and claims: the dot. It decides only canonical
//! encodings and gives up (`None`) on anything else (a length of 4n + 1,
//! trailing bits set, no room left in the buffer); the caller then takes
//! the base64 crate's path, which reports why. The property tests check
//! that what this accepts is exactly what [`crate::decode`]'s engine
//! accepts, with the same bytes.

/// What [`SEXTETS`] holds for a byte outside the alphabet.
const NOT_BASE64: u8 = 0x80;

/// The 6-bit value of every base64url character, [`NOT_BASE64`] for every
/// other byte.
static SEXTETS: [u8; 256] = sextets();

/// [`SEXTETS`] shifted to each character's place in the 24 bits of its
/// group of four, so that a group decodes with four loads and three ORs; a
/// byte outside the alphabet sets the top byte, which no character's bits
/// reach.
static PLACED: [[u32; 256]; 4] = [placed(18), placed(12), placed(6), placed(0)];

/// The bits [`PLACED`] sets for a byte outside the alphabet.
const OUTSIDE: u32 = 0xff00_0000;

/// The 6-bit value of a base64url character; [`NOT_BASE64`] for any other
/// byte.
pub(crate) fn sextet(c: u8) -> u8 {
    SEXTETS[usize::from(c)]
}

const fn sextets() -> [u8; 256] {
    let mut table = [NOT_BASE64; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
}

const fn placed(shift: u32) -> [u32; 256] {
    let sextets = sextets();
    let mut table = [OUTSIDE; 256];
    let mut i = 0;
    while i < 256 {
        if sextets[i] != NOT_BASE64 {
            table[i] = (sextets[i] as u32) << shift;
        }
        i += 1;
    }
    table
}

/// The 24 bits of four characters, [`OUTSIDE`] set if one of them is not
/// base64url.
fn group(chars: &[u8]) -> u32 {
    let [t0, t1, t2, t3] = &PLACED;
    match *chars {
        [a, b, c, d] => {
            t0[usize::from(a)] | t1[usize::from(b)] | t2[usize::from(c)] | t3[usize::from(d)]
        }
        _ => OUTSIDE,
    }
}

/// Decodes the run of base64url characters at the start of `src` into the
/// start of `out`: `(characters read, bytes written)`, the byte after the
/// run (if any) being outside the alphabet. `None` when the run is not a
/// canonical unpadded encoding or `out` is too small.
pub(crate) fn decode_run(src: &[u8], out: &mut [u8]) -> Option<(usize, usize)> {
    let (mut read, mut written) = (0, 0);
    // Eight characters make six bytes; a block with a byte outside the
    // alphabet ends the loop and is read one character at a time below.
    for (chars, bytes) in src.chunks_exact(8).zip(out.chunks_exact_mut(6)) {
        let (high, low) = chars.split_at(4);
        let (high, low) = (group(high), group(low));
        if (high | low) & OUTSIDE != 0 {
            break;
        }
        let six = (u64::from(high) << 24 | u64::from(low)).to_be_bytes();
        bytes.copy_from_slice(six.get(2..)?);
        read += 8;
        written += 6;
    }
    let (mut acc, mut pending) = (0u32, 0);
    for &c in src.get(read..)? {
        let sextet = sextet(c);
        if sextet & NOT_BASE64 != 0 {
            break;
        }
        acc = acc << 6 | u32::from(sextet);
        pending += 1;
        read += 1;
        if pending == 4 {
            out.get_mut(written..written + 3)?
                .copy_from_slice(acc.to_be_bytes().get(1..)?);
            written += 3;
            (acc, pending) = (0, 0);
        }
    }
    // The last one to three characters: a lone one encodes no whole byte,
    // and the bits below the data must be zero (one encoding per string).
    let tail = match pending {
        0 => return Some((read, written)),
        2 if acc & 0x0f == 0 => [(acc >> 4) as u8, 0],
        3 if acc & 0x03 == 0 => [(acc >> 10) as u8, (acc >> 2) as u8],
        _ => return None,
    };
    let tail = tail.get(..pending - 1)?;
    out.get_mut(written..written + tail.len())?
        .copy_from_slice(tail);
    Some((read, written + tail.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use proptest::prelude::*;

    use crate::decode::B64;

    /// The property: on any text, the run decodes here exactly when the
    /// strict engine accepts it (given room), to the same bytes.
    fn agrees(src: &[u8], room: usize) -> Result<(), TestCaseError> {
        let run = src
            .iter()
            .position(|&c| sextet(c) == NOT_BASE64)
            .unwrap_or(src.len());
        let engine = B64.decode(&src[..run]);
        let mut out = vec![0u8; room];
        match decode_run(src, &mut out) {
            Some((read, written)) => {
                prop_assert_eq!(read, run);
                prop_assert_eq!(Ok(out[..written].to_vec()), engine);
            }
            None => prop_assert!(
                engine.as_ref().map_or(true, |bytes| bytes.len() > room),
                "{:?} refused, the engine gives {:?}",
                String::from_utf8_lossy(src),
                engine
            ),
        }
        Ok(())
    }

    proptest! {
        /// Encodings of any bytes, followed by a dot and more, or by
        /// nothing; with room to spare and without.
        #[test]
        fn decodes_every_encoding(
            bytes in prop::collection::vec(any::<u8>(), 0..120),
            after in "(\\.[A-Za-z0-9_-]{0,10})?",
            slack in 0..10usize,
        ) {
            let mut src = B64.encode(&bytes).into_bytes();
            src.extend_from_slice(after.as_bytes());
            agrees(&src, bytes.len() + slack)?;
            let mut out = vec![0u8; bytes.len() + 8];
            let (read, written) = decode_run(&src, &mut out).unwrap();
            prop_assert_eq!(&out[..written], &bytes[..]);
            prop_assert_eq!(src.get(read), after.as_bytes().first());
        }

        /// Text close to base64: wrong alphabet, padding, dots, spaces,
        /// every length.
        #[test]
        fn agrees_on_text_close_to_base64(
            s in "[A-Za-z0-9_=+/. -]{0,40}",
            room in 0..40usize,
        ) {
            agrees(s.as_bytes(), room)?;
        }

        #[test]
        fn agrees_on_any_bytes(src in prop::collection::vec(any::<u8>(), 0..60)) {
            agrees(&src, 64)?;
        }
    }

    #[test]
    fn stops_at_the_first_byte_outside_the_alphabet() {
        let check = |src: &str, expected: Option<(usize, &[u8])>| {
            let mut out = [0u8; 16];
            let got = decode_run(src.as_bytes(), &mut out).map(|(read, n)| (read, &out[..n]));
            assert_eq!(got, expected, "{src:?}");
        };
        check("", Some((0, b"")));
        check(".", Some((0, b"")));
        check("e30.x", Some((3, b"{}")));
        check("QUJDREVGR0g.", Some((11, b"ABCDEFGH")));
        check("QUJDREVGR0hJ", Some((12, b"ABCDEFGHI")));
        check("QUJD=", Some((4, b"ABC")));
        check("-_-_", Some((4, &[0xfb, 0xff, 0xbf])));
        check("A.", None);
        check("AB.", None);
        check("AAB", None);
        // Sixteen characters make twelve bytes, which need room for them.
        let mut small = [0u8; 11];
        assert_eq!(decode_run(b"QUJDREVGR0hJSktM", &mut small), None);
    }
}
