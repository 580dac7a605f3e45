//! A real browser for the tests: Debian's Chromium, headless, driven through ChromeDriver
//! (WebDriver) with fantoccini. One ChromeDriver and one browser serve a whole test binary;
//! tests take turns through [`shared`], which hands out the browser behind a lock, since
//! they share its one tab.

use std::net::TcpListener;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::guard::Guarded;

/// How long a test waits for an element or a condition in the page.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// A headless Chromium session and the runtime that drives it.
pub struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Client,
    _driver: Guarded,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").finish_non_exhaustive()
    }
}

/// The test binary's browser, started on first use.
pub fn shared() -> MutexGuard<'static, Browser> {
    static SHARED: OnceLock<Mutex<Browser>> = OnceLock::new();
    SHARED
        .get_or_init(|| Mutex::new(Browser::start()))
        .lock()
        // A test that panicked while holding the browser leaves it usable: the next test
        // navigates afresh.
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Browser {
    /// Starts ChromeDriver on a free loopback port and opens a headless Chromium session.
    /// The console's certificate comes from its own CA, which this throwaway profile does
    /// not know, so the session accepts it (`acceptInsecureCerts`); everything else is as a
    /// person's browser would have it, Secure cookies and same-origin rules included.
    pub fn start() -> Browser {
        let port = free_port();
        // The profile outlives this value (the shared browser is never dropped), so the
        // guard removes it once the browser has ended.
        let profile = tempfile::tempdir()
            .expect("browser profile directory")
            .keep();
        let driver = Guarded::spawn_with_cleanup(
            &format!("chromedriver --port={port} --allowed-ips=127.0.0.1"),
            &format!("rm -rf '{}'", profile.display()),
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");

        // The flags keep a headless Chromium from reaching for the network at start-up
        // (updates, sync, field trials), which a closed test network answers with errors.
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1366,900".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal");
        };
        let url = format!("http://127.0.0.1:{port}");
        let client = runtime.block_on(async {
            let mut last = None;
            // ChromeDriver takes a moment to listen.
            for _ in 0..100 {
                match ClientBuilder::new(HttpConnector::new())
                    .capabilities(capabilities.clone())
                    .connect(&url)
                    .await
                {
                    Ok(client) => return client,
                    Err(error) => last = Some(error),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("no browser session (scripts/test.sh installs chromium and chromium-driver): {last:?}");
        });
        Browser {
            runtime,
            client,
            _driver: driver,
        }
    }

    /// Runs `f` with the WebDriver client, to completion.
    pub fn run<T>(&self, f: impl AsyncFnOnce(&Client) -> T) -> T {
        self.runtime.block_on(f(&self.client))
    }

    /// Opens `url` and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.run(async |c| c.goto(url).await)
            .unwrap_or_else(|error| panic!("opening {url}: {error}"));
    }

    /// Waits for the element matching CSS `selector`.
    pub fn find(&self, selector: &str) -> Element {
        self.run(async |c| {
            c.wait()
                .at_most(PATIENCE)
                .for_element(Locator::Css(selector))
                .await
        })
        .unwrap_or_else(|error| panic!("no element {selector:?}: {error}"))
    }

    /// Types `text` into the element matching `selector`.
    pub fn fill(&self, selector: &str, text: &str) {
        let element = self.find(selector);
        self.run(async |_| element.send_keys(text).await)
            .unwrap_or_else(|error| panic!("typing into {selector:?}: {error}"));
    }

    /// Clicks the element matching `selector`.
    pub fn click(&self, selector: &str) {
        let element = self.find(selector);
        self.run(async |_| element.click().await)
            .unwrap_or_else(|error| panic!("clicking {selector:?}: {error}"));
    }

    /// Evaluates `script` (a function body that may `return`) in the page.
    pub fn eval(&self, script: &str) -> Value {
        self.run(async |c| c.execute(script, Vec::new()).await)
            .unwrap_or_else(|error| panic!("running script in the page: {error}"))
    }

    /// The page's address.
    pub fn url(&self) -> String {
        self.run(async |c| c.current_url().await)
            .map(|url| url.to_string())
            .expect("current URL")
    }

    /// Signs `username` in for the first time at the console at `base` (`https://host:port`)
    /// with its one-time password, through the forced change to `password`, and waits for
    /// the ticket list it leads to.
    pub fn first_sign_in(&self, base: &str, username: &str, one_time: &str, password: &str) {
        self.goto(&format!("{base}/login"));
        self.fill("#username", username);
        self.fill("#password", one_time);
        self.click("button[type=submit]");
        self.find("#password-title");
        self.fill("#current", one_time);
        self.fill("#new", password);
        self.fill("#confirm", password);
        self.click("button[type=submit]");
        self.wait_until(
            "the ticket list after the password change",
            "return location.pathname === '/tickets'",
        );
    }

    /// Waits until `script` returns a truthy value, and returns it; panics naming `what`.
    pub fn wait_until(&self, what: &str, script: &str) -> Value {
        let start = std::time::Instant::now();
        loop {
            let value = self.eval(script);
            if !matches!(value, Value::Null | Value::Bool(false)) {
                return value;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "timed out after {PATIENCE:?} waiting for {what}; page {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A loopback port nobody listens on at the moment of the call.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}
