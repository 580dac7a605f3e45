//! Identifiers that cross the wire. Each validates at construction, so a hostile peer cannot
//! smuggle an arbitrary string in where an id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The lowercase base32 alphabet of device ids: digits and letters without `i`, `l`, `o`
/// and `u`, so an id read aloud over the phone is not mistaken for another.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Length of a device id in characters (60 bits of randomness).
pub const DEVICE_ID_LEN: usize = 12;

/// The console-assigned identity of an enrolled device. The authoritative copy lives in the
/// device's certificate; a copy in a message is only ever compared against it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceId(String);

/// A string that is not a valid device id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid device id {shown:?}: expected {DEVICE_ID_LEN} characters from [0-9a-z] without i, l, o, u"
)]
pub struct InvalidDeviceId {
    shown: String,
}

impl DeviceId {
    /// Makes an id from 60 random bits supplied by the caller (this crate reads no RNG).
    pub fn from_random(random: u64) -> DeviceId {
        let text = (0..DEVICE_ID_LEN)
            .map(|i| char::from(ALPHABET[((random >> (5 * i)) & 31) as usize]))
            .collect();
        DeviceId(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DeviceId {
    type Err = InvalidDeviceId;

    fn from_str(text: &str) -> Result<DeviceId, InvalidDeviceId> {
        let valid = text.len() == DEVICE_ID_LEN && text.bytes().all(|b| ALPHABET.contains(&b));
        if valid {
            Ok(DeviceId(text.to_owned()))
        } else {
            // Show at most a short prefix: the text came from outside and may be huge.
            let shown = text.chars().take(32).collect();
            Err(InvalidDeviceId { shown })
        }
    }
}

impl TryFrom<String> for DeviceId {
    type Error = InvalidDeviceId;

    fn try_from(text: String) -> Result<DeviceId, InvalidDeviceId> {
        text.parse()
    }
}

impl From<DeviceId> for String {
    fn from(id: DeviceId) -> String {
        id.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        for random in [0, 1, u64::MAX, 0x0123_4567_89ab_cdef] {
            let id = DeviceId::from_random(random);
            assert_eq!(id.as_str().parse::<DeviceId>(), Ok(id.clone()));
        }
    }

    #[test]
    fn hostile_strings_are_refused() {
        for text in [
            "",
            "short",
            "0123456789ab0",
            "0123456789aI",
            "../../etc/pa",
            "ｆｕｌｌｗｉｄｔｈ",
        ] {
            assert!(text.parse::<DeviceId>().is_err(), "{text:?} accepted");
        }
    }
}
