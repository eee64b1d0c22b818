//! Property tests: canonical text round-trips, and a filter set always answers exactly what the
//! single-filter evaluator answers, on generated patterns and events (escaped strings, numbers
//! in several notations, repeated keys, invalid JSON, patterns without literals).

use filter::{FilterPattern, FilterSet, MatchOrder};
use proptest::prelude::*;

const KEYS: &[&str] = &[
    "eventName",
    "errorCode",
    "type",
    "n",
    "list",
    "userIdentity",
    "a-b",
];
const WORDS: &[&str] = &[
    "PutRolePolicy",
    "Put",
    "AccessDenied",
    "AccessDeniedException",
    "Root",
    "x/y",
    "a\"b",
    "404",
    "4",
    "null",
    "true",
    "é",
    "",
    "kms.amazonaws.com",
    "a b",
    "Policy",
];
const NUMBERS: &[&str] = &[
    "404", "4.04e2", "-0", "0.001", "1E-3", "1e400", "12", "400.0",
];

/// A JSON string literal for `s`, escaping characters in the ways JSON allows.
fn json_string(s: &str, style: u8) -> String {
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        let escape = style == 1 || (style == 2 && i % 2 == 0);
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if escape => out.push_str("\\/"),
            c if escape => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        (prop::sample::select(WORDS), 0u8..4).prop_map(|(w, style)| json_string(w, style)),
        prop::sample::select(NUMBERS).prop_map(str::to_string),
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
    ]
}

fn json_value() -> impl Strategy<Value = String> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((prop::sample::select(KEYS), 0u8..3, inner), 0..4).prop_map(
                |entries| {
                    let body: Vec<String> = entries
                        .into_iter()
                        .map(|(k, style, v)| format!("{}:{v}", json_string(k, style)))
                        .collect();
                    format!("{{{}}}", body.join(","))
                }
            ),
        ]
    })
}

fn event() -> impl Strategy<Value = String> {
    prop_oneof![
        // JSON objects, sometimes with repeated keys, white space, or cut short.
        (
            prop::collection::vec((prop::sample::select(KEYS), 0u8..3, json_value()), 0..7),
            any::<bool>(),
            0usize..8
        )
            .prop_map(|(entries, spaced, cut)| {
                let sep = if spaced { ", " } else { "," };
                let body: Vec<String> = entries
                    .into_iter()
                    .map(|(k, style, v)| format!("{}:{v}", json_string(k, style)))
                    .collect();
                let text = format!("{{{}}}", body.join(sep));
                if cut == 0 {
                    text.chars().take(text.chars().count() / 2).collect()
                } else {
                    text
                }
            }),
        // Plain and space-delimited lines.
        prop::collection::vec(prop::sample::select(WORDS), 0..8).prop_map(|w| w.join(" ")),
        prop::collection::vec(
            prop::sample::select(&["ERROR", "-", "[a b]", "\"GET /\"", "404", "\t", "Root"][..]),
            0..8
        )
        .prop_map(|w| w.join(" ")),
    ]
}

fn selector() -> impl Strategy<Value = String> {
    let step = prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(|k| format!(".{k}")),
        1 => (0usize..3).prop_map(|i| format!("[{i}]")),
        1 => Just("[*]".to_string()),
        1 => Just(".*".to_string()),
    ];
    (
        prop::sample::select(KEYS),
        prop::collection::vec(step, 0..3),
    )
        .prop_map(|(first, rest)| {
            let sel = format!("$.{first}{}", rest.concat());
            // At most one wildcard per selector.
            if sel.matches('*').count() > 1 {
                format!("$.{first}")
            } else {
                sel
            }
        })
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        (prop::sample::select(WORDS), 0u8..4).prop_map(|(w, star)| {
            let w = w.replace('"', "\\\"");
            match star {
                0 => format!("\"{w}\""),
                1 => format!("\"*{w}\""),
                2 => format!("\"{w}*\""),
                _ => format!("\"*{w}*\""),
            }
        }),
        prop::sample::select(
            &[
                "Root",
                "AccessDenied*",
                "*Policy",
                "kms.amazonaws.com",
                "4*",
                "*"
            ][..]
        )
        .prop_map(str::to_string),
        prop::sample::select(NUMBERS).prop_map(str::to_string),
        prop::sample::select(&["%Put%", "%^Access%", "%[0-9]+$%", "%Policy|Root%"][..])
            .prop_map(str::to_string),
    ]
}

