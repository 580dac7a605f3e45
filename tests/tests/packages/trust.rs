//! The Update Framework's attacks against a device's trusted metadata, one test each. Every
//! refusal must name the role and the reason, and the device must keep what it trusted.

use std::collections::BTreeMap;

use hotline_packages::publish::{Lifetimes, new_root};
use hotline_packages::trust::{
    Envelope, MetadataLimits, RoleName, SignatureEntry, SigningKey, Targets, TrustedSet,
    canonical_json, decode_role, envelope_bytes, sign,
};
use hotline_packages::{Limits, Sha256Digest};

use super::common::{
    DAY, Publisher, chain, envelope, hpkg, manifest, path, republish_around_targets, t0,
};

fn package_bytes(version: &str) -> Vec<u8> {
    hpkg(
        manifest("app", version, "opt/app/bin", vec![], vec![]),
        &[("opt/app/bin", version.as_bytes())],
    )
}

#[test]
fn older_targets_version_is_refused_as_rollback() {
    let publisher = Publisher::new();
    publisher.publish(&[("app-1.hpkg", package_bytes("1.0.0"))], t0());
    let old_targets = publisher.file("targets.json");
    let old_timestamp = publisher.file("timestamp.json");
    publisher.publish(&[("app-2.hpkg", package_bytes("2.0.0"))], t0());
    let mut device = publisher.client();
    device
        .refresh(t0(), |name| publisher.repo.fetch(name))
        .expect("first refresh");

    // A replayed, validly signed old timestamp.
    let error = device
        .update_timestamp(&old_timestamp, t0())
        .expect_err("old timestamp");
    assert!(error.to_string().contains("rollback"), "{error}");

    // Stolen online keys re-sign fresh snapshot and timestamp around the old targets.
    republish_around_targets(&publisher, &old_targets, 3, t0());
    let error = device
        .refresh(t0(), |name| publisher.repo.fetch(name))
        .expect_err("old targets");
    assert_eq!(
        error.to_string(),
        "targets version 1 is older than version 2 already trusted (rollback)"
    );
    assert_eq!(device.versions().targets, 2, "trusted version kept");
}

#[test]
fn expired_timestamp_is_refused_as_freeze() {
    let publisher = Publisher::new();
    publisher.publish(&[("app-1.hpkg", package_bytes("1.0.0"))], t0());
    let mut device = publisher.client();
    let error = device
        .refresh(t0() + 2 * DAY, |name| publisher.repo.fetch(name))
        .expect_err("expired");
    assert!(
        error
            .to_string()
            .starts_with("timestamp metadata expired at 2030-03-18T"),
        "{error}"
    );
    assert!(error.to_string().ends_with("(freeze)"), "{error}");
}

#[test]
fn installing_from_metadata_that_expired_since_is_refused() {
    let publisher = Publisher::new();
    publisher.publish(&[("app-1.hpkg", package_bytes("1.0.0"))], t0());
    let mut device = publisher.client();
    device
        .refresh(t0(), |name| publisher.repo.fetch(name))
        .expect("fresh");
    let bytes = publisher
        .repo
        .read_target(&path("app-1.hpkg"))
        .expect("target");
    let error = device
        .verify_target(&path("app-1.hpkg"), bytes, t0() + 2 * DAY)
        .expect_err("frozen");
    assert!(error.to_string().contains("(freeze)"), "{error}");
}

#[test]
fn snapshot_and_targets_never_published_together_are_refused() {
    let publisher = Publisher::new();
    publisher.publish(&[("app-1.hpkg", package_bytes("1.0.0"))], t0());
    let targets_v1 = publisher.file("targets.json");
    publisher.publish(&[("app-2.hpkg", package_bytes("2.0.0"))], t0());
    // Timestamp and snapshot of version 2, targets of version 1.
    publisher.put("targets.json", &targets_v1);
    let mut device = publisher.client();
    let error = device
        .refresh(t0(), |name| publisher.repo.fetch(name))
        .expect_err("mixed");
    let text = error.to_string();
    assert!(
        text.starts_with("targets ") && text.ends_with("(mix-and-match)"),
        "{text}"
    );
    assert!(device.targets().is_none());
}

#[test]
fn target_longer_than_signed_is_refused_as_endless_data() {
    let publisher = Publisher::new();
    publisher.publish(&[("app-1.hpkg", package_bytes("1.0.0"))], t0());
    let mut device = publisher.client();
    device
        .refresh(t0(), |name| publisher.repo.fetch(name))
        .expect("fresh");
    let mut bytes = publisher
        .repo
        .read_target(&path("app-1.hpkg"))
        .expect("target");
    let signed = bytes.len();
    bytes.extend(std::iter::repeat_n(0u8, 1 << 20));
    let error = device
        .verify_target(&path("app-1.hpkg"), bytes, t0())
        .expect_err("too long");
    assert_eq!(
        error.to_string(),
        format!("target app-1.hpkg is longer than its signed length {signed} bytes (endless data)")
    );
}

