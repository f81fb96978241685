//! The `Range` request header (RFC 9110 §14): one byte range of a file of known length. Only
//! what players and `curl` send is honoured (`bytes=A-B`, `bytes=A-`, `bytes=-N`); a header
//! in any other form, or naming several ranges, is ignored (the whole file is sent, which the
//! RFC allows); a range starting past the end is unsatisfiable (416).

/// What to send for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ranged {
    /// The whole file (200).
    Whole,
    /// Bytes `start..=end` (206 with `Content-Range`).
    Part {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
    /// No byte of the range exists (416 with `Content-Range: bytes */LEN`).
    Unsatisfiable,
}

/// The range `header` asks of a file of `len` bytes.
pub(crate) fn parse(header: Option<&str>, len: u64) -> Ranged {
    let Some(header) = header else {
        return Ranged::Whole;
    };
    let header = header.trim();
    let Some(spec) = header
        .get(..6)
        .filter(|unit| unit.eq_ignore_ascii_case("bytes="))
        .map(|_| header[6..].trim())
    else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ranged::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // More digits than a u64 holds: past any end.
        Some(s.parse::<u64>().unwrap_or(u64::MAX))
    };
    match (first.is_empty(), last.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match number(last) {
            None => Ranged::Whole,
            Some(0) => Ranged::Unsatisfiable,
            Some(_) if len == 0 => Ranged::Unsatisfiable,
            Some(n) => Ranged::Part {
                start: len - n.min(len),
                end: len - 1,
            },
        },
        // bytes=A- or bytes=A-B.
        (false, open) => {
            let Some(start) = number(first) else {
                return Ranged::Whole;
            };
            let end = if open {
                u64::MAX
            } else {
                match number(last) {
                    Some(end) if end >= start => end,
                    _ => return Ranged::Whole,
                }
            };
            if start >= len {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part {
                    start,
                    end: end.min(len - 1),
                }
            }
        }
        (true, true) => Ranged::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, end: u64) -> Ranged {
        Ranged::Part { start, end }
    }

    #[test]
    fn the_three_forms() {
        assert_eq!(parse(Some("bytes=0-499"), 1000), part(0, 499));
        assert_eq!(parse(Some("bytes=500-"), 1000), part(500, 999));
        assert_eq!(parse(Some("bytes=-300"), 1000), part(700, 999));
        assert_eq!(parse(Some("bytes=-3000"), 1000), part(0, 999));
        assert_eq!(parse(Some("bytes=900-5000"), 1000), part(900, 999));
        assert_eq!(parse(Some("bytes=999-999"), 1000), part(999, 999));
        assert_eq!(parse(Some("Bytes = 2 - 3 "), 1000), Ranged::Whole);
        assert_eq!(parse(Some("BYTES=2-3"), 1000), part(2, 3));
        assert_eq!(parse(Some(" bytes= 2 - 3 "), 1000), part(2, 3));
    }

    #[test]
    fn past_the_end_is_unsatisfiable() {
        assert_eq!(parse(Some("bytes=1000-"), 1000), Ranged::Unsatisfiable);
        assert_eq!(parse(Some("bytes=1000-2000"), 1000), Ranged::Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 1000), Ranged::Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-"), 0), Ranged::Unsatisfiable);
        assert_eq!(parse(Some("bytes=-5"), 0), Ranged::Unsatisfiable);
        assert_eq!(
            parse(Some("bytes=99999999999999999999999-"), 1000),
            Ranged::Unsatisfiable
        );
    }

    #[test]
    fn anything_else_is_ignored() {
        assert_eq!(parse(None, 1000), Ranged::Whole);
        for h in [
            "",
            "bytes=",
            "bytes=-",
            "bytes=5",
            "bytes=5-2",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes 0-1",
            "bytes=1-2-3",
            "bytes=ü-1",
        ] {
            assert_eq!(parse(Some(h), 1000), Ranged::Whole, "{h:?}");
        }
    }
}
