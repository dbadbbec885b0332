//! Media types (RFC 9110 §8.3.1), parsed strictly. A client names the type of what it
//! uploads; kept as sent, `text/plain;,text/html` would be stored and served with a type a
//! browser reads as the last one in the list (`text/html`). So a type is parsed, refused
//! when it is not one, and kept in one normal form: `type/subtype` in lowercase, plus
//! `; charset=<value>` when one is given (text needs it to be read right). Other
//! parameters are dropped.

/// `text` in its normal form, or `None` when it is not a media type:
///
/// ```text
/// media-type = token "/" token *( OWS ";" OWS [ token "=" ( token / quoted-string ) ] )
/// ```
pub(crate) fn normalise(text: &str) -> Option<String> {
    let mut rest = text.trim_matches(is_ows);
    let kind = take_token(&mut rest)?;
    rest = rest.strip_prefix('/')?;
    let subtype = take_token(&mut rest)?;
    let mut normal = format!("{kind}/{subtype}").to_ascii_lowercase();
    let mut charset = None;
    loop {
        rest = rest.trim_start_matches(is_ows);
        if rest.is_empty() {
            break;
        }
        rest = rest.strip_prefix(';')?.trim_start_matches(is_ows);
        if rest.is_empty() || rest.starts_with(';') {
            continue; // An empty parameter is allowed.
        }
        let name = take_token(&mut rest)?;
        rest = rest.strip_prefix('=')?;
        let value = if rest.starts_with('"') { take_quoted(&mut rest)? } else { take_token(&mut rest)?.to_owned() };
        if name.eq_ignore_ascii_case("charset") && charset.is_none() {
            // A charset is a token; a quoted one that is not could not be sent unquoted.
            charset = Some(value.to_ascii_lowercase()).filter(|value| !value.is_empty() && value.bytes().all(is_tchar));
            charset.as_ref()?;
        }
    }
    if let Some(charset) = charset {
        normal.push_str("; charset=");
        normal.push_str(&charset);
    }
    Some(normal)
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// RFC 9110 §5.6.2: `!#$%&'*+-.^_`|~`, digits and letters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The token at the start of `rest` (at least one character), advancing past it.
fn take_token<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let end = rest.bytes().position(|b| !is_tchar(b)).unwrap_or(rest.len());
    let (token, after) = rest.split_at(end);
    *rest = after;
    (!token.is_empty()).then_some(token)
}

/// The quoted string at the start of `rest`, unescaped, advancing past its closing quote.
fn take_quoted(rest: &mut &str) -> Option<String> {
    let mut value = String::new();
    let mut chars = rest.char_indices().skip(1);
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => {
                *rest = &rest[at + 1..];
                return Some(value);
            }
            '\\' => value.push(chars.next().map(|(_, c)| c).filter(|c| is_qdtext(*c) || *c == '"' || *c == '\\')?),
            c if is_qdtext(c) => value.push(c),
            _ => return None,
        }
    }
    None
}

/// `qdtext`: tab, space and visible ASCII but `"` and `\` (no obs-text: header values we
/// read are visible ASCII).
fn is_qdtext(c: char) -> bool {
    c == '\t' || c == ' ' || (c.is_ascii_graphic() && c != '"' && c != '\\')
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn types_are_kept_in_one_normal_form() {
        for (given, normal) in [
            ("image/png", "image/png"),
            ("Image/PNG", "image/png"),
            (" text/plain ", "text/plain"),
            ("text/plain; charset=UTF-8", "text/plain; charset=utf-8"),
            ("text/plain;charset=\"utf-8\"", "text/plain; charset=utf-8"),
            ("text/plain ; format=flowed ; charset=utf-8", "text/plain; charset=utf-8"),
            ("text/plain;;", "text/plain"),
            ("application/vnd.api+json; q=\"a \\\"b\\\" c\"", "application/vnd.api+json"),
        ] {
            assert_eq!(normalise(given).as_deref(), Some(normal), "{given:?}");
        }
    }

    #[test]
    fn what_is_not_a_media_type_is_refused() {
        for bad in [
            "text/plain;,text/html",
            "text/plain, text/html",
            "text/html,text/plain",
            "",
            "text",
            "text/",
            "/plain",
            "text/plain/html",
            "text /plain",
            "text/plain; charset",
            "text/plain; charset=",
            "text/plain; charset=\"utf-8",
            "text/plain; charset=\"utf 8\"",
            "text/plain; =utf-8",
            "text/plain x",
            "text/plain;charset=utf-8,text/html",
        ] {
            assert_eq!(normalise(bad), None, "{bad:?}");
        }
    }
}
