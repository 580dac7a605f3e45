//! The client side of TUF: a set of trusted metadata that only ever moves forward. Each update
//! method enforces the steps of the TUF specification's client workflow (section 5, "Detailed
//! client workflow", spec 1.0.31), quoted by number above the code. Time is an argument.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::checks::{
    check_expiry, check_file_against, check_not_older, check_same_version, meta_entry,
    role_keys_changed, verify_role,
};
use super::error::TrustError;
use super::metadata::{
    Envelope, RoleName, Root, Snapshot, Targets, Timestamp, decode_role, parse_envelope,
};
use super::root::check_root;

/// Largest metadata file of each role accepted, checked before parsing (spec 5.3.2, 5.4, 5.5,
/// 5.6: "up to some number of bytes").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataLimits {
    pub root: u64,
    pub timestamp: u64,
    pub snapshot: u64,
    pub targets: u64,
    /// Most root versions walked in one refresh (spec 5.3.8 bounds the loop).
    pub max_root_rotations: u32,
}

impl Default for MetadataLimits {
    fn default() -> Self {
        Self {
            root: 512 * 1024,
            timestamp: 16 * 1024,
            snapshot: 2 * 1024 * 1024,
            targets: 16 * 1024 * 1024,
            max_root_rotations: 64,
        }
    }
}

/// The highest version of each role ever accepted. Persisted; never goes down, so a rollback
/// is refused even after a restart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versions {
    pub root: u64,
    pub timestamp: u64,
    pub snapshot: u64,
    pub targets: u64,
}

/// Metadata trusted so far, starting from a pinned root.
#[derive(Debug, Clone)]
pub struct TrustedSet {
    pub(super) limits: MetadataLimits,
    pub(super) root: (Root, Envelope),
    pub(super) timestamp: Option<(Timestamp, Envelope)>,
    pub(super) snapshot: Option<(Snapshot, Envelope)>,
    pub(super) targets: Option<(Targets, Envelope)>,
    pub(super) highest: Versions,
}

/// Whether a timestamp update brought anything new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Updated,
    Unchanged,
}

impl TrustedSet {
    /// Starts from the root pinned at enrollment (spec 5.2). The pinned root is trusted by being
    /// pinned, but must still be well formed and signed by its own threshold.
    pub fn pin(root: &[u8], limits: MetadataLimits) -> Result<Self, TrustError> {
        let envelope = parse_envelope(RoleName::Root, root, limits.root)?;
        let decoded: Root = decode_role(&envelope)?;
        check_root(&decoded)?;
        verify_role(&decoded, RoleName::Root, &envelope)?;
        let highest = Versions {
            root: decoded.version,
            ..Versions::default()
        };
        Ok(Self {
            limits,
            root: (decoded, envelope),
            timestamp: None,
            snapshot: None,
            targets: None,
            highest,
        })
    }

    /// The trusted root.
    pub fn root(&self) -> &Root {
        &self.root.0
    }

    /// The highest versions accepted so far.
    pub fn versions(&self) -> Versions {
        self.highest
    }

    /// The trusted targets metadata, if loaded.
    pub fn targets(&self) -> Option<&Targets> {
        self.targets.as_ref().map(|(targets, _)| targets)
    }

