//! The `Range` request header, single byte ranges only (RFC 9110 §14): a server may ignore
//! what it does not support, so multiple ranges and other units get the whole object.

use std::ops::Range;

/// The byte range of an object of `size` bytes that `header` asks for.
///
/// `Ok(None)`: serve the whole object (no header, or one we ignore). `Err(())`: the range
/// lies outside the object (416).
pub(crate) fn parse(header: Option<&str>, size: u64) -> Result<Option<Range<u64>>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.trim().split_once('-') else { return Ok(None) };
    let (start, end) = (start.trim(), end.trim());
    let parse = |text: &str| text.parse::<u64>().ok();
    match (start.is_empty(), end.is_empty()) {
        // bytes=-n: the last n bytes.
        (true, false) => match parse(end) {
            Some(0) => Err(()),
            Some(_) if size == 0 => Err(()),
            Some(n) => Ok(Some(size.saturating_sub(n)..size)),
            None => Ok(None),
        },
        // bytes=a- : from a to the end.
        (false, true) => match parse(start) {
            Some(a) if a >= size => Err(()),
            Some(a) => Ok(Some(a..size)),
            None => Ok(None),
        },
        // bytes=a-b, inclusive; b past the end means the end.
        (false, false) => match (parse(start), parse(end)) {
            (Some(a), Some(b)) if a > b => Ok(None),
            (Some(a), Some(_)) if a >= size => Err(()),
            (Some(a), Some(b)) => Ok(Some(a..b.saturating_add(1).min(size))),
            _ => Ok(None),
        },
        (true, true) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn single_ranges() {
        assert_eq!(parse(Some("bytes=0-9"), 100), Ok(Some(0..10)));
        assert_eq!(parse(Some("bytes=90-200"), 100), Ok(Some(90..100)));
        assert_eq!(parse(Some("bytes=95-"), 100), Ok(Some(95..100)));
        assert_eq!(parse(Some("bytes=-10"), 100), Ok(Some(90..100)));
        assert_eq!(parse(Some("bytes=-500"), 100), Ok(Some(0..100)));
    }

    #[test]
    fn outside_the_object() {
        assert_eq!(parse(Some("bytes=100-"), 100), Err(()));
        assert_eq!(parse(Some("bytes=100-200"), 100), Err(()));
        assert_eq!(parse(Some("bytes=-0"), 100), Err(()));
        assert_eq!(parse(Some("bytes=0-0"), 0), Err(()));
        assert_eq!(parse(Some("bytes=-5"), 0), Err(()));
    }

    #[test]
    fn ignored_forms_serve_everything() {
        for header in
            [None, Some("items=0-1"), Some("bytes=0-1,5-6"), Some("bytes=5-1"), Some("bytes=a-b"), Some("bytes=-")]
        {
            assert_eq!(parse(header, 100), Ok(None), "{header:?}");
        }
    }
}
