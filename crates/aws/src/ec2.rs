//! EC2's `DescribeRegions`, the call with which tools (Prowler, ScoutSuite, Steampipe) learn
//! which regions to look at before they audit anything else. EC2 speaks its own query dialect
//! (`RegionName.1`, replies without a result wrapper, lists of `<item>`), so this one call is
//! answered here rather than through a service model; every other EC2 action is refused as
//! EC2 refuses an action it does not offer.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use engine::scope::{Region, Regions, Scope, regions};
use quick_xml::escape::escape;

/// EC2's API version, named by the form's `Version`.
pub(crate) const VERSION: &str = "2016-11-15";
/// The SigV4 signing name.
pub(crate) const SIGNING_NAME: &str = "ec2";

fn xml(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    response
}

/// An EC2 error reply.
pub(crate) fn error(code: &str, message: &str, request_id: &str) -> Response {
    let status = if code == "InternalError" {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::BAD_REQUEST
    };
    xml(
        status,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>",
            escape(code),
            escape(message)
        ),
    )
}

/// EC2 takes at most this many filters, and values per filter, in one request.
const MAX_FILTERS: usize = 50;
const MAX_VALUES: usize = 200;

/// The values of a numbered parameter: `RegionName.1`, `RegionName.2`, …
fn numbered<'a>(params: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    let mut found: Vec<(u32, &str)> = params
        .iter()
        .filter_map(|(k, v)| {
            let n = k.strip_prefix(name)?.strip_prefix('.')?.parse().ok()?;
            Some((n, v.as_str()))
        })
        .collect();
    found.sort_by_key(|(n, _)| *n);
    found.into_iter().map(|(_, v)| v).collect()
}

/// `Filter.N.Name` with its `Filter.N.Value.M`, read in one pass; too many is an error, as on
/// EC2.
fn filters(params: &[(String, String)]) -> Result<Vec<(String, Vec<String>)>, String> {
    /// A filter's name, and its values with their numbers.
    type Filter = (Option<String>, Vec<(u32, String)>);
    let mut by_number: std::collections::BTreeMap<u32, Filter> = std::collections::BTreeMap::new();
    for (k, v) in params {
        let Some(rest) = k.strip_prefix("Filter.") else {
            continue;
        };
        let Some((n, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(n) = n.parse::<u32>() else {
            continue;
        };
        let entry = by_number.entry(n).or_default();
        if field == "Name" {
            entry.0 = Some(v.clone());
        } else if let Some(m) = field.strip_prefix("Value.").and_then(|m| m.parse().ok()) {
            entry.1.push((m, v.clone()));
        }
        if by_number.len() > MAX_FILTERS {
            return Err(format!("The request has more than {MAX_FILTERS} filters."));
        }
    }
    let mut out = Vec::new();
    for (_, (name, mut values)) in by_number {
        let Some(name) = name else {
            continue;
        };
        if values.len() > MAX_VALUES {
            return Err(format!(
                "The filter '{name}' has more than {MAX_VALUES} values."
            ));
        }
        values.sort_by_key(|(m, _)| *m);
        out.push((name, values.into_iter().map(|(_, v)| v).collect()));
    }
    Ok(out)
}

/// Answers an EC2 form request in `scope`'s partition; `served` are the regions this server
/// answers, all enabled (none needs opting in here).
pub(crate) fn answer(
    params: &[(String, String)],
    scope: &Scope,
    served: &Regions,
    request_id: &str,
) -> Response {
    let action = params
        .iter()
        .find(|(k, _)| k == "Action")
        .map_or("", |(_, v)| v.as_str());
    if action != "DescribeRegions" {
        let message = format!("The action {action} is not valid for this web service.");
        return error("InvalidAction", &message, request_id);
    }
    if params.iter().any(|(k, v)| k == "DryRun" && v == "true") {
        return error(
            "DryRunOperation",
            "Request would have succeeded, but DryRun flag is set.",
            request_id,
        );
    }
    let partition = &scope.region().partition;
    let names = numbered(params, "RegionName");
    let filters = match filters(params) {
        Ok(filters) => filters,
        Err(message) => return error("InvalidParameterValue", &message, request_id),
    };
    for (name, _) in &filters {
        if !matches!(name.as_str(), "endpoint" | "region-name" | "opt-in-status") {
            let message = format!("The filter '{name}' is invalid");
            return error("InvalidParameterValue", &message, request_id);
        }
    }
    let endpoint = |r: &Region| format!("ec2.{}.{}", r.name, partition.dns_suffix);
    let mut listed: Vec<&Region> = regions()
        .iter()
        .filter(|r| r.partition.id == partition.id && served.get(&r.name).is_ok())
        .collect();
    for name in &names {
        if !listed.iter().any(|r| r.name == *name) {
            let message = format!("Invalid region: {name}");
            return error("InvalidParameterValue", &message, request_id);
        }
    }
    listed.retain(|r| {
        (names.is_empty() || names.contains(&r.name.as_str()))
            && filters.iter().all(|(filter, values)| {
                let value = match filter.as_str() {
                    "endpoint" => endpoint(r),
                    "region-name" => r.name.clone(),
                    _ => "opt-in-not-required".to_owned(),
                };
                values.iter().any(|v| engine::glob(v, &value))
            })
    });
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeRegionsResponse xmlns=\"http://ec2.amazonaws.com/doc/{VERSION}/\"><requestId>{request_id}</requestId><regionInfo>"
    );
    for r in listed {
        body.push_str(&format!(
            "<item><regionName>{}</regionName><regionEndpoint>{}</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item>",
            escape(&r.name),
            escape(endpoint(r))
        ));
    }
    body.push_str("</regionInfo></DescribeRegionsResponse>");
    xml(StatusCode::OK, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn filters_are_read_in_their_order_and_bounded() {
        let p = params(&[
            ("Filter.2.Value.1", "b"),
            ("Filter.1.Name", "region-name"),
            ("Filter.1.Value.2", "eu-*"),
            ("Filter.1.Value.1", "us-*"),
            ("Filter.2.Name", "endpoint"),
            ("RegionName.2", "y"),
            ("RegionName.1", "x"),
        ]);
        assert_eq!(
            filters(&p),
            Ok(vec![
                (
                    "region-name".to_owned(),
                    vec!["us-*".to_owned(), "eu-*".to_owned()]
                ),
                ("endpoint".to_owned(), vec!["b".to_owned()]),
            ])
        );
        assert_eq!(numbered(&p, "RegionName"), ["x", "y"]);
        let many: Vec<(String, String)> = (1..=51)
            .map(|n| (format!("Filter.{n}.Name"), "region-name".to_owned()))
            .collect();
        assert_eq!(
            filters(&many),
            Err("The request has more than 50 filters.".to_owned())
        );
    }
}
