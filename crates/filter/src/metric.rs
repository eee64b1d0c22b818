//! What a metric filter publishes for an event: its `metricValue`, `defaultValue` and dimensions.

use crate::ast::{Field, Pattern, Selector};
use crate::choices;
use crate::error::TransformationError;
use crate::json::Node;
use crate::parse::{parse_number, parse_selector};
use crate::{FilterPattern, PatternKind, json_holds};

/// Finds the text a field reference points at in one matched event.
type Lookup<'a> = Box<dyn Fn(&ValueRef) -> Option<String> + 'a>;

/// Where a `metricValue` or a dimension value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueRef {
    /// A constant, such as `1`.
    Literal(f64),
    /// `$.field` of a JSON event.
    Selector(Selector),
    /// `$name` or `$3` of a space-delimited event (the key of `extractedValues`).
    Field(String),
}

/// A checked metric transformation, ready to apply to events.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricExtractor {
    value: ValueRef,
    default_value: Option<f64>,
    dimensions: Vec<(String, ValueRef)>,
}

/// What one event contributes to a metric filter's metric.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricOutcome {
    /// The event matched: publish `value` with these dimensions.
    Datum {
        /// The metric value.
        value: f64,
        /// Dimension names and values, in the transformation's order.
        dimensions: Vec<(String, String)>,
    },
    /// The event did not match and the transformation has a `defaultValue`.
    Default(f64),
    /// Nothing to publish: no match and no default, or a matched event without a numeric value.
    Nothing,
}

impl MetricExtractor {
    /// Checks a transformation against its pattern as `PutMetricFilter` does.
    pub fn new(
        pattern: &FilterPattern,
        metric_value: &str,
        default_value: Option<f64>,
        dimensions: &[(String, String)],
    ) -> Result<MetricExtractor, TransformationError> {
        let kind = pattern.kind();
        let structured = matches!(kind, PatternKind::Json | PatternKind::Delimited);
        if !dimensions.is_empty() {
            if !structured {
                return Err(TransformationError::DimensionsNotSupported);
            }
            if default_value.is_some() {
                return Err(TransformationError::DimensionsWithDefaultValue);
            }
            if dimensions.len() > choices::MAX_DIMENSIONS {
                return Err(TransformationError::TooManyDimensions(dimensions.len()));
            }
        }
        let value = match reference(pattern, metric_value) {
            Ok(Some(r)) => r,
            Ok(None) => match parse_number(metric_value.trim()) {
                Some(v) => ValueRef::Literal(v),
                None => {
                    return Err(TransformationError::InvalidMetricValue(
                        metric_value.to_string(),
                        "use a number or a field reference ($.field for JSON patterns, $name or $1 for space-delimited ones)",
                    ));
                }
            },
            Err(why) => {
                return Err(TransformationError::InvalidMetricValue(
                    metric_value.to_string(),
                    why,
                ));
            }
        };
        let mut dims = Vec::with_capacity(dimensions.len());
        for (name, value) in dimensions {
            let invalid = |why| TransformationError::InvalidDimension {
                name: name.clone(),
                value: value.clone(),
                why,
            };
            match reference(pattern, value) {
                Ok(Some(r)) => dims.push((name.clone(), r)),
                Ok(None) => {
                    return Err(invalid(
                        "dimension values must refer to a field of the event",
                    ));
                }
                Err(why) => return Err(invalid(why)),
            }
        }
        Ok(MetricExtractor {
            value,
            default_value,
            dimensions: dims,
        })
    }

    /// The `metricValue` source.
    pub fn value(&self) -> &ValueRef {
        &self.value
    }

    /// What `message` contributes (see [`choices::NON_NUMERIC_METRIC_VALUE_SKIPS_DATUM`],
    /// [`choices::DEFAULT_VALUE_PER_NON_MATCHING_EVENT`], [`choices::MISSING_DIMENSION_IS_OMITTED`]).
    pub fn apply(&self, pattern: &FilterPattern, message: &str) -> MetricOutcome {
        self.outcome(pattern, message, false)
    }

