//! The device rules of `authorize` against a real SQLite database: privileged actions on a
//! device need an open ticket that names it and that the analyst may work on.

use super::*;
use crate::accounts::Role;
use crate::audit::Actor;
use crate::store::{DeviceRecord, NewTicket, TicketChange};
use crate::tickets::{Caller, Status};

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    device: DeviceId,
    other: DeviceId,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("db"), true)
        .await
        .expect("store");
    let mut ids = Vec::new();
    for (n, random) in [1_u64, 2].into_iter().enumerate() {
        let device = DeviceId::from_random(random);
        let token = format!("token-{n}");
        store
            .create_token(&token, 0, i64::MAX, 1)
            .await
            .expect("token");
        let record = DeviceRecord {
            id: device.to_string(),
            cert_sha256: format!("{n}"),
            hostname: "pc".into(),
            enrolled_at: 0,
            revoked_at: None,
            online: false,
            last_seen: None,
            last_address: None,
            agent_version: None,
            inventory: None,
        };
        store
            .enroll_device(&token, 1, &record)
            .await
            .expect("enrolled");
        ids.push(device);
    }
    for name in ["alice", "bob"] {
        let roles = [Role::Analyst].into_iter().collect();
        let name = name.parse().expect("name");
        store
            .create_account(&name, "A", &roles, "x", 0)
            .await
            .expect("account");
    }
    let other = ids.pop().expect("two");
    let device = ids.pop().expect("two");
    Fixture {
        _dir: dir,
        store,
        device,
        other,
    }
}

fn analyst(name: &str) -> Principal {
    Principal {
        name: name.parse().expect("name"),
        roles: [Role::Analyst].into_iter().collect(),
        token: None,
    }
}

async fn open_ticket(f: &Fixture, assignee: Option<&str>) -> TicketNumber {
    let new = NewTicket {
        title: "printer".into(),
        caller: Caller {
            name: "C".into(),
            contact: "1".into(),
        },
        devices: vec![f.device.clone()],
        priority: 3,
        assignee: assignee.map(|a| a.parse().expect("name")),
        external_ref: None,
    };
    f.store
        .create_ticket(new, Actor::System)
        .await
        .expect("ticket")
        .number
}

async fn reason(
    f: &Fixture,
    who: &Principal,
    action: Action,
    device: &DeviceId,
    ticket: Option<TicketNumber>,
) -> Option<String> {
    authorize(&f.store, who, action, Some(device), ticket)
        .await
        .err()
        .map(|r| r.reason)
}

#[tokio::test]
async fn control_needs_an_open_ticket_naming_the_device_and_worked_by_the_analyst() {
    let f = fixture().await;
    let unassigned = open_ticket(&f, None).await;
    let bobs = open_ticket(&f, Some("bob")).await;
    let alice = analyst("alice");

    assert_eq!(
        reason(
            &f,
            &alice,
            Action::RemoteControl,
            &f.device,
            Some(unassigned)
        )
        .await,
        None
    );
    assert_eq!(
        reason(&f, &alice, Action::RemoteControl, &f.device, None)
            .await
            .as_deref(),
        Some("session.control needs an open ticket")
    );
    assert_eq!(
        reason(
            &f,
            &alice,
            Action::ResetCredential,
            &f.other,
            Some(unassigned)
        )
        .await,
        Some(format!(
            "ticket {unassigned} does not name device {}",
            f.other
        ))
    );
    assert_eq!(
        reason(&f, &alice, Action::RemoteView, &f.device, Some(bobs)).await,
        Some(format!("ticket {bobs} is assigned to bob"))
    );
    assert_eq!(
        reason(
            &f,
            &analyst("bob"),
            Action::RemoteView,
            &f.device,
            Some(bobs)
        )
        .await,
        None
    );

    let close = TicketChange {
        status: Some(Status::Closed),
        ..TicketChange::default()
    };
    f.store
        .update_ticket(unassigned, close, Actor::System, "ticket.close")
        .await
        .expect("closed");
    assert_eq!(
        reason(
            &f,
            &alice,
            Action::RemoteControl,
            &f.device,
            Some(unassigned)
        )
        .await,
        Some(format!("ticket {unassigned} is closed, not open"))
    );
}

#[tokio::test]
async fn roles_do_not_imply_each_other_and_refusals_are_recorded() {
    let f = fixture().await;
    let ticket = open_ticket(&f, None).await;
    let admin = Principal {
        name: "root".parse().expect("name"),
        roles: [Role::Admin].into_iter().collect(),
        token: None,
    };
    assert_eq!(
        reason(&f, &admin, Action::RemoteControl, &f.device, Some(ticket))
            .await
            .as_deref(),
        Some("session.control needs the analyst role")
    );
    assert!(
        authorize(&f.store, &admin, Action::ManageAccounts, None, None)
            .await
            .is_ok()
    );
    assert!(
        authorize(
            &f.store,
            &analyst("alice"),
            Action::ManageAccounts,
            None,
            None
        )
        .await
        .is_err()
    );

    let entries = f
        .store
        .audit_entries(None, None, 100)
        .await
        .expect("entries");
    let refusals: Vec<_> = entries
        .iter()
        .filter(|e| e.outcome.name() == "refused")
        .collect();
    assert_eq!(refusals.len(), 2);
    assert_eq!(refusals[0].actor, "analyst:root");
    assert_eq!(refusals[0].action, "session.control");
    assert_eq!(refusals[0].ticket, Some(ticket.0));
    assert_eq!(refusals[0].device.as_deref(), Some(f.device.as_str()));
    assert_eq!(
        refusals[1].outcome.reason(),
        Some("accounts.manage needs the admin role")
    );
    assert!(f.store.verify_audit().await.expect("walks").is_ok());
}

/// A refusal that names a ticket not yet opened is not filed on that number, so nobody can
/// write at the head of a future ticket's record; the number is kept in its parameters.
#[tokio::test]
async fn a_refusal_naming_a_ticket_that_does_not_exist_stays_off_it() {
    let f = fixture().await;
    let refused = authorize(
        &f.store,
        &analyst("alice"),
        Action::RemoteControl,
        Some(&f.device),
        Some(TicketNumber(7)),
    )
    .await;
    assert!(refused.is_err());

    let entries = f
        .store
        .audit_entries(None, None, 100)
        .await
        .expect("entries");
    let refusal = entries
        .iter()
        .find(|e| e.outcome.name() == "refused")
        .expect("the refusal is recorded");
    assert_eq!(refusal.ticket, None);
    assert_eq!(refusal.params()["ticket_named"], 7);
}
