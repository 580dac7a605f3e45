//! The individual checks of the client workflow, shared by every role's update: signatures
//! against the root, expiry, versions that must not go back, and files that must match what
//! another role said about them.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::error::TrustError;
use super::metadata::{Envelope, Expiry, MetaFile, Role, RoleName, Root, verify_threshold};
use crate::digest::Sha256Digest;

pub(super) fn verify_role(
    root: &Root,
    role: RoleName,
    envelope: &Envelope,
) -> Result<(), TrustError> {
    let role_keys = root.roles.get(&role).ok_or(TrustError::BadRole { role })?;
    verify_threshold(role, envelope, role_keys, &root.keys)
}

pub(super) fn role_keys_changed(old: &Root, new: &Root, role: RoleName) -> bool {
    old.roles.get(&role) != new.roles.get(&role)
}

pub(super) fn meta_entry(
    meta: &BTreeMap<String, MetaFile>,
    by: RoleName,
    role: RoleName,
) -> Result<&MetaFile, TrustError> {
    meta.get(role.file_name())
        .ok_or_else(|| TrustError::MissingMeta {
            by,
            entry: role.file_name().to_owned(),
        })
}

pub(super) fn check_expiry<T: Role>(role: &T, now: SystemTime) -> Result<(), TrustError> {
    if role.expires().0 <= now {
        let (expires, now) = (role.expires().to_string(), Expiry(now).to_string());
        return Err(TrustError::Expired {
            role: T::NAME,
            expires,
            now,
        });
    }
    Ok(())
}

pub(super) fn check_not_older(role: RoleName, trusted: u64, found: u64) -> Result<(), TrustError> {
    if found < trusted {
        return Err(TrustError::Rollback {
            role,
            trusted,
            found,
        });
    }
    Ok(())
}

pub(super) fn check_same_version(
    role: RoleName,
    by: RoleName,
    found: u64,
    expected: u64,
) -> Result<(), TrustError> {
    if found != expected {
        let (found, expected) = (found.to_string(), expected.to_string());
        return Err(TrustError::Mismatch {
            role,
            by,
            what: "version",
            found,
            expected,
        });
    }
    Ok(())
}

pub(super) fn check_file_against(
    role: RoleName,
    by: RoleName,
    bytes: &[u8],
    expected: &MetaFile,
    limit: u64,
) -> Result<(), TrustError> {
    let size = bytes.len() as u64;
    if size > limit {
        return Err(TrustError::TooLarge { role, size, limit });
    }
    if let Some(length) = expected.length.filter(|length| *length != size) {
        let (found, expected) = (size.to_string(), length.to_string());
        return Err(TrustError::Mismatch {
            role,
            by,
            what: "length",
            found,
            expected,
        });
    }
    if let Some(hashes) = &expected.hashes {
        let found = Sha256Digest::of(bytes);
        if found != hashes.sha256 {
            let (found, expected) = (found.to_hex(), hashes.sha256.to_hex());
            return Err(TrustError::Mismatch {
                role,
                by,
                what: "sha-256",
                found,
                expected,
            });
        }
    }
    Ok(())
}
