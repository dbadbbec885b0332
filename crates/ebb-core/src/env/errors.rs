//! [`Errors`]: the collector that lets a crate report every bad variable at once instead of
//! one per restart.

/// Every bad value found while reading a configuration, in the order found.
///
/// Generic over the crate's own error type `E` (default [`EnvError`](super::EnvError)), so
/// a crate collects its domain errors (`delay >= timeout`) with the grammar's in one list;
/// anything that converts into `E` can be pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "errors collected must be reported: call `finish`"]
pub struct Errors<E = super::EnvError> {
    errors: Vec<E>,
}

impl<E> Default for Errors<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Errors<E> {
    /// No errors yet.
    pub const fn new() -> Self {
        Self { errors: Vec::new() }
    }

    /// Records `error`.
    pub fn push(&mut self, error: impl Into<E>) {
        self.errors.push(error.into());
    }

    /// The value read, or `None` after recording why it could not be read. Made for the
    /// readers of [`Env`](super::Env): `errors.take(env.duration(VAR, bounds))` is `None`
    /// both when the variable is unset and when it is bad (then the error is kept).
    pub fn take<T, F: Into<E>>(&mut self, read: Result<Option<T>, F>) -> Option<T> {
        match read {
            Ok(value) => value,
            Err(error) => {
                self.push(error);
                None
            }
        }
    }

    /// Whether nothing went wrong so far.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// How many errors were recorded.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// `Ok(value)` when nothing went wrong, else every error recorded.
    ///
    /// # Errors
    /// Every error recorded, in the order found.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<E>> {
        if self.errors.is_empty() { Ok(value) } else { Err(self.errors) }
    }

    /// The errors recorded.
    pub fn into_vec(self) -> Vec<E> {
        self.errors
    }
}

impl<E, F: Into<E>> Extend<F> for Errors<E> {
    fn extend<I: IntoIterator<Item = F>>(&mut self, errors: I) {
        self.errors.extend(errors.into_iter().map(Into::into));
    }
}

#[cfg(test)]
mod tests {
    use super::super::EnvError;
    use super::*;

    #[test]
    fn keeps_every_error_in_order() {
        let mut errors: Errors = Errors::new();
        assert_eq!(errors.take(Ok::<_, EnvError>(Some(1))), Some(1));
        assert_eq!(errors.take(Ok::<Option<u8>, EnvError>(None)), None);
        assert_eq!(errors.take::<u8, _>(Err(EnvError::new("A", "x", "y"))), None);
        errors.extend([EnvError::new("B", "x", "y")]);
        assert_eq!(errors.len(), 2);
        let names: Vec<_> = errors.finish(()).expect_err("two").iter().map(|e| e.variable).collect();
        assert_eq!(names, ["A", "B"]);
        assert_eq!(Errors::<EnvError>::new().finish(7), Ok(7));
    }

    #[test]
    fn converts_into_the_crates_own_type() {
        #[derive(Debug, PartialEq)]
        struct Mine(String);
        impl From<EnvError> for Mine {
            fn from(error: EnvError) -> Self {
                Self(error.to_string())
            }
        }
        let mut errors: Errors<Mine> = Errors::new();
        errors.push(EnvError::new("A", "x", "y"));
        errors.push(Mine("domain".to_owned()));
        assert_eq!(errors.into_vec().len(), 2);
    }
}
