//! EC2's `DescribeRegions`, the call with which tools (Prowler, ScoutSuite, Steampipe) learn
//! which regions to look at before they audit anything else. EC2 speaks its own query dialect
//! (`RegionName.1`, replies without a result wrapper, lists of `<item>`), so this one call is
//! answered here rather than through a service model; every other EC2 action is refused as
//! EC2 refuses an action it does not offer.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use engine::scope::{Region, Regions, Scope, regions};

/// EC2's API version, named by the form's `Version`.
pub(crate) const VERSION: &str = "2016-11-15";
/// The SigV4 signing name.
pub(crate) const SIGNING_NAME: &str = "ec2";

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

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
            xml_escape(code),
            xml_escape(message)
        ),
    )
}

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

/// `Filter.N.Name` with its `Filter.N.Value.M`.
fn filters(params: &[(String, String)]) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for n in 1.. {
        let Some((_, name)) = params
            .iter()
            .find(|(k, _)| *k == format!("Filter.{n}.Name"))
        else {
            break;
        };
        let values = numbered(params, &format!("Filter.{n}.Value"))
            .into_iter()
            .map(str::to_owned)
            .collect();
        out.push((name.clone(), values));
    }
    out
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
    let filters = filters(params);
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
            xml_escape(&r.name),
            xml_escape(&endpoint(r))
        ));
    }
    body.push_str("</regionInfo></DescribeRegionsResponse>");
    xml(StatusCode::OK, body)
}
