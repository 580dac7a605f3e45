//! Messages of a deployment stream: the console opens one bidirectional stream per signed
//! assignment on a device's connection, offers the assignment with the publisher's metadata,
//! then serves the package in chunks from wherever the device asks; the device answers with
//! the chunk it wants next and, at the end, its outcome.
//!
//! The stream is separate from the control stream, so a 1 MiB chunk never delays a heartbeat,
//! and it has its own frame limit. Nothing here checks a signature (this crate holds no
//! crypto): [`Assignment::signing_bytes`] defines the bytes the console's key signs.

use serde::{Deserialize, Serialize};

use crate::codec::{EncodeError, Wire};
use crate::ids::DeviceId;
use crate::inventory::MAX_TEXT;

/// Largest payload on a deployment stream: one chunk with its header, or an offer with its
/// metadata files.
pub const DEPLOY_FRAME_LIMIT: usize = 4 * 1024 * 1024;
/// Largest chunk a console sends and an agent accepts.
pub const MAX_CHUNK: u32 = 1024 * 1024;
/// Most metadata files in one offer (root rotations, timestamp, snapshot, targets).
pub const MAX_METADATA_FILES: usize = 70;
/// Longest package name, version or target name in an assignment.
pub const MAX_NAME: usize = 200;
/// Longest a signed assignment may stay valid; an agent refuses one promising more, which
/// also bounds how long it must remember a nonce.
pub const MAX_ASSIGNMENT_LIFETIME_SECS: u64 = 7 * 24 * 60 * 60;

/// Prefix of the signed bytes, so an assignment signature can never be taken for a signature
/// over anything else the key might sign later.
const SIGNING_CONTEXT: &[u8] = b"hotline assignment v1\0";

/// The console's statement that *this* device should install *this* package now, for this
/// ticket. The agent also needs the publisher's metadata to name the same digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub device: DeviceId,
    pub deployment: u64,
    pub ticket: u64,
    pub package: String,
    pub version: String,
    /// The target's name in the publisher's repository (`app-1.0.0.hpkg`).
    pub target: String,
    /// SHA-256 and length of the target as the publisher's targets metadata signed them.
    pub sha256: [u8; 32],
    pub length: u64,
    /// Unique per assignment; an agent refuses a nonce it has seen.
    pub nonce: [u8; 16],
    /// Unix seconds after which the assignment is void.
    pub expires_at: u64,
}

impl Assignment {
    /// The exact bytes the console's assignment key signs and the agent verifies.
    pub fn signing_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut bytes = SIGNING_CONTEXT.to_vec();
        bytes.extend_from_slice(&OfferBody(self.clone()).encode_payload()?);
        Ok(bytes)
    }

    /// Checks the lengths a peer controls.
    pub fn check_limits(&self) -> Result<(), String> {
        for (what, text) in [
            ("package", &self.package),
            ("version", &self.version),
            ("target", &self.target),
        ] {
            if text.is_empty() || text.len() > MAX_NAME {
                return Err(format!("{what} name must be 1 to {MAX_NAME} bytes"));
            }
        }
        Ok(())
    }
}

/// Wrapper giving an [`Assignment`] alone a wire encoding, for its signing bytes.
#[derive(Serialize, Deserialize)]
pub(crate) struct OfferBody(pub(crate) Assignment);

/// One file of the publisher's repository metadata, passed through unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataFile {
    /// `N.root.json`, `timestamp.json`, `snapshot.json` or `targets.json`.
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Most delta patches offered with one assignment.
pub const MAX_PATCHES: usize = 16;

/// A delta patch the console holds towards the assigned package, named in the publisher's
/// metadata like any target. A device whose installed package's tar has `from_tar_sha256`
/// may fetch it instead of the full package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchOffer {
    pub target: String,
    pub sha256: [u8; 32],
    pub length: u64,
    pub from_tar_sha256: [u8; 32],
}

/// What opens a deployment stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub assignment: Assignment,
    /// ed25519 signature over [`Assignment::signing_bytes`].
    pub signature: Vec<u8>,
    /// The console's assignment public key, which a device pins the first time it sees it.
    pub console_key: [u8; 32],
    pub metadata: Vec<MetadataFile>,
    pub chunk_size: u32,
    /// Patches towards the assigned package; unsigned hints, each checked against the
    /// publisher's metadata before use.
    pub patches: Vec<PatchOffer>,
}

impl Offer {
    /// Checks counts and lengths before anything is verified.
    pub fn check_limits(&self) -> Result<(), String> {
        self.assignment.check_limits()?;
        if self.metadata.len() > MAX_METADATA_FILES {
            return Err(format!(
                "{} metadata files, at most {MAX_METADATA_FILES}",
                self.metadata.len()
            ));
        }
        if self.chunk_size == 0 || self.chunk_size > MAX_CHUNK {
            return Err(format!(
                "chunk size {} outside 1..={MAX_CHUNK}",
                self.chunk_size
            ));
        }
        if self.signature.len() != 64 {
            return Err("signature is not 64 bytes".to_owned());
        }
        if self.patches.len() > MAX_PATCHES {
            return Err(format!(
                "{} patches, at most {MAX_PATCHES}",
                self.patches.len()
            ));
        }
        if self
            .patches
            .iter()
            .any(|p| p.target.is_empty() || p.target.len() > MAX_NAME)
        {
            return Err(format!("patch names must be 1 to {MAX_NAME} bytes"));
        }
        Ok(())
    }

