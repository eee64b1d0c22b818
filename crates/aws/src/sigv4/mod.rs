//! Server-side verification of AWS Signature Version 4 (header form).
//!
//! The AWS CLI and SDKs sign every request to CloudWatch Logs (`logs`),
//! CloudWatch (`monitoring`) and SNS (`sns`) with
//! `Authorization: AWS4-HMAC-SHA256 Credential=AKID/yyyymmdd/region/service/aws4_request,
//! SignedHeaders=a;b;c, Signature=hex` plus `X-Amz-Date`. [`verify`] rebuilds the
//! canonical request from what was received — driven by the client's own
//! `SignedHeaders` list, never by an assumed set — and compares signatures in
//! constant time. [`sign`] is the mirror image, for tests and our own clients.
//!
//! The module is framework-neutral on purpose: the HTTP layer hands over plain
//! slices, so the same code serves axum, hyper or a test with no server at all.

mod canonical;
mod date;
#[cfg(test)]
mod tests;

use engine::scope::{RegionError, Regions};
use std::fmt;
use std::time::SystemTime;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use canonical::{
    canonical_head, canonical_request, header_values, hmac_sha256, new_mac, signing_key,
    string_to_sign, trim_all,
};
use date::{format_unix, parse_amz_date, parse_imf_fixdate, unix_seconds};

type HmacSha256 = Hmac<Sha256>;

/// The only algorithm these services accept in the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Fixed last element of every SigV4 credential scope.
const TERMINATOR: &str = "aws4_request";
/// AWS rejects requests whose timestamp is more than 5 minutes away from its
/// clock; the `- 5 min.` in its error text shows the window.
const MAX_SKEW_SECS: i64 = 5 * 60;
/// Length of `yyyymmddTHHMMSSZ`.
const AMZ_DATE_LEN: usize = 16;

const MSG_SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const MSG_INVALID_TOKEN: &str = "The security token included in the request is invalid.";
// API Gateway-fronted JSON services answer with this text; query services are
// reported to say "Request is missing Authentication Token". Unverified, from
// memory: one text keeps callers simple until a real capture says otherwise.
const MSG_MISSING_TOKEN: &str = "Missing Authentication Token";

/// One received HTTP request, as raw as the HTTP layer can give it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// HTTP method, e.g. `GET`, `POST`.
    pub method: &'a str,
    /// Raw path as received (still percent-encoded), without the query.
    pub path: &'a str,
    /// Raw query string without the `?`; may be empty.
    pub query: &'a str,
    /// Header names in any case, possibly repeated, in the order received.
    /// For HTTP/2 the caller should pass `:authority` as `host`.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The body bytes exactly as received (compressed bodies stay compressed:
    /// the client hashed what it sent).
    pub body: &'a [u8],
}

/// What the server accepts for one request.
#[derive(Debug, Clone, Copy)]
pub struct Expectation<'a> {
    /// The regions this server answers for.
    pub regions: &'a Regions,
    /// Accepted signing names (e.g. `logs`, `monitoring`, `sns`).
    pub services: &'a [&'a str],
    /// The server's clock, checked against the request timestamp.
    pub now: SystemTime,
}

/// Source of secret access keys.
pub trait Credentials {
    /// The secret access key for `access_key_id`, or `None` if unknown.
    fn secret_for(&self, access_key_id: &str) -> Option<String>;
}

impl<F> Credentials for F
where
    F: Fn(&str) -> Option<String>,
{
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self(access_key_id)
    }
}

impl<S: std::hash::BuildHasher> Credentials for std::collections::HashMap<String, String, S> {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self.get(access_key_id).cloned()
    }
}

/// Who signed a request that verified, and for what scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    /// The signing name from the credential scope (one of `Expectation::services`).
    pub service: String,
    pub region: String,
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header at all.
    MissingAuthenticationToken,
    /// The `Authorization` header or the date header is malformed or incomplete;
    /// the text is AWS's message.
    IncompleteSignature(String),
    /// The access key id is not known.
    UnrecognizedClient,
    /// The signature (or a signed payload hash) does not match.
    SignatureDoesNotMatch,
    /// The request timestamp is outside the allowed clock skew.
    SignatureExpired { message: String },
    /// The credential scope names another region, service, date or terminator.
    InvalidScope { message: String },
}

