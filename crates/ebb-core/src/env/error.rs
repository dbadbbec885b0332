//! [`EnvError`]: one variable whose value cannot be used, named with the value and what was
//! expected, so an operator can fix it without reading code.

use std::fmt;

/// A variable holds a value that cannot be used.
///
/// Displayed as `EBB_SHUTDOWN_DELAY="soon" is invalid: expected a duration ...`: the
/// variable, the value (quoted, so blanks and control characters show) and what a valid
/// value looks like. A secret's value is never shown: see [`EnvError::secret`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct EnvError {
    /// The variable's name.
    pub variable: &'static str,
    /// The value found; empty when it is [hidden](Self::is_hidden).
    pub value: String,
    /// What a valid value looks like, e.g. `a duration from 0s to 10m, such as 5s`.
    pub expected: String,
    hidden: bool,
}

impl EnvError {
    /// `variable` holds `value`, which is not `expected`.
    pub fn new(variable: &'static str, value: impl Into<String>, expected: impl Into<String>) -> Self {
        Self { variable, value: value.into(), expected: expected.into(), hidden: false }
    }

    /// `variable` holds a value that is not `expected`, and the value must not be shown
    /// (a secret, a URL with a password, bytes that are not UTF-8).
    pub fn secret(variable: &'static str, expected: impl Into<String>) -> Self {
        Self { variable, value: String::new(), expected: expected.into(), hidden: true }
    }

    /// Whether the value is withheld from [`Display`](fmt::Display) (and not stored).
    pub fn is_hidden(&self) -> bool {
        self.hidden
    }

    /// The message without the variable's name: `"soon" is invalid: expected ...`, or
    /// `is invalid (value not shown): expected ...` for a hidden value.
    pub fn reason(&self) -> String {
        if self.hidden {
            format!("is invalid (value not shown): expected {}", self.expected)
        } else {
            format!("{:?} is invalid: expected {}", self.value, self.expected)
        }
    }
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hidden {
            write!(f, "{} is invalid (value not shown): expected {}", self.variable, self.expected)
        } else {
            write!(f, "{}={:?} is invalid: expected {}", self.variable, self.value, self.expected)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_variable_the_value_and_what_was_expected() {
        let error = EnvError::new("EBB_SHUTDOWN_DELAY", "soon", "a duration such as 5s or 1500ms");
        assert_eq!(
            error.to_string(),
            "EBB_SHUTDOWN_DELAY=\"soon\" is invalid: expected a duration such as 5s or 1500ms"
        );
        assert_eq!(error.reason(), "\"soon\" is invalid: expected a duration such as 5s or 1500ms");
    }

    #[test]
    fn a_secret_is_never_shown() {
        let error = EnvError::secret("EBB_JWT_SECRET", "at least 32 bytes");
        assert!(error.is_hidden() && error.value.is_empty());
        assert_eq!(error.to_string(), "EBB_JWT_SECRET is invalid (value not shown): expected at least 32 bytes");
        assert!(!format!("{error:?}").contains("hunter2"));
    }
}
