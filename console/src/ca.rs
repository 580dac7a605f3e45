//! The console's certificate authority: creates the CA and the console's server certificate
//! at `init`, and issues device certificates at enrollment.
//!
//! One CA signs both kinds of certificate, so extended key usage keeps them apart: the
//! console's certificate is for server authentication only and a device's for client
//! authentication only. An enrolled device therefore cannot pose as the console, because
//! certificate verification on the agent demands server authentication.

use std::net::IpAddr;

use anyhow::{Context, Result};
use hotline_protocol::DeviceId;
use hotline_protocol::enroll::CaFingerprint;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, CertificateSigningRequestDer};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The name agents verify in the console's certificate. Agents trust only the pinned CA, so a
/// fixed name is enough for them; browsers get the host's own names beside it.
pub const CONSOLE_SERVER_NAME: &str = "hotline-console";

/// CA validity. The CA is pinned by every device, so replacing it means re-enrolling them all.
const CA_YEARS: i64 = 20;
const SERVER_CERT_DAYS: i64 = 825;
/// FIXME: devices cannot renew their certificate yet, so it must outlive the device.
const DEVICE_CERT_DAYS: i64 = 3650;

/// A freshly made CA: certificate and key, both PEM.
pub struct NewCa {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The CA loaded for signing.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert_der: CertificateDer<'static>,
}

impl std::fmt::Debug for NewCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCa").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("fingerprint", &fingerprint(&self.cert_der))
            .finish_non_exhaustive()
    }
}

/// SHA-256 of a certificate's DER bytes.
pub fn fingerprint(cert_der: &[u8]) -> CaFingerprint {
    CaFingerprint(Sha256::digest(cert_der).into())
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    // Backdate a little so that a device whose clock runs slow still accepts it.
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
}

/// Makes a new self-signed CA.
pub fn create_ca(organisation: &str) -> Result<NewCa> {
    let key = KeyPair::generate().context("generating the CA key")?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, format!("{organisation} Hotline CA"));
    name.push(DnType::OrganizationName, organisation);
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut params, CA_YEARS * 365);
    let cert = params.self_signed(&key).context("self-signing the CA")?;
    Ok(NewCa {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

impl Ca {
    /// Loads the CA from its PEM certificate and key.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Ca> {
        let key = KeyPair::from_pem(key_pem).context("parsing the CA key")?;
        let issuer =
            Issuer::from_ca_cert_pem(cert_pem, key).context("parsing the CA certificate")?;
        let cert_der = pem_to_der(cert_pem).context("parsing the CA certificate")?;
        Ok(Ca { issuer, cert_der })
    }

    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    pub fn fingerprint(&self) -> CaFingerprint {
        fingerprint(&self.cert_der)
    }

    /// Issues the console's server certificate for the fixed agent-facing name plus
    /// `extra_names` (host names and IP addresses that browsers will use). Returns the
    /// certificate and key as PEM.
    pub fn issue_server(&self, extra_names: &[String]) -> Result<(String, String)> {
        let key = KeyPair::generate().context("generating the server key")?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, CONSOLE_SERVER_NAME);
        let mut names = vec![CONSOLE_SERVER_NAME.to_owned()];
        names.extend(extra_names.iter().cloned());
        names.dedup();
        for name in names {
            let san = match name.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(name.clone().try_into().with_context(|| {
                    format!("{name:?} is not a valid DNS name for the certificate")
                })?),
            };
            params.subject_alt_names.push(san);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        validity(&mut params, SERVER_CERT_DAYS);
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("signing the server certificate")?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Issues a device certificate for the public key in `csr_der`. Only the key is taken
    /// from the request: the subject, names, usages and validity are the console's own, so
    /// a device cannot ask for a CA bit, a server usage or someone else's name.
    pub fn issue_device(
        &self,
        device: &DeviceId,
        csr_der: &[u8],
    ) -> Result<CertificateDer<'static>> {
        let csr =
            CertificateSigningRequestParams::from_der(&CertificateSigningRequestDer::from(csr_der))
                .context("the certificate request is invalid or its signature does not verify")?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, device.as_str());
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        validity(&mut params, DEVICE_CERT_DAYS);
        let request = CertificateSigningRequestParams {
            params,
            public_key: csr.public_key,
        };
        let cert = request
            .signed_by(&self.issuer)
            .context("signing the device certificate")?;
        Ok(cert.der().clone())
    }
}

/// The DER bytes of the first certificate in a PEM text.
pub fn pem_to_der(pem: &str) -> Result<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).context("no certificate in PEM text")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_certificate_ignores_what_the_request_asks_for() {
        let new = create_ca("Test").expect("CA");
        let ca = Ca::load(&new.cert_pem, &new.key_pem).expect("loads");

        // The device asks to be a CA with a server name.
        let key = KeyPair::generate().expect("key");
        let mut wish =
            CertificateParams::new(vec![CONSOLE_SERVER_NAME.to_owned()]).expect("params");
        wish.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let csr = wish.serialize_request(&key).expect("csr");

        let device = DeviceId::from_random(3);
        let cert = ca.issue_device(&device, csr.der()).expect("issued");
        let text = String::from_utf8_lossy(&cert);
        assert!(text.contains(device.as_str()));
        assert!(!text.contains(CONSOLE_SERVER_NAME));
    }

    #[test]
    fn a_request_with_a_broken_signature_is_refused() {
        let new = create_ca("Test").expect("CA");
        let ca = Ca::load(&new.cert_pem, &new.key_pem).expect("loads");
        let key = KeyPair::generate().expect("key");
        let csr = CertificateParams::default()
            .serialize_request(&key)
            .expect("csr");
        let mut bytes = csr.der().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(ca.issue_device(&DeviceId::from_random(3), &bytes).is_err());
    }
}
