use super::*;

const CIS: &str = r#"
region = "eu-west-1"

[[log_groups]]
log_group_name = "CloudTrail/DefaultLogGroup"
retention_in_days = 365

[[metric_filters]]
log_group_name = "CloudTrail/DefaultLogGroup"
filter_name = "RootAccountUsage"
filter_pattern = '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS }'
metric_transformations = [
  { metric_name = "RootAccountUsage", metric_namespace = "CISBenchmark", metric_value = "1" },
]

[[alarms]]
alarm_name = "RootAccountUsage"
namespace = "CISBenchmark"
metric_name = "RootAccountUsage"
statistic = "Sum"
period = 300
evaluation_periods = 1
threshold = 1
comparison_operator = "GreaterThanOrEqualToThreshold"
alarm_actions = ["cis-alarms", "arn:aws:sns:eu-west-1:111122223333:elsewhere"]

[[topics]]
name = "cis-alarms"
attributes = { DisplayName = "CIS" }
subscriptions = [{ protocol = "email", endpoint = "secops@example.com" }]
"#;

fn error(text: &str) -> Error {
    File::parse("cis.toml", text).expect_err("an error")
}

#[test]
fn a_file_reads_as_the_calls_it_names() {
    let parsed = File::parse("cis.toml", CIS).expect("a valid file");
    let f = &parsed.file;
    assert_eq!(f.region.as_deref(), Some("eu-west-1"));
    assert_eq!(f.log_groups[0].retention_in_days, Some(365));
    let t = &f.metric_filters[0].metric_transformations[0];
    assert_eq!(
        (t.metric_name.as_str(), t.metric_value.as_str()),
        ("RootAccountUsage", "1")
    );
    assert_eq!(f.alarms[0].threshold, 1.0);
    assert_eq!(f.alarms[0].alarm_actions.len(), 2);
    assert_eq!(f.topics[0].subscriptions[0].endpoint, "secops@example.com");
}

#[test]
fn written_out_a_file_reads_back_the_same() {
    let f = File::parse("cis.toml", CIS).expect("a valid file").file;
    let again = File::parse("export.toml", &f.to_toml())
        .expect("its own text parses")
        .file;
    assert_eq!(again, f);
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let text = CIS.replace("threshold = 1\n", "threshold = 1\nthreshhold = 2\n");
    let e = error(&text);
    assert_eq!(e.file, "cis.toml");
    assert_eq!(e.line, line_of(&text, "threshhold"));
    assert_eq!(e.key, "alarms[0].threshhold");
    assert!(e.message.contains("unknown field `threshhold`"), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("cis.toml:{}: alarms[0].threshhold: ", e.line))
    );
}

#[test]
fn a_value_of_the_wrong_type_is_named_with_its_line() {
    let text = CIS.replace("period = 300", "period = \"five minutes\"");
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "period ="));
    assert_eq!(e.key, "alarms[0].period");
}

#[test]
fn a_missing_key_names_its_table() {
    let text = CIS.replace("evaluation_periods = 1\n", "");
    let e = error(&text);
    assert_eq!(e.key, "alarms[0]");
    assert!(e.message.contains("evaluation_periods"), "{e}");
    assert_eq!(e.line, line_of(&text, "[[alarms]]"));
}

#[test]
fn a_bad_pattern_is_named_with_its_line_and_reason() {
    let text = CIS.replace("NOT EXISTS }'", "NOT EXISTS '");
    let e = error(&text);
    assert_eq!(e.key, "metric_filters[0].filter_pattern");
    assert_eq!(e.line, line_of(&text, "filter_pattern"));
    assert!(!e.message.is_empty());
}

