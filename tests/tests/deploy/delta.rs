//! Deltas: a device with the old version installed fetches the patch instead of the whole
//! package; a patch whose result is not the tar the publisher signed is discarded and the
//! full package fetched instead.

use std::time::Duration;

use hotline_packages::delta::{Choice, PatchLimits, make};
use hotline_packages::{Limits, Package, Sha256Digest};

use super::fixture::{
    Publisher, agents, console, deploy, local_entries, noise, package, ticket, wait_deployment,
};

fn tar(hpkg: &[u8]) -> Vec<u8> {
    Package::from_hpkg(hpkg.to_vec(), &Limits::default())
        .expect("package")
        .tar_bytes()
        .expect("tar")
}

fn patch(old: &[u8], new: &[u8]) -> Vec<u8> {
    make(&tar(old), &tar(new), Choice::Zstd, &PatchLimits::default()).expect("patch")
}

/// A patch that claims to make `claimed` but makes `made`: the publisher signs its bytes,
/// yet what it rebuilds is not the tar signed for the new package.
fn lying_patch(old: &[u8], made: &[u8], claimed: &[u8]) -> Vec<u8> {
    let (made, claimed) = (tar(made), tar(claimed));
    assert_eq!(
        made.len(),
        claimed.len(),
        "same length, so only the digest lies"
    );
    let mut patch = make(&tar(old), &made, Choice::Zstd, &PatchLimits::default()).expect("patch");
    // The header's result digest sits at bytes 60..92 (see hotline_packages::delta::header).
    patch[60..92].copy_from_slice(Sha256Digest::of(&claimed).as_bytes());
    patch
}

#[test]
fn an_update_travels_as_a_patch_and_a_bad_patch_falls_back_to_the_full_package() {
    let base = noise(512 * 1024);
    let content = |tail: &[u8]| [base.as_slice(), tail].concat();
    let v1 = package("hello", "1.0.0", &content(b"one"), "true");
    let v2 = package("hello", "2.0.0", &content(b"two"), "true");
    let v3 = package("hello", "3.0.0", &content(b"three"), "true");
    let elsewhere = package("hello", "2.0.0", &content(b"owt"), "true");

    let publisher = Publisher::new();
    publisher.publish(&[("hello-1.0.0.hpkg", v1.clone())]);
    let console = console("chunk_kib = 64");
    let repo = publisher.repo_dir();
    let publish = || {
        console.cli_ok(&[
            "package",
            "publish",
            "--repo",
            repo.to_str().expect("utf-8"),
        ]);
    };
    publish();
    let agents = agents(&console, &publisher, 1);
    let agent = &agents[0];
    let number = ticket(&console, &[agent]);
    let minute = Duration::from_secs(60);
    let id = deploy(&console, &number, "hello@1.0.0", &[agent], &[]);
    wait_deployment(&console, &id, "finished", minute);

    // A signed patch from 1.0.0 whose result is some other tar: discarded, full package used.
    publisher.publish(&[
        ("hello-2.0.0.hpkg", v2.clone()),
        (
            "hello-1.0.0-2.0.0.hpatch",
            lying_patch(&v1, &elsewhere, &v2),
        ),
    ]);
    publish();
    let id = deploy(&console, &number, "hello@2.0.0", &[agent], &[]);
    let done = wait_deployment(&console, &id, "finished", minute);
    assert_eq!(done["devices"][0]["outcome"], "installed", "{done}");
    let discarded = local_entries(agent, "deploy.patch-discarded");
    assert_eq!(discarded.len(), 1, "{discarded:?}");
    assert!(
        discarded[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("applying"))
    );
    let installed = std::fs::read(agent.install_root().join("hello.txt")).expect("installed");
    assert_eq!(installed, content(b"two"));

    // A good patch from 2.0.0: only the patch's chunks travel.
    let good = patch(&v2, &v3);
    assert!(
        good.len() * 4 < v3.len(),
        "the patch is much smaller than the package"
    );
    publisher.publish(&[
        ("hello-3.0.0.hpkg", v3.clone()),
        ("hello-2.0.0-3.0.0.hpatch", good.clone()),
    ]);
    publish();
    let id = deploy(&console, &number, "hello@3.0.0", &[agent], &[]);
    let done = wait_deployment(&console, &id, "finished", minute);
    assert_eq!(done["devices"][0]["outcome"], "installed", "{done}");
    let chunk = 64 * 1024;
    assert_eq!(
        done["devices"][0]["chunks_sent"].as_u64(),
        Some(good.len().div_ceil(chunk) as u64),
        "only the patch was sent"
    );
    assert_eq!(local_entries(agent, "deploy.patch-discarded").len(), 1);
    let installed = std::fs::read(agent.install_root().join("hello.txt")).expect("installed");
    assert_eq!(installed, content(b"three"));
}
