//! The publisher's side: key files, package repositories and signing. Used by the
//! `hotline-pkg` tool; the agent and the console never need these keys.

mod keyfile;
mod repository;

pub use keyfile::{KeyFileError, read_key_file, write_key_file};
pub use repository::{Lifetimes, PublishError, Repository, RoleSigners, describe_target, new_root};
