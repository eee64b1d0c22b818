//! The signing key store and signatures, checked the way a subscriber's
//! validator checks them: with the public key taken from the certificate PEM.

use delivery::{CERTIFICATE_FILE, Error, PRIVATE_KEY_FILE, SignatureVersion, SigningKey, verify};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::traits::PublicKeyParts;
use sha1::Sha1;
use sha2::Sha256;
use x509_cert::Certificate;
use x509_cert::der::DecodePem;
use x509_cert::der::referenced::OwnedToRef;

/// Verifies independently of the crate's own `verify`, straight from the PEM.
fn verifies_with_certificate(
    cert_pem: &str,
    version: SignatureVersion,
    message: &[u8],
    signature_base64: &str,
) -> bool {
    use base64ct::{Base64, Encoding};
    let cert = Certificate::from_pem(cert_pem).expect("certificate PEM parses");
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .owned_to_ref();
    let public_key = rsa::PublicKey::try_from(spki).expect("RSA public key");
    let bytes = Base64::decode_vec(signature_base64).expect("base64 signature");
    let signature = Signature::try_from(bytes.as_slice()).expect("signature bytes");
    match version {
        SignatureVersion::V1 => VerifyingKey::<Sha1>::new(public_key)
            .verify(message, &signature)
            .is_ok(),
        SignatureVersion::V2 => VerifyingKey::<Sha256>::new(public_key)
            .verify(message, &signature)
            .is_ok(),
    }
}

#[test]
fn signatures_verify_with_the_certificate_public_key() {
    let key = SigningKey::generate().expect("key generation");
    let message = b"Message\nhello\nMessageId\n1\nTimestamp\n2012-05-02T00:54:06.655Z\n";
    for version in [SignatureVersion::V1, SignatureVersion::V2] {
        let signature = key.sign(version, message);
        assert!(verifies_with_certificate(
            key.cert_pem(),
            version,
            message,
            &signature
        ));
        assert!(verify(key.cert_pem(), version, message, &signature).is_ok());
        assert!(!verifies_with_certificate(
            key.cert_pem(),
            version,
            b"tampered",
            &signature
        ));
        assert!(matches!(
            verify(key.cert_pem(), version, b"tampered", &signature),
            Err(Error::InvalidSignature)
        ));
    }
    // The two versions use different digests, so neither signature passes as the other.
    let v1 = key.sign(SignatureVersion::V1, message);
    let v2 = key.sign(SignatureVersion::V2, message);
    assert_ne!(v1, v2);
    assert!(!verifies_with_certificate(
        key.cert_pem(),
        SignatureVersion::V2,
        message,
        &v1
    ));
    // A 2048-bit signature is 256 bytes: 344 base64 characters.
    assert_eq!(v1.len(), 344);
}

#[test]
fn certificate_is_a_self_signed_rsa_2048_certificate() {
    let key = SigningKey::generate().expect("key generation");
    assert!(key.cert_pem().starts_with("-----BEGIN CERTIFICATE-----\n"));
    let cert = Certificate::from_pem(key.cert_pem()).expect("certificate PEM parses");
    let tbs = cert.tbs_certificate();
    assert_eq!(tbs.issuer(), tbs.subject());
    let public_key =
        rsa::PublicKey::try_from(tbs.subject_public_key_info().owned_to_ref()).expect("RSA key");
    assert_eq!(public_key.size(), 256);

    let name = key.cert_file_name();
    let hex = name
        .strip_prefix("SimpleNotificationService-")
        .and_then(|rest| rest.strip_suffix(".pem"))
        .expect("AWS file name shape");
    assert_eq!(hex.len(), 32);
    assert!(hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
}

#[test]
fn load_or_create_reuses_the_stored_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("keys");
    let first = SigningKey::load_or_create(&store).expect("first load creates");
    assert!(store.join(PRIVATE_KEY_FILE).is_file());
    assert!(store.join(CERTIFICATE_FILE).is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(store.join(PRIVATE_KEY_FILE))
            .expect("key file metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let second = SigningKey::load_or_create(&store).expect("second load reuses");
    assert_eq!(first.cert_pem(), second.cert_pem());
    assert_eq!(first.cert_file_name(), second.cert_file_name());
    // PKCS#1 v1.5 signatures are deterministic: the same key signs identically.
    for version in [SignatureVersion::V1, SignatureVersion::V2] {
        assert_eq!(first.sign(version, b"x"), second.sign(version, b"x"));
    }
    let names: Vec<_> = std::fs::read_dir(&store)
        .expect("list store")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
}

#[test]
fn missing_certificate_is_reissued_for_the_same_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = SigningKey::load_or_create(dir.path()).expect("create");
    std::fs::remove_file(dir.path().join(CERTIFICATE_FILE)).expect("remove certificate");
    let second = SigningKey::load_or_create(dir.path()).expect("re-issue");
    let signature = first.sign(SignatureVersion::V2, b"x");
    assert!(verify(second.cert_pem(), SignatureVersion::V2, b"x", &signature).is_ok());
}

#[test]
fn certificate_of_another_key_is_refused() {
    let one = tempfile::tempdir().expect("temp dir");
    let other = tempfile::tempdir().expect("temp dir");
    SigningKey::load_or_create(one.path()).expect("create one");
    SigningKey::load_or_create(other.path()).expect("create other");
    std::fs::copy(
        other.path().join(CERTIFICATE_FILE),
        one.path().join(CERTIFICATE_FILE),
    )
    .expect("swap certificate");
    assert!(matches!(
        SigningKey::load_or_create(one.path()),
        Err(Error::CertificateKeyMismatch { .. })
    ));
}

#[test]
fn garbage_key_file_is_reported_not_replaced() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join(PRIVATE_KEY_FILE), "not a key").expect("write");
    assert!(matches!(
        SigningKey::load_or_create(dir.path()),
        Err(Error::InvalidPrivateKey { .. })
    ));
    assert_eq!(
        std::fs::read_to_string(dir.path().join(PRIVATE_KEY_FILE)).expect("read"),
        "not a key"
    );
}
