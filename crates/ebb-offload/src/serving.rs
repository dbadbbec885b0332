//! Serving stored objects to browsers safely. A client chooses the content type of what it
//! uploads; served back as is from the service's own origin, `text/html` or `image/svg+xml`
//! would run the uploader's script next to the session cookie (stored XSS). So only types
//! that browsers never execute are served inline; anything else is served as
//! `application/octet-stream` with `Content-Disposition: attachment`, and every response
//! says `X-Content-Type-Options: nosniff`.

/// Types served inline by default (parameters such as `; charset=utf-8` are allowed).
pub const DEFAULT_INLINE_TYPES: &[&str] = &[
    "application/octet-stream",
    "application/json",
    "application/pdf",
    "text/plain",
    "text/csv",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "audio/mpeg",
    "audio/ogg",
    "video/mp4",
    "video/webm",
];

/// How one object is served: its `Content-Type`, and whether as an attachment.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
pub(crate) struct Served<'a> {
    pub(crate) content_type: &'a str,
    pub(crate) attachment: bool,
}

/// `content_type` as served, given the types allowed inline.
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
pub(crate) fn served<'a>(content_type: &'a str, inline: &[String]) -> Served<'a> {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if inline.iter().any(|allowed| allowed.eq_ignore_ascii_case(&essence)) {
        Served { content_type, attachment: false }
    } else {
        Served { content_type: "application/octet-stream", attachment: true }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<String> {
        DEFAULT_INLINE_TYPES.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn active_content_is_an_attachment_of_no_type() {
        for dangerous in [
            "text/html",
            "TEXT/HTML; charset=utf-8",
            "image/svg+xml",
            "application/xhtml+xml",
            "text/xml",
            "application/javascript",
            "nonsense",
        ] {
            assert_eq!(
                served(dangerous, &defaults()),
                Served { content_type: "application/octet-stream", attachment: true },
                "{dangerous}"
            );
        }
    }

    #[test]
    fn passive_types_are_served_as_given() {
        for safe in ["image/png", "text/plain; charset=utf-8", "application/pdf", "Application/JSON"] {
            assert_eq!(served(safe, &defaults()), Served { content_type: safe, attachment: false }, "{safe}");
        }
    }
}