#[test]
fn references_to_nothing_are_named() {
    let text = CIS.replace(
        "log_group_name = \"CloudTrail/DefaultLogGroup\"\nfilter_name",
        "log_group_name = \"CloudTrail/Other\"\nfilter_name",
    );
    let e = error(&text);
    assert_eq!(e.key, "metric_filters[0].log_group_name");
    assert_eq!(e.line, line_of(&text, "CloudTrail/Other"));
    assert!(
        e.message.contains("CloudTrail/Other is not declared"),
        "{e}"
    );

    let text = CIS.replace("[\"cis-alarms\",", "[\"cis-alarm\",");
    let e = error(&text);
    assert_eq!(e.key, "alarms[0].alarm_actions[0]");
    assert_eq!(e.line, line_of(&text, "alarm_actions"));
    assert!(e.message.contains("cis-alarm is neither a topic"), "{e}");

    let text = format!(
        "{CIS}\n[[trails]]\nname = \"management\"\ns3_bucket_name = \"audit-logs\"\ncloud_watch_logs_log_group_arn = \"CloudTrail/Missing\"\n"
    );
    let e = error(&text);
    assert_eq!(e.key, "trails[0].cloud_watch_logs_log_group_arn");
    assert_eq!(e.line, text.lines().count());
    assert!(
        e.message
            .contains("CloudTrail/Missing is neither a log group"),
        "{e}"
    );
}

#[test]
fn names_used_twice_are_refused() {
    let text = format!("{CIS}\n[[topics]]\nname = \"cis-alarms\"\n");
    let e = error(&text);
    assert_eq!(e.key, "topics[1].name");
    assert_eq!(e.line, text.lines().count());
}

#[test]
fn a_syntax_error_has_its_line() {
    let text = CIS.replace("period = 300", "period = ");
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "period ="));
    assert!(
        e.to_string().starts_with(&format!("cis.toml:{}: ", e.line)),
        "{e}"
    );
}

#[test]
fn items_are_found_for_the_errors_an_api_gives() {
    let parsed = File::parse("cis.toml", CIS).expect("a valid file");
    let e = parsed.error_at_item(
        Item::Alarm(0),
        "alarm RootAccountUsage",
        "Throttling: slow down",
    );
    assert_eq!(e.line, line_of(CIS, "alarm_name"));
    assert_eq!(e.key, "alarms[0].alarm_name");
    assert_eq!(e.message, "alarm RootAccountUsage: Throttling: slow down");
    // The key the answer names, in the API's spelling, is the place.
    let answer = "InvalidParameterValueException: The parameter EvaluationPeriods must be positive";
    let e = parsed.error_at_item(Item::Alarm(0), "alarm RootAccountUsage", answer);
    assert_eq!(e.line, line_of(CIS, "evaluation_periods"));
    assert_eq!(e.key, "alarms[0].evaluation_periods");
    let answer = "Value '4' at 'retentionInDays' failed to satisfy constraint";
    let e = parsed.error_at_item(Item::LogGroup(0), "log group", answer);
    assert_eq!(e.key, "log_groups[0].retention_in_days");
    let e = parsed.error_at_item(Item::Subscription(0, 0), "subscription", "refused");
    assert_eq!(e.line, line_of(CIS, "secops@"));
}

/// The line (from 1) of the first line holding `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("in the text")
        + 1
}

#[test]
fn a_key_with_brackets_in_a_table_is_named_without_trouble() {
    let text = CIS.replace(
        "period = 300",
        "period = 300\ndimensions = { \"a[0]]\" = 1 }",
    );
    let e = error(&text);
    assert!(e.key.starts_with("alarms[0].dimensions"), "{e}");
    assert_eq!(e.line, line_of(&text, "a[0]]"));
}

#[test]
fn a_cis_table_reads_and_its_unknown_keys_are_named() {
    let parsed = File::parse(
        "f.toml",
        "[cis]\ncis_version = \"5.0.0\"\nstyle = \"tight\"\n",
    )
    .expect("parses");
    let cis = parsed.file.cis.expect("the table");
    assert_eq!(cis.cis_version.as_deref(), Some("5.0.0"));
    assert_eq!(cis.style.as_deref(), Some("tight"));
    assert_eq!(cis.log_group_name, None);
    let e = error("[cis]\nversion = \"5.0.0\"\n");
    assert_eq!((e.line, e.key.as_str()), (2, "cis.version"));
    assert!(
        e.message
            .starts_with("unknown field `version`, expected one of"),
        "{e}"
    );
}
