//! The RSA key and self-signed certificate that sign SNS messages.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use base64ct::{Base64, Encoding};
use rsa::pkcs1v15;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{PrivateKey, PublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::der::referenced::OwnedToRef;
use x509_cert::der::{DecodePem, Encode, EncodePem};
use x509_cert::ext::Extension;
use x509_cert::ext::ToExtension;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfo, SubjectPublicKeyInfoRef};
use x509_cert::time::Validity;

use crate::Error;

/// File in the key directory holding the PKCS#8 PEM private key.
pub const PRIVATE_KEY_FILE: &str = "sns-signing-key.pem";
/// File in the key directory holding the PEM certificate.
pub const CERTIFICATE_FILE: &str = "sns-signing-cert.pem";

/// AWS signs with 2048-bit keys; validators accept any size, but larger keys
/// only slow down signing.
const KEY_BITS: usize = 2048;
/// The certificate is only a container for the public key that validators
/// download; nothing checks a chain, so a long life avoids silent expiry
/// for validators that do look at the dates.
const CERTIFICATE_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);
const CERTIFICATE_SUBJECT: &str = "CN=trailwatch SNS message signing,O=trailwatch";

/// `SignatureVersion` of a message: which digest goes into the RSA
/// PKCS#1 v1.5 signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignatureVersion {
    /// `"1"`: SHA1withRSA, the topic default.
    #[default]
    V1,
    /// `"2"`: SHA256withRSA, set by the topic attribute `SignatureVersion=2`.
    V2,
}

impl SignatureVersion {
    /// The value as it appears in the `SignatureVersion` field: `"1"` or `"2"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureVersion::V1 => "1",
            SignatureVersion::V2 => "2",
        }
    }
}

impl fmt::Display for SignatureVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SignatureVersion {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "1" => Ok(SignatureVersion::V1),
            "2" => Ok(SignatureVersion::V2),
            other => Err(Error::UnsupportedSignatureVersion(other.to_owned())),
        }
    }
}

/// An RSA 2048 private key and the self-signed X.509 certificate that
/// publishes its public key, as served at `SigningCertURL`.
pub struct SigningKey {
    sha1: pkcs1v15::SigningKey<Sha1>,
    sha256: pkcs1v15::SigningKey<Sha256>,
    cert_pem: String,
    cert_file_name: String,
}

