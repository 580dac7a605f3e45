//! Package commands: `build`, `inspect`, `diff` and `patch`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use hotline_packages::Package;
use hotline_packages::archive::{build_from_dir, decompress};
use hotline_packages::delta::{self, Choice, PatchLimits};
use hotline_packages::limits::Limits;

use crate::output;

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// Directory holding package.toml and payload/.
    source: PathBuf,
    /// Package file to write.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum AlgorithmArg {
    Auto,
    Zstd,
    Bsdiff,
}

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    old: PathBuf,
    new: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Diff the files as they are, not as packages (for benchmarks and non-package targets).
    #[arg(long)]
    raw: bool,
    #[arg(long, value_enum, default_value = "auto")]
    algorithm: AlgorithmArg,
}

#[derive(Debug, Args)]
pub(crate) struct PatchArgs {
    old: PathBuf,
    patch: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// OLD is a plain file, not a package; the output is written as is.
    #[arg(long)]
    raw: bool,
}

pub(crate) fn build(args: &BuildArgs) -> Result<()> {
    let bytes = build_from_dir(&args.source, &Limits::default())
        .with_context(|| format!("cannot build a package from {}", args.source.display()))?;
    let package = Package::from_hpkg(bytes.clone(), &Limits::default())
        .context("the built package does not validate")?;
    write(&args.out, &bytes)?;
    let manifest = package.manifest();
    output::line(&format!(
        "{} {} built: {} bytes, {} files, sha-256 {}",
        manifest.name,
        manifest.version,
        bytes.len(),
        manifest.files.len(),
        hotline_packages::Sha256Digest::of(&bytes)
    ));
    Ok(())
}

pub(crate) fn inspect(path: &Path) -> Result<()> {
    let package = Package::from_hpkg(read(path)?, &Limits::default())
        .with_context(|| format!("{} is not a valid package", path.display()))?;
    output::line(&String::from_utf8_lossy(&package.manifest().to_json()));
    Ok(())
}

pub(crate) fn diff(args: &DiffArgs) -> Result<()> {
    let (old, new) = if args.raw {
        (read(&args.old)?, read(&args.new)?)
    } else {
        (package_tar(&args.old)?, package_tar(&args.new)?)
    };
    let choice = match args.algorithm {
        AlgorithmArg::Auto => Choice::Auto,
        AlgorithmArg::Zstd => Choice::Zstd,
        AlgorithmArg::Bsdiff => Choice::Bsdiff,
    };
    let patch = delta::make(&old, &new, choice, &PatchLimits::default())?;
    write(&args.out, &patch)?;
    let header = delta::header(&patch)?;
    output::line(&format!(
        "{:?} patch: {} bytes for {} -> {} bytes",
        header.algorithm,
        patch.len(),
        old.len(),
        new.len()
    ));
    Ok(())
}

pub(crate) fn patch(args: &PatchArgs) -> Result<()> {
    let old = if args.raw {
        read(&args.old)?
    } else {
        package_tar(&args.old)?
    };
    let result = delta::apply(&old, &read(&args.patch)?, &PatchLimits::default())?;
    if args.raw {
        write(&args.out, &result)?;
    } else {
        // A patch of a package yields its tar; publish the compressed form so it can be checked
        // as a package again.
        let package = Package::from_tar(result, &Limits::default())
            .context("patch result is not a valid package")?;
        let tar = package.tar_bytes()?;
        write(
            &args.out,
            &hotline_packages::archive::compress(&tar).context("cannot compress")?,
        )?;
    }
    output::line(&format!(
        "patched {} into {}",
        args.old.display(),
        args.out.display()
    ));
    Ok(())
}

fn package_tar(path: &Path) -> Result<Vec<u8>> {
    decompress(&read(path)?, &Limits::default())
        .with_context(|| format!("{} is not a valid package", path.display()))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
