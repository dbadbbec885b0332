//! Small text on the stack: decimal and hexadecimal integers and short strings, written
//! without `format!` (and so without allocating) on the per-request path.

/// Up to `N` bytes of ASCII text, on the stack.
pub(crate) struct StackText<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    pub(crate) const fn new() -> Self {
        Self { bytes: [0; N], len: 0 }
    }

    /// Appends `part`, or returns `false` (and appends nothing) when it does not fit.
    pub(crate) fn push(&mut self, part: &[u8]) -> bool {
        let Some(end) = self.len.checked_add(part.len()).filter(|&end| end <= N) else { return false };
        self.bytes[self.len..end].copy_from_slice(part);
        self.len = end;
        true
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The text; callers push ASCII only, so it is always valid UTF-8 (`""` otherwise).
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

/// A `u64` in decimal, as `Display` writes it, on the stack.
pub(crate) struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    pub(crate) fn new(mut value: u64) -> Self {
        let mut digits = [0_u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        Self { digits, start }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.digits[self.start..]
    }
}

/// A `u16` in lowercase hexadecimal without leading zeros, as `{:x}` writes it.
pub(crate) struct Hex16 {
    digits: [u8; 4],
    start: usize,
}

impl Hex16 {
    pub(crate) fn new(value: u16) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut digits = [0_u8; 4];
        for (i, digit) in digits.iter_mut().enumerate() {
            *digit = DIGITS[usize::from((value >> (12 - 4 * i)) & 0xf)];
        }
        let start = (value.leading_zeros() / 4).min(3) as usize;
        Self { digits, start }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.digits[self.start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written_like_display() {
        for value in (0..2000).chain([u64::from(u32::MAX), u64::MAX - 1, u64::MAX]) {
            assert_eq!(Decimal::new(value).as_bytes(), value.to_string().as_bytes());
        }
    }

    #[test]
    fn hex_is_written_like_lower_hex() {
        for value in 0..=u16::MAX {
            assert_eq!(Hex16::new(value).as_bytes(), format!("{value:x}").as_bytes());
        }
    }

    #[test]
    fn stack_text_refuses_what_does_not_fit() {
        let mut text = StackText::<4>::new();
        assert!(text.push(b"abc"));
        assert!(!text.push(b"de"));
        assert!(text.push(b"d"));
        assert_eq!(text.as_str(), "abcd");
    }
}