    /// [`MetricExtractor::apply`] to an event already known to match `pattern` (a
    /// [`crate::FilterSet`] said so): the verdict is not worked out again, which spares reading
    /// the whole event when the value is a literal without dimensions, as in the CIS filters.
    pub fn apply_to_match(&self, pattern: &FilterPattern, message: &str) -> MetricOutcome {
        self.outcome(pattern, message, true)
    }

    fn outcome(&self, pattern: &FilterPattern, message: &str, matched: bool) -> MetricOutcome {
        let no_match = || match self.default_value {
            Some(v) if choices::DEFAULT_VALUE_PER_NON_MATCHING_EVENT => MetricOutcome::Default(v),
            _ => MetricOutcome::Nothing,
        };
        let needs_fields =
            !matches!(self.value, ValueRef::Literal(_)) || !self.dimensions.is_empty();
        if !needs_fields {
            return match (matched || pattern.matches(message), self.value.clone()) {
                (true, ValueRef::Literal(v)) => MetricOutcome::Datum {
                    value: v,
                    dimensions: Vec::new(),
                },
                _ => no_match(),
            };
        }
        let lookup: Lookup<'_> = match pattern.pattern() {
            Pattern::Json(expr) => {
                let Some(root) =
                    Node::parse_event(message).filter(|root| matched || json_holds(expr, root))
                else {
                    return no_match();
                };
                Box::new(move |r| match r {
                    ValueRef::Selector(s) => {
                        let mut nodes = Vec::new();
                        root.select(&s.steps, &mut nodes);
                        nodes.first().and_then(|n| n.view().scalar_text())
                    }
                    _ => None,
                })
            }
            _ => {
                let Some(values) = pattern.extract(message) else {
                    return no_match();
                };
                Box::new(move |r| match r {
                    ValueRef::Field(key) => values.get(key).map(str::to_string),
                    _ => None,
                })
            }
        };
        let value = match &self.value {
            ValueRef::Literal(v) => Some(*v),
            r => lookup(r).and_then(|t| parse_number(t.trim())),
        };
        let Some(value) = value else {
            return if choices::NON_NUMERIC_METRIC_VALUE_SKIPS_DATUM {
                MetricOutcome::Nothing
            } else {
                MetricOutcome::Datum {
                    value: 0.0,
                    dimensions: Vec::new(),
                }
            };
        };
        let mut dimensions = Vec::with_capacity(self.dimensions.len());
        for (name, r) in &self.dimensions {
            match lookup(r) {
                Some(v) => dimensions.push((name.clone(), v)),
                None if choices::MISSING_DIMENSION_IS_OMITTED => {}
                None => return MetricOutcome::Nothing,
            }
        }
        MetricOutcome::Datum { value, dimensions }
    }
}

/// A field reference in `metricValue` or a dimension: `Ok(None)` when `text` is not one.
fn reference(pattern: &FilterPattern, text: &str) -> Result<Option<ValueRef>, &'static str> {
    let text = text.trim();
    if !text.starts_with('$') {
        return Ok(None);
    }
    match pattern.pattern() {
        Pattern::Json(expr) => {
            let selector = parse_selector(text)
                .ok_or("a JSON field reference is a selector such as $.field or $.list[0].field, without wildcards")?;
            if !choices::METRIC_REFERENCES_ANY_SELECTOR
                && !expr.conditions().iter().any(|c| c.selector == selector)
            {
                return Err("the selector does not occur in the filter pattern");
            }
            Ok(Some(ValueRef::Selector(selector)))
        }
        Pattern::Delimited(fields) => {
            let name = &text[1..];
            let positional = name.parse::<usize>().is_ok_and(|n| n >= 1);
            let named = fields
                .iter()
                .any(|f| matches!(f, Field::Named { name: n, .. } if n == name));
            if positional || named {
                Ok(Some(ValueRef::Field(text.to_string())))
            } else {
                Err("the space-delimited pattern has no field of that name")
            }
        }
        Pattern::Terms(_) | Pattern::MatchAll => {
            Err("only JSON and space-delimited patterns extract fields")
        }
    }
}
