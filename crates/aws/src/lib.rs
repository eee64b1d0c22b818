//! The AWS wire: CloudWatch Logs and CloudTrail over awsJson1_1, CloudWatch over awsJson1_0,
//! rpcv2Cbor and awsQuery, SNS and STS over awsQuery, all on one HTTP listener; SigV4
//! verification; AWS's error codes; dispatch into the engine.
//!
//! A request passes through these layers, each in its own module:
//!
//! - [`server`]: connections — limits, timeouts, room made by closing idle ones;
//! - `handler`: one request from head to reply, in order;
//! - `protocol`: which service and protocol it speaks, told apart as AWS's own front ends do
//!   (reference §1.2): the rpcv2Cbor path, then `X-Amz-Target`, then a form's `Version`;
//! - [`sigv4`]: its signature, checked before the body is read where it can be;
//! - `body`: its body, read within limits of size and time;
//! - `decode` and [`codec`]: the body read as the operation's input and checked against the
//!   service model ([`model`], botocore's own files);
//! - `dispatch`: the input decoded once into the engine's typed request, and the operation run;
//! - `response` and `error`: the output, or one `AwsError` (code, message, status, request
//!   id), written in the request's protocol.
//!
//! ```no_run
//! # async fn demo(engine: std::sync::Arc<engine::Engine>) -> Result<(), Box<dyn std::error::Error>> {
//! let state = aws::State::new(engine, aws::Auth::None, None);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4566").await?;
//! let shutdown = async { let _ = tokio::signal::ctrl_c().await; };
//! aws::server::serve(listener, aws::router(state), Default::default(), shutdown).await?;
//! # Ok(()) }
//! ```

mod body;
pub mod codec;
mod decode;
mod dispatch;
mod ec2;
mod error;
mod handler;
pub mod model;
mod operator;
mod protocol;
mod response;
pub mod server;
pub mod sigv4;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use engine::Engine;

pub use crate::body::MAX_BODY_BYTES;
use crate::body::UNVERIFIED_BODY_KIB;
pub use crate::protocol::{OPERATOR_SIGNING_NAME, OPERATOR_TARGET_PREFIX};

/// How requests are authenticated.
#[derive(Clone)]
pub enum Auth {
    /// No checks (`--auth none`): requests are served in the default account.
    None,
    /// SigV4 against these keys; a request is served in the account of the key that signed it.
    SigV4(Arc<dyn KeyRing>),
}

impl Auth {
    /// SigV4 against one key pair of the default account.
    pub fn single_key(access_key_id: &str, secret_access_key: &str) -> Auth {
        let key = Key {
            secret_access_key: secret_access_key.to_owned(),
            account_id: None,
        };
        Auth::SigV4(Arc::new(HashMap::from([(access_key_id.to_owned(), key)])))
    }
}

/// An access key's secret and account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub secret_access_key: String,
    /// The account the key belongs to; `None` for the server's default account.
    pub account_id: Option<String>,
}

/// The keys that may sign requests. Looked up on every request, so that keys added or removed
/// while the server runs take effect.
pub trait KeyRing: Send + Sync {
    fn key(&self, access_key_id: &str) -> Option<Key>;
}

impl<S: std::hash::BuildHasher + Send + Sync> KeyRing for HashMap<String, Key, S> {
    fn key(&self, access_key_id: &str) -> Option<Key> {
        self.get(access_key_id).cloned()
    }
}

/// The SNS signing certificate served at `SigningCertURL`.
#[derive(Debug, Clone)]
pub struct Certificate {
    /// `SimpleNotificationService-<hex>.pem`.
    pub file_name: String,
    /// The PEM text.
    pub pem: String,
}

/// What the handlers share.
pub struct State {
    engine: Arc<Engine>,
    auth: Auth,
    certificate: Option<Certificate>,
    body_timeout: Duration,
    /// KiB of unverified bodies that may still be held (see [`UNVERIFIED_BODY_KIB`]).
    unverified: Arc<tokio::sync::Semaphore>,
}

impl State {
    /// The state of a listener; a request body may stall for 10 seconds.
    pub fn new(engine: Arc<Engine>, auth: Auth, certificate: Option<Certificate>) -> Arc<State> {
        State::with_body_timeout(engine, auth, certificate, Duration::from_secs(10))
    }

    /// The state of a listener whose request bodies may go `body_timeout` without a byte
    /// before the request is refused (and 60 seconds in all).
    pub fn with_body_timeout(
        engine: Arc<Engine>,
        auth: Auth,
        certificate: Option<Certificate>,
        body_timeout: Duration,
    ) -> Arc<State> {
        Arc::new(State {
            engine,
            auth,
            certificate,
            body_timeout,
            unverified: Arc::new(tokio::sync::Semaphore::new(UNVERIFIED_BODY_KIB)),
        })
    }
}

/// The router serving every service on one port.
pub fn router(state: Arc<State>) -> axum::Router {
    axum::Router::new()
        .fallback(handler::handle)
        .with_state(state)
}
