//! Enrollment: the string an administrator hands to a new agent, and the request and reply
//! that turn a one-time token into a device certificate.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::DeviceId;
use crate::messages::Refusal;
use crate::version::ProtocolVersion;

/// Scheme that starts every enrollment string.
const SCHEME: &str = "hotline://";
/// Bytes of randomness in a token.
pub const TOKEN_BYTES: usize = 16;
/// Longest certificate signing request accepted, in bytes.
pub const MAX_CSR: usize = 4096;
/// Longest host name or address in an enrollment string.
const MAX_ADDRESS: usize = 300;

/// A one-time enrollment secret: 128 random bits as lowercase hex.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnrollmentToken(String);

/// SHA-256 of the console CA certificate's DER bytes, which the agent pins.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaFingerprint(pub [u8; 32]);

/// Everything an agent needs to enroll: where the console is, which CA to trust, and the token.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrollmentString {
    /// `host:port`, with IPv6 hosts in brackets.
    pub address: String,
    pub ca: CaFingerprint,
    pub token: EnrollmentToken,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrollmentParseError {
    #[error("enrollment string must start with {SCHEME}")]
    Scheme,
    #[error("enrollment string has no console address")]
    Address,
    #[error("enrollment string is missing its {0} parameter")]
    Missing(&'static str),
    #[error("enrollment string has an invalid CA fingerprint: expected 64 hex digits")]
    Fingerprint,
    #[error("enrollment string has an invalid token: expected {} hex digits", TOKEN_BYTES * 2)]
    Token,
}

impl EnrollmentToken {
    /// Makes a token from caller-supplied random bytes (this crate reads no RNG).
    pub fn from_random(random: [u8; TOKEN_BYTES]) -> EnrollmentToken {
        EnrollmentToken(encode_hex(&random))
    }

    /// The token text. It is a secret: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EnrollmentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnrollmentToken(..)")
    }
}

impl FromStr for EnrollmentToken {
    type Err = EnrollmentParseError;

    fn from_str(text: &str) -> Result<EnrollmentToken, EnrollmentParseError> {
        match decode_hex::<TOKEN_BYTES>(text) {
            Some(_) => Ok(EnrollmentToken(text.to_owned())),
            None => Err(EnrollmentParseError::Token),
        }
    }
}

impl TryFrom<String> for EnrollmentToken {
    type Error = EnrollmentParseError;

    fn try_from(text: String) -> Result<EnrollmentToken, EnrollmentParseError> {
        text.parse()
    }
}

impl From<EnrollmentToken> for String {
    fn from(token: EnrollmentToken) -> String {
        token.0
    }
}

impl fmt::Display for CaFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode_hex(&self.0))
    }
}

impl fmt::Debug for CaFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CaFingerprint({self})")
    }
}

impl FromStr for CaFingerprint {
    type Err = EnrollmentParseError;

    fn from_str(text: &str) -> Result<CaFingerprint, EnrollmentParseError> {
        decode_hex::<32>(text)
            .map(CaFingerprint)
            .ok_or(EnrollmentParseError::Fingerprint)
    }
}

impl fmt::Display for EnrollmentString {
    /// Formats the whole string, token included: only for handing to the agent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SCHEME}{}/enroll?ca={}&token={}",
            self.address,
            self.ca,
            self.token.expose()
        )
    }
}

impl fmt::Debug for EnrollmentString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollmentString")
            .field("address", &self.address)
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

impl FromStr for EnrollmentString {
    type Err = EnrollmentParseError;

    fn from_str(text: &str) -> Result<EnrollmentString, EnrollmentParseError> {
        let rest = text
            .trim()
            .strip_prefix(SCHEME)
            .ok_or(EnrollmentParseError::Scheme)?;
        let (address, query) = rest
            .split_once("/enroll?")
            .ok_or(EnrollmentParseError::Address)?;
        let address_ok = !address.is_empty()
            && address.len() <= MAX_ADDRESS
            && address.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
        if !address_ok {
            return Err(EnrollmentParseError::Address);
        }

        let mut ca = None;
        let mut token = None;
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("ca", value)) => ca = Some(value.parse()?),
                Some(("token", value)) => token = Some(value.parse()?),
                _ => {}
            }
        }
        Ok(EnrollmentString {
            address: address.to_owned(),
            ca: ca.ok_or(EnrollmentParseError::Missing("ca"))?,
            token: token.ok_or(EnrollmentParseError::Missing("token"))?,
        })
    }
}

/// The agent's request on an enrollment connection (one without a client certificate).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// Must stay the first field, as in the hello.
    pub protocol: ProtocolVersion,
    pub token: EnrollmentToken,
    /// A PKCS#10 certificate signing request for the agent's new key, DER-encoded. The console
    /// takes only the public key from it and writes every other field itself.
    pub csr_der: Vec<u8>,
    /// The host name, to label the device until its first hello.
    pub hostname: String,
}

/// The console's answer to an enrollment request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnrollReply {
    Accepted(EnrollAccepted),
    Refused(Refusal),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollAccepted {
    pub device: DeviceId,
    /// The device certificate, DER.
    pub certificate_der: Vec<u8>,
    /// The CA certificate, DER; its SHA-256 must equal the fingerprint the agent was given.
    pub ca_der: Vec<u8>,
}

/// Lowercase hex of `bytes`.
pub fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 15)]));
    }
    text
}

/// Exactly `N` bytes from `2N` hex digits (either case), or `None`.
fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        *byte = u8::try_from(high << 4 | low).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EnrollmentString {
        EnrollmentString {
            address: "[::1]:4433".into(),
            ca: CaFingerprint([0xab; 32]),
            token: EnrollmentToken::from_random([7; TOKEN_BYTES]),
        }
    }

    #[test]
    fn an_enrollment_string_round_trips() {
        let text = sample().to_string();
        assert_eq!(text.parse::<EnrollmentString>(), Ok(sample()));
    }

    #[test]
    fn debug_output_hides_the_token() {
        let shown = format!("{:?}", sample());
        assert!(!shown.contains(sample().token.expose()), "{shown}");
    }

    #[test]
    fn malformed_strings_say_what_is_wrong() {
        let good = sample().to_string();
        let cases = [
            (
                "https://x/enroll?ca=00&token=00",
                EnrollmentParseError::Scheme,
            ),
            ("hotline:///enroll?ca=00", EnrollmentParseError::Address),
            (
                &good.replace("ca=ab", "ca=zz"),
                EnrollmentParseError::Fingerprint,
            ),
            (
                &good.replace("token=07", "token=0g"),
                EnrollmentParseError::Token,
            ),
            (
                good.split("&token").next().unwrap_or(""),
                EnrollmentParseError::Missing("token"),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<EnrollmentString>(), Err(expected), "{text}");
        }
    }
}
