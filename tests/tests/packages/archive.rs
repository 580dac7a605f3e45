//! Hostile archives, signed by a (compromised) publisher so they pass the trust checks: each
//! must be refused as a whole, with the entry named, before anything is written.

use hotline_packages::manifest::{FileEntry, Manifest};
use hotline_packages::{Limits, Package, Sha256Digest};
use tar::{EntryType, Header};

use super::common::{Device, Publisher, chain, manifest, path, t0};

/// One raw tar entry, written without the tar crate's own path checks.
struct Raw<'a> {
    name: &'a str,
    kind: EntryType,
    mode: u32,
    content: &'a [u8],
    link: Option<&'a str>,
}

fn file<'a>(name: &'a str, content: &'a [u8]) -> Raw<'a> {
    Raw {
        name,
        kind: EntryType::Regular,
        mode: 0o644,
        content,
        link: None,
    }
}

fn manifest_listing(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut manifest: Manifest = manifest("evil", "1.0.0", "ok.txt", vec![], vec![]);
    manifest.files = files
        .iter()
        .map(|(name, content, mode)| FileEntry {
            path: path(name),
            size: content.len() as u64,
            sha256: Sha256Digest::of(content),
            mode: *mode,
        })
        .collect();
    // Deliberately not validated: some tests need a manifest the builder would refuse.
    serde_json::to_vec(&manifest).expect("serialises")
}