#[test]
fn unsigned_targets_are_refused() {
    let publisher = Publisher::new();
    let mut targets = envelope(&targets_for(&publisher));
    targets.signatures.clear();
    republish_around_targets(&publisher, &envelope_bytes(&targets), 1, t0());
    let error = publisher
        .client()
        .refresh(t0(), |name| publisher.repo.fetch(name))
        .expect_err("unsigned");
    assert!(
        error
            .to_string()
            .starts_with("targets metadata has 0 valid signature(s)"),
        "{error}"
    );
}

#[test]
fn badly_signed_targets_are_refused() {
    let publisher = Publisher::new();
    let mut targets = envelope(&targets_for(&publisher));
    let signature = &mut targets.signatures[0].sig;
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    signature.replace_range(0..1, flipped);
    republish_around_targets(&publisher, &envelope_bytes(&targets), 1, t0());
    let error = publisher
        .client()
        .refresh(t0(), |name| publisher.repo.fetch(name))
        .expect_err("bad signature");
    assert!(
        error
            .to_string()
            .starts_with("targets metadata has 0 valid signature(s)"),
        "{error}"
    );
}

#[test]
fn targets_signed_by_a_revoked_key_are_refused() {
    let publisher = Publisher::new();
    // Root version 2 replaces the targets key; the old one is revoked.
    let new_targets_key = SigningKey::from_seed(&[22; 32]);
    let root_v2 = rotated_root(&publisher, &new_targets_key, 1, &[&publisher.root_key]);
    publisher.repo.write_root(&root_v2).expect("root v2");
    publisher.publish(&[("app-1.hpkg", package_bytes("1.0.0"))], t0()); // still signed by the old key
    let error = publisher
        .client()
        .refresh(t0(), |name| publisher.repo.fetch(name))
        .expect_err("revoked");
    assert_eq!(
        error.to_string(),
        "targets metadata has 0 valid signature(s) from distinct trusted keys, 1 required \
         (1 signature(s) by keys the role does not trust)"
    );
}

#[test]
fn one_key_listed_twice_counts_once_toward_the_threshold() {
    let publisher = Publisher::new();
    let second = SigningKey::from_seed(&[23; 32]);
    // Targets needs two of {old targets key, second}.
    let root_v2 = {
        let roles = BTreeMap::from([
            (RoleName::Root, (vec![publisher.root_key.public()], 1)),
            (
                RoleName::Targets,
                (vec![publisher.targets_key.public(), second.public()], 2),
            ),
            (
                RoleName::Snapshot,
                (vec![publisher.snapshot_key.public()], 1),
            ),
            (
                RoleName::Timestamp,
                (vec![publisher.timestamp_key.public()], 1),
            ),
        ]);
        sign(
            &new_root(2, t0() + 365 * DAY, &roles),
            &[&publisher.root_key],
        )
        .expect("signs")
    };
    publisher.repo.write_root(&root_v2).expect("root v2");
    let mut targets = envelope(&targets_for(&publisher));
    let duplicate: SignatureEntry = targets.signatures[0].clone();
    targets.signatures.push(duplicate);
    republish_around_targets(&publisher, &envelope_bytes(&targets), 1, t0());
    let error = publisher
        .client()
        .refresh(t0(), |name| publisher.repo.fetch(name))
        .expect_err("one key twice");
    assert!(
        error.to_string().starts_with(
            "targets metadata has 1 valid signature(s) from distinct trusted keys, 2 required"
        ),
        "{error}"
    );
}

#[test]
fn root_rotation_signed_by_the_old_keys_only_is_refused() {
    let publisher = Publisher::new();
    let new_root_key = SigningKey::from_seed(&[31; 32]);
    let roles = BTreeMap::from([
        (RoleName::Root, (vec![new_root_key.public()], 1)),
        (RoleName::Targets, (vec![publisher.targets_key.public()], 1)),
        (
            RoleName::Snapshot,
            (vec![publisher.snapshot_key.public()], 1),
        ),
        (
            RoleName::Timestamp,
            (vec![publisher.timestamp_key.public()], 1),
        ),
    ]);
    let root = new_root(2, t0() + 365 * DAY, &roles);
    let mut device = publisher.client();

    let old_only = envelope_bytes(&sign(&root, &[&publisher.root_key]).expect("signs"));
    let error = device.update_root(&old_only).expect_err("new keys missing");
    assert!(
        error
            .to_string()
            .starts_with("root metadata has 0 valid signature(s)"),
        "{error}"
    );
    let new_only = envelope_bytes(&sign(&root, &[&new_root_key]).expect("signs"));
    assert!(device.update_root(&new_only).is_err(), "old keys missing");
    assert_eq!(device.root().version, 1);

    let both = envelope_bytes(&sign(&root, &[&publisher.root_key, &new_root_key]).expect("signs"));
    device.update_root(&both).expect("both thresholds");
    assert_eq!(device.root().version, 2);
    let error = device.update_root(&both).expect_err("same version again");
    assert_eq!(
        error.to_string(),
        "new root has version 2, expected exactly 3"
    );
}