// The private key must never end up in logs.
impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("cert_file_name", &self.cert_file_name)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Loads the key and certificate kept in `dir`, creating whatever is missing.
    ///
    /// The private key lives in [`PRIVATE_KEY_FILE`] (PKCS#8 PEM, mode 0600 on
    /// unix) and the certificate in [`CERTIFICATE_FILE`]. A missing key means
    /// a new key and a new certificate; a missing certificate is re-issued for
    /// the existing key. A certificate for another key is an error rather than
    /// silently replaced, since it may be one the operator put there.
    pub fn load_or_create(dir: &Path) -> Result<SigningKey, Error> {
        fs::create_dir_all(dir).map_err(|source| Error::Io {
            action: "create directory",
            path: dir.to_path_buf(),
            source,
        })?;
        let key_path = dir.join(PRIVATE_KEY_FILE);
        let cert_path = dir.join(CERTIFICATE_FILE);

        let key = match read_optional(&key_path)? {
            Some(pem) => {
                PrivateKey::from_pkcs8_pem(&pem).map_err(|source| Error::InvalidPrivateKey {
                    path: key_path.clone(),
                    source,
                })?
            }
            None => {
                let key = generate_key()?;
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| Error::KeyEncoding(e.to_string()))?;
                write_atomically(&key_path, pem.as_bytes(), true)?;
                // Whatever certificate was there belongs to a key that is gone.
                remove_optional(&cert_path)?;
                key
            }
        };
        let public_spki = public_key_der(&key.to_public_key())?;

        let cert_pem = match read_optional(&cert_path)? {
            Some(pem) => {
                let cert = parse_certificate(&pem, Some(&cert_path))?;
                let cert_spki = cert
                    .tbs_certificate()
                    .subject_public_key_info()
                    .to_der()
                    .map_err(|e| Error::InvalidCertificate {
                        path: Some(cert_path.clone()),
                        reason: e.to_string(),
                    })?;
                if cert_spki != public_spki {
                    return Err(Error::CertificateKeyMismatch { path: cert_path });
                }
                pem
            }
            None => {
                let pem = issue_certificate(&key, &public_spki)?;
                write_atomically(&cert_path, pem.as_bytes(), false)?;
                pem
            }
        };

        SigningKey::from_parts(key, cert_pem, Some(&cert_path))
    }

    /// A key that lives only in memory, with a fresh certificate: for tests
    /// and throwaway servers.
    pub fn generate() -> Result<SigningKey, Error> {
        let key = generate_key()?;
        let public_spki = public_key_der(&key.to_public_key())?;
        let cert_pem = issue_certificate(&key, &public_spki)?;
        SigningKey::from_parts(key, cert_pem, None)
    }

    fn from_parts(
        key: PrivateKey,
        cert_pem: String,
        cert_path: Option<&Path>,
    ) -> Result<SigningKey, Error> {
        let cert = parse_certificate(&cert_pem, cert_path)?;
        let der = cert.to_der().map_err(|e| Error::InvalidCertificate {
            path: cert_path.map(Path::to_path_buf),
            reason: e.to_string(),
        })?;
        let cert_file_name = certificate_file_name(&der);
        Ok(SigningKey {
            sha1: pkcs1v15::SigningKey::new(key.clone()),
            sha256: pkcs1v15::SigningKey::new(key),
            cert_pem,
            cert_file_name,
        })
    }

    /// The certificate, PEM-encoded: the body to serve at `SigningCertURL`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// `SimpleNotificationService-<32 lowercase hex>.pem`: the last path
    /// segment of `SigningCertURL`. The hex is the first 16 bytes of the
    /// SHA-256 of the certificate's DER, so it changes exactly when the
    /// certificate does and validators that cache by URL never see a stale key.
    pub fn cert_file_name(&self) -> &str {
        &self.cert_file_name
    }

    /// Signs `string_to_sign` with RSA PKCS#1 v1.5 using the digest of
    /// `version`, returning the base64 text for the `Signature` field.
    pub fn sign(&self, version: SignatureVersion, string_to_sign: &[u8]) -> String {
        // PKCS#1 v1.5 signing only fails when the key is too small for the
        // digest prefix, which a 2048-bit key never is.
        let signature = match version {
            SignatureVersion::V1 => self
                .sha1
                .try_sign(string_to_sign)
                .expect("a 2048-bit RSA key signs any SHA-1 digest"),
            SignatureVersion::V2 => self
                .sha256
                .try_sign(string_to_sign)
                .expect("a 2048-bit RSA key signs any SHA-256 digest"),
        };
        Base64::encode_string(&signature.to_bytes())
    }
}

/// Checks `signature_base64` over `string_to_sign` against the public key in
/// `cert_pem`, the way an SNS message validator does.
pub fn verify(
    cert_pem: &str,
    version: SignatureVersion,
    string_to_sign: &[u8],
    signature_base64: &str,
) -> Result<(), Error> {
    let cert = parse_certificate(cert_pem, None)?;
    let spki: SubjectPublicKeyInfoRef<'_> = cert
        .tbs_certificate()
        .subject_public_key_info()
        .owned_to_ref();
    let public_key = PublicKey::try_from(spki).map_err(|e| Error::InvalidCertificate {
        path: None,
        reason: format!("no RSA public key: {e}"),
    })?;
    let signature = Base64::decode_vec(signature_base64).map_err(|_| Error::InvalidSignature)?;
    let signature =
        pkcs1v15::Signature::try_from(signature.as_slice()).map_err(|_| Error::InvalidSignature)?;
    let verified = match version {
        SignatureVersion::V1 => {
            pkcs1v15::VerifyingKey::<Sha1>::new(public_key).verify(string_to_sign, &signature)
        }
        SignatureVersion::V2 => {
            pkcs1v15::VerifyingKey::<Sha256>::new(public_key).verify(string_to_sign, &signature)
        }
    };
    verified.map_err(|_| Error::InvalidSignature)
}

fn generate_key() -> Result<PrivateKey, Error> {
    PrivateKey::new(&mut getrandom::SysRng, KEY_BITS).map_err(Error::KeyGeneration)
}

fn public_key_der(key: &PublicKey) -> Result<Vec<u8>, Error> {
    key.to_public_key_der()
        .map(|doc| doc.into_vec())
        .map_err(|e| Error::KeyEncoding(e.to_string()))
}

fn parse_certificate(pem: &str, path: Option<&Path>) -> Result<Certificate, Error> {
    Certificate::from_pem(pem).map_err(|e| Error::InvalidCertificate {
        path: path.map(Path::to_path_buf),
        reason: e.to_string(),
    })
}

