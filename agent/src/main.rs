//! `hotline-agent`: enroll this device with a console, or run the agent.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use hotline_agent::audit::{self, Audit, Outcome};
use hotline_agent::consent::bar::{BarEvent, BarSession, SessionIndicator};
use hotline_agent::consent::x11::{X11Prompt, X11SessionBar};
use hotline_agent::consent::{ConsentPrompt, ConsentRequest, PromptTarget};
use hotline_agent::credentials::{CredentialPolicy, Credentials, LinuxAccounts};
use hotline_agent::enroll::enroll;
use hotline_agent::inventory::{self, InventorySource};
use hotline_agent::link::{self, LinkHooks, LinkOptions};
use hotline_agent::session::Sessions;
use hotline_agent::state::{AgentState, StateDir};
use hotline_protocol::enroll::EnrollmentString;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

mod output;
mod screen_cmd;

#[derive(Debug, Parser)]
#[command(
    name = "hotline-agent",
    version,
    about = "The Hotline agent for this workstation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Enroll this device with a console, using the string `hotline-console enroll-token` printed.
    Enroll {
        /// The agent's state directory.
        #[arg(long)]
        state: PathBuf,
        /// The enrollment string.
        enrollment: String,
    },
    /// Connect to the console and stay connected.
    Run {
        /// The agent's state directory.
        #[arg(long)]
        state: PathBuf,
        /// Read the signed-in users (whom consent prompts ask) from this utmp file instead
        /// of /var/run/utmp.
        #[arg(long, env = "HOTLINE_UTMP")]
        utmp: Option<PathBuf>,
        /// The X display (such as `:1`) unattended sessions capture and control, on a
        /// machine with several X servers; by default the first X11 display found.
        #[arg(long, env = "HOTLINE_UNATTENDED_DISPLAY", value_name = "DISPLAY", value_parser = x_display)]
        unattended_display: Option<String>,
        /// The directory package payload paths are relative to.
        #[arg(long, default_value = "/")]
        install_root: PathBuf,
        /// KEY=VALUE added to the otherwise empty environment of package steps (for example
        /// CUPS_SERVER); repeat for several.
        #[arg(long = "step-env", value_parser = parse_env)]
        step_env: Vec<(String, String)>,
    },
    /// Pin the publisher's root metadata (root.json, version 1 or later) that packages must
    /// chain to; refused once a root is pinned.
    TrustRoot {
        /// The agent's state directory.
        #[arg(long)]
        state: PathBuf,
        /// The publisher's signed root metadata.
        root: PathBuf,
    },
    /// Inspect the local audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Try the consent prompt on a display.
    Consent {
        #[command(subcommand)]
        command: ConsentCommand,
    },
    /// See what the agent's screen capture sees, or why it cannot.
    Screen {
        #[command(subcommand)]
        command: ScreenCommand,
    },
}

/// Who asks, on which ticket, on whose display: what the prompt and the bar both show.
#[derive(Debug, clap::Args)]
struct PromptArgs {
    /// The X display to show it on.
    #[arg(long, env = "DISPLAY")]
    display: String,
    /// The signed-in user whose display it is.
    #[arg(long, env = "USER")]
    user: String,
    /// The analyst's name as it is shown.
    #[arg(long)]
    analyst: String,
    /// The ticket number.
    #[arg(long)]
    ticket: u64,
    /// The ticket's title.
    #[arg(long)]
    title: String,
}

