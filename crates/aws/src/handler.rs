//! One request from its head to its reply: told apart, its signature checked as early as it
//! can be, its body read and decoded, the operation run on the engine, the reply written.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use engine::scope::{Arn, Scope};

use crate::body::{discard, inflate, read_body};
use crate::dispatch::{self, Failure};
use crate::error::{AwsError, closing};
use crate::protocol::{
    Addressed, Protocol, address, form_guess, form_protocol, scope_region, scope_service,
};
use crate::response::{Reply, plain, success};
use crate::{Auth, State, decode, ec2, model, operator, sigv4};

/// Every request of the listener.
pub(crate) async fn handle(AxumState(state): AxumState<Arc<State>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let request_id = uuid::Uuid::new_v4().to_string();
    if parts.method == Method::GET {
        return handle_get(&state, &parts.uri, request_id).await;
    }
    if parts.method != Method::POST {
        let mut r = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "Only POST and GET are supported.\n",
        );
        r.headers_mut().insert(
            axum::http::header::ALLOW,
            axum::http::HeaderValue::from_static("GET, POST"),
        );
        return r;
    }
    match post(&state, &parts.uri, &parts.headers, body, request_id).await {
        Ok(response) | Err(response) => response,
    }
}

/// An API request. Refusals are `Err`, to leave with `?`.
async fn post(
    state: &State,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    request_id: String,
) -> Result<Response, Response> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let scope_service = scope_service(header("authorization").unwrap_or_default());
    let addressed = address(
        uri.path(),
        header("x-amz-target"),
        header("content-type").unwrap_or_default(),
    );
    // Errors before the body is read answer in the protocol the head points to; a form
    // request's service is told by its credential scope until its Version is read.
    let mut reply = Reply {
        protocol: match &addressed {
            Addressed::Operation(protocol, _) => *protocol,
            Addressed::Form => form_guess(scope_service),
            Addressed::UnknownTarget | Addressed::NotAws => Protocol::LogsJson,
        },
        request_id,
        query_mode: header("x-amzn-query-mode") == Some("true"),
    };
    let services: &[&str] = match &addressed {
        Addressed::Operation(protocol, _) => &[protocol.signing_name()],
        Addressed::Form => &["sns", "monitoring", "sts", ec2::SIGNING_NAME],
        Addressed::UnknownTarget => {
            discard(body, state.body_timeout);
            let e = AwsError::shape(&reply, "UnknownOperationException", "");
            return Err(e.without_message().into_response());
        }
        Addressed::NotAws => {
            discard(body, state.body_timeout);
            return Err(plain(
                StatusCode::NOT_FOUND,
                "Not an AWS API request: expected X-Amz-Target, an rpcv2Cbor path or a form body.\n",
            ));
        }
    };

    // The signature is checked as far as it can be before the body is read: an unsigned or
    // wrongly scoped request, or one with an unknown key, is answered before its body is read;
    // a client that signs its payload's hash is checked entirely. Bodies that still have to
    // be read before their signature can be checked share a bounded budget.
    // The signing key's account, looked up once with its secret.
    let key_account: std::cell::Cell<Option<Option<String>>> = std::cell::Cell::new(None);
    let pending = match &state.auth {
        Auth::None => None,
        Auth::SigV4(keys) => {
            let pairs: Vec<(&str, &[u8])> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_bytes()))
                .collect();
            let head = sigv4::Request {
                method: Method::POST.as_str(),
                path: uri.path(),
                query: uri.query().unwrap_or_default(),
                headers: &pairs,
                body: &[],
            };
            let expect = sigv4::Expectation {
                regions: &state.engine.config().regions,
                services,
                now: SystemTime::now(),
            };
            let secrets = |id: &str| {
                keys.key(id).map(|k| {
                    key_account.set(Some(k.account_id));
                    k.secret_access_key
                })
            };
            match sigv4::verify_head(&head, &expect, &secrets) {
                Ok(pending) => Some(pending),
                Err(e) => {
                    tracing::info!(error = %e, "Request refused: authentication failed.");
                    discard(body, state.body_timeout);
                    return Err(AwsError::auth(&reply, &e).into_response());
                }
            }
        }
    };

    // CloudWatch clients gzip large PutMetricData bodies; nothing else is understood.
    let gzip = match header("content-encoding").map(str::trim) {
        None | Some("" | "identity") => false,
        Some(e) if e.eq_ignore_ascii_case("gzip") => true,
        Some(other) => {
            discard(body, state.body_timeout);
            let message =
                format!("The Content-Encoding {other} is not supported: send gzip or no encoding.");
            return Err(AwsError::shape(&reply, "SerializationException", message).into_response());
        }
    };

    let budget = pending
        .as_ref()
        .filter(|p| !p.signature_checked())
        .map(|_| &state.unverified);
    let (body, held) = read_body(body, headers, state.body_timeout, budget)
        .await
        .map_err(closing)?;

    // The signature covers the body as sent: compressed bodies are checked compressed.
    let signer = pending.map(|p| p.finish(&body)).transpose().map_err(|e| {
        tracing::info!(error = %e, "Request refused: authentication failed.");
        AwsError::auth(&reply, &e).into_response()
    })?;
    // Verified: the body no longer counts against the budget of unverified ones.
    drop(held);
    let body = if gzip {
        let inflated = inflate(&body).map_err(|message| {
            AwsError::shape(&reply, "SerializationException", message).into_response()
        })?;
        Bytes::from(inflated)
    } else {
        body
    };

    let (protocol, operation, form) = match addressed {
        Addressed::Operation(protocol, op) => (protocol, op, None),
        _ => {
            let params: Vec<(String, String)> =
                form_urlencoded::parse(&body).into_owned().collect();
            let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            if get("Version") == Some(ec2::VERSION)
                || (get("Version").is_none() && scope_service == Some(ec2::SIGNING_NAME))
            {
                return Err(ec2_answer(state, &params, signer.as_ref(), headers, &reply));
            }
            let Some(protocol) = form_protocol(get("Version").unwrap_or_default(), scope_service)
            else {
                let message = "The request names no known service API version.";
                return Err(AwsError::shape(&reply, "InvalidAction", message).into_response());
            };
            let op = get("Action").unwrap_or_default().to_owned();
            (protocol, op, Some(params))
        }
    };
    reply.protocol = protocol;
    // A form's credential scope must name the service its Version names.
    if let Some(signer) = &signer
        && signer.service != protocol.signing_name()
    {
        let e = sigv4::AuthError::InvalidScope {
            message: format!(
                "Credential should be scoped to correct service: '{}'.",
                protocol.signing_name()
            ),
        };
        return Err(AwsError::auth(&reply, &e).into_response());
    }

    let config = state.engine.config();
    let region = served_region(config, signer.as_ref(), headers)
        .map_err(|e| AwsError::auth(&reply, &sigv4::AuthError::region(&e)).into_response())?;
    // Served in the account of the key that signed it.
    let account = key_account
        .take()
        .flatten()
        .unwrap_or_else(|| config.account_id.clone());
    if protocol == Protocol::Operator {
        // The operator API sees every account's deliveries: only the server's own account
        // may use it.
        if account != config.account_id {
            let message = "The operator API answers keys of the server's own account only.";
            return Err(AwsError::shape(&reply, "AccessDeniedException", message).into_response());
        }
        return Ok(operator::handle(&state.engine, &operation, &body, &reply).await);
    }
    let service = protocol.service();
    if !service.operations.contains_key(&operation) {
        return Err(decode::unknown_operation(&reply, &operation).into_response());
    }
    let input = decode::input(&reply, service, &operation, &body, form.as_deref())
        .map_err(IntoResponse::into_response)?;
    let scope = Scope::new(&account, region);
    let engine = &state.engine;
    let result = match protocol {
        Protocol::LogsJson => dispatch::logs(engine, &scope, &operation, input).await,
        Protocol::SnsQuery => dispatch::sns(engine, &scope, &operation, input).await,
        Protocol::CloudTrailJson => dispatch::cloudtrail(engine, &scope, &operation, input).await,
        Protocol::OrganizationsJson => dispatch::organizations(&operation),
        Protocol::StsQuery => {
            let access_key_id = signer.as_ref().map(|s| s.access_key_id.as_str());
            dispatch::sts(&scope, access_key_id, &operation)
        }
        _ => dispatch::cloudwatch(engine, &scope, &operation, input).await,
    };
    Ok(outcome(&reply, service, &operation, result))
}