fn certificate_file_name(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let mut name = String::from("SimpleNotificationService-");
    for byte in &digest[..16] {
        name.push_str(&format!("{byte:02x}"));
    }
    name.push_str(".pem");
    name
}

/// Issues the self-signed certificate for `key`, signed SHA256withRSA.
fn issue_certificate(key: &PrivateKey, public_spki: &[u8]) -> Result<String, Error> {
    let build_error = |e: &dyn fmt::Display| Error::CertificateBuild(e.to_string());
    let subject = Name::from_str(CERTIFICATE_SUBJECT).map_err(|e| build_error(&e))?;
    let spki = SubjectPublicKeyInfo::try_from(public_spki).map_err(|e| build_error(&e))?;
    let validity = Validity::from_now(CERTIFICATE_LIFETIME).map_err(|e| build_error(&e))?;
    let builder = CertificateBuilder::new(
        MessageSigningProfile { subject },
        random_serial_number()?,
        validity,
        spki,
    )
    .map_err(|e| build_error(&e))?;
    let signer = pkcs1v15::SigningKey::<Sha256>::new(key.clone());
    let cert = builder
        .build::<_, pkcs1v15::Signature>(&signer)
        .map_err(|e| build_error(&e))?;
    cert.to_pem(LineEnding::LF).map_err(|e| build_error(&e))
}

/// RFC 5280 wants serials unique per issuer; every certificate here is its
/// own issuer, but a random serial keeps re-issued certificates distinguishable.
fn random_serial_number() -> Result<SerialNumber, Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::CertificateBuild(e.to_string()))?;
    // Positive and without a leading zero byte, so the DER INTEGER is minimal.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::new(&bytes).map_err(|e| Error::CertificateBuild(e.to_string()))
}

/// Certificate profile for a self-signed leaf whose only job is to carry the
/// public key that verifies message signatures.
struct MessageSigningProfile {
    subject: Name,
}

impl BuilderProfile for MessageSigningProfile {
    fn get_issuer(&self, subject: &Name) -> Name {
        subject.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        // Each extension is checked against those before it for duplicates,
        // so they are added one at a time.
        let subject = tbs.subject();
        let mut extensions = Vec::new();
        let basic_constraints = BasicConstraints {
            ca: false,
            path_len_constraint: None,
        }
        .to_extension(subject, &extensions)?;
        extensions.push(basic_constraints);
        let key_usage =
            KeyUsage(KeyUsages::DigitalSignature.into()).to_extension(subject, &extensions)?;
        extensions.push(key_usage);
        let key_identifier =
            SubjectKeyIdentifier::try_from(spk)?.to_extension(subject, &extensions)?;
        extensions.push(key_identifier);
        Ok(extensions)
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, Error> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn remove_optional(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io {
            action: "remove",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes through a temporary file and a rename, so a crash never leaves a
/// truncated key behind; `private` files are created 0600 from the start
/// rather than chmod-ed afterwards, so the key is never readable by others.
fn write_atomically(path: &Path, contents: &[u8], private: bool) -> Result<(), Error> {
    let io_error = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    };
    let mut temp_name = path.file_name().unwrap_or_default().to_os_string();
    temp_name.push(format!(".tmp{}", std::process::id()));
    let temp_path: PathBuf = path.with_file_name(temp_name);

    // A temporary file left by a crash may carry other permissions; start afresh.
    remove_optional(&temp_path)?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;

    let mut file = options
        .open(&temp_path)
        .map_err(io_error("create", &temp_path))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(io_error("write", &temp_path))?;
    drop(file);
    fs::rename(&temp_path, path).map_err(io_error("rename into place", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_version_round_trips_through_text() {
        for version in [SignatureVersion::V1, SignatureVersion::V2] {
            assert_eq!(
                version.as_str().parse::<SignatureVersion>().ok(),
                Some(version)
            );
        }
        assert!(matches!(
            "3".parse::<SignatureVersion>(),
            Err(Error::UnsupportedSignatureVersion(v)) if v == "3"
        ));
    }

    #[test]
    fn certificate_file_name_is_32_lowercase_hex() {
        let name = certificate_file_name(b"not really DER");
        let hex = name
            .strip_prefix("SimpleNotificationService-")
            .and_then(|rest| rest.strip_suffix(".pem"))
            .expect("AWS file name shape");
        assert_eq!(hex.len(), 32);
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }
}
