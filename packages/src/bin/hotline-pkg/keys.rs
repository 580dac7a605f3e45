//! Key commands: `keygen` and `sign`, and loading key files for the other commands. A
//! passphrase comes from a file or the HOTLINE_PKG_PASSPHRASE variable, never from an argument
//! (arguments are visible to every local user).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use hotline_packages::publish::{read_key_file, write_key_file};
use hotline_packages::trust::{Envelope, PublicKey, SigningKey, add_signature, envelope_bytes};
use zeroize::Zeroizing;

use crate::output;

const PASSPHRASE_VARIABLE: &str = "HOTLINE_PKG_PASSPHRASE";

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Private key file to create (never overwritten); the public key goes to FILE.pub.
    #[arg(long)]
    out: PathBuf,
    /// Seal the private key with a passphrase read from this file.
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
    /// Seal the private key with the passphrase in HOTLINE_PKG_PASSPHRASE.
    #[arg(long)]
    passphrase_from_env: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// Metadata file to sign in place.
    metadata: PathBuf,
    /// Private key file(s) to sign with.
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
    /// Passphrase file for sealed keys (else HOTLINE_PKG_PASSPHRASE).
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
}

pub(crate) fn keygen(args: &KeygenArgs) -> Result<()> {
    let passphrase = match (&args.passphrase_file, args.passphrase_from_env) {
        (Some(path), _) => Some(read_passphrase_file(path)?),
        (None, true) => Some(Zeroizing::new(
            std::env::var(PASSPHRASE_VARIABLE)
                .with_context(|| format!("{PASSPHRASE_VARIABLE} is not set"))?
                .into_bytes(),
        )),
        (None, false) => None,
    };
    let key = SigningKey::generate().context("cannot read the operating system's random source")?;
    write_key_file(&args.out, &key, passphrase.as_ref().map(|p| p.as_slice()))?;
    let public_path = public_path(&args.out);
    let public =
        serde_json::to_vec_pretty(&key.public()).context("cannot encode the public key")?;
    fs::write(&public_path, public)
        .with_context(|| format!("cannot write {}", public_path.display()))?;
    output::line(&format!(
        "key {} written to {} and {}",
        key.public().key_id(),
        args.out.display(),
        public_path.display()
    ));
    Ok(())
}

pub(crate) fn sign(args: &SignArgs) -> Result<()> {
    let bytes = fs::read(&args.metadata)
        .with_context(|| format!("cannot read {}", args.metadata.display()))?;
    let mut envelope: Envelope = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not signed metadata", args.metadata.display()))?;
    for path in &args.keys {
        let key = load_key(path, args.passphrase_file.as_deref())?;
        add_signature(&mut envelope, &key)?;
        output::line(&format!(
            "signed {} with key {}",
            args.metadata.display(),
            key.public().key_id()
        ));
    }
    fs::write(&args.metadata, envelope_bytes(&envelope))
        .with_context(|| format!("cannot write {}", args.metadata.display()))
}

/// Loads a private key, unsealing it with the passphrase file or variable when needed.
pub(crate) fn load_key(path: &Path, passphrase_file: Option<&Path>) -> Result<SigningKey> {
    let passphrase = match passphrase_file {
        Some(file) => Some(read_passphrase_file(file)?),
        None => std::env::var(PASSPHRASE_VARIABLE)
            .ok()
            .map(|text| Zeroizing::new(text.into_bytes())),
    };
    Ok(read_key_file(
        path,
        passphrase.as_ref().map(|p| p.as_slice()),
    )?)
}

/// Loads several private keys.
pub(crate) fn load_keys(
    paths: &[PathBuf],
    passphrase_file: Option<&Path>,
) -> Result<Vec<SigningKey>> {
    paths
        .iter()
        .map(|path| load_key(path, passphrase_file))
        .collect()
}

/// Loads a public key: a `.pub` file, or the public half of a private key file.
pub(crate) fn load_public(path: &Path) -> Result<PublicKey> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if let Ok(public) = serde_json::from_slice::<PublicKey>(&bytes) {
        return Ok(public);
    }
    bail!(
        "{} is not a public key file (FILE.pub written by keygen)",
        path.display()
    )
}

fn public_path(private: &Path) -> PathBuf {
    let mut name = private.as_os_str().to_os_string();
    name.push(".pub");
    PathBuf::from(name)
}

fn read_passphrase_file(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let text = Zeroizing::new(
        fs::read(path)
            .with_context(|| format!("cannot read passphrase file {}", path.display()))?,
    );
    // A trailing newline from `echo` is not part of the passphrase.
    let trimmed = text.strip_suffix(b"\n").unwrap_or(&text);
    if trimmed.is_empty() {
        bail!("passphrase file {} is empty", path.display());
    }
    Ok(Zeroizing::new(trimmed.to_vec()))
}
