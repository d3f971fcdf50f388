//! Host labels (`region = "eu"`): the one rule for what a label may hold,
//! and parsing the CLI's `k=v,k=v` form. Agents carry them in config; join
//! tokens carry them to the agents they enroll.

use std::collections::BTreeMap;

/// A label that breaks the rule, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("label `{text}`: {why}")]
pub struct BadLabel {
    /// The label as given.
    pub text: String,
    /// What is wrong with it.
    pub why: String,
}

/// What labels may hold: 1 to 63 characters of letters, digits, '-', '_'
/// and '.' for both the key and the value.
pub const LABEL_RULE: &str = "keys and values are 1 to 63 characters of a-z, 0-9, '-', '_' and '.'";

fn label_text_ok(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Checks one label against [`LABEL_RULE`].
pub fn validate_label(key: &str, value: &str) -> Result<(), BadLabel> {
    if label_text_ok(key) && label_text_ok(value) {
        return Ok(());
    }
    Err(BadLabel {
        text: format!("{key}={value}"),
        why: LABEL_RULE.into(),
    })
}

/// Parses `k=v,k=v` (empty text is no labels). A repeated key, a part with
/// no `=` or a label breaking [`LABEL_RULE`] is refused by name.
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, BadLabel> {
    let mut labels = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            return Err(BadLabel {
                text: part.into(),
                why: "expected key=value".into(),
            });
        };
        let (key, value) = (key.trim(), value.trim());
        validate_label(key, value)?;
        if labels.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(BadLabel {
                text: part.into(),
                why: format!("key `{key}` is given twice"),
            });
        }
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_and_bad_ones_are_named() {
        let labels = parse_labels("region=eu, rack=fra-2").expect("valid");
        assert_eq!(labels.get("region").map(String::as_str), Some("eu"));
        assert_eq!(labels.get("rack").map(String::as_str), Some("fra-2"));
        assert!(parse_labels("").expect("empty is none").is_empty());
        for (text, needle) in [
            ("region", "key=value"),
            ("region=eu,region=us", "twice"),
            ("region=e u", "1 to 63"),
            ("=eu", "1 to 63"),
        ] {
            let err = parse_labels(text).expect_err(text).to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
