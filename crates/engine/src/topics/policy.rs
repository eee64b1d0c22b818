//! Who may act on a topic of another account: its access policy, as SNS reads it.
//!
//! A topic's owner may always act on it. Another account may where the topic's `Policy` has an
//! `Allow` statement for its principal, the action and the topic, and no `Deny` statement
//! matches. Conditions are read for the account keys SNS's policies use to name callers
//! (`AWS:SourceOwner`, `aws:SourceAccount`, `aws:PrincipalAccount` under `StringEquals`); a
//! statement with any other condition does not allow (and, if it denies, denies), which errs
//! on the side of refusing.

use serde_json::Value;

/// Whether `account` may perform `SNS:<action>` on the topic `arn` owned by `owner`, under
/// `policy` (the topic's `Policy` attribute; `None` for SNS's default, which allows the owner
/// only).
pub(crate) fn allows(
    policy: Option<&str>,
    arn: &str,
    owner: &str,
    account: &str,
    action: &str,
) -> bool {
    if account == owner {
        return true;
    }
    let Some(policy) = policy.and_then(|p| serde_json::from_str::<Value>(p).ok()) else {
        return false;
    };
    let statements = match &policy["Statement"] {
        Value::Array(list) => list.iter().collect(),
        s @ Value::Object(_) => vec![s],
        _ => Vec::new(),
    };
    let mut allowed = false;
    for s in statements {
        let applies = principal_matches(&s["Principal"], account)
            && any_matches(&s["Action"], |a| action_matches(a, action))
            && any_matches(&s["Resource"], |r| glob(r, arn));
        if !applies {
            continue;
        }
        match s["Effect"].as_str() {
            Some("Deny") if conditions_hold(&s["Condition"], account).unwrap_or(true) => {
                return false;
            }
            Some("Allow") => allowed |= conditions_hold(&s["Condition"], account) == Some(true),
            _ => {}
        }
    }
    allowed
}

/// `Some(true)` when every condition holds for the caller, `Some(false)` when one does not,
/// `None` when a condition is of a kind not read here.
fn conditions_hold(conditions: &Value, account: &str) -> Option<bool> {
    let Some(conditions) = conditions.as_object() else {
        return Some(true);
    };
    let mut all = true;
    for (operator, tests) in conditions {
        if operator != "StringEquals" {
            return None;
        }
        for (key, wanted) in tests.as_object()? {
            let key = key.to_ascii_lowercase();
            if !matches!(
                key.as_str(),
                "aws:sourceowner" | "aws:sourceaccount" | "aws:principalaccount"
            ) {
                return None;
            }
            all &= any_matches(wanted, |w| w == account);
        }
    }
    Some(all)
}

fn principal_matches(principal: &Value, account: &str) -> bool {
    let names = match principal {
        Value::String(s) => return s == "*",
        Value::Object(map) => match map.get("AWS") {
            Some(names) => names,
            None => return false,
        },
        _ => return false,
    };
    any_matches(names, |name| {
        name == "*"
            || name == account
            || name
                .strip_prefix("arn:")
                .and_then(|rest| rest.split(':').nth(3))
                .is_some_and(|a| a == account)
    })
}

fn action_matches(pattern: &str, action: &str) -> bool {
    let wanted = format!("sns:{action}");
    glob(&pattern.to_ascii_lowercase(), &wanted.to_ascii_lowercase())
}

/// A string, or each string of a list, checked with `test`.
fn any_matches(value: &Value, test: impl Fn(&str) -> bool) -> bool {
    match value {
        Value::String(s) => test(s),
        Value::Array(list) => list.iter().filter_map(Value::as_str).any(test),
        _ => false,
    }
}

/// IAM's wildcards: `*` for any run of characters, `?` for one.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:sns:us-east-1:444455556666:alerts";

    fn allows_publish(policy: Value, account: &str) -> bool {
        allows(
            Some(&policy.to_string()),
            ARN,
            "444455556666",
            account,
            "Publish",
        )
    }

    #[test]
    fn the_owner_may_and_others_may_not_by_default() {
        assert!(allows(None, ARN, "444455556666", "444455556666", "Publish"));
        assert!(!allows(
            None,
            ARN,
            "444455556666",
            "111122223333",
            "Publish"
        ));
    }

    #[test]
    fn a_policy_grants_named_accounts_the_named_actions() {
        let grant = json!({"Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": ["SNS:Publish", "SNS:Subscribe"],
            "Resource": ARN,
        }]});
        assert!(allows_publish(grant.clone(), "111122223333"));
        assert!(!allows_publish(grant.clone(), "999999999999"));
        assert!(!allows(
            Some(&grant.to_string()),
            ARN,
            "444455556666",
            "111122223333",
            "DeleteTopic"
        ));
        let anyone = json!({"Statement": {
            "Effect": "Allow", "Principal": "*", "Action": "sns:*", "Resource": "arn:aws:sns:*:444455556666:*",
        }});
        assert!(allows_publish(anyone, "999999999999"));
    }

    #[test]
    fn conditions_and_denials_are_honoured() {
        // SNS's default statement: anyone, on condition of being the owner's account.
        let default = json!({"Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "SNS:Publish", "Resource": ARN,
            "Condition": {"StringEquals": {"AWS:SourceOwner": "444455556666"}},
        }]});
        assert!(!allows_publish(default, "111122223333"));
        let denied = json!({"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Principal": {"AWS": "111122223333"}, "Action": "SNS:Publish", "Resource": ARN},
        ]});
        assert!(!allows_publish(denied.clone(), "111122223333"));
        assert!(allows_publish(denied, "222233334444"));
        let unknown = json!({"Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        }]});
        assert!(!allows_publish(unknown, "111122223333"));
    }
}
