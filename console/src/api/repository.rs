//! `/api/repository/uploads`: publishing a publisher's signed repository from another
//! machine. A client begins an upload, sends each metadata file and each target as the raw
//! request body, and then asks for it to be published (or abandons it); the publish runs the
//! checks the host-side `package publish` runs, and either all of it is published or none of
//! it. A refused file (a name that is not plain, too many bytes) closes its upload.
//!
//! Every call is authorised as `Action::PublishPackage` (the deployer role), and uploads are
//! private to the account that began them. A refusal (a bad name, a file too large, a
//! repository that fails a check) is on the audit trail with its reason.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{ApiError, AppState, Caller};
use crate::audit::{NewEntry, Outcome};
use crate::authz::{Action, Principal, authorize};
use crate::deploy::upload::{FileKind, FileName, UploadError, UploadId};

/// The audit trail's name for publishing.
const ACTION: &str = "package.publish";

pub(super) async fn begin(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let principal = authorised(&state, &caller).await?;
    let id = state
        .uploads
        .begin(principal.name.as_str())
        .map_err(answer)?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id.as_str() }))))
}

pub(super) async fn put_metadata(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, name)): Path<(String, String)>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    put(&state, &caller, FileKind::Metadata, &id, &name, body).await
}

pub(super) async fn put_target(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, name)): Path<(String, String)>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    put(&state, &caller, FileKind::Target, &id, &name, body).await
}

async fn put(
    state: &AppState,
    caller: &Caller,
    kind: FileKind,
    id: &str,
    name: &str,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    let principal = authorised(state, caller).await?;
    let result = async {
        let id = UploadId::parse(id)?;
        let name = FileName::parse(kind, name)?;
        state
            .uploads
            .put(&id, principal.name.as_str(), kind, &name, body)
            .await
    }
    .await;
    match result {
        Ok(bytes) => Ok(Json(json!({ "name": name, "bytes": bytes }))),
        Err(error) => {
            // A refused file ends its upload: nothing of an upload that broke a rule is
            // published, and its staging space is freed now rather than in a day.
            if matches!(error, UploadError::BadName(_) | UploadError::TooLarge(_))
                && let Ok(id) = UploadId::parse(id)
            {
                let _ = state.uploads.abandon(&id, principal.name.as_str());
            }
            let params = json!({ "upload": id, "file": name, "token": principal.token });
            Err(refuse(state, &principal, error, params).await)
        }
    }
}

pub(super) async fn abandon(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let principal = authorised(&state, &caller).await?;
    UploadId::parse(&id)
        .and_then(|id| state.uploads.abandon(&id, principal.name.as_str()))
        .map_err(answer)?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let principal = authorised(&state, &caller).await?;
    let result = async {
        let id = UploadId::parse(&id)?;
        state
            .uploads
            .publish(&id, principal.name.as_str(), &state.store)
            .await
    }
    .await;
    let published = match result {
        Ok(published) => published,
        Err(error) => {
            let params = json!({ "upload": id, "token": principal.token });
            return Err(refuse(&state, &principal, error, params).await);
        }
    };
    let names: Vec<&str> = published.targets.iter().map(|t| t.name.as_str()).collect();
    let entry = NewEntry::new(principal.actor(), ACTION).params(json!({
        "upload": id,
        "token": principal.token,
        "targets": names,
        "metadata_files": published.metadata,
    }));
    state.store.append_audit(entry).await?;
    let targets: Vec<Value> = published
        .targets
        .iter()
        .map(|t| {
            json!({
                "name": t.name, "sha256": t.sha256, "length": t.length,
                "package": t.package, "version": t.version,
            })
        })
        .collect();
    Ok(Json(json!({
        "targets": targets,
        "metadata_files": published.metadata,
        "already_stored": published.deduplicated,
    })))
}

/// The caller, once allowed to publish (a refusal is recorded by `authorize`).
async fn authorised(state: &AppState, caller: &Caller) -> Result<Principal, ApiError> {
    let principal = caller.principal();
    authorize(&state.store, &principal, Action::PublishPackage, None, None).await?;
    Ok(principal)
}

/// Records a refusal on the audit trail (failures are only logged) and answers it.
async fn refuse(
    state: &AppState,
    principal: &Principal,
    error: UploadError,
    params: Value,
) -> ApiError {
    let outcome = match &error {
        UploadError::BadName(_) | UploadError::TooLarge(_) | UploadError::Refused(_) => {
            Some(Outcome::Refused(error.to_string()))
        }
        UploadError::Unknown(_) | UploadError::Busy(_) | UploadError::Failed(_) => None,
    };
    if let Some(outcome) = outcome {
        let entry = NewEntry::new(principal.actor(), ACTION)
            .params(params)
            .outcome(outcome);
        if let Err(failure) = state.store.append_audit(entry).await {
            tracing::error!(error = format!("{failure:#}"), "cannot record a refusal");
        }
    }
    answer(error)
}

/// The API's answer to an upload error.
fn answer(error: UploadError) -> ApiError {
    match error {
        UploadError::BadName(reason) => ApiError::invalid(format!(
            "{reason}; the upload is closed, nothing of it published"
        )),
        UploadError::TooLarge(reason) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{reason}; the upload is closed, nothing of it published"),
        ),
        UploadError::Unknown(_) => ApiError::not_found(error.to_string()),
        UploadError::Busy(reason) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, reason),
        UploadError::Refused(reason) => {
            ApiError::invalid(format!("publish refused, nothing published: {reason:#}"))
        }
        UploadError::Failed(failure) => ApiError::from(failure),
    }
}
