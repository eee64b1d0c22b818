//! Space-delimited events: splitting a message into fields and lining them up with a pattern.

use crate::ast::Field;
use crate::choices;

/// One field of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    /// Byte offset of the field's first character (its opening quote or bracket, if any).
    pub start: usize,
    /// The field's text, without enclosing quotes or brackets.
    pub value: &'a str,
}

fn is_separator(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Splits a message into fields: runs of characters between spaces or tabs, where text between
/// `"` and `"` or between `[` and `]` is one field (without the enclosing characters). An opening
/// quote or bracket that is never closed is an ordinary character.
pub(crate) fn tokenize(message: &str) -> Vec<Token<'_>> {
    let bytes = message.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if is_separator(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let closer = match bytes[i] {
            b'"' => Some(b'"'),
            b'[' => Some(b']'),
            _ => None,
        };
        if let Some(close) = closer
            && let Some(len) = memchr::memchr(close, &bytes[i + 1..])
        {
            tokens.push(Token {
                start,
                value: &message[i + 1..i + 1 + len],
            });
            i += len + 2;
            continue;
        }
        while i < bytes.len() && !is_separator(bytes[i]) {
            i += 1;
        }
        tokens.push(Token {
            start,
            value: &message[start..i],
        });
    }
    tokens
}

/// The value of one field of a matched message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Assigned<'a> {
    /// Index of the pattern entry that took it; `None` for fields covered by `...` (or by `[]`).
    pub entry: Option<usize>,
    /// 1-based position of the field in the message.
    pub position: usize,
    /// Its text.
    pub value: &'a str,
}

/// Lines the message's fields up with the pattern's entries; `None` when there are too few.
pub(crate) fn assign<'a>(fields: &[Field], message: &'a str) -> Option<Vec<Assigned<'a>>> {
    let tokens = tokenize(message);
    let positional = |range: std::ops::Range<usize>| {
        range.map(|i| Assigned {
            entry: None,
            position: i + 1,
            value: tokens[i].value,
        })
    };
    if fields.is_empty() {
        return Some(positional(0..tokens.len()).collect());
    }
    let ellipsis = fields.iter().position(|f| *f == Field::Ellipsis);
    let mut out = Vec::with_capacity(tokens.len().max(fields.len()));
    match ellipsis {
        None => {
            let n = fields.len();
            let enough = if choices::LAST_FIELD_ABSORBS_REST {
                tokens.len() >= n
            } else {
                tokens.len() == n
            };
            if !enough {
                return None;
            }
            for (i, token) in tokens.iter().take(n - 1).enumerate() {
                out.push(Assigned {
                    entry: Some(i),
                    position: i + 1,
                    value: token.value,
                });
            }
            let last = if tokens.len() == n {
                tokens[n - 1].value
            } else {
                // The last field takes the rest of the line, as written.
                message[tokens[n - 1].start..].trim_end_matches([' ', '\t'])
            };
            out.push(Assigned {
                entry: Some(n - 1),
                position: n,
                value: last,
            });
        }
        Some(e) => {
            let before = e;
            let after = fields.len() - e - 1;
            if tokens.len() < before + after {
                return None;
            }
            for (i, token) in tokens.iter().take(before).enumerate() {
                out.push(Assigned {
                    entry: Some(i),
                    position: i + 1,
                    value: token.value,
                });
            }
            out.extend(positional(before..tokens.len() - after));
            for k in 0..after {
                let t = tokens.len() - after + k;
                out.push(Assigned {
                    entry: Some(e + 1 + k),
                    position: t + 1,
                    value: tokens[t].value,
                });
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(message: &str) -> Vec<&str> {
        tokenize(message).into_iter().map(|t| t.value).collect()
    }

    #[test]
    fn quotes_and_brackets_group_fields() {
        assert_eq!(
            values(r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /a HTTP/1.0" 200 1534"#),
            vec![
                "127.0.0.1",
                "-",
                "frank",
                "10/Oct/2000:13:25:15 -0700",
                "GET /a HTTP/1.0",
                "200",
                "1534"
            ]
        );
        assert_eq!(values("a\t\tb  c "), vec!["a", "b", "c"]);
        assert_eq!(
            values(r#"open "quote never closed"#),
            vec!["open", "\"quote", "never", "closed"]
        );
        assert_eq!(values(r#""""#), vec![""]);
        assert_eq!(values(""), Vec::<&str>::new());
    }
}
