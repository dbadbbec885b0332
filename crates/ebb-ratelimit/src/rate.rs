//! A rate: `count` requests per `period`, written like `100/1m`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// `count` requests per `period`; the limiter spaces them evenly, one every
/// [`emission_interval`](Self::emission_interval) (GCRA), and the burst lets clients go
/// faster for a short while.
///
/// Parsed from `<count>/<period>`: `100/1m`, `10/s`, `5000/1h`, `3/500ms` (the period is a
/// humantime duration; a bare unit means one of it).
///
/// ```
/// use ebb_ratelimit::Rate;
/// let rate: Rate = "100/1m".parse()?;
/// assert_eq!(rate.count(), 100);
/// assert_eq!(rate.emission_interval(), std::time::Duration::from_millis(600));
/// # Ok::<_, ebb_ratelimit::RateParseError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    count: u32,
    period: Duration,
}

/// Why a rate could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected <count>/<period> such as `100/1m` or `10/s`: {reason}")]
pub struct RateParseError {
    reason: String,
}

impl Rate {
    /// `count` requests per `period`.
    ///
    /// # Errors
    /// A zero count or a period shorter than a microsecond.
    pub fn new(count: u32, period: Duration) -> Result<Self, RateParseError> {
        if count == 0 {
            return Err(RateParseError { reason: "the count must be at least 1".into() });
        }
        if period < Duration::from_micros(1) {
            return Err(RateParseError { reason: "the period must be at least 1us".into() });
        }
        if period > MAX_PERIOD {
            return Err(RateParseError { reason: "the period must be at most 366 days".into() });
        }
        Ok(Self { count, period })
    }

    /// Requests per period.
    pub const fn count(&self) -> u32 {
        self.count
    }

    /// The period.
    pub const fn period(&self) -> Duration {
        self.period
    }

    /// Time between two requests at the steady rate: `period / count`.
    pub fn emission_interval(&self) -> Duration {
        self.period / self.count
    }

    /// [`emission_interval`](Self::emission_interval) in whole microseconds (at least 1), the
    /// unit the Redis script counts in.
    pub(crate) fn interval_micros(&self) -> u64 {
        u64::try_from(self.emission_interval().as_micros()).unwrap_or(u64::MAX).max(1)
    }
}

/// The longest period a rate may have: longer ones are mistakes (and would overflow the
/// exact integer range of the Redis script's numbers).
pub const MAX_PERIOD: Duration = Duration::from_secs(366 * 24 * 3600);

impl FromStr for Rate {
    type Err = RateParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (count, period) =
            text.trim().split_once('/').ok_or_else(|| RateParseError { reason: "no `/` in it".into() })?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| RateParseError { reason: format!("`{}` is not a whole number", count.trim()) })?;
        let period = period.trim();
        // `10/s` reads as `10/1s`.
        let starts_with_digit = period.starts_with(|c: char| c.is_ascii_digit());
        let spelled = if starts_with_digit { period.to_owned() } else { format!("1{period}") };
        let period = ebb_core::env::parse_duration(&spelled)
            .map_err(|error| RateParseError { reason: format!("`{period}` is not a period ({error})") })?;
        Self::new(count, period)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, humantime::format_duration(self.period))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counts_and_periods() {
        let rate: Rate = "100/1m".parse().expect("valid");
        assert_eq!((rate.count(), rate.period()), (100, Duration::from_secs(60)));
        let rate: Rate = "10/s".parse().expect("valid");
        assert_eq!(rate.emission_interval(), Duration::from_millis(100));
        let rate: Rate = " 3 / 500ms ".parse().expect("valid");
        assert_eq!(rate.interval_micros(), 166_666);
    }

    #[test]
    fn rejects_nonsense_with_a_reason() {
        for bad in ["100/banana", "banana/1m", "100", "0/1s", "-1/1s", "100/0s", "", "1/600000y", "1/367d"] {
            let error = bad.parse::<Rate>().expect_err(bad);
            assert!(error.to_string().contains("<count>/<period>"), "{bad}: {error}");
        }
    }

    #[test]
    fn displays_as_parsed() {
        assert_eq!("100/1m".parse::<Rate>().expect("valid").to_string(), "100/1m");
    }
}
