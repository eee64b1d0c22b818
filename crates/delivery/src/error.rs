use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while loading keys, signing or setting up the
/// HTTP client.
///
/// Delivery attempts themselves never return this: their result is a
/// [`DeliveryOutcome`](crate::DeliveryOutcome), because a failed POST is an
/// expected event the caller schedules a retry for, not an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading, writing or creating a file or directory of the signing key store failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "read" or "create directory".
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// Generating a fresh RSA key pair failed.
    #[error("cannot generate the RSA signing key: {0}")]
    KeyGeneration(#[source] rsa::Error),

    /// The private key file exists but is not a PKCS#8 PEM RSA private key.
    #[error("{} is not a PKCS#8 PEM RSA private key: {source}", path.display())]
    InvalidPrivateKey {
        /// The private key file.
        path: PathBuf,
        /// Why decoding failed.
        #[source]
        source: rsa::pkcs8::Error,
    },

    /// Encoding the private key or its public half as PKCS#8/SPKI failed.
    #[error("cannot encode the RSA key: {0}")]
    KeyEncoding(String),

    /// A certificate (from a file or handed to [`verify`](crate::verify)) is
    /// not a PEM X.509 certificate holding an RSA public key.
    #[error("invalid certificate{}: {reason}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    InvalidCertificate {
        /// The certificate file, when the certificate came from one.
        path: Option<PathBuf>,
        /// Why the certificate was rejected.
        reason: String,
    },

    /// Building or encoding the self-signed certificate failed.
    #[error("cannot build the signing certificate: {0}")]
    CertificateBuild(String),

    /// The certificate file holds a different public key than the private key
    /// file, so every signature would fail validation. Delete the certificate
    /// file to have it re-issued for the key.
    #[error("certificate {} does not hold the public key of the signing key", path.display())]
    CertificateKeyMismatch {
        /// The certificate file.
        path: PathBuf,
    },

    /// A signature did not verify against the certificate, or was not valid base64.
    #[error("signature does not verify")]
    InvalidSignature,

    /// A `SignatureVersion` other than "1" or "2".
    #[error("unsupported SignatureVersion {0:?}: expected \"1\" or \"2\"")]
    UnsupportedSignatureVersion(String),

    /// The HTTP client could not be built (e.g. TLS setup failed).
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
}
