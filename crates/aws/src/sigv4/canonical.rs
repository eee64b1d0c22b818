//! The canonical request and the string to sign, built from what was received exactly as
//! the client built them, and the signing key.

use std::borrow::Cow;

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::{ALGORITHM, AuthError, HmacSha256, Request, TERMINATOR};

/// Build the canonical request bytes exactly as the client did.
pub(super) fn canonical_request(
    req: &Request,
    signed_names: &[String],
    payload_hash: &str,
) -> Result<Vec<u8>, AuthError> {
    let mut out = canonical_head(req, signed_names)?;
    out.extend_from_slice(payload_hash.as_bytes());
    Ok(out)
}

/// The canonical request up to its last line, the payload hash.
pub(super) fn canonical_head(req: &Request, signed_names: &[String]) -> Result<Vec<u8>, AuthError> {
    let mut out = Vec::with_capacity(256 + req.query.len());
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(req.path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(req.query).as_bytes());
    out.push(b'\n');
    for name in signed_names {
        let values: Vec<Vec<u8>> = header_values(req.headers, name).map(trim_all).collect();
        // A signed header that did not arrive means the request was altered on
        // the way (or built wrongly); either way the signature cannot be
        // reproduced, which AWS reports as a mismatch rather than as a
        // malformed header.
        if values.is_empty() {
            return Err(AuthError::SignatureDoesNotMatch);
        }
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(&values.join(&b','));
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_names.join(";").as_bytes());
    out.push(b'\n');
    Ok(out)
}

pub(super) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request))
    )
}

/// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")
pub(super) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, TERMINATOR.as_bytes())
}

pub(super) fn new_mac(key: &[u8]) -> HmacSha256 {
    // HMAC is defined for keys of every length (long keys are hashed, short
    // ones padded), so this constructor cannot fail.
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

pub(super) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = new_mac(key);
    mac.update(data);
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// Values of every header named `name` (ASCII case-insensitive), in order.
pub(super) fn header_values<'a>(
    headers: &'a [(&'a str, &'a [u8])],
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// Trim and collapse inner whitespace runs to one space (SigV4 "trimall";
/// botocore does `' '.join(value.split())`).
pub(super) fn trim_all(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for word in value
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(word);
    }
    out
}

/// Canonical URI for non-S3 services: normalise the raw path, then
/// URI-encode it again. The raw path is already percent-encoded on the wire,
/// and the SDKs encode it once more when signing (`double_uri_encode`), so
/// `%20` in the request line becomes `%2520` here.
pub(super) fn canonical_uri(raw_path: &str) -> String {
    uri_encode(normalize_path(raw_path).as_bytes(), false)
}

/// Remove `.`/`..` segments and empty segments, keeping a trailing slash, as
/// botocore (`posixpath.normpath`) and the Rust SDK (`normalize_uri_path`) do
/// before signing. An empty path is `/`.
pub(super) fn normalize_path(raw_path: &str) -> Cow<'_, str> {
    let trivial = raw_path.starts_with('/')
        && !raw_path.contains("//")
        && !raw_path
            .split('/')
            .any(|segment| segment == "." || segment == "..");
    if trivial {
        return Cow::Borrowed(raw_path);
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in raw_path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(raw_path.len() + 1);
    out.push('/');
    out.push_str(&segments.join("/"));
    let trailing = raw_path.ends_with('/') || raw_path.ends_with("/.") || raw_path.ends_with("/..");
    if trailing && !segments.is_empty() {
        out.push('/');
    }
    Cow::Owned(out)
}

/// Canonical query: each name and value percent-decoded, re-encoded per
/// RFC 3986 (so `+` is a literal plus, encoded `%2B`, and space is `%20`),
/// sorted by name then value, joined with `&`.
pub(super) fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            (
                uri_encode(&percent_decode(name), true),
                uri_encode(&percent_decode(value), true),
            )
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(query.len() + 8);
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// RFC 3986 encoding: unreserved characters kept, everything else `%XX`
/// (upper-case hex). `/` is kept unless `encode_slash`.
pub(super) fn uri_encode(bytes: &[u8], encode_slash: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (b == b'/' && !encode_slash);
        if keep {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// Lenient percent-decoding: a `%` not followed by two hex digits stays a
/// literal `%` (and is then re-encoded as `%25`) instead of failing the request.
pub(super) fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|b| hex_value(*b)),
                bytes.get(i + 2).and_then(|b| hex_value(*b)),
            )
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

pub(super) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
