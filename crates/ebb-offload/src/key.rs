//! Object keys from clients, checked before they reach a store.

use std::fmt;

use object_store::path::Path;

/// The longest key accepted, in bytes (S3 allows 1024).
pub const MAX_KEY_LEN: usize = 1024;

/// A key that is safe to hand to any store: relative, without `.` or `..` segments, empty
/// segments, backslashes or control characters, and at most [`MAX_KEY_LEN`] bytes. It can
/// never name anything outside the store's prefix (or the local directory).
///
/// ```
/// use ebb_offload::ObjectKey;
/// assert!(ObjectKey::parse("reports/2026/q3.pdf").is_ok());
/// assert!(ObjectKey::parse("../etc/passwd").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectKey(String);

/// Why a key was refused; the text is the reason sent with the 400.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Empty.
    #[error("the object key is empty")]
    Empty,
    /// Longer than [`MAX_KEY_LEN`] bytes.
    #[error("the object key is {0} bytes long; at most {MAX_KEY_LEN} are allowed")]
    TooLong(usize),
    /// Starts with `/`.
    #[error("the object key must not start with `/`")]
    Absolute,
    /// Holds a `.` or `..` segment.
    #[error("the object key must not contain `.` or `..` segments")]
    DotSegment,
    /// Holds an empty segment (`a//b`) or ends with `/`.
    #[error("the object key must not contain empty segments (`//`) or end with `/`")]
    EmptySegment,
    /// Holds a control character or a backslash.
    #[error("the object key must not contain control characters or backslashes")]
    BadCharacter,
}

impl ObjectKey {
    /// Checks `key`.
    ///
    /// # Errors
    /// The first rule it breaks.
    pub fn parse(key: &str) -> Result<Self, KeyError> {
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        if key.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong(key.len()));
        }
        if key.starts_with('/') {
            return Err(KeyError::Absolute);
        }
        if key.chars().any(|c| c.is_control() || c == '\\') {
            return Err(KeyError::BadCharacter);
        }
        for segment in key.split('/') {
            match segment {
                "" => return Err(KeyError::EmptySegment),
                "." | ".." => return Err(KeyError::DotSegment),
                _ => {}
            }
        }
        Ok(Self(key.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as an object_store path under `prefix`.
    pub(crate) fn to_path(&self, prefix: Option<&Path>) -> Path {
        let own = Path::from_iter(self.0.split('/'));
        match prefix {
            Some(prefix) => Path::from_iter(prefix.parts().chain(own.parts())),
            None => own,
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_keys() {
        for key in
            ["a", "a/b/c.txt", "reports/2026/Q3 final.pdf", "ünïcödé/名前", "a.b/..c/d..", "x".repeat(1024).as_str()]
        {
            assert!(ObjectKey::parse(key).is_ok(), "{key}");
        }
    }

    #[test]
    fn refuses_escapes_and_garbage_with_a_reason() {
        let cases = [
            ("", KeyError::Empty),
            ("/etc/passwd", KeyError::Absolute),
            ("../secret", KeyError::DotSegment),
            ("a/../../b", KeyError::DotSegment),
            ("a/./b", KeyError::DotSegment),
            ("a//b", KeyError::EmptySegment),
            ("a/", KeyError::EmptySegment),
            ("a\u{0}b", KeyError::BadCharacter),
            ("a\nb", KeyError::BadCharacter),
            ("..\\windows", KeyError::BadCharacter),
        ];
        for (key, expected) in cases {
            assert_eq!(ObjectKey::parse(key), Err(expected), "{key:?}");
        }
        assert_eq!(ObjectKey::parse(&"x".repeat(1025)), Err(KeyError::TooLong(1025)));
    }

    #[test]
    fn paths_stay_under_the_prefix() {
        let prefix = Path::from("tenant-a");
        let key = ObjectKey::parse("docs/readme.md").expect("valid");
        assert_eq!(key.to_path(Some(&prefix)).as_ref(), "tenant-a/docs/readme.md");
    }
}
