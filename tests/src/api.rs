//! A blocking HTTPS client for the console's JSON API, trusting only the console's CA, and a
//! tiny local HTTP receiver for webhook tests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::console::Console;

/// An answer: status, parsed JSON body (`Null` when empty) and headers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// The `error` message of an error answer.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A client of one console, as one analyst (session cookie) or script (bearer token).
pub struct Api {
    runtime: tokio::runtime::Runtime,
    address: SocketAddr,
    tls: TlsConnector,
    /// The `hotline_session` cookie value, once logged in.
    pub cookie: Option<String>,
    /// An API token to send as `Authorization: Bearer`.
    pub bearer: Option<String>,
    /// Extra headers for every request (for example a foreign `Origin`).
    pub extra: Vec<(String, String)>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The cookie and token are secrets: never printed, even in a test's panic message.
        f.debug_struct("Api")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Api {
    /// A client of the running `console`, not logged in.
    pub fn new(console: &Console) -> Api {
        let pem = std::fs::read(console.ca_cert()).expect("CA certificate");
        let ca = CertificateDer::from_pem_slice(&pem).expect("CA PEM");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).expect("CA added");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Api {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            address: console.https.expect("console started"),
            tls: TlsConnector::from(Arc::new(config)),
            cookie: None,
            bearer: None,
            extra: Vec::new(),
        }
    }

    /// Logs in; panics unless the console answers 200. Returns the client with its cookie.
    pub fn login(console: &Console, username: &str, password: &str) -> Api {
        let mut api = Api::new(console);
        let reply = api.try_login(username, password);
        assert_eq!(reply.status, 200, "login as {username}: {reply:?}");
        api
    }

    /// Posts to /api/login and keeps the session cookie it sets.
    pub fn try_login(&mut self, username: &str, password: &str) -> Reply {
        let body = serde_json::json!({ "username": username, "password": password });
        let reply = self.post("/api/login", &body);
        if let Some(cookie) = reply.header("set-cookie") {
            let value = cookie
                .split(';')
                .next()
                .and_then(|pair| pair.strip_prefix("hotline_session="))
                .expect("session cookie");
            self.cookie = Some(value.to_owned());
        }
        reply
    }

    /// A client logged in as `username` that has replaced its one-time password with
    /// `new_password`.
    pub fn first_login(
        console: &Console,
        username: &str,
        one_time: &str,
        new_password: &str,
    ) -> Api {
        let api = Api::login(console, username, one_time);
        let body = serde_json::json!({ "current": one_time, "new": new_password });
        let reply = api.post("/api/password", &body);
        assert_eq!(
            reply.status, 204,
            "password change for {username}: {reply:?}"
        );
        api
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.request("POST", path, Some(body))
    }

    pub fn patch(&self, path: &str, body: &Value) -> Reply {
        self.request("PATCH", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> Reply {
        self.request("DELETE", path, None)
    }

    /// Sends one request on a fresh connection.
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.address.to_string());
        let typed = self
            .extra
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        if method != "GET" && !typed {
            request = request.header("content-type", "application/json");
        }
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", format!("hotline_session={cookie}"));
        }
        if let Some(token) = &self.bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in &self.extra {
            request = request.header(name.as_str(), value.as_str());
        }
        let bytes = body
            .map(|b| serde_json::to_vec(b).expect("JSON"))
            .unwrap_or_default();
        let request = request
            .body(Full::new(Bytes::from(bytes)))
            .expect("request");
        self.runtime.block_on(self.send(request))
    }

    async fn send(&self, request: hyper::Request<Full<Bytes>>) -> Reply {
        let tcp = TcpStream::connect(self.address).await.expect("connects");
        let name = ServerName::try_from("localhost").expect("name");
        let tls = self.tls.connect(name, tcp).await.expect("TLS handshake");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("HTTP handshake");
        tokio::spawn(connection);
        let response = sender.send_request(request).await.expect("response");
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            body,
            headers,
        }
    }
}

/// One request a `Receiver` got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub answered: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A plain-HTTP server on loopback that records every POST and answers 500 to the first
/// `failures` of them, 200 after.
#[derive(Debug)]
pub struct Receiver {
    pub address: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    _thread: std::thread::JoinHandle<()>,
}

impl Receiver {
    pub fn start(failures: usize) -> Receiver {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        listener.set_nonblocking(true).expect("non-blocking");
        let address = listener.local_addr().expect("address");
        let log = received.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = axum::Router::new().route(
                    "/{*path}",
                    axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
                        let log = log.clone();
                        async move {
                            let mut log = log.lock().expect("log");
                            let answered = if log.len() < failures { 500 } else { 200 };
                            log.push(Received {
                                headers: headers
                                    .iter()
                                    .map(|(k, v)| {
                                        (k.to_string(), v.to_str().unwrap_or_default().to_owned())
                                    })
                                    .collect(),
                                body: body.to_vec(),
                                answered,
                            });
                            axum::http::StatusCode::from_u16(answered).expect("status")
                        }
                    }),
                );
                axum::serve(listener, app).await.expect("serves");
            });
        });
        Receiver {
            address,
            received,
            _thread: thread,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("log").clone()
    }
}
