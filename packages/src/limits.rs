//! Every size and count a package or its metadata controls, with a default that is always on.
//! A publisher's key can be stolen, so even signed input is bounded.

/// Bounds on a package and its contents. `Limits::default()` suits printer drivers and
/// ordinary applications; the agent may raise them for large software.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest `.hpkg` (compressed) file accepted.
    pub max_package_bytes: u64,
    /// Largest total size of the tar inside, once decompressed.
    pub max_unpacked_bytes: u64,
    /// Largest ratio of unpacked to compressed size, beyond `expansion_floor_bytes`.
    pub max_expansion_ratio: u64,
    /// Unpacked size always allowed whatever the ratio, so tiny text packages are not refused.
    pub expansion_floor_bytes: u64,
    /// Most entries (manifest and payload files) in one package.
    pub max_entries: usize,
    /// Largest `manifest.json`.
    pub max_manifest_bytes: u64,
    /// Most install or uninstall steps.
    pub max_steps: usize,
    /// Longest step timeout a manifest may declare, in seconds.
    pub max_step_timeout_secs: u64,
    /// zstd window (log2 bytes) a decoder may allocate; bounds decoder memory.
    pub max_window_log: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_package_bytes: 512 * MIB,
            max_unpacked_bytes: 2 * 1024 * MIB,
            max_expansion_ratio: 200,
            expansion_floor_bytes: MIB,
            max_entries: 10_000,
            max_manifest_bytes: MIB,
            max_steps: 32,
            max_step_timeout_secs: 2 * 60 * 60,
            max_window_log: 27,
        }
    }
}

impl Limits {
    /// The unpacked size allowed for a package of `compressed` bytes: the ratio cap, never
    /// below the floor, never above the absolute cap.
    pub fn unpacked_allowance(&self, compressed: u64) -> u64 {
        compressed
            .saturating_mul(self.max_expansion_ratio)
            .max(self.expansion_floor_bytes)
            .min(self.max_unpacked_bytes)
    }
}

/// Bounds on path names inside a package.
pub(crate) mod paths {
    /// Longest relative path, in bytes.
    pub(crate) const MAX_PATH_BYTES: usize = 1024;
    /// Longest single path component, in bytes (the common file system limit).
    pub(crate) const MAX_COMPONENT_BYTES: usize = 255;
    /// Deepest nesting of directories.
    pub(crate) const MAX_DEPTH: usize = 32;
}

const MIB: u64 = 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowance_is_bounded_both_ways() {
        let limits = Limits::default();
        assert_eq!(limits.unpacked_allowance(10), MIB);
        assert_eq!(limits.unpacked_allowance(10 * MIB), 2000 * MIB);
        assert_eq!(limits.unpacked_allowance(u64::MAX), 2048 * MIB);
    }
}
