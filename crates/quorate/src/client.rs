//! A small blocking HTTP client for the CLI commands.

use std::time::Duration;

use anyhow::{Context, anyhow};
use serde_json::Value;

pub const DEFAULT_ADDR: &str = "127.0.0.1:8101";

pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(timeout).build()
}

/// Turns an API error response into a readable error: "code: message".
fn api_error(addr: &str, e: ureq::Error) -> anyhow::Error {
    match e {
        ureq::Error::Status(code, resp) => {
            let body: Value = resp.into_json().unwrap_or(Value::Null);
            let err = &body["error"];
            match (err["code"].as_str(), err["message"].as_str()) {
                (Some(c), Some(m)) => anyhow!("{c}: {m}"),
                _ => anyhow!("HTTP {code} from {addr}: {body}"),
            }
        }
        ureq::Error::Transport(t) => anyhow!("cannot reach {addr}: {t}"),
    }
}

pub fn get(agent: &ureq::Agent, addr: &str, path: &str) -> anyhow::Result<Value> {
    agent
        .get(&format!("http://{addr}{path}"))
        .call()
        .map_err(|e| api_error(addr, e))?
        .into_json()
        .with_context(|| format!("unreadable answer from {addr}{path}"))
}

pub fn post(agent: &ureq::Agent, addr: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
    agent
        .post(&format!("http://{addr}{path}"))
        .send_json(body.clone())
        .map_err(|e| api_error(addr, e))?
        .into_json()
        .with_context(|| format!("unreadable answer from {addr}{path}"))
}

pub fn delete(agent: &ureq::Agent, addr: &str, path: &str) -> anyhow::Result<Value> {
    agent
        .delete(&format!("http://{addr}{path}"))
        .call()
        .map_err(|e| api_error(addr, e))?
        .into_json()
        .with_context(|| format!("unreadable answer from {addr}{path}"))
}
