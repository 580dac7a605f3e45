//! A target whose bytes matched the signed targets metadata. Only [`super::TrustedSet`] makes
//! one, so code that takes a `VerifiedTarget` cannot be handed unchecked bytes.

use std::time::SystemTime;

use super::checks::{check_expiry, check_same_version, meta_entry};
use super::client::TrustedSet;
use super::error::TrustError;
use super::metadata::{RoleName, TargetDescription};
use crate::archive::Encoding;
use crate::digest::Sha256Digest;
use crate::names::PackagePath;

/// Target bytes checked against their signed length and digest. It owns the bytes: what was
/// checked is what gets unpacked, never a second read of a file someone could swap.
#[derive(Debug)]
pub struct VerifiedTarget {
    name: PackagePath,
    bytes: Vec<u8>,
    encoding: Encoding,
    description: TargetDescription,
}

impl VerifiedTarget {
    pub(crate) fn new(
        name: PackagePath,
        bytes: Vec<u8>,
        encoding: Encoding,
        description: TargetDescription,
    ) -> Self {
        Self {
            name,
            bytes,
            encoding,
            description,
        }
    }

    /// The target's name in the repository.
    pub fn name(&self) -> &PackagePath {
        &self.name
    }

    /// What the targets role signed about it.
    pub fn description(&self) -> &TargetDescription {
        &self.description
    }

    /// How the bytes are encoded: the published `.hpkg`, or the tar rebuilt from a patch.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The verified bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

impl TrustedSet {
    /// What the trusted, unexpired, consistent targets metadata says about `name`.
    pub fn target(
        &self,
        name: &PackagePath,
        now: SystemTime,
    ) -> Result<&TargetDescription, TrustError> {
        let (Some((timestamp, _)), Some((snapshot, _)), Some((targets, _))) =
            (&self.timestamp, &self.snapshot, &self.targets)
        else {
            return Err(TrustError::OutOfOrder {
                role: RoleName::Targets,
                needs: RoleName::Snapshot,
            });
        };

        // Checked again at use, not only at update: a device that stops refreshing must not
        // install from metadata that has since expired.
        check_expiry(timestamp, now)?;
        check_expiry(snapshot, now)?;
        check_expiry(targets, now)?;
        let named = meta_entry(&snapshot.meta, RoleName::Snapshot, RoleName::Targets)?;
        check_same_version(
            RoleName::Targets,
            RoleName::Snapshot,
            targets.version,
            named.version,
        )?;

        targets
            .targets
            .get(name)
            .ok_or_else(|| TrustError::UnknownTarget { name: name.clone() })
    }

    /// Checks downloaded target bytes against their signed length and digest (spec 5.7.3).
    pub fn verify_target(
        &self,
        name: &PackagePath,
        bytes: Vec<u8>,
        now: SystemTime,
    ) -> Result<VerifiedTarget, TrustError> {
        let description = self.target(name, now)?;
        let found = bytes.len() as u64;
        if found > description.length {
            return Err(TrustError::TargetTooLong {
                name: name.clone(),
                length: description.length,
            });
        }
        if found != description.length {
            let expected = description.length;
            return Err(TrustError::TargetLength {
                name: name.clone(),
                found,
                expected,
            });
        }
        if Sha256Digest::of(&bytes) != description.hashes.sha256 {
            return Err(TrustError::TargetDigest { name: name.clone() });
        }
        Ok(VerifiedTarget::new(
            name.clone(),
            bytes,
            Encoding::Zstd,
            description.clone(),
        ))
    }

    /// Checks a tar rebuilt from a delta patch against the target's signed unpacked length and
    /// digest. On any error the caller discards the result and fetches the full package.
    pub fn verify_patched_target(
        &self,
        name: &PackagePath,
        tar: Vec<u8>,
        now: SystemTime,
    ) -> Result<VerifiedTarget, TrustError> {
        let description = self.target(name, now)?;
        let custom = description
            .custom
            .as_ref()
            .ok_or_else(|| TrustError::NoUnpackedDigest { name: name.clone() })?;
        let found = tar.len() as u64;
        if found != custom.unpacked_length {
            let expected = custom.unpacked_length;
            return Err(TrustError::TargetLength {
                name: name.clone(),
                found,
                expected,
            });
        }
        if Sha256Digest::of(&tar) != custom.unpacked_sha256 {
            return Err(TrustError::TargetDigest { name: name.clone() });
        }
        Ok(VerifiedTarget::new(
            name.clone(),
            tar,
            Encoding::Tar,
            description.clone(),
        ))
    }
}
