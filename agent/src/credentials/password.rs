//! Temporary passwords: drawn from the operating system's CSPRNG, from an alphabet without
//! characters that look alike when read aloud or copied from a screen (0/O/o, 1/l/I/i).

use hotline_protocol::credentials::{MAX_PASSWORD_LEN, MIN_PASSWORD_LEN, TemporaryPassword};
use zeroize::Zeroize;

/// Upper and lower case letters and digits, less `0 O o 1 l I i`: 55 symbols, so a
/// 16-character password holds about 92 bits.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789";

/// The randomness source failed; no password is made from anything weaker.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomError(getrandom::Error);

/// Makes a temporary password of `length` characters, raised to [`MIN_PASSWORD_LEN`] and
/// capped at [`MAX_PASSWORD_LEN`]. It holds at least one upper case letter, one lower case
/// letter and one digit, so that common complexity rules accept it.
pub fn generate(length: u8) -> Result<TemporaryPassword, RandomError> {
    let length = usize::from(length.clamp(MIN_PASSWORD_LEN, MAX_PASSWORD_LEN));
    loop {
        let mut password = String::with_capacity(length);
        while password.len() < length {
            password.push(char::from(ALPHABET[uniform_index()?]));
        }
        let has = |class: fn(&u8) -> bool| password.as_bytes().iter().any(class);
        if has(u8::is_ascii_uppercase) && has(u8::is_ascii_lowercase) && has(u8::is_ascii_digit) {
            return Ok(TemporaryPassword::new(password));
        }
        // Rejecting the whole draw (rather than patching a character in) keeps every
        // accepted password equally likely.
        password.zeroize();
    }
}

/// An index into `ALPHABET`, uniform: bytes at or above the largest multiple of the
/// alphabet's length are drawn again instead of being folded in with `%`.
fn uniform_index() -> Result<usize, RandomError> {
    let limit = 256 - 256 % ALPHABET.len();
    loop {
        let mut byte = [0u8; 1];
        getrandom::fill(&mut byte).map_err(RandomError)?;
        let value = usize::from(byte[0]);
        if value < limit {
            return Ok(value % ALPHABET.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn passwords_have_the_asked_length_but_never_less_than_15() {
        assert_eq!(generate(16).expect("random").expose().len(), 16);
        assert_eq!(generate(4).expect("random").expose().len(), 15);
        assert_eq!(generate(200).expect("random").expose().len(), 64);
    }

    #[test]
    fn passwords_use_the_alphabet_only_and_differ() {
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let password = generate(16).expect("random");
            let text = password.expose();
            assert!(text.bytes().all(|b| ALPHABET.contains(&b)), "{text}");
            assert!(!text.contains(['0', 'O', 'o', '1', 'l', 'I', 'i']));
            assert!(seen.insert(text.to_owned()), "repeated password");
        }
    }
}
