//! A private cupsd for tests: its configuration, state and socket live in a temporary
//! directory, so a test neither needs nor disturbs the system's printing.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running cupsd of our own, stopped when dropped.
#[derive(Debug)]
pub struct Cupsd {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cupsd {
    /// The socket `CUPS_SERVER` names.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn start() -> Self {
        assert!(
            Path::new("/usr/sbin/cupsd").exists(),
            "cupsd is missing: install the Debian package `cups`"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let base = dir.path().to_path_buf();
        let base = base.as_path();
        // cupsd hands some directories to the `lp` user; it must be able to reach them.
        fs::set_permissions(base, fs::Permissions::from_mode(0o755)).expect("chmod");
        for sub in ["conf", "state", "cache", "spool", "tmp", "log"] {
            fs::create_dir(base.join(sub)).expect("cups dir");
            fs::set_permissions(base.join(sub), fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let socket = base.join("cups.sock");
        let cupsd_conf = format!(
            "Listen {}\nLogLevel warn\nBrowsing No\nWebInterface No\n\
             <Location />\n  Order allow,deny\n  Allow localhost\n</Location>\n\
             <Location /admin>\n  Order allow,deny\n  Allow localhost\n</Location>\n\
             <Policy default>\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n",
            socket.display()
        );
        let dir_of = |sub: &str| base.join(sub).display().to_string();
        let files_conf = format!(
            "ServerRoot {}\nStateDir {}\nCacheDir {}\nRequestRoot {}\nTempDir {}\n\
             ErrorLog {}/error_log\nAccessLog {}/access_log\nPageLog {}/page_log\n",
            dir_of("conf"),
            dir_of("state"),
            dir_of("cache"),
            dir_of("spool"),
            dir_of("tmp"),
            dir_of("log"),
            dir_of("log"),
            dir_of("log")
        );
        fs::write(base.join("conf/cupsd.conf"), cupsd_conf).expect("cupsd.conf");
        fs::write(base.join("conf/cups-files.conf"), files_conf).expect("cups-files.conf");
        let child = Command::new("/usr/sbin/cupsd")
            .arg("-f")
            .arg("-c")
            .arg(base.join("conf/cupsd.conf"))
            .arg("-s")
            .arg(base.join("conf/cups-files.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cupsd starts");
        let cupsd = Self {
            child,
            socket,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cupsd.lpstat(&["-r"]).0 {
            assert!(
                Instant::now() < deadline,
                "cupsd did not come up; see {}/log/error_log",
                cupsd._dir.path().display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        cupsd
    }

    pub fn environment(&self) -> Vec<(String, String)> {
        vec![("CUPS_SERVER".to_owned(), self.socket.display().to_string())]
    }

    /// Runs lpstat against this cupsd: (success, stdout).
    pub fn lpstat(&self, args: &[&str]) -> (bool, String) {
        let output = Command::new("lpstat")
            .args(args)
            .env("CUPS_SERVER", &self.socket)
            .output()
            .expect("lpstat runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }
}

impl Drop for Cupsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
