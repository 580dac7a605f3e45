//! The benchmark's input pairs: two Debian releases of a real library, and a generated
//! printer-driver-like bundle in two versions, each packed as a Hotline package.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;

use hotline_packages::archive::build_in_memory;
use hotline_packages::manifest::{
    Arch, Detection, FORMAT_VERSION, Manifest, Os, Requirements, ReturnCodes,
};
use hotline_packages::{Limits, PackageName, PackagePath};

/// Downloads the two newest Debian releases of libssl3 and packs each libcrypto.so.3.
pub(crate) fn real_binary_pair(work: &Path) -> Result<(Vec<u8>, Vec<u8>), String> {
    let madison = Command::new("apt-cache")
        .args(["madison", "libssl3"])
        .output()
        .map_err(|e| format!("apt-cache: {e}"))?;
    let mut versions: Vec<String> = String::from_utf8_lossy(&madison.stdout)
        .lines()
        .filter_map(|line| line.split('|').nth(1).map(|v| v.trim().to_owned()))
        .collect();
    versions.sort();
    versions.dedup();
    if versions.len() < 2 {
        return Err("apt knows fewer than two libssl3 versions (run apt-get update with security updates enabled)".into());
    }
    let pair = &versions[versions.len() - 2..];
    let mut packages = Vec::new();
    for version in pair {
        let directory = work.join(format!("libssl3-{version}"));
        let library = directory.join("usr/lib/x86_64-linux-gnu/libcrypto.so.3");
        if !library.exists() {
            fs::create_dir_all(&directory).map_err(|e| e.to_string())?;
            let status = Command::new("apt-get")
                .args(["download", "-q", &format!("libssl3={version}")])
                .current_dir(&directory)
                .status()
                .map_err(|e| format!("apt-get: {e}"))?;
            if !status.success() {
                return Err(format!("apt-get download libssl3={version} failed"));
            }
            let deb = fs::read_dir(&directory)
                .map_err(|e| e.to_string())?
                .flatten()
                .find(|e| e.path().extension().is_some_and(|x| x == "deb"))
                .ok_or("no .deb downloaded")?;
            Command::new("dpkg-deb")
                .arg("-x")
                .arg(deb.path())
                .arg(&directory)
                .status()
                .map_err(|e| format!("dpkg-deb: {e}"))?;
        }
        let bytes = fs::read(&library).map_err(|e| format!("{}: {e}", library.display()))?;
        packages.push(package(
            "libcrypto",
            version,
            &[("usr/lib/x86_64-linux-gnu/libcrypto.so.3", 0o644, bytes)],
        ));
    }
    let new = packages.pop().ok_or("no package")?;
    let old = packages.pop().ok_or("no package")?;
    Ok((old, new))
}

/// Two versions of a driver bundle: generated PPDs (v2 bumps versions, adds an option and three
/// models) and filter binaries taken from this system (v2 shifts code in one and patches bytes
/// in another, as a rebuild does).
pub(crate) fn driver_pair() -> Result<(Vec<u8>, Vec<u8>), String> {
    let mut filters = Vec::new();
    for name in [
        "rastertopwg",
        "pdftopdf",
        "rastertoepson",
        "rastertohp",
        "commandtops",
    ] {
        let path = Path::new("/usr/lib/cups/filter").join(name);
        if let Ok(bytes) = fs::read(&path) {
            filters.push((format!("lib/filters/{name}"), bytes));
        }
    }
    if filters.len() < 2 {
        return Err("no CUPS filter binaries in /usr/lib/cups/filter (install `cups`)".into());
    }
    let mut v1 = Vec::new();
    let mut v2 = Vec::new();
    for model in 0..60u32 {
        v1.push((
            format!("share/ppd/office-{model:03}.ppd"),
            0o644,
            ppd(model, "1.0", false).into_bytes(),
        ));
        v2.push((
            format!("share/ppd/office-{model:03}.ppd"),
            0o644,
            ppd(model, "1.1", true).into_bytes(),
        ));
    }
    for model in 60..63u32 {
        v2.push((
            format!("share/ppd/office-{model:03}.ppd"),
            0o644,
            ppd(model, "1.1", true).into_bytes(),
        ));
    }
    for (index, (name, bytes)) in filters.into_iter().enumerate() {
        let mut changed = bytes.clone();
        match index {
            0 => {
                let middle = changed.len() / 2;
                changed.splice(middle..middle, std::iter::repeat_n(0x90u8, 317));
            }
            1 => (0..changed.len())
                .step_by(4099)
                .for_each(|at| changed[at] = changed[at].wrapping_add(1)),
            _ => {}
        }
        v1.push((name.clone(), 0o755, bytes));
        v2.push((name, 0o755, changed));
    }
    Ok((
        package("office-driver", "1.0.0", &borrowed(&v1)),
        package("office-driver", "1.1.0", &borrowed(&v2)),
    ))
}

