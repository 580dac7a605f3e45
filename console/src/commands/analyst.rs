//! `hotline-console analyst add|list|disable`, and the account changes the API shares with
//! it: creating an account with a one-time password, changing roles or disabling, each
//! recorded in the audit trail.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::accounts::{
    AccountName, MAX_DISPLAY_NAME_LEN, Role, Roles, hash_password, one_line, one_time_password,
};
use crate::audit::{Actor, NewEntry};
use crate::datadir::DataDir;
use crate::output;
use crate::rejected::{Rejected, conflict, invalid};
use crate::store::{Account, Store, unix_now};

#[derive(Debug, Args)]
pub struct AnalystArgs {
    #[command(subcommand)]
    pub action: AnalystAction,
}

#[derive(Debug, Subcommand)]
pub enum AnalystAction {
    /// Create an account; prints a one-time password that must be changed at first login.
    Add {
        /// Login name: a-z, 0-9, '.', '_' and '-'.
        username: String,
        /// The name shown in the console and on tickets.
        #[arg(long)]
        name: String,
        /// A role: viewer, analyst, deployer or admin. Repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// List accounts.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: its sessions end and its API tokens stop working at once.
    Disable { username: String },
}

/// The operator running the CLI, for the audit trail. The CLI needs write access to the
/// data directory, so whoever runs it is the console's operator; the name comes from the
/// environment and is a label, not a proof.
pub fn cli_actor() -> Actor {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default();
    let user: String = user
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(64)
        .collect();
    if user.is_empty() {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(u32::MAX);
        return Actor::Cli(format!("uid{uid}"));
    }
    Actor::Cli(user)
}

/// Creates an account with a fresh one-time password and returns the password.
pub async fn create(
    store: &Store,
    name: &AccountName,
    display_name: &str,
    roles: &Roles,
    actor: Actor,
) -> Result<String> {
    if roles.is_empty() {
        return invalid("an account needs at least one role");
    }
    if store.account(name.as_str()).await?.is_some() {
        return conflict(format!("an account named {name} already exists"));
    }
    let password = one_time_password();
    let secret = password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&secret))
        .await
        .context("password hashing task")??;
    store
        .create_account(name, display_name, roles, &hash, unix_now())
        .await?;
    let entry = NewEntry::new(actor, "account.create").params(json!({
        "username": name,
        "display_name": display_name,
        "roles": roles,
    }));
    store.append_audit(entry).await?;
    Ok(password)
}

/// Changes an account's roles or disabled flag. Refuses a change that would leave no
/// enabled admin, since nobody could then manage accounts from the console.
pub async fn change(
    store: &Store,
    account: &Account,
    roles: Option<Roles>,
    disabled: Option<bool>,
    actor: Actor,
) -> Result<()> {
    if roles.as_ref().is_some_and(Roles::is_empty) {
        return invalid("an account needs at least one role");
    }
    let stays_admin = !disabled.unwrap_or(account.disabled)
        && roles
            .as_ref()
            .unwrap_or(&account.roles)
            .contains(&Role::Admin);
    if !stays_admin {
        let others = store
            .accounts()
            .await?
            .into_iter()
            .filter(|a| a.id != account.id && !a.disabled && a.roles.contains(&Role::Admin))
            .count();
        if others == 0 && account.roles.contains(&Role::Admin) && !account.disabled {
            return conflict(format!("{} is the last enabled admin", account.name));
        }
    }
    if let Some(roles) = &roles {
        store.set_account_roles(account.id, roles).await?;
    }
    if let Some(disabled) = disabled {
        store.set_account_disabled(account.id, disabled).await?;
    }
    let entry = NewEntry::new(actor, "account.update").params(json!({
        "username": account.name,
        "roles": roles,
        "disabled": disabled,
    }));
    store.append_audit(entry).await?;
    Ok(())
}

pub async fn run(dir: &DataDir, args: &AnalystArgs) -> Result<()> {
    dir.require_initialised()?;
    let store = Store::open(&dir.database(), false).await?;
    let result = match &args.action {
        AnalystAction::Add {
            username,
            name,
            roles,
        } => add(&store, username, name, roles).await,
        AnalystAction::List { json } => list(&store, *json).await,
        AnalystAction::Disable { username } => disable(&store, username).await,
    };
    store.close().await;
    result
}

async fn add(store: &Store, username: &str, display: &str, roles: &[String]) -> Result<()> {
    let name: AccountName = username.parse().map_err(Rejected::Invalid)?;
    let display =
        one_line("display name", display, MAX_DISPLAY_NAME_LEN).map_err(Rejected::Invalid)?;
    let roles = roles
        .iter()
        .map(|r| r.parse::<Role>())
        .collect::<Result<Roles, _>>()
        .map_err(Rejected::Invalid)?;
    let password = create(store, &name, &display, &roles, cli_actor()).await?;
    output::line(&format!("created {name} ({})", join(&roles)));
    output::line(&format!("one-time password: {password}"));
    output::line("it must be changed at first login");
    Ok(())
}

fn join(roles: &Roles) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn list(store: &Store, as_json: bool) -> Result<()> {
    let accounts = store.accounts().await?;
    if as_json {
        let rows: Vec<_> = accounts
            .iter()
            .map(|a| {
                json!({
                    "username": a.name,
                    "display_name": a.display_name,
                    "roles": a.roles,
                    "disabled": a.disabled,
                    "must_change_password": a.must_change_password,
                })
            })
            .collect();
        output::line(&serde_json::to_string_pretty(&rows).context("formatting accounts")?);
        return Ok(());
    }
    output::line(&format!(
        "{:<20}  {:<28}  {:<30}  STATE",
        "USER", "NAME", "ROLES"
    ));
    for a in &accounts {
        let state = match (a.disabled, a.must_change_password) {
            (true, _) => "disabled",
            (false, true) => "password change pending",
            (false, false) => "active",
        };
        output::line(&format!(
            "{:<20}  {:<28}  {:<30}  {state}",
            a.name,
            super::devices::clip(&a.display_name, 28),
            join(&a.roles)
        ));
    }
    Ok(())
}

async fn disable(store: &Store, username: &str) -> Result<()> {
    let Some(account) = store.account(username).await? else {
        return Err(Rejected::NotFound(format!("no account {username}")).into());
    };
    if account.disabled {
        output::line(&format!("{username} was already disabled"));
        return Ok(());
    }
    change(store, &account, None, Some(true), cli_actor()).await?;
    output::line(&format!("disabled {username}"));
    Ok(())
}