impl AuthError {
    /// Error code for JSON protocols (awsJson1_0/1_1, rpcv2Cbor): the `__type`
    /// and `x-amzn-ErrorType` value. The `MissingAuthenticationToken*` names,
    /// in both protocols, are from memory and not yet checked against AWS.
    pub fn json_code(&self) -> &'static str {
        match self {
            AuthError::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            AuthError::IncompleteSignature(_) => "IncompleteSignatureException",
            AuthError::UnrecognizedClient => "UnrecognizedClientException",
            AuthError::SignatureDoesNotMatch
            | AuthError::SignatureExpired { .. }
            | AuthError::InvalidScope { .. } => "InvalidSignatureException",
        }
    }

    /// Error code for the awsQuery protocol (`<Code>` in `ErrorResponse`); also
    /// the value before `;` in `x-amzn-query-error` for query-compatible JSON.
    pub fn query_code(&self) -> &'static str {
        match self {
            AuthError::MissingAuthenticationToken => "MissingAuthenticationToken",
            AuthError::IncompleteSignature(_) => "IncompleteSignature",
            AuthError::UnrecognizedClient => "InvalidClientTokenId",
            AuthError::SignatureDoesNotMatch
            | AuthError::SignatureExpired { .. }
            | AuthError::InvalidScope { .. } => "SignatureDoesNotMatch",
        }
    }

    /// HTTP status code.
    pub fn http_status(&self) -> u16 {
        match self {
            // The CloudWatch/SNS-era "Common Errors" pages list IncompleteSignature
            // as 400; some newer JSON-service pages say 403. We follow the pages
            // for the services we emulate.
            AuthError::IncompleteSignature(_) => 400,
            _ => 403,
        }
    }

    /// AWS's message text.
    pub fn message(&self) -> &str {
        match self {
            AuthError::MissingAuthenticationToken => MSG_MISSING_TOKEN,
            AuthError::IncompleteSignature(message)
            | AuthError::SignatureExpired { message }
            | AuthError::InvalidScope { message } => message,
            AuthError::UnrecognizedClient => MSG_INVALID_TOKEN,
            AuthError::SignatureDoesNotMatch => MSG_SIGNATURE_MISMATCH,
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.query_code(), self.message())
    }
}

impl std::error::Error for AuthError {}

/// Verify the SigV4 `Authorization` header of `req`: [`verify_head`] and
/// [`PendingVerification::finish`] in one.
pub fn verify(
    req: &Request,
    expect: &Expectation,
    creds: &dyn Credentials,
) -> Result<Verified, AuthError> {
    verify_head(req, expect, creds)?.finish(req.body)
}

/// A request whose head passed every check that needs no body: the server may read the body,
/// then [`finish`](PendingVerification::finish) with it.
#[derive(Debug, Clone)]
pub struct PendingVerification {
    /// The canonical request up to the payload hash.
    canonical_head: Vec<u8>,
    amz_date: String,
    scope: String,
    key: [u8; 32],
    provided: Vec<u8>,
    /// The signed `x-amz-content-sha256` value, whose signature is already checked.
    claimed_hash: Option<Vec<u8>>,
    verified: Verified,
}

