//! Trust in packages, in the roles of The Update Framework: root, targets, snapshot and
//! timestamp, each with its own ed25519 keys and threshold. The agent pins a root, moves it
//! forward only through rotations both old and new keys signed, and installs only targets
//! whose length and digest the current targets metadata signed.
//!
//! Not supported yet: delegated targets roles and consistent snapshots (FIXME: not needed by
//! one organisation's publishers today; add when several teams publish separately).

mod canonical;
mod checks;
mod client;
mod error;
mod keys;
mod metadata;
mod root;
mod state;
mod target;

pub use canonical::{NotCanonical, canonical_json};
pub use client::{Freshness, MetadataLimits, TrustedSet, Versions};
pub use error::TrustError;
pub use keys::{KeyError, KeyId, PublicKey, SigningKey};
pub use metadata::{
    Envelope, Expiry, Hashes, MetaFile, Role, RoleKeys, RoleName, Root, SPEC_VERSION,
    SignatureEntry, Snapshot, TargetCustom, TargetDescription, Targets, Timestamp, add_signature,
    decode_role, envelope_bytes, parse_envelope, sign, verify_threshold,
};
pub use state::{StateError, TrustState, load_state, save_state};
pub use target::VerifiedTarget;
