//! End-to-end tests of signed packages and patches (issue 5): every attack in THREATS.md's
//! package section refused with a clear error and nothing written, the install transaction
//! surviving hangs and a SIGKILL, and the printer example against a real cupsd.

#[path = "packages/archive.rs"]
mod archive;
#[path = "packages/common.rs"]
mod common;
#[path = "packages/install.rs"]
mod install;
#[path = "packages/printer.rs"]
mod printer;
#[path = "packages/trust.rs"]
mod trust;