/// The region a request is served in: the one it is signed for (checked when signatures are),
/// else the server's own.
fn served_region(
    config: &engine::Config,
    signer: Option<&sigv4::Verified>,
    headers: &HeaderMap,
) -> Result<&'static engine::scope::Region, engine::scope::RegionError> {
    match signer {
        Some(signer) => config.regions.get(&signer.region),
        None => scope_region(
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default(),
        )
        .map_or(Ok(config.region), |r| config.regions.get(r)),
    }
}

/// An EC2 request, answered in EC2's own dialect.
fn ec2_answer(
    state: &State,
    params: &[(String, String)],
    signer: Option<&sigv4::Verified>,
    headers: &HeaderMap,
    reply: &Reply,
) -> Response {
    let id = &reply.request_id;
    if let Some(signer) = signer
        && signer.service != ec2::SIGNING_NAME
    {
        let message = "Credential should be scoped to correct service: 'ec2'.";
        return ec2::error("AuthFailure", message, id);
    }
    let config = state.engine.config();
    match served_region(config, signer, headers) {
        Ok(region) => {
            let scope = Scope::new(&config.account_id, region);
            ec2::answer(params, &scope, &config.regions, id)
        }
        Err(e) => ec2::error("AuthFailure", &e.to_string(), id),
    }
}

