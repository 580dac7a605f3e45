//! Using a patch on the device: rebuild the new package from the installed one, check it
//! against the digest the targets role signed, and fall back to the full package otherwise.

use std::time::SystemTime;

use super::{PatchLimits, apply};
use crate::names::PackagePath;
use crate::trust::{TrustError, TrustedSet, VerifiedTarget};

/// How an update's bytes were obtained.
#[derive(Debug)]
pub enum Via {
    Patch,
    /// The patch was unusable (the reason is kept for the ticket) and the full package was used.
    Full {
        reason: String,
    },
}

/// Why neither the patch nor the full package could be used.
#[derive(Debug, thiserror::Error)]
#[error("patch unusable ({patch_reason}) and the full package was refused")]
pub struct UpdateError {
    pub patch_reason: String,
    #[source]
    pub full: TrustError,
}

/// Rebuilds target `new_name` from the installed `old_tar` and a verified patch target, and
/// checks the result against the unpacked digest the targets role signed for `new_name`.
/// When anything about the patch fails, the result is discarded and `fetch_full` supplies the
/// full package, which is verified the ordinary way.
pub fn update_via_patch(
    trusted: &TrustedSet,
    now: SystemTime,
    new_name: &PackagePath,
    old_tar: &[u8],
    patch: Result<VerifiedTarget, TrustError>,
    limits: &PatchLimits,
    fetch_full: impl FnOnce() -> Vec<u8>,
) -> Result<(VerifiedTarget, Via), UpdateError> {
    let attempt = patch
        .map_err(|error| error.to_string())
        .and_then(|patch| apply(old_tar, patch.bytes(), limits).map_err(|error| error.to_string()))
        .and_then(|tar| {
            trusted
                .verify_patched_target(new_name, tar, now)
                .map_err(|error| error.to_string())
        });
    match attempt {
        Ok(target) => Ok((target, Via::Patch)),
        Err(reason) => {
            tracing::debug!(target = %new_name, %reason, "patch discarded, using the full package");
            trusted
                .verify_target(new_name, fetch_full(), now)
                .map(|target| {
                    (
                        target,
                        Via::Full {
                            reason: reason.clone(),
                        },
                    )
                })
                .map_err(|full| UpdateError {
                    patch_reason: reason,
                    full,
                })
        }
    }
}
