//! The size grammar: a whole number of bytes with an optional unit from ONE table, with
//! inclusive bounds that every size variable states.
//!
//! | unit | bytes |
//! |------|-------|
//! | none, `B` | 1 |
//! | `KB`, `MB`, `GB`, `TB` | 10^3, 10^6, 10^9, 10^12 (SI: decimal) |
//! | `KiB`, `MiB`, `GiB`, `TiB` | 2^10, 2^20, 2^30, 2^40 (IEC: binary) |
//!
//! Units are case-insensitive (`kib`, `MIB`), a blank may separate number and unit
//! (`10 MB`), and `KB` is 1000 bytes as SI and IEC define it: write `KiB` for 1024.
//! Fractions (`1.5GiB`), signs and products that overflow 64 bits are refused.

/// The one unit table, lower-case.
const UNITS: [(&str, u64); 10] = [
    ("", 1),
    ("b", 1),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
];

/// What every size variable accepts: the grammar of this module, from `min` to `max`
/// bytes inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeBounds {
    min: u64,
    max: u64,
}

impl SizeBounds {
    /// From `min` to `max` bytes, both included.
    ///
    /// # Panics
    /// When `min > max` (in a `const`, at compile time).
    pub const fn new(min: u64, max: u64) -> Self {
        assert!(min <= max, "SizeBounds: min above max");
        Self { min, max }
    }

    /// The smallest size accepted, in bytes.
    pub const fn min(&self) -> u64 {
        self.min
    }

    /// The largest size accepted, in bytes.
    pub const fn max(&self) -> u64 {
        self.max
    }

    /// What a valid value looks like, naming the bounds: `a size from 5MiB to 5GiB, such
    /// as 512KiB, 8MiB or 1048576 (KB = 1000 bytes, KiB = 1024)`.
    pub fn expected(&self) -> String {
        format!(
            "a size from {} to {}, such as 512KiB, 8MiB or 1048576 (KB = 1000 bytes, KiB = 1024)",
            format_size(self.min),
            format_size(self.max)
        )
    }

    /// `text` as a number of bytes within the bounds.
    ///
    /// # Errors
    /// What was expected ([`expected`](Self::expected)).
    pub fn parse(&self, text: &str) -> Result<u64, String> {
        parse_size(text).filter(|size| (self.min..=self.max).contains(size)).ok_or_else(|| self.expected())
    }
}

/// `text` as a number of bytes, without bounds (variables use [`SizeBounds`]); `None`
/// when it is not in the grammar or overflows `u64`.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return None;
    }
    let number: u64 = number.parse().ok()?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let (_, factor) = UNITS.iter().find(|(name, _)| *name == unit)?;
    number.checked_mul(*factor)
}

/// The largest binary unit that divides `bytes` exactly (`5GiB`), else plain bytes: read
/// back by the grammar as the same value.
fn format_size(bytes: u64) -> String {
    for (unit, factor) in [("TiB", 1u64 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes != 0 && bytes.is_multiple_of(factor) {
            return format!("{}{unit}", bytes / factor);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_unit_table() {
        for (text, bytes) in [
            ("1048576", 1 << 20),
            ("12B", 12),
            ("1kb", 1_000),
            ("1KiB", 1_024),
            ("10 MB", 10_000_000),
            ("2MiB", 2 << 20),
            ("5GB", 5_000_000_000),
            ("5gib", 5 << 30),
            ("2TB", 2_000_000_000_000),
            ("5TiB", 5 << 40),
            (" 8 MIB ", 8 << 20),
        ] {
            assert_eq!(parse_size(text), Some(bytes), "{text}");
        }
        for bad in ["", "lots", "MiB", "1.5GiB", "-1", "+1", "1 PiB", "1 k", "99999999999999999999GiB", "20000000TiB"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn bounds_are_inclusive_and_named() {
        let bounds = SizeBounds::new(5 << 20, 5 << 30);
        assert_eq!(bounds.parse("5MiB"), Ok(5 << 20));
        assert_eq!(bounds.parse("5GiB"), Ok(5 << 30));
        let expected = bounds.parse("1MiB").expect_err("below");
        assert!(expected.starts_with("a size from 5MiB to 5GiB"), "{expected}");
        assert_eq!(bounds.parse("6GB"), Err(expected));
        assert_eq!(format_size(0), "0");
        assert_eq!(format_size(41_943_040), "40MiB");
        assert_eq!(format_size(1000), "1000");
    }
}
