//! A measurement that could not have been made is an error, never a figure: a count of zero
//! where the load surely ran, a rate that is not a finite positive number, a counter that went
//! backwards. Each benchmark passes what it read through these checks before it divides by it
//! or reports it, so that a broken run stops `cargo xtask bench` with a message instead of
//! passing a gate with 0 or NaN (`--check` would accept a 0 under an `AtMost` target).

use anyhow::bail;

/// `value`, when it is a finite number above zero; otherwise an error naming `what`.
pub(crate) fn positive(what: &str, value: f64) -> anyhow::Result<f64> {
    if !value.is_finite() || value <= 0.0 {
        bail!("{what} measured {value}: a working run gives a finite number above 0, so this run is broken");
    }
    Ok(value)
}

/// How much a counter grew between two reads; an error when it went down (the process that
/// counts restarted, or the reads are of different things).
pub(crate) fn growth(what: &str, before: u64, after: u64) -> anyhow::Result<u64> {
    match after.checked_sub(before) {
        Some(grown) => Ok(grown),
        None => bail!("{what} went down from {before} to {after}: the counter was reset during the measurement"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_figures_are_refused() {
        for broken in [0.0, -0.0, -3.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let error = positive("instructions per request", broken).expect_err("a broken figure is refused");
            assert!(error.to_string().contains("instructions per request"), "{error}");
        }
        assert_eq!(positive("instructions per request", 12_500.0).expect("a sane figure"), 12_500.0);
    }

    #[test]
    fn a_counter_that_went_down_is_refused() {
        assert_eq!(growth("calls", 10, 15).expect("growth"), 5);
        assert_eq!(growth("calls", 10, 10).expect("no growth is a fact"), 0);
        assert!(growth("calls", 10, 3).is_err());
    }
}
