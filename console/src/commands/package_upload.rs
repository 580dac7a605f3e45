//! `package publish --console URL`: uploads a publisher's repository to a console over its
//! HTTPS API (`/api/repository/uploads`) and asks it to publish; the console checks it all
//! as the host-side publish does, and publishes all of it or none of it.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hotline_packages::PackagePath;
use hotline_packages::publish::Repository;
use hotline_packages::trust::{MetadataLimits, RoleName, Targets, decode_role, parse_envelope};
use hyper::body::Bytes;
use serde_json::Value;

use super::api_client::ApiClient;
use crate::output;

/// How long a JSON call may take; publishing reads every file it was sent.
const CALL_TIMEOUT: Duration = Duration::from_secs(600);
/// How long one file's upload may take.
const FILE_TIMEOUT: Duration = Duration::from_secs(3600);
/// Most root versions sent.
const MAX_ROOTS: u64 = 64;

/// Uploads `source` and publishes it; prints what the console published.
pub async fn publish(client: &ApiClient, source: &Path) -> Result<()> {
    let repository = Repository::at(source);
    let metadata = metadata_names(&repository, source)?;
    let targets = target_names(&repository)?;

    let begun = client
        .call("POST", "/api/repository/uploads", None, CALL_TIMEOUT)
        .await
        .context("beginning the upload")?;
    let id = begun["id"]
        .as_str()
        .context("the console named no upload id")?
        .to_owned();
    if let Err(error) = send_all(client, &id, &repository, &metadata, &targets).await {
        // The console would remove the staged files in a day; saying so now frees the space.
        let path = format!("/api/repository/uploads/{id}");
        if let Err(also) = client.call("DELETE", &path, None, CALL_TIMEOUT).await {
            tracing::debug!(error = format!("{also:#}"), "abandoning the upload failed");
        }
        return Err(error);
    }

    let answer = client
        .call(
            "POST",
            &format!("/api/repository/uploads/{id}/publish"),
            None,
            CALL_TIMEOUT,
        )
        .await
        .context("publishing the upload")?;
    print_published(&answer);
    Ok(())
}

/// Sends every metadata file, then every target.
async fn send_all(
    client: &ApiClient,
    id: &str,
    repository: &Repository,
    metadata: &[String],
    targets: &[PackagePath],
) -> Result<()> {
    for name in metadata {
        let bytes = std::fs::read(repository.metadata_path(name))
            .with_context(|| format!("reading {name}"))?;
        send(client, id, "metadata", name, bytes).await?;
    }
    for name in targets {
        let path = repository.target_path(name);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        send(client, id, "targets", name.as_str(), bytes).await?;
    }
    Ok(())
}

async fn send(client: &ApiClient, id: &str, kind: &str, name: &str, bytes: Vec<u8>) -> Result<()> {
    client
        .send(
            "PUT",
            &format!("/api/repository/uploads/{id}/{kind}/{name}"),
            "application/octet-stream",
            Bytes::from(bytes),
            FILE_TIMEOUT,
        )
        .await
        .with_context(|| format!("uploading {name}"))?;
    Ok(())
}

/// Every root version, then the online roles, as the console reads them.
fn metadata_names(repository: &Repository, source: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = (1..=MAX_ROOTS)
        .map(|version| format!("{version}.root.json"))
        .take_while(|name| repository.metadata_path(name).is_file())
        .collect();
    if names.is_empty() {
        bail!(
            "{} holds no metadata/1.root.json: not a publisher repository",
            source.display()
        );
    }
    for role in [RoleName::Timestamp, RoleName::Snapshot, RoleName::Targets] {
        names.push(role.file_name().to_owned());
    }
    Ok(names)
}

/// The targets the targets metadata names. This only reads the list; the console checks
/// the signatures.
fn target_names(repository: &Repository) -> Result<Vec<PackagePath>> {
    let limits = MetadataLimits::default();
    let bytes = repository
        .fetch(RoleName::Targets.file_name())
        .context("the repository holds no metadata/targets.json")?;
    let envelope = parse_envelope(RoleName::Targets, &bytes, limits.targets)
        .context("targets.json is not signed metadata")?;
    let targets: Targets = decode_role(&envelope).context("targets.json does not parse")?;
    let names: Vec<PackagePath> = targets.targets.keys().cloned().collect();
    if let Some(nested) = names.iter().find(|name| name.as_str().contains('/')) {
        bail!("target {nested} is in a subdirectory; uploads take plain file names only");
    }
    Ok(names)
}

fn print_published(answer: &Value) {
    let targets = answer["targets"].as_array().cloned().unwrap_or_default();
    output::line(&format!(
        "published {} target(s) ({} already stored) and {} metadata file(s)",
        targets.len(),
        answer["already_stored"],
        answer["metadata_files"]
    ));
    for target in targets {
        output::line(&format!(
            "{:<40} {:>12} {}",
            target["name"].as_str().unwrap_or_default(),
            target["length"],
            target["sha256"].as_str().unwrap_or_default()
        ));
    }
}
