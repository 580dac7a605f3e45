//! Signed packages and patches for Hotline: the package format, trust metadata in the roles of
//! The Update Framework, delta patches, safe unpacking and the install transaction. Nothing
//! here touches the network: the agent hands it bytes and a target root.

#![forbid(unsafe_code)]

pub mod archive;
pub mod delta;
pub mod digest;
mod fsutil;
pub mod install;
pub mod limits;
pub mod manifest;
pub mod names;
pub mod publish;
pub mod trust;

pub use archive::{Package, VerifiedPackage};
pub use digest::Sha256Digest;
pub use fsutil::PrivateDirError;
pub use limits::Limits;
pub use manifest::Manifest;
pub use names::{PackageName, PackagePath};
