//! Errors for rejected filter patterns and metric transformations.

use std::fmt;

/// A filter pattern that CloudWatch Logs would reject.
///
/// `message` uses AWS's wording where it is known (for example
/// `If a filter pattern starts with '{' it must end with '}'` or
/// `Invalid character(s) in term '…'`); otherwise it starts with
/// `Invalid filter pattern:` and says what was expected. `span` is the
/// offending part, in characters from the start of the pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PatternError {
    /// What is wrong, in AWS's words where they are known.
    pub message: String,
    /// The offending characters, as a character range into the pattern.
    pub span: Option<(usize, usize)>,
}

impl PatternError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        PatternError {
            message: message.into(),
            span: None,
        }
    }

    pub(crate) fn at(message: impl Into<String>, start: usize, end: usize) -> Self {
        PatternError {
            message: message.into(),
            span: Some((start, end.max(start + 1))),
        }
    }

    /// The pattern with a caret line under the offending part, for people.
    ///
    /// ```
    /// let err = filter::FilterPattern::parse("{ $.a = }").unwrap_err();
    /// assert!(err.pointer("{ $.a = }").contains('^'));
    /// ```
    pub fn pointer(&self, pattern: &str) -> String {
        let Some((start, end)) = self.span else {
            return String::new();
        };
        // Tabs and newlines would misalign the caret line; show them as spaces.
        let shown: String = pattern
            .chars()
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .collect();
        let width = shown.chars().count();
        let start = start.min(width);
        let end = end.min(width.max(start + 1));
        format!(
            "{shown}\n{}{}",
            " ".repeat(start),
            "^".repeat((end - start).max(1))
        )
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some((start, _)) = self.span {
            write!(f, " (at character {})", start + 1)?;
        }
        Ok(())
    }
}

/// A metric transformation that CloudWatch Logs would reject for its pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformationError {
    /// Dimensions were given for a term, regex or match-all pattern.
    #[error("The specified filter pattern does not support dimensions")]
    DimensionsNotSupported,
    /// Both `dimensions` and `defaultValue` were given.
    #[error(
        "Invalid metric transformation: dimensions and default value are mutually exclusive properties"
    )]
    DimensionsWithDefaultValue,
    /// More than three dimensions.
    #[error("Invalid metric transformation: at most 3 dimensions are allowed, {0} were given")]
    TooManyDimensions(usize),
    /// `metricValue` is neither a number nor a field reference the pattern can supply.
    #[error("Invalid metric transformation: invalid metricValue '{0}': {1}")]
    InvalidMetricValue(String, &'static str),
    /// A dimension value is not a field reference the pattern can supply.
    #[error("Invalid metric transformation: invalid value '{value}' for dimension '{name}': {why}")]
    InvalidDimension {
        /// The dimension's name.
        name: String,
        /// The value given for it.
        value: String,
        /// Why it is rejected.
        why: &'static str,
    },
}