    /// Accepts root version N+1 (spec 5.3.2 to 5.3.7, and 5.3.11).
    pub fn update_root(&mut self, bytes: &[u8]) -> Result<(), TrustError> {
        // 5.3.2: at most some number of bytes.
        let envelope = parse_envelope(RoleName::Root, bytes, self.limits.root)?;

        // 5.3.3: signed by a threshold of the trusted root's keys, then by a threshold of the
        // new root's own keys. The old check comes first, before the new file is interpreted.
        let (old, _) = &self.root;
        verify_role(old, RoleName::Root, &envelope)?;
        let new: Root = decode_role(&envelope)?;
        check_root(&new)?;
        verify_role(&new, RoleName::Root, &envelope)?;

        // 5.3.4: exactly the next version. 5.3.5: its expiry does not matter yet.
        if new.version != old.version + 1 {
            return Err(TrustError::RootVersion {
                found: new.version,
                expected: old.version + 1,
            });
        }

        // 5.3.11: new timestamp or snapshot keys end trust in what the old keys signed, which
        // is also how a fast-forward attack with stolen online keys is recovered from.
        if role_keys_changed(old, &new, RoleName::Timestamp)
            || role_keys_changed(old, &new, RoleName::Snapshot)
        {
            self.timestamp = None;
            self.snapshot = None;
            self.highest.timestamp = 0;
            self.highest.snapshot = 0;
        }
        if role_keys_changed(old, &new, RoleName::Targets) {
            self.targets = None;
        }

        // 5.3.6 and 5.3.7: the caller persists `to_state()` after this returns.
        self.highest.root = new.version;
        self.root = (new, envelope);
        Ok(())
    }

    /// 5.3.10: after walking rotations, the final root must not have expired.
    pub fn check_root_fresh(&self, now: SystemTime) -> Result<(), TrustError> {
        check_expiry(&self.root.0, now)
    }

    /// Accepts a timestamp (spec 5.4). Returns `Unchanged` when it is the version already held.
    pub fn update_timestamp(
        &mut self,
        bytes: &[u8],
        now: SystemTime,
    ) -> Result<Freshness, TrustError> {
        // 5.4 (size) and 5.4.1: signed by the root's timestamp threshold.
        let envelope = parse_envelope(RoleName::Timestamp, bytes, self.limits.timestamp)?;
        verify_role(&self.root.0, RoleName::Timestamp, &envelope)?;
        let new: Timestamp = decode_role(&envelope)?;
        let snapshot_meta = meta_entry(&new.meta, RoleName::Timestamp, RoleName::Snapshot)?;

        // 5.4.2: neither the timestamp nor the snapshot it names may go back.
        check_not_older(RoleName::Timestamp, self.highest.timestamp, new.version)?;
        check_not_older(
            RoleName::Snapshot,
            self.highest.snapshot,
            snapshot_meta.version,
        )?;
        if let Some((trusted, _)) = &self.timestamp
            && trusted.version == new.version
        {
            return Ok(Freshness::Unchanged);
        }

        // 5.4.3: not expired (freeze attack).
        check_expiry(&new, now)?;

        // 5.4.4
        self.highest.timestamp = new.version;
        self.timestamp = Some((new, envelope));
        Ok(Freshness::Updated)
    }

    /// Accepts the snapshot the trusted timestamp names (spec 5.5).
    pub fn update_snapshot(&mut self, bytes: &[u8], now: SystemTime) -> Result<(), TrustError> {
        let Some((timestamp, _)) = &self.timestamp else {
            return Err(TrustError::OutOfOrder {
                role: RoleName::Snapshot,
                needs: RoleName::Timestamp,
            });
        };
        let expected =
            meta_entry(&timestamp.meta, RoleName::Timestamp, RoleName::Snapshot)?.clone();

        // 5.5 (size) and 5.5.1: the length and hash the timestamp gave.
        let limit = expected
            .length
            .unwrap_or(self.limits.snapshot)
            .min(self.limits.snapshot);
        check_file_against(
            RoleName::Snapshot,
            RoleName::Timestamp,
            bytes,
            &expected,
            limit,
        )?;

        // 5.5.2: signed by the root's snapshot threshold.
        let envelope = parse_envelope(RoleName::Snapshot, bytes, limit)?;
        verify_role(&self.root.0, RoleName::Snapshot, &envelope)?;
        let new: Snapshot = decode_role(&envelope)?;

        // 5.5.3: the version the timestamp names.
        check_same_version(
            RoleName::Snapshot,
            RoleName::Timestamp,
            new.version,
            expected.version,
        )?;

        // 5.5.4: every targets file the trusted snapshot listed is still there, not older.
        let new_targets = meta_entry(&new.meta, RoleName::Snapshot, RoleName::Targets)?;
        check_not_older(RoleName::Targets, self.highest.targets, new_targets.version)?;
        if let Some((trusted, _)) = &self.snapshot {
            for (name, old) in &trusted.meta {
                let Some(current) = new.meta.get(name) else {
                    return Err(TrustError::MissingMeta {
                        by: RoleName::Snapshot,
                        entry: name.clone(),
                    });
                };
                check_not_older(RoleName::Targets, old.version, current.version)?;
            }
        }

        // 5.5.5: not expired. 5.5.6: trusted from now on.
        check_expiry(&new, now)?;
        self.highest.snapshot = new.version;
        self.snapshot = Some((new, envelope));
        Ok(())
    }

