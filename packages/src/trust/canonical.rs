//! Canonical JSON: the exact bytes a signature covers. Keys sorted by byte order, no spaces,
//! integers only. We re-encode what we parsed rather than trust the file's own formatting, so
//! the bytes checked are the bytes whose meaning we then act on.

use serde_json::Value;

/// A value that has no canonical form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("metadata contains a non-integer number, which has no canonical form")]
pub struct NotCanonical;

/// Encodes `value` canonically. Written by hand rather than left to `serde_json` so the order
/// of keys does not depend on which serde_json features another crate in the build enabled.
pub fn canonical_json(value: &Value) -> Result<Vec<u8>, NotCanonical> {
    let mut out = Vec::new();
    write_value(value, &mut out)?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), NotCanonical> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => {
            if !(number.is_i64() || number.is_u64()) {
                return Err(NotCanonical);
            }
            out.extend_from_slice(number.to_string().as_bytes());
        }
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_value(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// Strings are escaped minimally: only `"` and `\`, plus control characters as `\u00XX`.
fn write_string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for character in text.chars() {
        match character {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut buffer = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_and_space_is_dropped() {
        let value = json!({"b": 1, "a": [true, null, "x"], "c": {"z": -2, "y": "é\"\n"}});
        let bytes = canonical_json(&value).expect("canonical");
        assert_eq!(
            String::from_utf8(bytes).expect("utf-8"),
            r#"{"a":[true,null,"x"],"b":1,"c":{"y":"é\"\u000a","z":-2}}"#
        );
    }

    #[test]
    fn floats_have_no_canonical_form() {
        assert_eq!(canonical_json(&json!({"a": 1.5})), Err(NotCanonical));
    }

    #[test]
    fn formatting_of_the_source_does_not_matter() {
        let compact: Value = serde_json::from_str(r#"{"b":2,"a":1}"#).expect("json");
        let spaced: Value = serde_json::from_str("{ \"a\" : 1,\n \"b\" : 2 }").expect("json");
        assert_eq!(canonical_json(&compact), canonical_json(&spaced));
    }
}
