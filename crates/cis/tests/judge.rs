//! The semantic judge on the benchmark's own strings of every version, on rewrites that
//! auditors comparing text misjudge, and on near-misses they pass.

use cis::judge::{self, Judgement, Role};
use cis::remedy::{self, Style};
use cis::{Catalogue, Control};

fn each_control(mut f: impl FnMut(&Control<'_>)) {
    let catalogue = Catalogue::get();
    for version in catalogue.versions() {
        let benchmark = catalogue.benchmark(version).expect("listed version");
        for control in &benchmark.controls {
            f(control);
        }
    }
}

fn control(version: &str, id: &str) -> Control<'static> {
    *Catalogue::get()
        .benchmark(version)
        .expect("version")
        .control(id)
        .expect("control")
}

fn missing(version: &str, id: &str, pattern: &str) -> Vec<String> {
    let control = control(version, id);
    let judgement = Judgement::of(&control, pattern);
    judge::missing(&control, &[&judgement])
        .iter()
        .map(|e| judge::short_name(&e.label).to_owned())
        .collect()
}

#[test]
fn every_version_has_its_controls_in_order() {
    let catalogue = Catalogue::get();
    assert_eq!(
        catalogue.versions().first().map(String::as_str),
        Some("1.2.0")
    );
    assert_eq!(
        catalogue.versions().last().map(String::as_str),
        Some(cis::LATEST)
    );
    for version in catalogue.versions() {
        let b = catalogue.benchmark(version).expect("version");
        let expected = if version == "1.2.0" { 14 } else { 15 };
        assert_eq!(b.controls.len(), expected, "{version}");
        let section = b.section.split(' ').next().expect("section number");
        for (i, c) in b.controls.iter().enumerate() {
            assert_eq!(
                c.number,
                format!("{section}.{}", i + 1),
                "{version} {}",
                c.id()
            );
        }
    }
    let v5 = catalogue.benchmark("5.0.0").expect("5.0.0");
    let c = v5.control("iam_policy_changes").expect("control");
    assert_eq!(c.number, "4.4");
    assert_eq!(c.title, "Ensure IAM policy changes are monitored");
    assert!(catalogue.benchmark("9.9.9").is_none());
}

#[test]
fn every_string_of_the_benchmark_covers_its_version() {
    let mut judged = 0;
    each_control(|control| {
        for p in control.patterns() {
            let judgement = Judgement::of(control, &p.pattern);
            if p.kind.ends_with("_typo") {
                assert!(judgement.error.is_some(), "{}: {}", control.id(), p.pattern);
                continue;
            }
            assert!(
                judgement.error.is_none(),
                "{}: {:?}",
                p.pattern,
                judgement.error
            );
            let missed: Vec<&str> = judgement.missed(Role::Required).collect();
            assert!(
                missed.is_empty(),
                "v{} {} {} misses {missed:?}",
                control.version,
                control.id(),
                p.kind
            );
            judged += 1;
        }
        // The string `cis apply --style literal` writes is the version's own.
        let literal = control.literal();
        assert!(!literal.kind.ends_with("_typo") && literal.kind != "third_party_variant");
    });
    // 212 (string, version) pairs: every one judged.
    assert_eq!(judged, 212);
}

#[test]
fn the_v1_3_unauthorized_string_matches_nearly_everything() {
    let c = control("1.4.0", "unauthorized_api_calls");
    let j = Judgement::of(&c, &c.literal().pattern);
    let noise: Vec<&str> = j.matched(Role::Negative).collect();
    assert_eq!(
        noise,
        [
            "successful call (no errorCode)",
            "throttling error",
            "not-found error"
        ]
    );
    // Fixed in v2.0: nothing the control does not ask for.
    let c = control("2.0.0", "unauthorized_api_calls");
    let j = Judgement::of(&c, &c.literal().pattern);
    assert_eq!(j.matched(Role::Negative).count(), 0);
}

#[test]
fn the_tight_style_covers_every_version_without_noise() {
    each_control(|control| {
        let pattern = remedy::pattern(control, Style::Tight);
        let j = Judgement::of(control, &pattern);
        assert!(j.error.is_none(), "{pattern}: {:?}", j.error);
        let missed: Vec<&str> = j
            .missed(Role::Required)
            .chain(j.missed(Role::Obsolete))
            .collect();
        assert!(
            missed.is_empty(),
            "v{} {}: {missed:?}",
            control.version,
            control.id()
        );
        let noise: Vec<&str> = j.matched(Role::Negative).collect();
        assert!(
            noise.is_empty(),
            "v{} {}: {noise:?}",
            control.version,
            control.id()
        );
    });
    let c = control("7.0.0", "cmk_disable_or_deletion");
    assert_eq!(
        remedy::pattern(&c, Style::Tight),
        r#"{ ($.eventSource = "kms.amazonaws.com") && (($.eventName = "DisableKey") || ($.eventName = "ScheduleKeyDeletion")) }"#
    );
}

const IAM: [&str; 16] = [
    "DeleteGroupPolicy",
    "DeleteRolePolicy",
    "DeleteUserPolicy",
    "PutGroupPolicy",
    "PutRolePolicy",
    "PutUserPolicy",
    "CreatePolicy",
    "DeletePolicy",
    "CreatePolicyVersion",
    "DeletePolicyVersion",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "AttachGroupPolicy",
    "DetachGroupPolicy",
];

