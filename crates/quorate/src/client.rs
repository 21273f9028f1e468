//! A small blocking HTTP client for the CLI commands.
//!
//! Every call carries the operator's credentials (HTTP basic authentication: `--user` /
//! `QUORATE_USER`, `--password` / `QUORATE_PASSWORD`), and speaks HTTPS when a CA is given
//! (`--ca` / `QUORATE_CA`, for nodes with `[tls] http = true`).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, anyhow};
use base64::Engine;
use serde_json::Value;

pub const DEFAULT_ADDR: &str = "127.0.0.1:8101";

/// Who the CLI is and how it reaches the nodes.
#[derive(Clone, Default)]
pub struct Credentials {
    pub user: String,
    pub password: Option<String>,
    /// Verify HTTPS against this CA; `None`: plain HTTP.
    pub ca: Option<PathBuf>,
}

static CREDENTIALS: OnceLock<Credentials> = OnceLock::new();
static TLS: OnceLock<Option<Arc<rustls::ClientConfig>>> = OnceLock::new();

/// Sets the process's credentials (once, before any call).
pub fn configure(c: Credentials) {
    let _ = CREDENTIALS.set(c);
}

fn credentials() -> &'static Credentials {
    CREDENTIALS.get_or_init(|| Credentials {
        user: "root".into(),
        ..Credentials::default()
    })
}

/// `http` or `https`, as configured.
pub fn scheme() -> &'static str {
    if credentials().ca.is_some() {
        "https"
    } else {
        "http"
    }
}

/// The value of the Authorization header for `user` / `password`.
pub fn basic_auth(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// An agent with the configured credentials, TLS trust and `timeout`.
pub fn agent(timeout: Duration) -> ureq::Agent {
    let c = credentials();
    build_agent(&c.user, c.password.as_deref(), timeout)
}

/// An agent that logs in as `user` / `password` (the configured TLS trust still applies).
pub fn agent_as(user: &str, password: &str, timeout: Duration) -> ureq::Agent {
    build_agent(user, Some(password), timeout)
}

fn build_agent(user: &str, password: Option<&str>, timeout: Duration) -> ureq::Agent {
    let c = credentials();
    let mut b = ureq::AgentBuilder::new().timeout(timeout);
    if let Some(pw) = password {
        let header = basic_auth(user, pw);
        b = b.middleware(AuthHeader(header));
    }
    let tls = TLS.get_or_init(|| {
        c.ca.as_ref().map(|ca| {
            quorate_tls::client_trusting(ca).unwrap_or_else(|e| {
                eprintln!("error: --ca {}: {e}", ca.display());
                std::process::exit(1)
            })
        })
    });
    if let Some(t) = tls {
        b = b.tls_config(t.clone());
    }
    b.build()
}

/// Turns an API error response into a readable error: "code: message".
fn api_error(addr: &str, e: ureq::Error) -> anyhow::Error {
    match e {
        ureq::Error::Status(code, resp) => {
            let body: Value = resp.into_json().unwrap_or(Value::Null);
            let err = &body["error"];
            match (err["code"].as_str(), err["message"].as_str()) {
                (Some("unauthenticated"), Some(m)) if credentials().password.is_none() => anyhow!(
                    "unauthenticated: {m}; give the password with QUORATE_PASSWORD (or \
                     --password) and the account with QUORATE_USER (default root)"
                ),
                (Some(c), Some(m)) => anyhow!("{c}: {m}"),
                _ => anyhow!("HTTP {code} from {addr}: {body}"),
            }
        }
        ureq::Error::Transport(t) => anyhow!("cannot reach {addr}: {t}"),
    }
}

/// The URL of `path` on the node at `addr`: `host:port`, or the URL the demo prints
/// (`http://host:port`; whether HTTPS is spoken is decided by `--ca`).
pub fn url(addr: &str, path: &str) -> String {
    let addr = addr
        .strip_prefix("http://")
        .or_else(|| addr.strip_prefix("https://"))
        .unwrap_or(addr)
        .trim_end_matches('/');
    format!("{}://{addr}{path}", scheme())
}

pub fn get(agent: &ureq::Agent, addr: &str, path: &str) -> anyhow::Result<Value> {
    agent
        .get(&url(addr, path))
        .call()
        .map_err(|e| api_error(addr, e))?
        .into_json()
        .with_context(|| format!("unreadable answer from {addr}{path}"))
}

pub fn post(agent: &ureq::Agent, addr: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
    agent
        .post(&url(addr, path))
        .send_json(body.clone())
        .map_err(|e| api_error(addr, e))?
        .into_json()
        .with_context(|| format!("unreadable answer from {addr}{path}"))
}

pub fn delete(agent: &ureq::Agent, addr: &str, path: &str) -> anyhow::Result<Value> {
    agent
        .delete(&url(addr, path))
        .call()
        .map_err(|e| api_error(addr, e))?
        .into_json()
        .with_context(|| format!("unreadable answer from {addr}{path}"))
}

/// Adds an `Authorization` header to every request of an agent.
struct AuthHeader(String);

impl ureq::Middleware for AuthHeader {
    fn handle(
        &self,
        request: ureq::Request,
        next: ureq::MiddlewareNext,
    ) -> Result<ureq::Response, ureq::Error> {
        next.handle(request.set("Authorization", &self.0))
    }
}
