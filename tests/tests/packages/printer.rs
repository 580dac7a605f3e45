//! The printer example (packages/examples/printer) against a real, private cupsd: built and
//! signed like a publisher would, installed and removed through the install transaction.

use std::path::Path;

use hotline_packages::archive::build_from_dir;
use hotline_packages::install::{InstallOutcome, Reboot, UninstallOutcome};
use hotline_packages::{Limits, PackageName};
use hotline_tests::cupsd::Cupsd;

use super::common::{Device, Publisher, t0};

#[test]
fn printer_example_installs_and_uninstalls_against_a_real_cupsd() {
    let cupsd = Cupsd::start();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packages/examples/printer");
    let package = build_from_dir(&example, &Limits::default()).expect("example builds");
    let publisher = Publisher::new();
    publisher.publish(&[("office-printer-1.0.0.hpkg", package)], t0());
    let verified = publisher.verified(&mut publisher.client(), "office-printer-1.0.0.hpkg", t0());

    let device = Device::new();
    let installer = device.installer(cupsd.environment());
    assert!(
        !cupsd.lpstat(&["-p", "HotlineOffice"]).0,
        "queue exists before install"
    );
    let outcome = installer.install(&verified).expect("printer installs");
    assert_eq!(
        outcome,
        InstallOutcome::Installed {
            reboot: Reboot::NotNeeded
        }
    );
    let (exists, listing) = cupsd.lpstat(&["-v", "HotlineOffice"]);
    assert!(
        exists && listing.contains("socket://127.0.0.1:9100"),
        "{listing}"
    );
    assert!(
        device
            .root()
            .join("usr/share/ppd/hotline/hotline-office.ppd")
            .is_file()
    );

    let name = PackageName::new("office-printer").expect("name");
    let outcome = installer.uninstall(&name).expect("printer uninstalls");
    assert_eq!(
        outcome,
        UninstallOutcome::Removed {
            reboot: Reboot::NotNeeded
        }
    );
    assert!(
        !cupsd.lpstat(&["-p", "HotlineOffice"]).0,
        "queue still exists after uninstall"
    );
    assert!(
        device.listing().is_empty(),
        "left behind: {:?}",
        device.listing()
    );
}