    /// Accepts the targets metadata the trusted snapshot names (spec 5.6).
    pub fn update_targets(&mut self, bytes: &[u8], now: SystemTime) -> Result<(), TrustError> {
        let Some((snapshot, _)) = &self.snapshot else {
            return Err(TrustError::OutOfOrder {
                role: RoleName::Targets,
                needs: RoleName::Snapshot,
            });
        };
        let expected = meta_entry(&snapshot.meta, RoleName::Snapshot, RoleName::Targets)?.clone();

        // 5.6 (size) and 5.6.1: the length and hash the snapshot gave, if it gave them.
        let limit = expected
            .length
            .unwrap_or(self.limits.targets)
            .min(self.limits.targets);
        check_file_against(
            RoleName::Targets,
            RoleName::Snapshot,
            bytes,
            &expected,
            limit,
        )?;

        // 5.6.2: signed by the root's targets threshold.
        let envelope = parse_envelope(RoleName::Targets, bytes, limit)?;
        verify_role(&self.root.0, RoleName::Targets, &envelope)?;
        let new: Targets = decode_role(&envelope)?;

        // 5.6.3: exactly the version the snapshot names; anything else is a mix of files that
        // were never published together.
        check_same_version(
            RoleName::Targets,
            RoleName::Snapshot,
            new.version,
            expected.version,
        )?;
        check_not_older(RoleName::Targets, self.highest.targets, new.version)?;

        // 5.6.4: not expired. 5.6.5: trusted from now on.
        check_expiry(&new, now)?;
        self.highest.targets = new.version;
        self.targets = Some((new, envelope));
        Ok(())
    }

    /// Runs the whole client workflow against `fetch`, which returns a repository file by
    /// name (`2.root.json`, `timestamp.json`, ...) or `None` when it does not exist.
    pub fn refresh(
        &mut self,
        now: SystemTime,
        mut fetch: impl FnMut(&str) -> Option<Vec<u8>>,
    ) -> Result<Freshness, TrustError> {
        // 5.3.8: repeat while a next root exists, within a bound.
        for _ in 0..self.limits.max_root_rotations {
            let next = format!("{}.root.json", self.root.0.version + 1);
            let Some(bytes) = fetch(&next) else { break };
            self.update_root(&bytes)?;
        }
        self.check_root_fresh(now)?;

        let timestamp =
            fetch(RoleName::Timestamp.file_name()).ok_or_else(|| TrustError::MissingMeta {
                by: RoleName::Timestamp,
                entry: "timestamp.json".to_owned(),
            })?;
        if self.update_timestamp(&timestamp, now)? == Freshness::Unchanged && self.targets.is_some()
        {
            return Ok(Freshness::Unchanged);
        }
        for role in [RoleName::Snapshot, RoleName::Targets] {
            let bytes = fetch(role.file_name()).ok_or_else(|| TrustError::MissingMeta {
                by: role,
                entry: role.file_name().to_owned(),
            })?;
            match role {
                RoleName::Snapshot => self.update_snapshot(&bytes, now)?,
                _ => self.update_targets(&bytes, now)?,
            }
        }
        Ok(Freshness::Updated)
    }
}
