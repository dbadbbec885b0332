//! What a probe request asks for: `?verbose`, `?exclude=name` (repeatable), JSON or text.

use http::{HeaderMap, header};

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ProbeQuery {
    pub(crate) verbose: bool,
    pub(crate) exclude: Vec<String>,
    pub(crate) json: bool,
}

impl ProbeQuery {
    pub(crate) fn parse(query: Option<&str>, headers: &HeaderMap) -> Self {
        let mut parsed = Self::default();
        for pair in query.unwrap_or_default().split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "verbose" => parsed.verbose = !matches!(value, "0" | "false"),
                "exclude" if !value.is_empty() => parsed.exclude.push(value.to_owned()),
                _ => {}
            }
        }
        parsed.json = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| value.contains("application/json"));
        parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_verbose_and_repeated_excludes() {
        let query = ProbeQuery::parse(Some("verbose&exclude=redis&exclude=s3&other=1"), &HeaderMap::new());
        assert!(query.verbose);
        assert_eq!(query.exclude, ["redis", "s3"]);
        assert!(!query.json);
    }

    #[test]
    fn verbose_can_be_switched_off_and_empty_excludes_are_ignored() {
        let query = ProbeQuery::parse(Some("verbose=false&exclude="), &HeaderMap::new());
        assert_eq!(query, ProbeQuery::default());
    }

    #[test]
    fn json_from_accept() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, "text/html, application/json;q=0.9".parse().expect("valid"));
        assert!(ProbeQuery::parse(None, &headers).json);
    }
}