/// Checks everything of the `Authorization` header that the body does not enter: its
/// syntax, the date, the credential scope, the clock skew, the access key — and, when the
/// client signed the payload's hash in `x-amz-content-sha256`, the signature itself. So an
/// unsigned or wrongly signed request is refused before its body is read. `req.body` is not
/// looked at.
///
/// Checks run in this order: header syntax, date header, credential scope,
/// clock skew, access key, then the signature itself: cheap checks that need
/// no secret come first, so a malformed or misconfigured client gets the most
/// specific error and the credential store is consulted only when needed.
pub fn verify_head(
    req: &Request,
    expect: &Expectation,
    creds: &dyn Credentials,
) -> Result<PendingVerification, AuthError> {
    // Presigned URLs (X-Amz-Signature in the query) are never produced by the
    // CLI or SDKs for these services, so only the header form is accepted.
    let auth_value = header_values(req.headers, "authorization")
        .next()
        .ok_or(AuthError::MissingAuthenticationToken)?;
    let auth_value = std::str::from_utf8(auth_value).map_err(|_| {
        AuthError::IncompleteSignature("Authorization header is not valid UTF-8.".to_owned())
    })?;
    let auth_value = auth_value.trim();
    let parsed = parse_authorization(auth_value)?;
    let date_raw = request_date(req.headers);

    // AWS reports every missing piece in one message, then echoes the header.
    let mut missing = Vec::new();
    if parsed.credential.is_none() {
        missing.push("Authorization header requires 'Credential' parameter.");
    }
    if parsed.signature.is_none() {
        missing.push("Authorization header requires 'Signature' parameter.");
    }
    if parsed.signed_headers.is_none() {
        missing.push("Authorization header requires 'SignedHeaders' parameter.");
    }
    if date_raw.is_none() {
        missing.push(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        );
    }
    let (Some(credential), Some(signature), Some(signed_headers), Some(date_raw)) = (
        parsed.credential,
        parsed.signature,
        parsed.signed_headers,
        date_raw,
    ) else {
        return Err(AuthError::IncompleteSignature(format!(
            "{} Authorization={auth_value}",
            missing.join(" ")
        )));
    };

    let signed_names = parse_signed_headers(signed_headers)?;
    let request_time = parse_request_date(date_raw)?;
    let amz_date = format_unix(request_time);
    let scope = parse_credential(credential)?;

    check_scope(&scope, &amz_date, expect)?;
    check_skew(request_time, unix_seconds(expect.now))?;

    let secret = creds
        .secret_for(scope.access_key_id)
        .ok_or(AuthError::UnrecognizedClient)?;

    // A signature that is not 64 hex digits cannot match; AWS answers such
    // garbage with the same mismatch error, so do we.
    let provided = hex::decode(signature).map_err(|_| AuthError::SignatureDoesNotMatch)?;
    let pending = PendingVerification {
        canonical_head: canonical_head(req, &signed_names)?,
        scope: scope.scope_string(),
        key: signing_key(&secret, scope.date, scope.region, scope.service),
        amz_date,
        provided,
        claimed_hash: signed_names
            .iter()
            .any(|n| n == "x-amz-content-sha256")
            .then(|| {
                header_values(req.headers, "x-amz-content-sha256")
                    .next()
                    .map(trim_all)
                    .unwrap_or_default()
            }),
        verified: Verified {
            access_key_id: scope.access_key_id.to_owned(),
            service: scope.service.to_owned(),
            region: scope.region.to_owned(),
        },
    };
    if let Some(claimed) = &pending.claimed_hash {
        pending.check_signature(claimed)?;
    }
    Ok(pending)
}

impl PendingVerification {
    /// Whether the signature is already checked (the client signed its payload's hash), so
    /// that only the body's hash remains to compare.
    pub fn signature_checked(&self) -> bool {
        self.claimed_hash.is_some()
    }

    /// The signing name of the credential scope.
    pub fn service(&self) -> &str {
        &self.verified.service
    }

    /// Completes the verification with the body as received (compressed bodies stay
    /// compressed: the client hashed what it sent).
    pub fn finish(self, body: &[u8]) -> Result<Verified, AuthError> {
        let computed = hex::encode(Sha256::digest(body));
        match &self.claimed_hash {
            // These services have no unsigned or streaming payload mode (that is an S3
            // feature), so the claimed hash must be the real one; anything else,
            // UNSIGNED-PAYLOAD included, means the body is not what was signed.
            Some(claimed) if claimed.as_slice() != computed.as_bytes() => {
                return Err(AuthError::SignatureDoesNotMatch);
            }
            Some(_) => {}
            None => self.check_signature(computed.as_bytes())?,
        }
        Ok(self.verified)
    }

    fn check_signature(&self, payload_hash: &[u8]) -> Result<(), AuthError> {
        let mut canonical = self.canonical_head.clone();
        canonical.extend_from_slice(payload_hash);
        let string_to_sign = string_to_sign(&self.amz_date, &self.scope, &canonical);
        let mut mac = new_mac(&self.key);
        mac.update(string_to_sign.as_bytes());
        // verify_slice compares in constant time, so the position of the first
        // wrong byte does not leak through response timing.
        mac.verify_slice(&self.provided)
            .map_err(|_| AuthError::SignatureDoesNotMatch)
    }
}

