//! The install transaction on a throwaway root: hanging steps, crashes, detection deciding
//! success, reboot and retry codes, odd file names, upgrades through delta patches.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

use hotline_packages::delta::{self, Choice, PatchLimits, Via};
use hotline_packages::install::{InstallError, InstallOutcome, Reboot, UninstallOutcome};
use hotline_packages::manifest::{Detection, ReturnCodes};
use hotline_packages::{Limits, Package, PackageName};

use super::common::{Device, Publisher, hpkg, installer_at, listing, manifest, path, sh, t0};

const CHILD_VARIABLE: &str = "HOTLINE_PACKAGES_TEST_CHILD";

#[test]
fn hanging_step_is_killed_at_its_timeout_and_rolled_back() {
    let publisher = Publisher::new();
    let device = Device::new();
    fs::create_dir_all(device.root().join("etc")).expect("etc");
    fs::write(device.root().join("etc/app.conf"), b"original").expect("original file");
    let hang = sh(
        "echo started > \"$HOTLINE_ROOT/started\"; read answer; sleep 60",
        1,
    );
    let files: &[(&str, &[u8])] = &[("etc/app.conf", b"new"), ("opt/hangs/bin", b"binary")];
    let bytes = hpkg(
        manifest("hangs", "1.0.0", "opt/hangs/bin", vec![hang], vec![]),
        files,
    );
    publisher.publish(&[("hangs.hpkg", bytes)], t0());
    let package = publisher.verified(&mut publisher.client(), "hangs.hpkg", t0());

    let started = Instant::now();
    let error = device
        .installer(vec![])
        .install(&package)
        .expect_err("step hangs");
    assert_eq!(
        error.to_string(),
        "install step 0 (/bin/sh script) did not finish within 1 s and was killed; changes rolled back"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(
        fs::read(device.root().join("etc/app.conf")).expect("restored"),
        b"original"
    );
    assert!(
        !device.root().join("opt").exists(),
        "created directories removed"
    );
    assert!(!fs::exists(device.state().join("journal.jsonl")).expect("stat"));
    let installed = device
        .installer(vec![])
        .installed(&PackageName::new("hangs").expect("name"))
        .expect("reads");
    assert!(installed.is_none());
}

/// Runs only inside the child process of the SIGKILL test: installs a package whose step
/// waits for a minute, so the parent can kill this process mid-install.
#[test]
fn sigkill_child_entry() {
    let Ok(directory) = std::env::var(CHILD_VARIABLE) else {
        return;
    };
    let directory = std::path::PathBuf::from(directory);
    let publisher_repo = hotline_packages::publish::Repository::at(&directory.join("repo"));
    let root = fs::read(directory.join("root.json")).expect("pinned root");
    let mut set =
        hotline_packages::trust::TrustedSet::pin(&root, Default::default()).expect("pins");
    set.refresh(t0(), |name| publisher_repo.fetch(name))
        .expect("refresh");
    let bytes = publisher_repo
        .read_target(&path("slow.hpkg"))
        .expect("target");
    let target = set
        .verify_target(&path("slow.hpkg"), bytes, t0())
        .expect("verifies");
    let package = Package::from_verified(target, &Limits::default()).expect("validates");
    let installer = installer_at(&directory.join("root"), &directory.join("state"), vec![]);
    let _ = installer.install(&package);
    unreachable!("the parent kills this process during the install step");
}

#[test]
fn sigkill_in_the_middle_of_an_install_is_rolled_back_at_next_start() {
    let publisher = Publisher::new();
    let work = tempfile::tempdir().expect("temp dir");
    let (root, state) = (work.path().join("root"), work.path().join("state"));
    fs::create_dir_all(root.join("etc")).expect("root");
    fs::write(root.join("etc/app.conf"), b"original").expect("original file");
    let slow = sh("echo $$ > \"$HOTLINE_ROOT/step.pid\"; sleep 60", 120);
    let files: &[(&str, &[u8])] = &[("etc/app.conf", b"new"), ("opt/app/bin/app", b"binary")];
    publisher.publish(
        &[(
            "slow.hpkg",
            hpkg(
                manifest("slow", "1.0.0", "opt/app/bin/app", vec![slow], vec![]),
                files,
            ),
        )],
        t0(),
    );
    // The child reads its own copy of the repository, as a device reads what the console serves.
    let metadata = publisher.repo.metadata_path("root.json");
    let repo = metadata
        .parent()
        .and_then(std::path::Path::parent)
        .expect("repo directory");
    copy_dir(repo, &work.path().join("repo"));
    fs::write(work.path().join("root.json"), &publisher.root_v1).expect("root");

    // A real child process runs the install; it is killed once its step is running.
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "install::sigkill_child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VARIABLE, work.path())
        .spawn()
        .expect("child starts");
    let journal = state.join("journal.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !fs::read_to_string(&journal)
        .unwrap_or_default()
        .contains("step_process_group")
        || !root.join("step.pid").exists()
    {
        assert!(
            Instant::now() < deadline,
            "child never reached its install step"
        );
        assert!(
            child.try_wait().expect("poll").is_none(),
            "child ended early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        fs::read(root.join("etc/app.conf")).expect("new file in place"),
        b"new"
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let step_pid = fs::read_to_string(root.join("step.pid"))
        .expect("pid")
        .trim()
        .to_owned();

    // Next start: recovery undoes everything and stops the orphaned step.
    let installer = installer_at(&root, &state, vec![]);
    let recovery = installer
        .recover()
        .expect("recovers")
        .expect("a transaction was pending");
    assert!(
        !recovery.completed && recovery.problems.is_empty(),
        "{recovery:?}"
    );
    assert_eq!(
        fs::read(root.join("etc/app.conf")).expect("restored"),
        b"original"
    );
    assert!(!root.join("opt").exists(), "created directories removed");
    assert!(!journal.exists());
    std::thread::sleep(Duration::from_millis(100));
    let alive = fs::read_to_string(format!("/proc/{step_pid}/stat"))
        .is_ok_and(|stat| !stat.contains(") Z "));
    assert!(!alive, "orphaned step still running");
}

#[test]
fn paths_with_spaces_and_non_ascii_install_and_uninstall() {
    let publisher = Publisher::new();
    let device = Device::new();
    let files: &[(&str, &[u8])] = &[
        ("Program Files/Hotline Café/naïve résumé.txt", b"bonjour"),
        ("日本語/データ ファイル.bin", &[0, 1, 2, 255]),
    ];
    let bytes = hpkg(
        manifest(
            "unicode",
            "1.0.0",
            "日本語/データ ファイル.bin",
            vec![],
            vec![],
        ),
        files,
    );
    publisher.publish(&[("unicode.hpkg", bytes)], t0());
    let package = publisher.verified(&mut publisher.client(), "unicode.hpkg", t0());
    let installer = device.installer(vec![]);

    assert_eq!(
        installer.install(&package).expect("installs"),
        InstallOutcome::Installed {
            reboot: Reboot::NotNeeded
        }
    );
    let installed = device
        .root()
        .join("Program Files/Hotline Café/naïve résumé.txt");
    assert_eq!(fs::read(&installed).expect("file"), b"bonjour");
    assert_eq!(
        fs::metadata(&installed).expect("stat").permissions().mode() & 0o777,
        0o644
    );
    assert_eq!(
        installer.install(&package).expect("again"),
        InstallOutcome::AlreadyInstalled
    );

    let name = PackageName::new("unicode").expect("name");
    assert_eq!(
        installer.uninstall(&name).expect("uninstalls"),
        UninstallOutcome::Removed {
            reboot: Reboot::NotNeeded
        }
    );
    assert!(
        device.listing().is_empty(),
        "left behind: {:?}",
        device.listing()
    );
}

#[test]
fn success_is_decided_by_the_detection_rule_not_the_exit_code() {
    let publisher = Publisher::new();
    let device = Device::new();
    let mut lying = manifest("liar", "1.0.0", "x", vec![sh("exit 0", 10)], vec![]);
    lying.detection = Detection::File {
        path: path("never/created"),
        sha256: None,
    };
    publisher.publish(&[("liar.hpkg", hpkg(lying, &[("x", b"x")]))], t0());
    let package = publisher.verified(&mut publisher.client(), "liar.hpkg", t0());
    let error = device
        .installer(vec![])
        .install(&package)
        .expect_err("not detected");
    assert!(
        matches!(error, InstallError::NotDetectedAfterInstall),
        "{error}"
    );
    assert!(
        device.listing().is_empty(),
        "rolled back: {:?}",
        device.listing()
    );
}

#[test]
fn failing_step_rolls_back_and_runs_the_uninstall_steps() {
    let publisher = Publisher::new();
    let device = Device::new();
    let install = vec![
        sh("touch \"$HOTLINE_ROOT/side-effect\"", 10),
        sh("exit 5", 10),
    ];
    let uninstall = vec![sh("rm -f \"$HOTLINE_ROOT/side-effect\"", 10)];
    publisher.publish(
        &[(
            "fails.hpkg",
            hpkg(
                manifest("fails", "1.0.0", "x", install, uninstall),
                &[("x", b"x")],
            ),
        )],
        t0(),
    );
    let package = publisher.verified(&mut publisher.client(), "fails.hpkg", t0());
    let error = device
        .installer(vec![])
        .install(&package)
        .expect_err("fails");
    assert_eq!(
        error.to_string(),
        "install step 1 (/bin/sh script) failed with exit code 5; changes rolled back"
    );
    assert!(
        device.listing().is_empty(),
        "rolled back: {:?}",
        device.listing()
    );
}

#[test]
fn reboot_and_retry_codes_are_honoured() {
    let publisher = Publisher::new();
    let device = Device::new();
    // POSIX exit codes stop at 255, so a Linux package declares its own codes.
    let codes = ReturnCodes {
        reboot_required: vec![194],
        retry_later: vec![82],
        ..ReturnCodes::default()
    };
    let mut reboot = manifest("reboots", "1.0.0", "r", vec![sh("exit 194", 10)], vec![]);
    reboot.return_codes = codes.clone();
    let mut busy = manifest("busy", "1.0.0", "b", vec![sh("exit 82", 10)], vec![]);
    busy.return_codes = codes;
    publisher.publish(
        &[
            ("reboots.hpkg", hpkg(reboot, &[("r", b"r")])),
            ("busy.hpkg", hpkg(busy, &[("b", b"b")])),
        ],
        t0(),
    );
    let mut set = publisher.client();
    let installer = device.installer(vec![]);

    let outcome = installer
        .install(&publisher.verified(&mut set, "reboots.hpkg", t0()))
        .expect("installs");
    assert_eq!(
        outcome,
        InstallOutcome::Installed {
            reboot: Reboot::Required
        }
    );
    let outcome = installer
        .install(&publisher.verified(&mut set, "busy.hpkg", t0()))
        .expect("rolled back");
    assert_eq!(outcome, InstallOutcome::RetryLater);
    assert!(!device.root().join("b").exists());
}

#[test]
fn upgrade_through_a_delta_patch_and_fallback_when_it_is_bad() {
    let publisher = Publisher::new();
    let device = Device::new();
    // Pseudo-random bytes: a driver binary does not compress a hundredfold.
    let mut seed = 0x2545_f491_u32;
    let driver_v1: Vec<u8> = (0..1_200_000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as u8
        })
        .collect();
    let mut driver_v2 = driver_v1.clone();
    driver_v2[5000..5016].copy_from_slice(b"version two here");
    let v1 = hpkg(
        manifest("driver", "1.0.0", "lib/driver.so", vec![], vec![]),
        &[("lib/driver.so", &driver_v1), ("old-only", b"o")],
    );
    let v2 = hpkg(
        manifest("driver", "2.0.0", "lib/driver.so", vec![], vec![]),
        &[("lib/driver.so", &driver_v2)],
    );
    let limits = Limits::default();
    let tar = |bytes: &[u8]| hotline_packages::archive::decompress(bytes, &limits).expect("tar");
    let patch =
        delta::make(&tar(&v1), &tar(&v2), Choice::Auto, &PatchLimits::default()).expect("patch");
    assert!(
        patch.len() * 20 < v2.len(),
        "patch {} vs package {}",
        patch.len(),
        v2.len()
    );
    publisher.publish(
        &[
            ("driver-1.hpkg", v1),
            ("driver-2.hpkg", v2.clone()),
            ("driver-1-2.patch", patch.clone()),
        ],
        t0(),
    );

    let mut set = publisher.client();
    let installer = device.installer(vec![]);
    installer
        .install(&publisher.verified(&mut set, "driver-1.hpkg", t0()))
        .expect("v1 installs");
    let name = PackageName::new("driver").expect("name");
    let base = installer.installed_tar(&name).expect("kept base");

    let patch_target = set.verify_target(&path("driver-1-2.patch"), patch.clone(), t0());
    let full = || v2.clone();
    let (target, via) = delta::update_via_patch(
        &set,
        t0(),
        &path("driver-2.hpkg"),
        &base,
        patch_target,
        &PatchLimits::default(),
        full,
    )
    .expect("patched");
    assert!(matches!(via, Via::Patch));
    let package = Package::from_verified(target, &limits).expect("validates");
    installer.install(&package).expect("upgrade installs");
    assert_eq!(
        fs::read(device.root().join("lib/driver.so")).expect("driver"),
        driver_v2
    );
    assert!(
        !device.root().join("old-only").exists(),
        "files dropped by v2 are removed"
    );

    // A damaged patch is discarded and the full package is used instead.
    let mut damaged = patch;
    let last = damaged.len() - 2;
    damaged[last] ^= 0xff;
    let damaged_target = set.verify_target(&path("driver-1-2.patch"), damaged, t0());
    let (_, via) = delta::update_via_patch(
        &set,
        t0(),
        &path("driver-2.hpkg"),
        &base,
        damaged_target,
        &PatchLimits::default(),
        || v2.clone(),
    )
    .expect("falls back");
    assert!(matches!(via, Via::Full { .. }), "{via:?}");
    assert!(
        listing(&device.state())
            .iter()
            .all(|entry| !entry.starts_with("tx/"))
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    fs::create_dir_all(to).expect("create");
    for entry in fs::read_dir(from).expect("list").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).expect("copy");
        }
    }
}