#[derive(Debug, Subcommand)]
enum ConsentCommand {
    /// Show a consent prompt and print the answer: allow, deny, timeout or cannot_show.
    Ask {
        #[command(flatten)]
        prompt: PromptArgs,
        /// What is asked, as the caller reads it.
        #[arg(long, default_value = "view your screen")]
        what: String,
        /// How long the prompt waits before it counts as a refusal.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Show the session bar and print what the caller presses, until End.
    Bar {
        #[command(flatten)]
        prompt: PromptArgs,
        /// Show a control session (with "View only") rather than a view session.
        #[arg(long)]
        control: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ScreenCommand {
    /// List the monitors of the display and their layout, one JSON object per line.
    Monitors {
        /// The X display (default: DISPLAY).
        #[arg(long)]
        display: Option<String>,
    },
    /// Capture the screen (or one monitor) into a PNG file.
    Capture {
        /// The X display (default: DISPLAY).
        #[arg(long)]
        display: Option<String>,
        /// Capture only this monitor (a name `screen monitors` lists).
        #[arg(long)]
        monitor: Option<String>,
        /// The PNG file to write; each frame replaces the previous one.
        #[arg(long)]
        out: PathBuf,
        /// How many frames to capture.
        #[arg(long, default_value_t = 1)]
        frames: usize,
        /// Milliseconds between frames.
        #[arg(long, default_value_t = 100)]
        interval_ms: u64,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the hash chain; exit non-zero naming the first entry that does not fit.
    Verify {
        /// The agent's state directory.
        #[arg(long)]
        state: PathBuf,
    },
    /// List the entries still in the log, oldest first.
    List {
        /// The agent's state directory.
        #[arg(long)]
        state: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("HOTLINE_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
        .and_then(|runtime| runtime.block_on(run(cli.command)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Enroll { state, enrollment } => {
            let enrollment: EnrollmentString = enrollment.parse()?;
            let hostname = inventory::platform().collect().hostname;
            let device = enroll(&StateDir::new(&state), &enrollment, &hostname).await?;
            let params =
                serde_json::json!({ "device": device.as_str(), "console": enrollment.address });
            open_audit(&state)?
                .append("agent.enrolled", &params, None, Outcome::Ok)
                .context("recording the enrollment in the audit log")?;
            Ok(())
        }
        Command::TrustRoot { state, root } => trust_root(&state, &root),
        Command::Run {
            state: dir,
            install_root,
            step_env,
            utmp,
            unattended_display,
        } => {
            let inventory = move || match &utmp {
                Some(utmp) => inventory::platform_with_utmp(utmp),
                None => inventory::platform(),
            };
            let state = StateDir::new(&dir).load()?;
            let audit = Arc::new(open_audit(&dir)?);
            // The handlers go in before the start is recorded: a SIGTERM that arrives after
            // `agent.started` is on disk must end in `agent.stopped`, not in the default
            // action that kills the process unrecorded.
            let signals = Signals::install()?;
            let version = serde_json::json!({ "version": env!("CARGO_PKG_VERSION") });
            audit
                .append("agent.started", &version, None, Outcome::Ok)
                .context("recording the start in the audit log")?;
            let (stop, stopped) = watch::channel(false);
            tokio::spawn(async move {
                signals.wait().await;
                stop.send(true).ok();
            });
            let options = LinkOptions::default();
            let deploy = hotline_agent::deploy::DeployOptions {
                state: dir.clone(),
                install_root,
                environment: step_env,
            };
            let hooks = LinkHooks {
                audit: Some(audit.clone()),
                credentials: Some(Arc::new(credentials(
                    &dir,
                    &state,
                    audit.clone(),
                    inventory(),
                )?)),
                sessions: Some(Arc::new(
                    sessions(&state, audit.clone(), inventory())
                        .with_unattended_display(unattended_display),
                )),
                deploy: Some(Arc::new(deploy)),
                ..LinkHooks::default()
            };
            link::run(&state, inventory().as_ref(), options, hooks, stopped).await?;
            audit
                .append("agent.stopped", &serde_json::json!({}), None, Outcome::Ok)
                .context("recording the stop in the audit log")?;
            Ok(())
        }
        Command::Audit { command } => match command {
            AuditCommand::Verify { state } => output::verify(&audit::inspect(&state)?),
            AuditCommand::List { state, json } => output::list(&audit::inspect(&state)?, json),
        },
        Command::Consent { command } => consent(command).await,
        Command::Screen { command } => {
            // Capture blocks on the X server's replies; keep it off the async workers.
            tokio::task::spawn_blocking(move || match command {
                ScreenCommand::Monitors { display } => screen_cmd::monitors(display.as_deref()),
                ScreenCommand::Capture {
                    display,
                    monitor,
                    out,
                    frames,
                    interval_ms,
                } => screen_cmd::capture(&screen_cmd::CaptureArgs {
                    display,
                    monitor,
                    out,
                    frames,
                    interval: std::time::Duration::from_millis(interval_ms),
                }),
            })
            .await
            .context("the capture thread panicked")?
        }
    }
}

/// Shows a prompt the way a session request would and prints its answer, or shows the bar
/// and prints what is pressed on it.
async fn consent(command: ConsentCommand) -> Result<()> {
    let (prompt, what, timeout) = match command {
        ConsentCommand::Ask {
            prompt,
            what,
            timeout,
        } => (prompt, what, timeout),
        ConsentCommand::Bar { prompt, control } => {
            let target = PromptTarget {
                user: prompt.user,
                display: prompt.display,
            };
            let session = BarSession {
                analyst: prompt.analyst,
                ticket_number: prompt.ticket,
                ticket_title: prompt.title,
                control,
            };
            return bar(&target, &session).await;
        }
    };
    let target = PromptTarget {
        user: prompt.user,
        display: prompt.display,
    };
    let request = ConsentRequest {
        analyst: prompt.analyst,
        ticket_number: prompt.ticket,
        ticket_title: prompt.title,
        what,
        timeout,
    };
    let answer = tokio::task::spawn_blocking(move || X11Prompt::default().ask(&target, &request))
        .await
        .context("running the consent prompt")?;
    output::consent_answer(&answer);
    Ok(())
}

/// The credential reset service of this device: Linux accounts, the device's policy.
fn credentials(
    dir: &Path,
    state: &AgentState,
    audit: Arc<Audit>,
    sessions: Box<dyn InventorySource>,
) -> Result<Credentials> {
    let policy = CredentialPolicy::load(dir)?;
    let prompt: Arc<dyn ConsentPrompt> = Arc::new(X11Prompt::default());
    Ok(Credentials::new(
        state.device.clone(),
        Box::new(LinuxAccounts::default()),
        policy,
        (prompt, audit),
        Box::new(move || sessions.collect().sessions),
    ))
}

/// Shows the bar until the caller presses End (View only drops the button and goes on).
async fn bar(target: &PromptTarget, session: &BarSession) -> Result<()> {
    let mut bar = X11SessionBar::default().show(target, session)?;
    while let Some(event) = bar.events.recv().await {
        output::bar_event(&event);
        match event {
            BarEvent::ViewOnly => bar.set_control(false),
            BarEvent::End | BarEvent::Lost(_) => break,
        }
    }
    tokio::task::spawn_blocking(move || bar.close())
        .await
        .context("closing the session bar")
}

/// The screen sessions of this device: the X11 prompt and session bar, capture and input.
fn sessions(
    state: &AgentState,
    audit: Arc<Audit>,
    inventory: Box<dyn InventorySource>,
) -> Sessions {
    Sessions::new(
        state.device.clone(),
        (
            Arc::new(X11Prompt::default()),
            Arc::new(X11SessionBar::default()),
        ),
        audit,
        inventory,
    )
}

/// An X display name: `[HOST]:NUMBER[.SCREEN]`.
fn x_display(text: &str) -> Result<String, String> {
    let number = text.rsplit_once(':').map(|(_, number)| number);
    let valid = number.is_some_and(|n| {
        let (display, screen) = n.split_once('.').unwrap_or((n, "0"));
        [display, screen]
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
    });
    if valid {
        Ok(text.to_owned())
    } else {
        Err(format!("{text:?} is not an X display such as :1"))
    }
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// Pins the publisher's root: checked to be well formed and signed by its own threshold,
/// written as the start of the trust state, and recorded in the audit log. A root already
/// pinned is moved on only by rotations the publisher signs, never by this command.
fn trust_root(state: &Path, root: &Path) -> Result<()> {
    use hotline_packages::trust::{MetadataLimits, TrustedSet, load_state, save_state};
    StateDir::new(state).load()?;
    if load_state(state, MetadataLimits::default())?.is_some() {
        anyhow::bail!("a publisher root is already pinned in {}", state.display());
    }
    let bytes = std::fs::read(root).with_context(|| format!("reading {}", root.display()))?;
    let set = TrustedSet::pin(&bytes, MetadataLimits::default())
        .context("the root is not valid or not signed by its own threshold")?;
    save_state(state, &set)?;
    let params = serde_json::json!({ "root_version": set.root().version });
    open_audit(state)?
        .append("deploy.root-pinned", &params, None, Outcome::Ok)
        .context("recording the pinned root in the audit log")?;
    Ok(())
}

/// Opens the audit log, saying which command repairs a damaged one.
// FIXME: a damaged log stops the agent from running at all, so the console never hears of
// it; running without privileged actions and reporting the damage needs a message for it.
fn open_audit(state: &Path) -> Result<Audit> {
    Audit::open(state).with_context(|| {
        format!(
            "opening the audit log (`hotline-agent audit verify --state {}` shows where it is damaged)",
            state.display()
        )
    })
}

/// SIGTERM and SIGINT, caught from the moment `install` returns.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn install() -> Result<Signals> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            interrupt: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unattended_displays_are_x_display_names() {
        for good in [":1", ":0.0", "localhost:10", ":12.1"] {
            assert_eq!(x_display(good).as_deref(), Ok(good));
        }
        for bad in ["", "1", ":", ":x", ":1.", "wayland-0"] {
            assert!(x_display(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