fn any_of(names: &[&str], quote: &str, space: &str) -> String {
    let clauses: Vec<String> = names
        .iter()
        .map(|n| format!("($.eventName{space}={space}{quote}{n}{quote})"))
        .collect();
    format!(
        "{{{space}{}{space}}}",
        clauses.join(&format!("{space}||{space}"))
    )
}

#[test]
fn rewrites_that_text_comparing_auditors_reject_still_cover() {
    // Reordered alternatives.
    let mut reversed = IAM;
    reversed.reverse();
    assert_eq!(
        missing("7.0.0", "iam_policy_changes", &any_of(&reversed, "", "")),
        Vec::<String>::new()
    );
    // Re-spaced and quoted.
    assert_eq!(
        missing("7.0.0", "iam_policy_changes", &any_of(&IAM, "\"", "   ")),
        Vec::<String>::new()
    );
    // Scoped to the service, and a superset (two calls CIS does not ask for).
    let mut more = IAM.to_vec();
    more.extend(["PutRolePermissionsBoundary", "SetDefaultPolicyVersion"]);
    let scoped = format!(
        "{{ ($.eventSource = iam.amazonaws.com) && {} }}",
        &any_of(&more, "\"", " ")
            .trim_start_matches('{')
            .trim_end_matches('}')
    );
    let scoped = scoped.replacen("&&  ", "&& (", 1).replacen(" }", ") }", 1);
    assert_eq!(
        missing("7.0.0", "iam_policy_changes", &scoped),
        Vec::<String>::new(),
        "{scoped}"
    );
    // Root usage and unauthorized calls with their clauses in another order.
    assert_eq!(
        missing(
            "7.0.0",
            "root_account_usage",
            r#"{ $.eventType != "AwsServiceEvent" && $.userIdentity.invokedBy NOT EXISTS && $.userIdentity.type = "Root" }"#
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        missing(
            "1.2.0",
            "unauthorized_api_calls",
            r#"{ ($.errorCode = "AccessDenied*") || ($.errorCode = "*UnauthorizedOperation") }"#
        ),
        Vec::<String>::new()
    );
}

#[test]
fn near_misses_that_text_comparing_auditors_pass_are_named() {
    // A typo in one call's name.
    let typo: Vec<&str> = IAM
        .iter()
        .map(|n| {
            if *n == "DetachRolePolicy" {
                "DetachRolePolicyy"
            } else {
                n
            }
        })
        .collect();
    assert_eq!(
        missing("7.0.0", "iam_policy_changes", &any_of(&typo, "", " ")),
        ["DetachRolePolicy"]
    );
    // A misplaced `&&`: `&&` binds tighter than `||`, so only the last call is scoped to one
    // user, and the example events (by alice) of that call are missed.
    let sg = "{ ($.eventName = AuthorizeSecurityGroupIngress) || ($.eventName = AuthorizeSecurityGroupEgress) || ($.eventName = RevokeSecurityGroupIngress) || ($.eventName = RevokeSecurityGroupEgress) || ($.eventName = CreateSecurityGroup) || ($.eventName = ModifySecurityGroupRules) || ($.eventName = DeleteSecurityGroup) && ($.userIdentity.userName = \"bob\") }";
    assert_eq!(
        missing("7.0.0", "security_group_changes", sg),
        ["DeleteSecurityGroup"]
    );
    // The same filter on v4.0.1, which does not ask for ModifySecurityGroupRules.
    assert_eq!(
        missing("4.0.1", "security_group_changes", sg),
        ["DeleteSecurityGroup"]
    );
    // Every clause joined with `&&`: it can never match.
    let never = "{ ($.eventSource = kms.amazonaws.com) && ($.eventName = DisableKey) && ($.eventName = ScheduleKeyDeletion) }";
    assert_eq!(
        missing("7.0.0", "cmk_disable_or_deletion", never),
        ["DisableKey", "ScheduleKeyDeletion"]
    );
    // A field name in the wrong case matches nothing.
    let c = control("7.0.0", "cmk_disable_or_deletion");
    let wrong_case = c.literal().pattern.replace("$.eventName", "$.EventName");
    assert_eq!(
        missing("7.0.0", "cmk_disable_or_deletion", &wrong_case),
        ["DisableKey", "ScheduleKeyDeletion"]
    );
    // Missing v5.0's ModifySecurityGroupRules: fine in v4.0.1, a miss in v5.0.0.
    let v4 = control("4.0.1", "security_group_changes")
        .literal()
        .pattern
        .clone();
    assert_eq!(
        missing("4.0.1", "security_group_changes", &v4),
        Vec::<String>::new()
    );
    assert_eq!(
        missing("5.0.0", "security_group_changes", &v4),
        ["ModifySecurityGroupRules"]
    );
}

#[test]
fn judgements_explain_each_verdict() {
    let c = control("7.0.0", "cmk_disable_or_deletion");
    let j = Judgement::of(
        &c,
        "{ ($.eventSource = kms.amazonaws.com) && ($.eventName = DisableKey) }",
    );
    let miss = j
        .verdicts
        .iter()
        .find(|v| v.role == Role::Required && !v.matched)
        .expect("a miss");
    assert_eq!(miss.event, "kms:ScheduleKeyDeletion");
    let json = serde_json::to_value(&miss.explanation).expect("serializes");
    assert!(json.to_string().contains("ScheduleKeyDeletion"), "{json}");
    let broken = Judgement::of(&c, "{ $.eventName = ");
    assert!(broken.error.is_some());
    assert!(!broken.is_for_control());
}