fn tar_of(manifest_json: &[u8], entries: &[Raw<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut all = vec![file("manifest.json", manifest_json)];
    all.extend(entries.iter().map(|raw| Raw { ..*raw }));
    for raw in &all {
        let mut header = Header::new_gnu();
        let name = raw.name.as_bytes();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        if let Some(link) = raw.link {
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(raw.kind);
        header.set_size(raw.content.len() as u64);
        header.set_mode(raw.mode);
        header.set_cksum();
        builder.append(&header, raw.content).expect("appends");
    }
    builder.into_inner().expect("finishes")
}

/// Publishes `tar` (compressed) as a signed target and returns the refusal.
fn refusal(tar: &[u8]) -> String {
    let publisher = Publisher::new();
    let device = Device::new();
    let bytes = zstd::bulk::compress(tar, 3).expect("compresses");
    // Named without `.hpkg` so the publishing tool's own validation does not stop the attack.
    publisher.publish(&[("evil.pkg", bytes)], t0());
    let mut set = publisher.client();
    set.refresh(t0(), |name| publisher.repo.fetch(name))
        .expect("refresh");
    let bytes = publisher
        .repo
        .read_target(&path("evil.pkg"))
        .expect("target");
    let target = set
        .verify_target(&path("evil.pkg"), bytes, t0())
        .expect("signature is fine");
    let error =
        Package::from_verified(target, &Limits::default()).expect_err("hostile archive refused");
    assert!(device.listing().is_empty(), "nothing may be written");
    chain(&error)
}

const OK: &[u8] = b"fine";

#[test]
fn entry_dot_dot_x_is_refused() {
    let text = refusal(&tar_of(
        &manifest_listing(&[("ok.txt", OK, 0o644)]),
        &[file("../x", b"x")],
    ));
    assert_eq!(
        text,
        "entry \"../x\" has an invalid path: path \"../x\" contains a `..` or `.` component"
    );
    let text = refusal(&tar_of(
        &manifest_listing(&[("ok.txt", OK, 0o644)]),
        &[file("payload/../x", b"x")],
    ));
    assert!(text.contains("`..`"), "{text}");
}

#[test]
fn entry_absolute_x_is_refused() {
    let text = refusal(&tar_of(
        &manifest_listing(&[("ok.txt", OK, 0o644)]),
        &[file("/x", b"x")],
    ));
    assert_eq!(
        text,
        "entry \"/x\" has an invalid path: path \"/x\" is absolute"
    );
}

#[test]
fn entry_backslash_dot_dot_x_is_refused() {
    let text = refusal(&tar_of(
        &manifest_listing(&[("ok.txt", OK, 0o644)]),
        &[file("payload/..\\x", b"x")],
    ));
    assert!(text.ends_with("contains a backslash"), "{text}");
    let text = refusal(&tar_of(
        &manifest_listing(&[("ok.txt", OK, 0o644)]),
        &[file("C:\\x", b"x")],
    ));
    assert!(text.ends_with("contains a backslash"), "{text}");
}

#[test]
fn symlink_then_file_through_it_is_refused() {
    let link = Raw {
        name: "payload/etc",
        kind: EntryType::Symlink,
        mode: 0o777,
        content: b"",
        link: Some("/etc"),
    };
    let through = file("payload/etc/passwd", b"root::0:0::/:/bin/sh\n");
    let text = refusal(&tar_of(
        &manifest_listing(&[("etc/passwd", b"root::0:0::/:/bin/sh\n", 0o644)]),
        &[link, through],
    ));
    assert_eq!(
        text,
        "entry \"payload/etc\" is a symlink: links are never installed"
    );
}

#[test]
fn hardlink_out_of_the_root_is_refused() {
    let link = Raw {
        name: "payload/shadow",
        kind: EntryType::Link,
        mode: 0o644,
        content: b"",
        link: Some("/etc/shadow"),
    };
    let text = refusal(&tar_of(
        &manifest_listing(&[("shadow", b"", 0o644)]),
        &[link],
    ));
    assert_eq!(
        text,
        "entry \"payload/shadow\" is a hardlink: links are never installed"
    );
}

#[test]
fn device_file_is_refused() {
    let device = Raw {
        name: "payload/null",
        kind: EntryType::Char,
        mode: 0o666,
        content: b"",
        link: None,
    };
    let text = refusal(&tar_of(
        &manifest_listing(&[("null", b"", 0o666)]),
        &[device],
    ));
    assert_eq!(text, "entry \"payload/null\" is a device file or fifo");
}

#[test]
fn setuid_entry_is_refused() {
    let setuid = Raw {
        name: "payload/su",
        kind: EntryType::Regular,
        mode: 0o4755,
        content: b"x",
        link: None,
    };
    let text = refusal(&tar_of(
        &manifest_listing(&[("su", b"x", 0o755)]),
        &[setuid],
    ));
    assert_eq!(
        text,
        "entry \"payload/su\" has mode 0o4755: setuid, setgid and sticky bits are refused"
    );
}

#[test]
fn duplicate_and_case_colliding_names_are_refused() {
    let listing = manifest_listing(&[("a.txt", b"1", 0o644)]);
    let text = refusal(&tar_of(
        &listing,
        &[file("payload/a.txt", b"1"), file("payload/a.txt", b"1")],
    ));
    assert_eq!(text, "file a.txt appears twice in the archive");

    let listing = manifest_listing(&[("a/README", b"1", 0o644), ("a/readme", b"2", 0o644)]);
    let text = refusal(&tar_of(
        &listing,
        &[
            file("payload/a/README", b"1"),
            file("payload/a/readme", b"2"),
        ],
    ));
    assert!(
        text.ends_with("files a/README and a/readme differ only in case"),
        "{text}"
    );
}

#[test]
fn one_payload_byte_changed_is_refused() {
    let listing = manifest_listing(&[("ok.txt", OK, 0o644)]);
    let text = refusal(&tar_of(&listing, &[file("payload/ok.txt", b"fino")]));
    assert_eq!(
        text,
        "file ok.txt does not match its sha-256 in the manifest"
    );
}

#[test]
fn extreme_expansion_is_refused() {
    let zeros = vec![0u8; 64 << 20];
    let listing = manifest_listing(&[("zeros.bin", &zeros, 0o644)]);
    let text = refusal(&tar_of(&listing, &[file("payload/zeros.bin", &zeros)]));
    assert!(
        text.starts_with("package expands beyond 1048576 bytes (200x its "),
        "{text}"
    );
}

#[test]
fn entry_missing_from_manifest_is_refused() {
    let listing = manifest_listing(&[("ok.txt", OK, 0o644)]);
    let text = refusal(&tar_of(
        &listing,
        &[file("payload/ok.txt", OK), file("payload/extra", b"?")],
    ));
    assert_eq!(text, "file extra is not listed in the manifest");
}

#[test]
fn tampered_target_byte_is_refused_by_its_signed_digest() {
    let publisher = Publisher::new();
    let good = super::common::hpkg(
        manifest("app", "1.0.0", "ok.txt", vec![], vec![]),
        &[("ok.txt", OK)],
    );
    publisher.publish(&[("app.hpkg", good)], t0());
    let mut set = publisher.client();
    set.refresh(t0(), |name| publisher.repo.fetch(name))
        .expect("refresh");
    let mut bytes = publisher
        .repo
        .read_target(&path("app.hpkg"))
        .expect("target");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    let error = set
        .verify_target(&path("app.hpkg"), bytes, t0())
        .expect_err("tampered");
    assert_eq!(
        error.to_string(),
        "target app.hpkg does not match its signed sha-256"
    );
}