fn ppd(model: u32, version: &str, duplex_option: bool) -> String {
    let mut text = format!(
        "*PPD-Adobe: \"4.3\"\n*FileVersion: \"{version}\"\n*Manufacturer: \"Hotline\"\n\
         *ModelName: \"Hotline Office {model}\"\n*NickName: \"Hotline Office {model}, {version}\"\n\
         *OpenUI *PageSize/Media Size: PickOne\n*DefaultPageSize: A4\n"
    );
    for (name, width, height) in [
        ("A4", 595, 842),
        ("Letter", 612, 792),
        ("Legal", 612, 1008),
        ("A5", 420, 595),
    ] {
        writeln!(text, "*PageSize {name}/{name}: \"<</PageSize[{width} {height}]/ImagingBBox null>>setpagedevice\"").ok();
        writeln!(
            text,
            "*ImageableArea {name}/{name}: \"18 36 {} {}\"",
            width - 18,
            height - 36
        )
        .ok();
    }
    text.push_str("*CloseUI: *PageSize\n");
    for tray in 1..=(model % 4 + 1) {
        writeln!(
            text,
            "*InputSlot Tray{tray}/Tray {tray}: \"<</MediaPosition {tray}>>setpagedevice\""
        )
        .ok();
    }
    if duplex_option {
        text.push_str("*OpenUI *Duplex/Two-Sided: PickOne\n*DefaultDuplex: None\n*Duplex None/Off: \"\"\n*CloseUI: *Duplex\n");
    }
    text
}

fn package(name: &str, version: &str, files: &[(&str, u32, Vec<u8>)]) -> Vec<u8> {
    let version = semver::Version::parse(version.split(['-', '~', '+']).next().unwrap_or("0.0.0"))
        .unwrap_or(semver::Version::new(0, 0, 0));
    let manifest = Manifest {
        format: FORMAT_VERSION,
        name: PackageName::new(name).expect("name"),
        version,
        description: "benchmark payload".into(),
        requirements: Requirements {
            os: Os::Any,
            arch: Arch::Any,
            free_space_bytes: 0,
        },
        files: Vec::new(),
        install: Vec::new(),
        uninstall: Vec::new(),
        detection: Detection::File {
            path: PackagePath::new(files[0].0).expect("path"),
            sha256: None,
        },
        return_codes: ReturnCodes::default(),
    };
    let files: Vec<_> = files
        .iter()
        .map(|(path, mode, bytes)| (PackagePath::new(path).expect("path"), *mode, bytes.clone()))
        .collect();
    build_in_memory(manifest, &files, &Limits::default()).expect("package builds")
}

fn borrowed(files: &[(String, u32, Vec<u8>)]) -> Vec<(&str, u32, Vec<u8>)> {
    files
        .iter()
        .map(|(name, mode, bytes)| (name.as_str(), *mode, bytes.clone()))
        .collect()
}