fn condition() -> impl Strategy<Value = String> {
    (selector(), 0u8..10, value(), prop::sample::select(NUMBERS)).prop_map(|(sel, kind, v, n)| {
        match kind {
            0..=3 => format!("{sel} = {v}"),
            4 => format!("{sel} != {v}"),
            5 => format!("{sel} > {n}"),
            6 => format!("{sel} <= {n}"),
            7 => format!("{sel} NOT EXISTS"),
            8 => format!("{sel} IS NULL"),
            _ => format!("{sel} IS TRUE"),
        }
    })
}

fn json_pattern() -> impl Strategy<Value = String> {
    let expr = condition().prop_recursive(3, 8, 3, |inner| {
        (
            prop::collection::vec(inner, 2..4),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(items, and, paren)| {
                let joined = items.join(if and { " && " } else { " || " });
                if paren { format!("({joined})") } else { joined }
            })
    });
    expr.prop_map(|e| format!("{{ {e} }}"))
}

fn term_pattern() -> impl Strategy<Value = String> {
    let term = (prop::sample::select(WORDS), 0u8..3, 0u8..3).prop_map(|(w, role, quote)| {
        let role = ["", "-", "?"][role as usize];
        let plain = !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric());
        if plain && quote > 0 {
            format!("{role}{w}")
        } else {
            format!("{role}\"{}\"", w.replace('"', "\\\""))
        }
    });
    prop::collection::vec(term, 1..4).prop_map(|t| t.join(" "))
}

fn delimited_pattern() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        Just("f".to_string()),
        Just(String::new()),
        prop::sample::select(
            &[
                "=ERROR",
                "=4*",
                ">100",
                "!=-",
                "=%^R%",
                "=\"GET /\"",
                "=*a*"
            ][..]
        )
        .prop_map(|c| format!("f{c}")),
    ];
    (prop::collection::vec(field, 0..4), 0usize..5).prop_map(|(fields, ellipsis_at)| {
        let mut fields: Vec<String> = fields
            .into_iter()
            .enumerate()
            .map(|(i, f)| f.replacen('f', &format!("f{i}"), 1))
            .collect();
        if ellipsis_at <= fields.len() && ellipsis_at < 4 {
            fields.insert(ellipsis_at, "...".to_string());
        }
        format!("[{}]", fields.join(", "))
    })
}

fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![4 => json_pattern(), 2 => term_pattern(), 2 => delimited_pattern(), 1 => Just(String::new())]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn set_agrees_with_single_filter_evaluator(
        patterns in prop::collection::vec(pattern(), 1..6),
        events in prop::collection::vec(event(), 1..6),
    ) {
        let filters: Vec<FilterPattern> = patterns.iter().filter_map(|p| FilterPattern::parse(p).ok()).collect();
        let set = FilterSet::new(filters.clone());
        let mut matchers = [MatchOrder::PrefilterFirst, MatchOrder::JsonFirst, MatchOrder::Adaptive]
            .map(|order| set.matcher().with_order(order));
        let mut got = Vec::new();
        for event in &events {
            let want: Vec<usize> = (0..filters.len()).filter(|&i| filters[i].matches(event)).collect();
            for matcher in &mut matchers {
                matcher.matching(event, &mut got);
                prop_assert_eq!(&got, &want, "event {:?}, patterns {:?}", event, patterns);
            }
            for f in &filters {
                prop_assert_eq!(f.explain(event).matched, f.matches(event));
                prop_assert_eq!(f.extract(event).is_some(), f.matches(event));
            }
        }
    }

    #[test]
    fn canonical_text_round_trips(text in pattern()) {
        if let Ok(p) = FilterPattern::parse(&text) {
            let canonical = p.to_string();
            let again = FilterPattern::parse(&canonical);
            prop_assert!(again.is_ok(), "{:?} -> {:?}: {:?}", text, canonical, again.err());
            let again = again.expect("checked");
            prop_assert_eq!(p.pattern(), again.pattern());
            prop_assert_eq!(again.to_string(), canonical.clone());
            prop_assert!(canonical.chars().count() <= text.chars().count(), "{:?} -> {:?}", text, canonical);
        }
    }

    #[test]
    fn generated_patterns_parse(text in json_pattern()) {
        // Generated JSON patterns are valid unless they exceed a quota.
        if let Err(e) = FilterPattern::parse(&text) {
            prop_assert!(e.message.contains("at most"), "{:?}: {}", text, e);
        }
    }

    #[test]
    fn parsing_anything_never_panics(text in "\\PC{0,80}") {
        let _ = FilterPattern::parse(&text);
    }

    #[test]
    fn parsing_pattern_like_text_never_panics(text in "[{}\\[\\]()$.*=!<>&|%\"' a-z0-9?-]{0,60}") {
        if let Ok(p) = FilterPattern::parse(&text) {
            let _ = p.matches("{\"a\": [1, {\"b\": null}]}");
            let _ = p.to_string();
        }
    }
}