/// The reply to an operation's result.
fn outcome(
    reply: &Reply,
    service: &model::Service,
    operation: &str,
    result: Result<serde_json::Value, Failure>,
) -> Response {
    match result {
        Ok(output) => success(reply, service, operation, &output),
        Err(Failure::Unsupported) => {
            decode::unsupported_operation(reply, operation).into_response()
        }
        Err(Failure::Refused { shape, message }) => {
            AwsError::shape(reply, shape, message).into_response()
        }
        Err(Failure::Engine(e)) => {
            if e.is_internal() {
                tracing::error!(operation, error = %e.message, "Operation failed.");
            }
            AwsError::engine(reply, &e).into_response()
        }
    }
}

/// GET: the health check, the signing certificate, and the `SubscribeURL` and
/// `UnsubscribeURL` links of SNS messages — plain GETs, unsigned, as AWS serves them.
async fn handle_get(state: &State, uri: &Uri, request_id: String) -> Response {
    let path = uri.path();
    if path == "/healthz" {
        return plain(StatusCode::OK, "ok\n");
    }
    if let Some(cert) = &state.certificate
        && path.strip_prefix('/') == Some(cert.file_name.as_str())
    {
        let mut r = Response::new(Body::from(cert.pem.clone()));
        r.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/x-x509-ca-cert"),
        );
        return r;
    }
    let params: Vec<(String, String)> =
        form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let action = params
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.as_str());
    let operation = match action {
        Some(op @ ("ConfirmSubscription" | "Unsubscribe")) => op,
        _ => return plain(StatusCode::NOT_FOUND, "Not found.\n"),
    };
    let reply = Reply {
        protocol: Protocol::SnsQuery,
        request_id,
        query_mode: false,
    };
    let service = model::sns();
    let input = match decode::input(&reply, service, operation, &[], Some(&params)) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    // An unsigned link is served in the scope of the topic or subscription it names, and
    // belongs to the region its path names (`/<region>/`, as each region has its own SNS
    // endpoint on AWS; links sent before regions had none): another region's ARN is refused.
    let config = state.engine.config();
    let (parameter, arn) = match ["TopicArn", "SubscriptionArn"]
        .iter()
        .find_map(|k| params.iter().find(|(n, _)| n == k))
    {
        Some((k, v)) => (k.as_str(), v.as_str()),
        None => ("TopicArn", ""),
    };
    let named = Arn::parse(arn)
        .and_then(|a| a.scope())
        .filter(|s| config.regions.get(s.region_name()).is_ok());
    let link_region = path.trim_matches('/');
    if !link_region.is_empty() && engine::scope::Region::named(link_region).is_none() {
        return plain(StatusCode::NOT_FOUND, "Not found.\n");
    }
    if let Some(s) = &named
        && !link_region.is_empty()
        && link_region != s.region_name()
    {
        let e = AwsError::shape(
            &reply,
            "InvalidParameterException",
            format!("Invalid parameter: {parameter}"),
        );
        return e.into_response();
    }
    let scope = named.unwrap_or_else(|| state.engine.default_scope());
    let result = dispatch::sns_link(&state.engine, &scope, operation, input).await;
    outcome(&reply, service, operation, result)
}
