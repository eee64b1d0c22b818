//! Where AWS's documentation leaves the language open, the reading trailwatch takes.
//!
//! Every open question of the filter-pattern reference (its §12, "Q1" … "Q17") is answered here,
//! once, by a named constant that the parser and matchers consult. To follow a different reading
//! (for instance after an experiment on real AWS), change the constant here; nothing else encodes
//! the choice. `docs/filter-patterns.md` lists the same choices for users.

/// Q1 — a quoted term that holds only white space (`" "`, `""`) matches every event.
///
/// The current AWS page shows `" "` as "match everything"; the whitespace-only and empty
/// patterns match everything by every source. Reading `" "` as a literal phrase would instead
/// require a space in the message.
pub const BLANK_QUOTED_TERM_MATCHES_ALL: bool = true;

/// Q2 — when `?` terms are mixed with plain or `-` terms, the `?` terms are ignored.
///
/// AWS's page says so with an example (`?ERROR ?ARGUMENTS REQUEST` matches every event that
/// contains `REQUEST`); the aws-cdk generator assumes group semantics instead.
pub const OPTIONAL_TERMS_IGNORED_WHEN_MIXED: bool = true;

/// Q3 — only a leading and a trailing `*` are wildcards; a `*` inside a value is literal.
///
/// The 2018 documentation says `Ev*ent` matches only the text `Ev*ent`; the one contrary
/// report is indirect. With `false`, every `*` would be a wildcard.
pub const INTERIOR_STAR_IS_LITERAL: bool = true;

/// Q4 — a JSON pattern never matches an event that is not, as a whole, a JSON object
/// (so a Lambda line with a text prefix before its JSON does not match).
pub const JSON_REQUIRES_WHOLE_MESSAGE_OBJECT: bool = true;

/// Q5 — how a JSON `null` behaves: it satisfies only `IS NULL`. `=` and `!=` are both false on
/// it (as on objects and arrays, which the documentation says never match), it is not a
/// "missing" field for `NOT EXISTS`, and `IS NULL` on a missing field is false.
pub const NULL_SATISFIES_COMPARISONS: bool = false;

/// Q6 — a pattern of only `-` terms matches every event that contains none of them.
pub const EXCLUSION_ONLY_MATCHES_WHEN_ABSENT: bool = true;

/// Q7 — typing of values.
///
/// * An unquoted numeric value (`= 400`, `> 1e3`) compares numerically with any event value that
///   is a number: a JSON number, or a string or delimited token whose whole text is a number.
/// * A quoted value, or an unquoted value that is not a number, compares as text (with `*`
///   wildcards) against the value's text: a JSON string's decoded text, or a JSON number's text
///   exactly as written in the event (so `= 4*` matches `404`, and `= "400"` matches `400`).
/// * `<`, `<=`, `>`, `>=` need a numeric value in the pattern, and are false for event values
///   that are not numbers.
pub const NUMERIC_VALUES_MATCH_NUMERIC_STRINGS: bool = true;

/// Q8 — the characters of unquoted words.
///
/// Unquoted terms are ASCII letters, digits and `_` only (AWS's documentation; `@` and `/`
/// are known to be rejected). Unquoted values in JSON and space-delimited conditions may hold
/// any character except white space and the pattern's own punctuation
/// (`" ' ( ) { } [ ] , & | = ! < >`), which admits the `kms.amazonaws.com`, `123.123.*` and
/// `*UnauthorizedOperation` that CIS and AWS's examples use.
pub const UNQUOTED_VALUE_EXCLUDED_CHARS: &[char] = &[
    '"', '\'', '(', ')', '{', '}', '[', ']', ',', '&', '|', '=', '!', '<', '>',
];

/// Q9 — the keywords `IS NULL`, `IS TRUE`, `IS FALSE`, `NOT EXISTS` are upper case, as every
/// source writes them, and are separated from the selector and from each other by white space.
pub const KEYWORDS_CASE_SENSITIVE: bool = true;

/// Q10 — without `...`, a space-delimited pattern of N fields needs at least N fields in the
/// event, and its last field takes the rest of the line (AWS's `[w1=ERROR, w2]` example and
/// Lambda usage depend on it). Spaces and tabs both separate fields.
pub const LAST_FIELD_ABSORBS_REST: bool = true;

/// Q11 — a metric filter whose `metricValue` refers to a field that is missing, or whose value
/// is not a number, publishes no datum for that event (and no `defaultValue` either: the event
/// did match).
pub const NON_NUMERIC_METRIC_VALUE_SKIPS_DATUM: bool = true;

/// Q12 — `defaultValue` is emitted once for each event that does not match (the API's wording,
/// "the value to emit when a filter pattern does not match a log event"). For the usual `0`
/// this is the same Sum as once per minute.
pub const DEFAULT_VALUE_PER_NON_MATCHING_EVENT: bool = true;

/// Q13 — a dimension whose field is missing from a matching event is left out of that datum;
/// the datum is still published with the dimensions that were found ("this dimension will only
/// be published for a metric if the value is found in the log event").
pub const MISSING_DIMENSION_IS_OMITTED: bool = true;

/// Q14 — a JSON `metricValue` or dimension may refer to any selector, also one that the pattern
/// itself does not test.
pub const METRIC_REFERENCES_ANY_SELECTOR: bool = true;

/// Q15 — for a JSON pattern, `extractedValues` holds each selector of the pattern without
/// wildcards whose value in the event is a string, number or boolean, keyed by the selector as
/// written in the pattern (`"$.eventName": "PutRolePolicy"`).
pub const JSON_EXTRACTS_PATTERN_SELECTORS: bool = true;

/// Q16 — a space-delimited entry may hold `&&`, `||` and parentheses over conditions on its own
/// field only; a condition naming another field is rejected (AWS rejects the 2018 example that
/// does so), and so is more than one `...` (which field would absorb what is ambiguous).
pub const DELIMITED_MAX_ELLIPSES: usize = 1;

/// Q17 — a literal space is allowed inside `%regex%` (AWS's own example
/// `%^starting|^initializing|^shutting down%` has one, although its character list does not).
pub const REGEX_ALLOWS_SPACE: bool = true;

/// The 2-regex quota is applied to every kind of pattern (AWS documents it for JSON and
/// space-delimited patterns, and term patterns with three regexes are not known to be accepted).
pub const MAX_REGEXES_PER_PATTERN: usize = 2;

/// AWS's limit on a pattern's length, in characters.
pub const MAX_PATTERN_CHARS: usize = 1024;

/// At most this many wildcard selectors (`[*]`, `.*`) in one JSON pattern.
pub const MAX_WILDCARD_SELECTORS: usize = 3;

/// At most this many dimensions in one metric transformation.
pub const MAX_DIMENSIONS: usize = 3;
