//! [`Env`]: where variables come from, the process environment or a function (tests, a
//! config file), and the typed readers over it.

use std::fmt;
use std::time::Duration;

use super::{BOOL_EXPECTED, DurationBounds, EnvError, SizeBounds, parse_bool};

/// A source of variables: the process environment ([`Env::process`]) or any function of
/// a name ([`Env::from_fn`]).
///
/// The readers return `Ok(None)` for an unset variable, `Ok(Some(_))` for a good value and
/// an [`EnvError`] naming the variable for a bad one. A value that is not UTF-8 is an
/// error, never read as unset (its bytes are not shown: they may be a secret).
#[derive(Clone, Copy)]
pub struct Env<'a> {
    lookup: Option<Lookup<'a>>,
}

/// A function of a variable's name to its value.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.lookup.is_some() { "Env::from_fn(..)" } else { "Env::process()" })
    }
}

impl Env<'static> {
    /// The process environment (`std::env::var_os`).
    pub const fn process() -> Self {
        Self { lookup: None }
    }
}

impl<'a> Env<'a> {
    /// Variables looked up through `lookup` (`None`: unset).
    pub const fn from_fn(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup: Some(lookup) }
    }

    /// The raw value of `variable`, untrimmed.
    ///
    /// # Errors
    /// A value that is not UTF-8 (process environment only); the value is not shown.
    pub fn get(&self, variable: &'static str) -> Result<Option<String>, EnvError> {
        match self.lookup {
            Some(lookup) => Ok(lookup(variable)),
            None => match std::env::var_os(variable) {
                None => Ok(None),
                Some(value) => value.into_string().map(Some).map_err(|_| EnvError::secret(variable, "UTF-8 text")),
            },
        }
    }

    /// A duration within `bounds` (see [`DurationBounds`] for the grammar).
    ///
    /// # Errors
    /// A value that is not a duration or is out of bounds, naming the bounds.
    pub fn duration(&self, variable: &'static str, bounds: DurationBounds) -> Result<Option<Duration>, EnvError> {
        self.parse(variable, |value| bounds.parse(value))
    }

    /// A size in bytes within `bounds` (see [`SizeBounds`] for the grammar).
    ///
    /// # Errors
    /// A value that is not a size or is out of bounds, naming the bounds.
    pub fn size(&self, variable: &'static str, bounds: SizeBounds) -> Result<Option<u64>, EnvError> {
        self.parse(variable, |value| bounds.parse(value))
    }

    /// A boolean (see [`parse_bool`] for the grammar).
    ///
    /// # Errors
    /// Anything else.
    pub fn bool(&self, variable: &'static str) -> Result<Option<bool>, EnvError> {
        self.parse(variable, |value| parse_bool(value).ok_or_else(|| BOOL_EXPECTED.to_owned()))
    }

    /// The value of `variable` through `parse`, which returns what was expected on failure.
    ///
    /// # Errors
    /// What `parse` refuses, as an [`EnvError`] with its text as `expected`.
    pub fn parse<T>(
        &self,
        variable: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, EnvError> {
        let Some(value) = self.get(variable)? else { return Ok(None) };
        parse(&value).map(Some).map_err(|expected| EnvError::new(variable, value, expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_through_a_function() {
        let lookup = |name: &str| match name {
            "D" => Some(" 1500ms ".to_owned()),
            "S" => Some("2 MiB".to_owned()),
            "B" => Some("On".to_owned()),
            "BAD" => Some("soon".to_owned()),
            _ => None,
        };
        let env = Env::from_fn(&lookup);
        let any = DurationBounds::new(Duration::ZERO, Duration::from_secs(60));
        assert_eq!(env.duration("D", any), Ok(Some(Duration::from_millis(1500))));
        assert_eq!(env.duration("UNSET", any), Ok(None));
        assert_eq!(env.size("S", SizeBounds::new(0, u64::MAX)), Ok(Some(2 << 20)));
        assert_eq!(env.bool("B"), Ok(Some(true)));
        let error = env.bool("BAD").expect_err("not a bool");
        assert_eq!((error.variable, error.value.as_str()), ("BAD", "soon"));
        assert_eq!(format!("{env:?}"), "Env::from_fn(..)");
    }

    #[test]
    fn reads_the_process_environment() {
        // PATH is set in any environment that runs tests; a made-up name is not.
        assert!(Env::process().get("PATH").expect("UTF-8").is_some());
        assert_eq!(Env::process().get("SURELY_UNSET_VARIABLE_OF_THIS_TEST"), Ok(None));
    }
}
