//! The boolean grammar: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, any case, trimmed.

/// What a boolean variable expects, for error messages.
pub const BOOL_EXPECTED: &str = "true or false (or 1/0, yes/no, on/off)";

/// `text` as a boolean; `None` for anything outside the grammar.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar() {
        for yes in ["true", "TRUE", " 1 ", "yes", "On"] {
            assert_eq!(parse_bool(yes), Some(true), "{yes}");
        }
        for no in ["false", "0", "No", "OFF"] {
            assert_eq!(parse_bool(no), Some(false), "{no}");
        }
        for bad in ["", "maybe", "2", "y", "enabled"] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }
}