#[test]
fn root_listing_a_weak_ed25519_key_is_refused() {
    let publisher = Publisher::new();
    // The identity point: under lax verification it "signs" anything with R = identity, s = 0.
    let mut weak = [0u8; 32];
    weak[0] = 1;
    let key_json = serde_json::json!({"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": hex(&weak)}});
    let key_id = Sha256Digest::of(&canonical_json(&key_json).expect("canonical")).to_hex();
    let mut root = envelope(&publisher.root_v1).signed;
    root["version"] = serde_json::json!(2);
    root["keys"][&key_id] = key_json;
    root["roles"]["targets"]["keyids"] = serde_json::json!([key_id]);
    let mut signed = Envelope {
        signed: root,
        signatures: vec![],
    };
    hotline_packages::trust::add_signature(&mut signed, &publisher.root_key).expect("signs");
    let error = publisher
        .client()
        .update_root(&envelope_bytes(&signed))
        .expect_err("weak key");
    assert!(
        chain(&error).contains("weak (small-order) ed25519 key"),
        "{}",
        chain(&error)
    );
}

#[test]
fn compromised_console_cannot_sign_its_own_targets() {
    let publisher = Publisher::new();
    publisher.publish(&[("app-1.hpkg", package_bytes("1.0.0"))], t0());
    // The console holds no publisher key: it signs with its own.
    let console_key = SigningKey::from_seed(&[66; 32]);
    let mut targets: Targets =
        decode_role(&envelope(&publisher.file("targets.json"))).expect("decodes");
    let evil = package_bytes("6.6.6");
    let description =
        hotline_packages::publish::describe_target(&path("evil.hpkg"), &evil, &Limits::default())
            .expect("describes");
    targets.targets.insert(path("evil.hpkg"), description);
    targets.version = 2;
    republish_around_targets(
        &publisher,
        &envelope_bytes(&sign(&targets, &[&console_key]).expect("signs")),
        2,
        t0(),
    );
    let error = publisher
        .client()
        .refresh(t0(), |name| publisher.repo.fetch(name))
        .expect_err("console key");
    assert!(
        error
            .to_string()
            .starts_with("targets metadata has 0 valid signature(s)"),
        "{error}"
    );
}

#[test]
fn persisted_versions_survive_a_restart_and_never_go_down() {
    let publisher = Publisher::new();
    publisher.publish(&[("app-1.hpkg", package_bytes("1.0.0"))], t0());
    let old_timestamp = publisher.file("timestamp.json");
    publisher.publish(&[("app-2.hpkg", package_bytes("2.0.0"))], t0());
    let mut device = publisher.client();
    device
        .refresh(t0(), |name| publisher.repo.fetch(name))
        .expect("fresh");
    let state_dir = tempfile::tempdir().expect("temp dir");
    hotline_packages::trust::save_state(state_dir.path(), &device).expect("saved");

    let mut restarted =
        hotline_packages::trust::load_state(state_dir.path(), MetadataLimits::default())
            .expect("loads")
            .expect("present");
    assert_eq!(restarted.versions(), device.versions());
    let error = restarted
        .update_timestamp(&old_timestamp, t0())
        .expect_err("rollback after restart");
    assert!(error.to_string().contains("rollback"), "{error}");
}

#[test]
fn oversized_metadata_is_refused_before_parsing() {
    let publisher = Publisher::new();
    let limits = MetadataLimits {
        timestamp: 64,
        ..MetadataLimits::default()
    };
    publisher.publish(&[("app-1.hpkg", package_bytes("1.0.0"))], t0());
    let mut device = TrustedSet::pin(&publisher.root_v1, limits).expect("pins");
    let error = device
        .refresh(t0(), |name| publisher.repo.fetch(name))
        .expect_err("too large");
    assert!(
        error
            .to_string()
            .starts_with("timestamp metadata too large: "),
        "{error}"
    );
    assert!(error.to_string().ends_with(" > 64 bytes"), "{error}");
}

/// Signed targets metadata listing one package, as the publisher would make it.
fn targets_for(publisher: &Publisher) -> Vec<u8> {
    publisher.publish_with(
        &[("app-1.hpkg", package_bytes("1.0.0"))],
        t0(),
        Lifetimes::default(),
    );
    publisher.file("targets.json")
}

fn rotated_root(
    publisher: &Publisher,
    targets_key: &SigningKey,
    version: u64,
    signers: &[&SigningKey],
) -> Envelope {
    let roles = BTreeMap::from([
        (RoleName::Root, (vec![publisher.root_key.public()], 1)),
        (RoleName::Targets, (vec![targets_key.public()], 1)),
        (
            RoleName::Snapshot,
            (vec![publisher.snapshot_key.public()], 1),
        ),
        (
            RoleName::Timestamp,
            (vec![publisher.timestamp_key.public()], 1),
        ),
    ]);
    sign(&new_root(version + 1, t0() + 365 * DAY, &roles), signers).expect("signs")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