    /// How many chunks the target splits into.
    pub fn chunk_count(&self) -> u64 {
        self.chunks_of(self.assignment.length)
    }

    /// How many chunks `length` bytes split into at this offer's chunk size.
    pub fn chunks_of(&self, length: u64) -> u64 {
        length.div_ceil(u64::from(self.chunk_size.max(1)))
    }
}

/// Everything the console sends on a deployment stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeployDown {
    /// Always the first frame.
    Offer(Box<Offer>),
    /// One chunk of the target, with its SHA-256 so a device can check a chunk it kept on
    /// disk across a cut before it resumes after it.
    Chunk {
        index: u64,
        sha256: [u8; 32],
        data: Vec<u8>,
    },
}

/// How a device ended an assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Installed,
    AlreadyPresent,
    RebootRequired,
    /// A step answered 1618: another installation runs; everything was rolled back.
    RetryLater,
    Failed,
    /// The device does not meet the package's requirements; nothing was changed.
    SkippedRequirement,
    /// The publisher's metadata or the package did not verify.
    RefusedVerification,
    /// The assignment itself was refused: bad signature, other device, expired, replayed.
    RefusedAssignment,
}

impl Outcome {
    /// The word stored and shown for the outcome.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Installed => "installed",
            Outcome::AlreadyPresent => "already-present",
            Outcome::RebootRequired => "reboot-required",
            Outcome::RetryLater => "retry-later",
            Outcome::Failed => "failed",
            Outcome::SkippedRequirement => "skipped-requirement",
            Outcome::RefusedVerification => "refused-verification",
            Outcome::RefusedAssignment => "refused-assignment",
        }
    }

    /// Whether the device now has the package.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            Outcome::Installed | Outcome::AlreadyPresent | Outcome::RebootRequired
        )
    }
}

/// Everything a device sends on a deployment stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeployUp {
    /// Send the chunks from `from` to the end; the device already holds the ones before.
    Fetch { from: u64 },
    /// The assignment's end, with why in words.
    Report { outcome: Outcome, detail: String },
    /// Send the chunks of offered patch `patch` from `from` to the end. A device that then
    /// finds the patch unusable sends [`DeployUp::Fetch`] for the full package.
    FetchPatch { patch: u32, from: u64 },
}

impl DeployUp {
    /// A report, cutting the detail to the text limit.
    pub fn report(outcome: Outcome, detail: &str) -> DeployUp {
        DeployUp::Report {
            outcome,
            detail: crate::messages::truncate(detail, MAX_TEXT).to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode_frame;

    fn assignment() -> Assignment {
        Assignment {
            device: DeviceId::from_random(7),
            deployment: 1,
            ticket: 2,
            package: "printer".into(),
            version: "1.0.0".into(),
            target: "printer-1.0.0.hpkg".into(),
            sha256: [9; 32],
            length: 3 * 1024 * 1024 + 1,
            nonce: [1; 16],
            expires_at: 100,
        }
    }

    #[test]
    fn signing_bytes_change_with_every_field_that_matters() {
        let base = assignment().signing_bytes().expect("encodes");
        let mut other = assignment();
        other.nonce[0] = 2;
        assert_ne!(base, other.signing_bytes().expect("encodes"));
        let mut other = assignment();
        other.device = DeviceId::from_random(8);
        assert_ne!(base, other.signing_bytes().expect("encodes"));
        assert!(base.starts_with(SIGNING_CONTEXT));
    }

    #[test]
    fn offers_round_trip_and_count_chunks() {
        let offer = Offer {
            assignment: assignment(),
            signature: vec![0; 64],
            console_key: [3; 32],
            metadata: vec![MetadataFile {
                name: "timestamp.json".into(),
                bytes: b"{}".to_vec(),
            }],
            chunk_size: MAX_CHUNK,
            patches: Vec::new(),
        };
        assert_eq!(offer.chunk_count(), 4);
        offer.check_limits().expect("within limits");
        let message = DeployDown::Offer(Box::new(offer));
        let frame = encode_frame(&message).expect("encodes");
        let decoded = DeployDown::decode_payload(&frame[4..]).expect("decodes");
        assert_eq!(decoded, message);
    }

    #[test]
    fn a_full_chunk_fits_the_frame_limit() {
        let chunk = DeployDown::Chunk {
            index: 0,
            sha256: [0; 32],
            data: vec![0; MAX_CHUNK as usize],
        };
        assert!(encode_frame(&chunk).is_ok());
    }

    #[test]
    fn oversized_fields_are_refused() {
        let mut offer = Offer {
            assignment: assignment(),
            signature: vec![0; 63],
            console_key: [3; 32],
            metadata: Vec::new(),
            chunk_size: MAX_CHUNK,
            patches: Vec::new(),
        };
        assert!(offer.check_limits().is_err());
        offer.signature.push(0);
        offer.assignment.package = "x".repeat(MAX_NAME + 1);
        assert!(offer.check_limits().is_err());
    }
}
