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
pub(crate) struct Served {
    pub(crate) content_type: String,
    pub(crate) attachment: bool,
}

/// `content_type` as served, given the types allowed inline: in its normal form (see
/// [`crate::media_type`]) when inline, else `application/octet-stream` as an attachment.
/// A stored type that is not a media type (kept before types were checked, or set on the
/// store directly) is an attachment too.
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
pub(crate) fn served(content_type: &str, inline: &[String]) -> Served {
    let normal = crate::media_type::normalise(content_type);
    let essence = |normal: &str| normal.split(';').next().unwrap_or_default().to_owned();
    match normal {
        Some(normal) if inline.iter().any(|allowed| allowed.eq_ignore_ascii_case(&essence(&normal))) => {
            Served { content_type: normal, attachment: false }
        }
        _ => Served { content_type: "application/octet-stream".to_owned(), attachment: true },
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
            // Not media types: a browser would take the last type of the list.
            "text/plain;,text/html",
            "text/plain, text/html",
            "image/png;charset=x,text/html",
        ] {
            assert_eq!(
                served(dangerous, &defaults()),
                Served { content_type: "application/octet-stream".to_owned(), attachment: true },
                "{dangerous}"
            );
        }
    }

    #[test]
    fn passive_types_are_served_as_given() {
        for (safe, normal) in [
            ("image/png", "image/png"),
            ("text/plain; charset=UTF-8; format=flowed", "text/plain; charset=utf-8"),
            ("application/pdf", "application/pdf"),
            ("Application/JSON", "application/json"),
        ] {
            let expected = Served { content_type: normal.to_owned(), attachment: false };
            assert_eq!(served(safe, &defaults()), expected, "{safe}");
        }
    }
}
