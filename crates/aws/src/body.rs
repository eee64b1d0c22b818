//! Request bodies: read within limits of size and time, held against a budget while their
//! signature cannot be checked yet, drained when refused unread, and inflated when gzipped.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use http_body_util::BodyExt as _;

use crate::response::plain;

/// The largest request body accepted. PutLogEvents allows 1 MiB of messages, which JSON
/// escaping can roughly double; anything larger is not a valid request of these services.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// The longest a request body may take in all, however steadily it arrives.
const BODY_DEADLINE: Duration = Duration::from_secs(60);
/// The bytes of bodies held at once while their signature cannot be checked yet (clients that
/// do not sign `x-amz-content-sha256` are checked only once the body is in), in KiB: a client
/// that knows an access key id but not its secret cannot make the server hold more.
pub(crate) const UNVERIFIED_BODY_KIB: usize = 64 * 1024;
/// The largest body a gzip-encoded request may inflate to (PutMetricData allows 1 MB).
const MAX_INFLATED_BYTES: u64 = 8 * 1024 * 1024;

/// Reads a request body of at most [`MAX_BODY_BYTES`], within `stall` between two of its
/// parts and [`BODY_DEADLINE`] in all; the refusal to answer otherwise. With a `budget`, the
/// body's size is taken from it (in KiB) for as long as the permits returned are held.
pub(crate) async fn read_body(
    body: Body,
    headers: &HeaderMap,
    stall: Duration,
    budget: Option<&Arc<tokio::sync::Semaphore>>,
) -> Result<(Bytes, Option<tokio::sync::OwnedSemaphorePermit>), Response> {
    let too_large = || {
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The request body is larger than these services accept.\n",
        )
    };
    let stalled = || {
        plain(
            StatusCode::REQUEST_TIMEOUT,
            "The request body stopped arriving.\n",
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let mut body = body;
    let mut out = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let mut held: Option<tokio::sync::OwnedSemaphorePermit> = None;
    let deadline = tokio::time::Instant::now() + BODY_DEADLINE;
    loop {
        let next = deadline.min(tokio::time::Instant::now() + stall);
        let frame = match tokio::time::timeout_at(next, body.frame()).await {
            Err(_) => return Err(stalled()),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                tracing::debug!(error = %e, "Cannot read a request body.");
                return Err(plain(
                    StatusCode::BAD_REQUEST,
                    "The request body could not be read.\n",
                ));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            if let Some(budget) = budget {
                // Whole KiB held for the bytes read so far.
                let wanted = (out.len() + data.len()).div_ceil(1024);
                let have = held.as_ref().map_or(0, |p| p.num_permits());
                if wanted > have {
                    let more = u32::try_from(wanted - have).unwrap_or(u32::MAX);
                    let next = deadline.min(tokio::time::Instant::now() + stall);
                    let permit = match tokio::time::timeout_at(
                        next,
                        budget.clone().acquire_many_owned(more),
                    )
                    .await
                    {
                        Ok(Ok(permit)) => permit,
                        _ => {
                            return Err(plain(
                                StatusCode::SERVICE_UNAVAILABLE,
                                "Too many unverified request bodies are being received; try again.\n",
                            ));
                        }
                    };
                    match &mut held {
                        Some(h) => h.merge(permit),
                        None => held = Some(permit),
                    }
                }
            }
            out.extend_from_slice(&data);
        }
    }
    Ok((Bytes::from(out), held))
}

/// Reads and drops the body of a request refused before its body was read, so that the
/// connection can close (or go on) cleanly once the client has sent it: closing a socket with
/// unread data resets the connection, and the client may then lose the answer. Nothing is
/// kept, and a body that stalls or exceeds [`MAX_BODY_BYTES`] is cut off.
pub(crate) fn discard(body: Body, stall: Duration) {
    tokio::spawn(async move {
        let mut body = body;
        let mut seen = 0usize;
        let deadline = tokio::time::Instant::now() + BODY_DEADLINE;
        loop {
            let next = deadline.min(tokio::time::Instant::now() + stall);
            match tokio::time::timeout_at(next, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    seen += frame.data_ref().map_or(0, Bytes::len);
                    if seen > MAX_BODY_BYTES {
                        return;
                    }
                }
                _ => return,
            }
        }
    });
}

/// Inflates a gzip body, every member of it (RFC 1952 lets a file hold several).
pub(crate) fn inflate(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(body)
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("The gzip body could not be read: {e}"))?;
    if out.len() as u64 > MAX_INFLATED_BYTES {
        return Err("The request body is too large.".into());
    }
    Ok(out)
}
