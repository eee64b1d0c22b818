//! `%regex%`: AWS's documented regular-expression subset, checked and translated.
//!
//! AWS accepts letters, digits, a few symbols and the operators `^ $ ? [ ] { } | \ * + .`,
//! with the classes `\d \D \s \S \w \W` and `\xhh`; no groups, no multi-byte characters. The
//! subset is checked character by character and translated to the `regex` crate's syntax with
//! AWS's ASCII meanings for the classes, so matching runs in linear time.

use std::fmt;

use crate::choices;

/// A checked `%regex%`, compiled for unanchored search.
#[derive(Clone)]
pub struct AwsRegex {
    source: String,
    compiled: regex::Regex,
}

impl fmt::Debug for AwsRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AwsRegex(%{}%)", self.source)
    }
}

impl PartialEq for AwsRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Display for AwsRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}%", self.source)
    }
}

/// Why a regex body is rejected; the parser turns it into a positioned [`crate::PatternError`].
#[derive(Debug)]
pub(crate) struct RegexError {
    pub message: String,
    /// Character offset inside the body.
    pub offset: usize,
}

const LITERAL_SYMBOLS: &[char] = &['_', '#', '=', '@', '/', ';', ',', '-', ':'];
const OPERATORS: &[char] = &['^', '$', '?', '[', ']', '{', '}', '|', '\\', '*', '+', '.'];

impl AwsRegex {
    /// Checks `body` (the text between the `%`s) and compiles it.
    pub(crate) fn new(body: &str) -> Result<AwsRegex, RegexError> {
        let invalid = |offset| RegexError {
            message: format!("Invalid character(s) in term '%{body}%'"),
            offset,
        };
        if body.is_empty() {
            return Err(RegexError {
                message: "Invalid filter pattern: empty regular expression '%%'".into(),
                offset: 0,
            });
        }
        let chars: Vec<char> = body.chars().collect();
        let mut out = String::with_capacity(body.len() + 8);
        let mut in_class = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match c {
                '\\' => {
                    let Some(&next) = chars.get(i + 1) else {
                        return Err(RegexError {
                            message: format!(
                                "Invalid filter pattern: '%{body}%' ends with a lone backslash"
                            ),
                            offset: i,
                        });
                    };
                    let class = match next {
                        'd' => Some(("[0-9]", "0-9")),
                        'D' => Some(("[^0-9]", "[^0-9]")),
                        'w' => Some(("[a-zA-Z_0-9]", "a-zA-Z_0-9")),
                        'W' => Some(("[^a-zA-Z_0-9]", "[^a-zA-Z_0-9]")),
                        's' => Some(("[\\t\\n ]", "\\t\\n ")),
                        'S' => Some(("[^\\t\\n ]", "[^\\t\\n ]")),
                        _ => None,
                    };
                    if let Some((outside, inside)) = class {
                        out.push_str(if in_class { inside } else { outside });
                        i += 2;
                        continue;
                    }
                    if next == 'x' {
                        let hex: String = chars.iter().skip(i + 2).take(2).collect();
                        let byte = (hex.len() == 2)
                            .then(|| u8::from_str_radix(&hex, 16).ok())
                            .flatten()
                            .filter(u8::is_ascii);
                        let Some(byte) = byte else {
                            return Err(RegexError {
                                message: format!(
                                    "Invalid filter pattern: '\\x' in '%{body}%' needs two hex digits of an ASCII character"
                                ),
                                offset: i,
                            });
                        };
                        out.push_str(&format!("\\x{byte:02X}"));
                        i += 4;
                        continue;
                    }
                    if OPERATORS.contains(&next)
                        || LITERAL_SYMBOLS.contains(&next)
                        || (next == ' ' && choices::REGEX_ALLOWS_SPACE)
                    {
                        out.push_str(&regex::escape(&next.to_string()));
                        i += 2;
                        continue;
                    }
                    // `\(`, `\)`, unknown letter escapes and anything else: AWS rejects them.
                    return Err(invalid(i + 1));
                }
                '[' if !in_class => {
                    in_class = true;
                    out.push('[');
                    if chars.get(i + 1) == Some(&'^') {
                        out.push('^');
                        i += 1;
                    }
                    // A `]` first in a class is a literal, as in POSIX and Java.
                    if chars.get(i + 1) == Some(&']') {
                        out.push_str("\\]");
                        i += 1;
                    }
                }
                ']' if in_class => {
                    in_class = false;
                    out.push(']');
                }
                '[' => out.push_str("\\["),
                '-' if in_class && out.ends_with('-') => out.push_str("\\-"),
                '{' if !in_class && chars.get(i + 1) == Some(&',') => out.push_str("{0"),
                c if in_class && OPERATORS.contains(&c) && c != '^' && c != '\\' => {
                    // Inside a class, operators are literal characters.
                    out.push('\\');
                    out.push(c);
                }
                c if OPERATORS.contains(&c) => out.push(c),
                c if c.is_ascii_alphanumeric() || LITERAL_SYMBOLS.contains(&c) => {
                    out.push(c);
                }
                ' ' if choices::REGEX_ALLOWS_SPACE => out.push(' '),
                _ => return Err(invalid(i)),
            }
            i += 1;
        }
        if in_class {
            return Err(RegexError {
                message: format!("Invalid filter pattern: unclosed '[' in '%{body}%'"),
                offset: body.chars().count().saturating_sub(1),
            });
        }
        let compiled = regex::RegexBuilder::new(&out)
            .size_limit(1 << 20)
            .dfa_size_limit(1 << 20)
            .build()
            .map_err(|e| RegexError {
                message: format!(
                    "Invalid filter pattern: invalid regular expression '%{body}%': {}",
                    first_line(&e.to_string())
                ),
                offset: 0,
            })?;
        Ok(AwsRegex {
            source: body.to_string(),
            compiled,
        })
    }

    /// Whether the expression occurs anywhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.compiled.is_match(text)
    }

    /// The expression as written between the `%`s.
    pub fn source(&self) -> &str {
        &self.source
    }
}

fn first_line(s: &str) -> &str {
    s.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| s.lines().next().unwrap_or(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(body: &str) -> AwsRegex {
        AwsRegex::new(body).unwrap_or_else(|e| panic!("{body}: {}", e.message))
    }

    #[test]
    fn classes_are_ascii() {
        assert!(re("\\d").is_match("7"));
        assert!(!re("\\d").is_match("٣"));
        assert!(re("\\w").is_match("_"));
        assert!(!re("^\\w$").is_match("é"));
        assert!(re("a\\sb").is_match("a\tb"));
        assert!(!re("a\\sb").is_match("a\u{a0}b"));
    }

    #[test]
    fn hex_escapes_reach_forbidden_characters() {
        assert!(re("\\x28\\x29").is_match("f()"));
        assert!(AwsRegex::new("\\x80").is_err());
        assert!(AwsRegex::new("\\x2").is_err());
    }

    #[test]
    fn groups_and_unlisted_characters_are_rejected() {
        for body in ["(a)", "\\(a\\)", "a!", "é", "a%b", "\\q", "a\"b", "a'b"] {
            assert!(AwsRegex::new(body).is_err(), "{body}");
        }
    }

    #[test]
    fn class_contents_are_literal() {
        assert!(re("[.]").is_match("."));
        assert!(!re("^[.]$").is_match("a"));
        assert!(re("[-a]").is_match("-"));
        assert!(re("[^c]$").is_match("ab"));
        assert!(re("a{,2}b").is_match("b"));
    }
}