/// Inputs of [`sign`] besides the request itself.
#[derive(Debug, Clone, Copy)]
pub struct SigningParams<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub region: &'a str,
    /// Signing name, e.g. `logs`, `monitoring`, `sns`.
    pub service: &'a str,
}

/// Compute the `Authorization` header value for `req`.
///
/// Every header in `req.headers` is signed (except `authorization` itself), so
/// pass exactly the headers meant to be signed; they must include `host` and
/// `x-amz-date` (or `date`), whose value is the signing time. The payload hash
/// is always computed from `req.body`, as botocore does for these services.
///
/// Errors are [`AuthError::IncompleteSignature`] for a request that could not
/// be verified either (no `host`, no or malformed date).
pub fn sign(req: &Request, params: &SigningParams) -> Result<String, AuthError> {
    let mut names: Vec<String> = req
        .headers
        .iter()
        .map(|(name, _)| name.to_ascii_lowercase())
        .filter(|name| name != "authorization")
        .collect();
    names.sort();
    names.dedup();
    if !names.iter().any(|name| name == "host") {
        return Err(AuthError::IncompleteSignature(
            MSG_HOST_NOT_SIGNED.to_owned(),
        ));
    }
    let date_raw = request_date(req.headers).ok_or_else(|| {
        AuthError::IncompleteSignature(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                .to_owned(),
        )
    })?;
    let amz_date = format_unix(parse_request_date(date_raw)?);
    let date = &amz_date[..8];

    let payload_hash = hex::encode(Sha256::digest(req.body));
    let canonical = canonical_request(req, &names, &payload_hash)?;
    let scope = format!("{date}/{}/{}/{TERMINATOR}", params.region, params.service);
    let string_to_sign = string_to_sign(&amz_date, &scope, &canonical);
    let key = signing_key(
        params.secret_access_key,
        date,
        params.region,
        params.service,
    );
    let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));

    // botocore joins the three parameters with ", "; copying that keeps our
    // requests byte-identical to the CLI's in captures.
    Ok(format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        params.access_key_id,
        names.join(";")
    ))
}

/// Format `time` as SigV4's `yyyymmddTHHMMSSZ` (for the `X-Amz-Date` header).
pub fn format_amz_date(time: SystemTime) -> String {
    format_unix(unix_seconds(time))
}

const MSG_HOST_NOT_SIGNED: &str =
    "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.";

/// The three parameters of the `Authorization` header, each optional so that
/// all missing ones can be reported together.
#[derive(Debug, Default)]
struct AuthorizationParams<'h> {
    credential: Option<&'h str>,
    signed_headers: Option<&'h str>,
    signature: Option<&'h str>,
}

fn parse_authorization(value: &str) -> Result<AuthorizationParams<'_>, AuthError> {
    let (algorithm, rest) = match value.split_once(|c: char| c.is_ascii_whitespace()) {
        Some((algorithm, rest)) => (algorithm, rest),
        None => (value, ""),
    };
    if algorithm != ALGORITHM {
        return Err(AuthError::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'."
        )));
    }
    let mut params = AuthorizationParams::default();
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, val)) = part.split_once('=') else {
            return Err(AuthError::IncompleteSignature(format!(
                "'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: '{value}'."
            )));
        };
        let slot = match key.trim() {
            "Credential" => &mut params.credential,
            "SignedHeaders" => &mut params.signed_headers,
            "Signature" => &mut params.signature,
            // Unknown parameters are not part of the signature; ignoring them
            // matches the tolerance of AWS's parser.
            _ => continue,
        };
        // The first occurrence wins; a later duplicate cannot change what was
        // signed because all three values feed the verification.
        if slot.is_none() {
            *slot = Some(val.trim());
        }
    }
    Ok(params)
}

/// Lowercased `SignedHeaders` names, in the client's order (the client built
/// its canonical request in that order, so we must too).
fn parse_signed_headers(value: &str) -> Result<Vec<String>, AuthError> {
    let names: Vec<String> = value
        .split(';')
        .filter(|n| !n.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    // Without a signed Host the signature could be replayed against another
    // endpoint; AWS refuses such a header as incomplete.
    if !names.iter().any(|n| n == "host") {
        return Err(AuthError::IncompleteSignature(
            MSG_HOST_NOT_SIGNED.to_owned(),
        ));
    }
    Ok(names)
}

/// The parts of `Credential=AKID/date/region/service/aws4_request`.
#[derive(Debug)]
struct CredentialScope<'h> {
    access_key_id: &'h str,
    date: &'h str,
    region: &'h str,
    service: &'h str,
    terminator: &'h str,
}

