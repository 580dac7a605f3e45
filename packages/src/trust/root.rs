//! Rules a root must meet before any of its keys is used: key ids that are really the keys'
//! own, every role present with a reachable threshold, no key listed twice in a role.

use std::collections::BTreeSet;

use super::error::TrustError;
use super::metadata::{RoleName, Root};

const ROLES: [RoleName; 4] = [
    RoleName::Root,
    RoleName::Targets,
    RoleName::Snapshot,
    RoleName::Timestamp,
];

/// Checks `root`'s keys and roles. Weak keys never get this far: they are refused when parsed.
pub(crate) fn check_root(root: &Root) -> Result<(), TrustError> {
    // A key id that is not the key's own would let one key appear as two.
    for (key_id, key) in &root.keys {
        if key.key_id() != *key_id {
            return Err(TrustError::KeyIdMismatch {
                key_id: key_id.clone(),
            });
        }
    }

    for role in ROLES {
        let keys = root.roles.get(&role).ok_or(TrustError::BadRole { role })?;
        let distinct: BTreeSet<_> = keys.keyids.iter().collect();
        let listed = keys
            .keyids
            .iter()
            .all(|key_id| root.keys.contains_key(key_id));
        if keys.threshold == 0 || !listed || distinct.len() != keys.keyids.len() {
            return Err(TrustError::BadRole { role });
        }
        if distinct.len() < keys.threshold as usize {
            let (threshold, keys) = (keys.threshold, distinct.len());
            return Err(TrustError::UnreachableThreshold {
                role,
                threshold,
                keys,
            });
        }
    }
    if root.roles.len() != ROLES.len() {
        // Delegated roles are not supported; an unknown role name cannot even parse.
        return Err(TrustError::BadRole {
            role: RoleName::Root,
        });
    }
    Ok(())
}
