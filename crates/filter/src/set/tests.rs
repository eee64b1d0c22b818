//! Tests of reading member values from raw text and of escapes that could hide facts.

use super::search::member_value;
use super::*;

#[test]
fn member_values_are_read_after_their_key() {
    let doc = r#"{"a" : "x\"y", "b":12,"c":{"d":1}, "e" :null}"#;
    let after = |key: &str| doc.find(key).map(|i| i + key.len()).expect("key");
    assert_eq!(member_value(doc, after("\"a\"")).as_deref(), Some("x\"y"));
    assert_eq!(member_value(doc, after("\"b\"")).as_deref(), Some("12"));
    assert_eq!(member_value(doc, after("\"c\"")), None);
    assert_eq!(member_value(doc, after("\"e\"")).as_deref(), Some("null"));
    assert_eq!(member_value(r#"["a","b"]"#, 4), None);
}

#[test]
fn escaped_event_names_still_match() {
    let set = FilterSet::new(vec![
        FilterPattern::parse("{ $.eventName = PutRolePolicy }").expect("valid"),
        FilterPattern::parse("{ $.eventName = \"x/y\" }").expect("valid"),
    ]);
    assert_eq!(
        set.matching(r#"{"eventName":"Put\u0052olePolicy"}"#),
        vec![0]
    );
    assert_eq!(
        set.matching(r#"{"event\u004eame":"PutRolePolicy"}"#),
        vec![0]
    );
    assert_eq!(set.matching(r#"{"eventName":"x\/y"}"#), vec![1]);
    assert_eq!(
        set.matching(r#"{"eventName":"Put\"RolePolicy"}"#),
        Vec::<usize>::new()
    );
}
