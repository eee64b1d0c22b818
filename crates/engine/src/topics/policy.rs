//! Who may act on a topic of another account: its access policy, as SNS reads it.
//!
//! A topic's owner may always act on it. Another account may where the topic's `Policy` has an
//! `Allow` statement for its principal, the action and the topic, and no `Deny` statement
//! matches. Keys here are accounts, not IAM users or roles: a principal matches as `*`, the
//! account id or the account's `root`, and for an alarm's action as the CloudWatch service.
//! Conditions are read for the account keys (`aws:PrincipalAccount`; `aws:SourceAccount` and
//! `AWS:SourceOwner`, which only a service acting for an account carries) under
//! `StringEquals`. Whatever else a statement holds (`NotPrincipal`, `NotAction`, `NotResource`,
//! other conditions) errs on the side of refusing: such an `Allow` allows nothing and such a
//! `Deny` denies.

use serde_json::Value;

/// Who asks.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Caller<'a> {
    /// A key of this account, directly.
    Account(&'a str),
    /// A service (`cloudwatch.amazonaws.com`) acting for this account.
    Service(&'a str, &'a str),
}

impl Caller<'_> {
    fn account(&self) -> &str {
        match self {
            Caller::Account(a) | Caller::Service(_, a) => a,
        }
    }
}

/// Whether `caller` may perform `SNS:<action>` on the topic `arn` owned by `owner`, under
/// `policy` (the topic's `Policy` attribute; `None` for SNS's default, which allows the owner
/// only).
pub(crate) fn allows(
    policy: Option<&str>,
    arn: &str,
    owner: &str,
    caller: Caller<'_>,
    action: &str,
) -> bool {
    if caller.account() == owner {
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
        let deny = s["Effect"].as_str() == Some("Deny");
        let negated = ["NotPrincipal", "NotAction", "NotResource"]
            .iter()
            .any(|k| s.get(k).is_some());
        if negated {
            if deny {
                return false;
            }
            continue;
        }
        let applies = principal_matches(&s["Principal"], caller)
            && any_matches(&s["Action"], |a| action_matches(a, action))
            && any_matches(&s["Resource"], |r| glob(r, arn));
        if !applies {
            continue;
        }
        match (deny, conditions_hold(&s["Condition"], caller)) {
            (true, Some(true) | None) => return false,
            (false, Some(true)) => allowed |= s["Effect"].as_str() == Some("Allow"),
            _ => {}
        }
    }
    allowed
}

/// `Some(true)` when every condition holds for the caller, `Some(false)` when one does not,
/// `None` when a condition is of a kind not read here.
fn conditions_hold(conditions: &Value, caller: Caller<'_>) -> Option<bool> {
    let Some(conditions) = conditions.as_object() else {
        return Some(true);
    };
    let mut all = true;
    for (operator, tests) in conditions {
        if operator != "StringEquals" {
            return None;
        }
        for (key, wanted) in tests.as_object()? {
            // A key the request does not carry makes StringEquals false.
            let value = match (key.to_ascii_lowercase().as_str(), caller) {
                ("aws:principalaccount", Caller::Account(a)) => Some(a),
                ("aws:principalaccount", Caller::Service(..)) => None,
                ("aws:sourceowner" | "aws:sourceaccount", Caller::Service(_, a)) => Some(a),
                ("aws:sourceowner" | "aws:sourceaccount", Caller::Account(_)) => None,
                _ => return None,
            };
            all &= value.is_some_and(|v| any_matches(wanted, |w| w == v));
        }
    }
    Some(all)
}

fn principal_matches(principal: &Value, caller: Caller<'_>) -> bool {
    let map = match principal {
        Value::String(s) => return s == "*",
        Value::Object(map) => map,
        _ => return false,
    };
    match caller {
        Caller::Account(account) => map.get("AWS").is_some_and(|names| {
            any_matches(names, |name| {
                // An account, never one of its users or roles: keys here are accounts.
                name == "*"
                    || name == account
                    || name
                        .split_once(":iam::")
                        .is_some_and(|(_, rest)| rest == format!("{account}:root"))
            })
        }),
        Caller::Service(service, _) => {
            map.get("Service")
                .is_some_and(|names| any_matches(names, |n| n == service))
                || map
                    .get("AWS")
                    .is_some_and(|names| any_matches(names, |n| n == "*"))
        }
    }
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

/// IAM's wildcards (EC2's filters take the same): `*` for any run of characters, `?` for one.
pub fn glob(pattern: &str, text: &str) -> bool {
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
    const OWNER: &str = "444455556666";

    fn allows_publish(policy: Value, account: &str) -> bool {
        allows(
            Some(&policy.to_string()),
            ARN,
            OWNER,
            Caller::Account(account),
            "Publish",
        )
    }

    #[test]
    fn the_owner_may_and_others_may_not_by_default() {
        assert!(allows(None, ARN, OWNER, Caller::Account(OWNER), "Publish"));
        assert!(!allows(
            None,
            ARN,
            OWNER,
            Caller::Account("111122223333"),
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
        let caller = Caller::Account("111122223333");
        assert!(!allows(
            Some(&grant.to_string()),
            ARN,
            OWNER,
            caller,
            "DeleteTopic"
        ));
        let anyone = json!({"Statement": {
            "Effect": "Allow", "Principal": "*", "Action": "sns:*", "Resource": "arn:aws:sns:*:444455556666:*",
        }});
        assert!(allows_publish(anyone, "999999999999"));
        // A user or role of the account is not the account.
        let role = json!({"Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:role/publisher"},
            "Action": "SNS:Publish",
            "Resource": ARN,
        }]});
        assert!(!allows_publish(role, "111122223333"));
    }

    #[test]
    fn conditions_and_denials_are_honoured() {
        // SNS's default statement: anyone, on condition of being the owner's account.
        let default = json!({"Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "SNS:Publish", "Resource": ARN,
            "Condition": {"StringEquals": {"AWS:SourceOwner": OWNER}},
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
        // A statement about everyone but one account denies as SNS would read it, so it is
        // refused rather than ignored.
        let all_but = json!({"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "NotPrincipal": {"AWS": "222233334444"}, "Action": "*", "Resource": "*"},
        ]});
        assert!(!allows_publish(all_but, "111122223333"));
    }

    #[test]
    fn source_conditions_name_the_account_a_service_acts_for() {
        let for_b = json!({"Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "SNS:Publish", "Resource": ARN,
            "Condition": {"StringEquals": {"aws:SourceAccount": "111122223333"}},
        }]});
        // Not to the account's own keys, which carry no source account...
        assert!(!allows_publish(for_b.clone(), "111122223333"));
        // ...but to CloudWatch acting for its alarm in that account.
        let cloudwatch = Caller::Service("cloudwatch.amazonaws.com", "111122223333");
        assert!(allows(
            Some(&for_b.to_string()),
            ARN,
            OWNER,
            cloudwatch,
            "Publish"
        ));
        let service = json!({"Statement": [{
            "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "SNS:Publish", "Resource": ARN,
        }]});
        assert!(allows(
            Some(&service.to_string()),
            ARN,
            OWNER,
            cloudwatch,
            "Publish"
        ));
        assert!(!allows_publish(service, "111122223333"));
    }
}
