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
    /// A segment is longer than [`MAX_SEGMENT_LEN`] bytes (file systems and S3 servers
    /// backed by them refuse longer names).
    #[error("each part of the object key between `/` may be at most {MAX_SEGMENT_LEN} bytes long")]
    SegmentTooLong,
    /// Starts with the prefix this service keeps its own objects under.
    #[error("object keys starting with `.ebb/` are reserved")]
    Reserved,
}

/// The longest segment (text between `/`) accepted, in bytes: file names are at most 255
/// bytes on the file systems that local stores and S3 servers such as MinIO write to.
pub const MAX_SEGMENT_LEN: usize = 255;

/// The first segment of the store paths that hold the object versions (see the crate docs).
pub(crate) const RESERVED_PREFIX: &str = ".ebb";

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
                long if long.len() > MAX_SEGMENT_LEN => return Err(KeyError::SegmentTooLong),
                _ => {}
            }
        }
        // Case-insensitively: a local directory on a case-insensitive file system would
        // otherwise let `.EBB/...` reach the versions.
        if key.split('/').next().is_some_and(|first| first.eq_ignore_ascii_case(RESERVED_PREFIX)) {
            return Err(KeyError::Reserved);
        }
        Ok(Self(key.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where the bytes of `version` of this key live: `.ebb/v/<digest of the key>/<version>`.
    /// Versions are written once and never overwritten, so two uploads never write the same
    /// path; and the layout is flat, so keys such as `a` and `a/b` can never collide as a
    /// file and a directory would.
    pub(crate) fn version_path(&self, version: &str) -> Path {
        self.reserved_path("v", version)
    }

    /// Where a presigned `PUT` for `version` lands: `.ebb/p/<digest>/<version>`. Completing the
    /// upload copies it to its version path, so a URL used again after completion can never
    /// change a served object; leftovers here are never served (a lifecycle rule on `.ebb/p/`
    /// may expire them).
    pub(crate) fn pending_path(&self, version: &str) -> Path {
        self.reserved_path("p", version)
    }

    fn reserved_path(&self, area: &str, version: &str) -> Path {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.0.as_bytes());
        let name = crate::upload::hex(&digest[..16]);
        Path::from_iter([RESERVED_PREFIX, area, name.as_str(), version])
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
        let long = format!("{}/{}/{}/{}", "x".repeat(255), "y".repeat(255), "z".repeat(255), "w".repeat(250));
        for key in
            ["a", "a/b/c.txt", "reports/2026/Q3 final.pdf", "ünïcödé/名前", "a.b/..c/d..", long.as_str(), "x/.ebb"]
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
        assert_eq!(ObjectKey::parse(&"x".repeat(256)), Err(KeyError::SegmentTooLong));
        assert_eq!(ObjectKey::parse(".ebb/v/a/1"), Err(KeyError::Reserved));
        assert_eq!(ObjectKey::parse(".EBB/v/a/1"), Err(KeyError::Reserved));
    }

    #[test]
    fn versions_live_apart_from_keys() {
        let (a, ab) = (ObjectKey::parse("a").expect("valid"), ObjectKey::parse("a/b").expect("valid"));
        let (a, ab) = (a.version_path("0001"), ab.version_path("0002"));
        assert!(a.as_ref().starts_with(".ebb/v/") && a.parts().count() == 4, "{a}");
        assert_ne!(a.parts().nth(2), ab.parts().nth(2), "flat and distinct");
    }

    #[test]
    fn paths_stay_under_the_prefix() {
        let prefix = Path::from("tenant-a");
        let key = ObjectKey::parse("docs/readme.md").expect("valid");
        assert_eq!(key.to_path(Some(&prefix)).as_ref(), "tenant-a/docs/readme.md");
    }
}