impl CredentialScope<'_> {
    fn scope_string(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.date, self.region, self.service, self.terminator
        )
    }
}

fn parse_credential(value: &str) -> Result<CredentialScope<'_>, AuthError> {
    let parts: Vec<&str> = value.split('/').collect();
    let [access_key_id, date, region, service, terminator] = parts[..] else {
        return Err(AuthError::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{value}'"
        )));
    };
    Ok(CredentialScope {
        access_key_id,
        date,
        region,
        service,
        terminator,
    })
}

/// Why a credential's region is refused, in AWS's words and then ours.
fn region_problem(region: &str, why: &RegionError) -> String {
    let hint = match why {
        RegionError::Unknown(_) => format!("'{region}' is not a region of any AWS partition."),
        RegionError::NotServed(_, served) => format!("This server answers only {served}."),
    };
    format!("Credential should be scoped to a valid region, not '{region}'. {hint}")
}

impl AuthError {
    /// A request whose credential names a region that is not served.
    pub fn region(why: &RegionError) -> AuthError {
        let region = match why {
            RegionError::Unknown(r) | RegionError::NotServed(r, _) => r,
        };
        AuthError::InvalidScope {
            message: region_problem(region, why),
        }
    }
}

/// AWS lists every scope problem in one message, sentence after sentence.
/// Texts follow AWS's wording as reproduced by third-party verifiers.
fn check_scope(
    scope: &CredentialScope,
    amz_date: &str,
    expect: &Expectation,
) -> Result<(), AuthError> {
    let mut problems = Vec::new();
    if let Err(why) = expect.regions.get(scope.region) {
        problems.push(region_problem(scope.region, &why));
    }
    if !expect.services.contains(&scope.service) {
        problems.push(format!(
            "Credential should be scoped to correct service: '{}'.",
            expect.services.join("' or '")
        ));
    }
    if scope.terminator != TERMINATOR {
        problems.push(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'.",
            scope.terminator
        ));
    }
    let request_day = &amz_date[..8];
    if scope.date != request_day {
        problems.push(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{request_day}', from '{amz_date}'.",
            scope.date
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(AuthError::InvalidScope {
            message: problems.join(" "),
        })
    }
}

fn check_skew(request_time: i64, now: i64) -> Result<(), AuthError> {
    let earliest = now.saturating_sub(MAX_SKEW_SECS);
    let latest = now.saturating_add(MAX_SKEW_SECS);
    if request_time < earliest {
        return Err(AuthError::SignatureExpired {
            message: format!(
                "Signature expired: {} is now earlier than {} ({} - 5 min.)",
                format_unix(request_time),
                format_unix(earliest),
                format_unix(now)
            ),
        });
    }
    if request_time > latest {
        // AWS words the future case differently from the past one ("not yet
        // current ... still later than"), as reproduced by third-party verifiers.
        return Err(AuthError::SignatureExpired {
            message: format!(
                "Signature not yet current: {} is still later than {} ({} + 5 min.)",
                format_unix(request_time),
                format_unix(latest),
                format_unix(now)
            ),
        });
    }
    Ok(())
}

/// `X-Amz-Date`, or `Date` only when `X-Amz-Date` is absent (the SigV4 rule).
fn request_date<'a>(headers: &'a [(&'a str, &'a [u8])]) -> Option<&'a [u8]> {
    header_values(headers, "x-amz-date")
        .next()
        .or_else(|| header_values(headers, "date").next())
}

/// Parse the request timestamp: ISO-8601 basic (`20150830T123600Z`, what every
/// SDK sends) or, for a plain `Date` header, the HTTP IMF-fixdate form.
fn parse_request_date(raw: &[u8]) -> Result<i64, AuthError> {
    let text = std::str::from_utf8(raw).unwrap_or_default().trim();
    parse_amz_date(text)
        .or_else(|| parse_imf_fixdate(text))
        .ok_or_else(|| {
            AuthError::IncompleteSignature(format!(
                "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
                String::from_utf8_lossy(raw)
            ))
        })
}
