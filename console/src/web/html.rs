//! Escaping for the few pages the console renders on the server (the printable export).
//!
//! A dozen lines instead of a template engine: the export is one page, and the rule is simple
//! enough to check by eye — every piece of data goes through [`escape`], text and attribute
//! values alike, after being capped by [`cap`].

use std::fmt::Write;

/// `text` with `& < > " '` replaced by character references, safe in element content and in
/// quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than line breaks and tabs have no business in a page
            // and can confuse a reader (bidirectional overrides included).
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `text` cut to at most `max` characters, with an ellipsis when cut.
pub fn cap(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((end, _)) if text.chars().count() > max => format!("{}\u{2026}", &text[..end]),
        _ => text.to_owned(),
    }
}

/// [`cap`] then [`escape`]: what every device- or user-supplied string goes through.
pub fn safe(text: &str, max: usize) -> String {
    escape(&cap(text, max))
}

/// Appends `<tag>escaped text</tag>` to `out`.
pub fn element(out: &mut String, tag: &str, text: &str, max: usize) {
    write!(out, "<{tag}>{}</{tag}>", safe(text, max)).ok();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_becomes_text() {
        assert_eq!(
            escape("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(escape("\"'&"), "&quot;&#39;&amp;");
        assert_eq!(escape("a\u{202e}b\u{7}c\nd"), "a\u{fffd}b\u{fffd}c\nd");
    }

    #[test]
    fn caps_count_characters_not_bytes() {
        assert_eq!(cap("héllo", 10), "héllo");
        assert_eq!(cap("héllo", 5), "héllo");
        assert_eq!(cap("héllo wörld", 4), "hél\u{2026}");
        assert_eq!(cap("", 3), "");
    }
}
