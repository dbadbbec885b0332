//! The duration grammar: humantime's (`5s`, `1500ms`, `2m 30s`, `1h`, `7d`), trimmed, with
//! inclusive bounds that every duration variable states.

use std::time::Duration;

/// What every duration variable accepts: humantime's grammar, surrounding blanks ignored,
/// from `min` to `max` inclusive.
///
/// Bounds are part of the grammar, not an afterthought: a value past them is refused at
/// start-up with the bounds in the message, never clamped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationBounds {
    min: Duration,
    max: Duration,
}

impl DurationBounds {
    /// From `min` to `max`, both included.
    ///
    /// # Panics
    /// When `min > max` (in a `const`, at compile time).
    pub const fn new(min: Duration, max: Duration) -> Self {
        assert!(min.as_nanos() <= max.as_nanos(), "DurationBounds: min above max");
        Self { min, max }
    }

    /// The shortest duration accepted.
    pub const fn min(&self) -> Duration {
        self.min
    }

    /// The longest duration accepted.
    pub const fn max(&self) -> Duration {
        self.max
    }

    /// What a valid value looks like, naming the bounds: `a duration from 1s to 7d, such
    /// as 5s or 1500ms` (`up to 5m` when the minimum is zero).
    pub fn expected(&self) -> String {
        if self.min.is_zero() {
            format!("a duration up to {}, such as 5s or 1500ms", format_duration(self.max))
        } else {
            format!(
                "a duration from {} to {}, such as 5s or 1500ms",
                format_duration(self.min),
                format_duration(self.max)
            )
        }
    }

    /// `text` as a duration within the bounds.
    ///
    /// # Errors
    /// What was expected ([`expected`](Self::expected)), with humantime's reason when the
    /// text is no duration at all.
    pub fn parse(&self, text: &str) -> Result<Duration, String> {
        match parse_duration(text) {
            Ok(duration) if (self.min..=self.max).contains(&duration) => Ok(duration),
            Ok(_) => Err(self.expected()),
            Err(reason) => Err(format!("{} ({reason})", self.expected())),
        }
    }
}

/// `text` (trimmed) in humantime's grammar, without bounds: for values that are part of a
/// larger one (the period of a rate such as `100/1m`). Variables use [`DurationBounds`].
///
/// # Errors
/// humantime's reason, e.g. `unknown time unit "soon"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|error| error.to_string())
}

/// The largest unit that divides `duration` exactly, so `7d`, `5m`, `100ms`: short, and
/// read back by the grammar as the same value.
fn format_duration(duration: Duration) -> String {
    const UNITS: [(u128, &str); 7] = [
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    let (size, unit) = UNITS.iter().find(|(size, _)| nanos.is_multiple_of(*size)).copied().unwrap_or((1, "ns"));
    format!("{}{unit}", nanos / size)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn humantime_trimmed_and_bounded() {
        let bounds = DurationBounds::new(Duration::from_millis(100), 5 * 60 * SECOND);
        assert_eq!(bounds.parse(" 1500ms "), Ok(Duration::from_millis(1500)));
        assert_eq!(bounds.parse("2m 30s"), Ok(150 * SECOND));
        assert_eq!(bounds.parse("100ms"), Ok(Duration::from_millis(100)), "min is included");
        assert_eq!(bounds.parse("5m"), Ok(300 * SECOND), "max is included");
        assert_eq!(bounds.parse("99ms"), Err("a duration from 100ms to 5m, such as 5s or 1500ms".to_owned()));
        assert!(bounds.parse("301s").is_err());
        for bad in ["soon", "", "-1s", "5", "500000000000y"] {
            let expected = bounds.parse(bad).expect_err(bad);
            assert!(expected.starts_with("a duration from 100ms to 5m"), "{bad}: {expected}");
        }
    }

    #[test]
    fn the_bounds_are_spelled_in_the_grammar() {
        let bounds = DurationBounds::new(Duration::ZERO, 7 * 24 * 3600 * SECOND);
        assert_eq!(bounds.expected(), "a duration up to 7d, such as 5s or 1500ms");
        for (duration, text) in [(3600 * SECOND, "1h"), (90 * SECOND, "90s"), (Duration::from_nanos(1500), "1500ns")] {
            assert_eq!(format_duration(duration), text);
            assert_eq!(parse_duration(text), Ok(duration));
        }
    }
}
