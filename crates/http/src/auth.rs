//! Who may call what: HTTP basic authentication against the cluster's accounts.
//!
//! Every endpoint except `/v1/health` (what load balancers poll) needs credentials. Each
//! endpoint needs one of three permissions: `read` (queries, status, checksums, metrics,
//! the status page), `write` (`/v1/execute`) or `admin` (init, membership, leadership,
//! recovery, maintenance). Which account holds which permission is decided by an
//! [`Authenticator`] the binary supplies (the MySQL front end's accounts and grants).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use quorate_node::error::{ErrorCode, NodeError};

use crate::ApiError;

/// The three permissions of the HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Write,
    Admin,
}

impl Permission {
    fn name(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Admin => "admin",
        }
    }
}

/// What an authenticated account may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Access {
    pub read: bool,
    pub write: bool,
    pub admin: bool,
}

impl Access {
    pub const ALL: Access = Access {
        read: true,
        write: true,
        admin: true,
    };

    pub fn allows(&self, p: Permission) -> bool {
        match p {
            Permission::Read => self.read,
            Permission::Write => self.write,
            Permission::Admin => self.admin,
        }
    }
}

/// The answer of an [`Authenticator`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    Granted(Access),
    /// Unknown user or wrong password; the answer is sent after `delay` (failed logins
    /// are slowed down).
    Denied {
        delay: Duration,
    },
    /// Nobody can log in yet; the sentence says what to configure.
    Unavailable(String),
    /// This node cannot check this login now (it holds no accounts yet, or never: a
    /// witness); another node can. Answered 503, so that clients and load balancers
    /// retry elsewhere instead of treating the password as wrong.
    NotReady(String),
}

/// Checks a user name and password. Called on the request's task for every request:
/// implementations should answer repeated checks from a cache. They must not log the
/// password.
pub trait Authenticator: Send + Sync + 'static {
    fn authenticate(&self, user: &str, password: &str, peer: Option<IpAddr>) -> AuthOutcome;
}

/// The permission a request needs; `None` for the open health check.
pub fn required(method: &Method, path: &str) -> Option<Permission> {
    let admin_paths = ["/v1/init", "/v1/leader", "/v1/audit"];
    if path == "/v1/health" {
        None
    } else if path == "/v1/execute" {
        Some(Permission::Write)
    } else if admin_paths.contains(&path)
        || path == "/v1/requests"
        || path.starts_with("/v1/requests/")
        || path.starts_with("/v1/recover/")
        || (path == "/v1/members" && method != Method::GET)
        || path.starts_with("/v1/members/")
        || (path.starts_with("/v1/maintenance/") && path != "/v1/maintenance/log")
    {
        Some(Permission::Admin)
    } else {
        Some(Permission::Read)
    }
}

/// `Authorization: Basic base64(user:password)` → (user, password).
fn basic_credentials(req: &Request) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn unauthenticated(message: impl Into<String>) -> Response {
    let mut r = ApiError(NodeError::new(ErrorCode::Unauthenticated, message)).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"quorate\", charset=\"UTF-8\""),
    );
    r
}

/// The account a request was granted to (an extension of granted requests).
#[derive(Clone)]
pub(crate) struct Caller(pub String);

/// The middleware: authenticates, checks the permission, then runs the handler.
pub(crate) async fn check(
    State(auth): State<Arc<dyn Authenticator>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(need) = required(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let Some((user, password)) = basic_credentials(&req) else {
        return refuse(
            req,
            unauthenticated(
                "this endpoint needs credentials: HTTP basic authentication with a quorate \
                 account (the same accounts as MySQL)",
            ),
        )
        .await;
    };
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    // Answered from the authenticator's cache almost always; a miss reads the local
    // SQLite replica (well under a millisecond), not worth a thread hop per request.
    let outcome = auth.authenticate(&user, &password, peer);
    let refusal = match outcome {
        AuthOutcome::Granted(access) if access.allows(need) => {
            req.extensions_mut().insert(Caller(user));
            return next.run(req).await;
        }
        AuthOutcome::Granted(_) => ApiError(NodeError::new(
            ErrorCode::Forbidden,
            format!(
                "account '{user}' lacks the {} permission this endpoint needs (see docs/API.md, \
                 Authentication)",
                need.name()
            ),
        ))
        .into_response(),
        AuthOutcome::Denied { delay } => {
            tokio::time::sleep(delay).await;
            unauthenticated(format!("access denied for user '{user}'"))
        }
        AuthOutcome::Unavailable(why) => unauthenticated(why),
        AuthOutcome::NotReady(why) => {
            ApiError(NodeError::new(ErrorCode::AccountsUnavailable, why)).into_response()
        }
    };
    refuse(req, refusal).await
}

/// Largest request body read (and dropped) before a refusal, so that the client may send its
/// next request on the same connection.
const REFUSED_BODY_MAX: usize = 64 * 1024;

/// Answers a refused request whose body was never read. Left unread, the body makes the
/// server close the connection after the answer, and a client that reuses it for its next
/// request (most keep connections alive) sees that request fail with an unexpected EOF. A
/// small body is read and dropped; a larger or slow one gets `Connection: close`, so that
/// the client opens a new connection.
async fn refuse(req: Request, mut refusal: Response) -> Response {
    let drained = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        axum::body::to_bytes(req.into_body(), REFUSED_BODY_MAX),
    )
    .await;
    if !matches!(drained, Ok(Ok(_))) {
        refusal
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    refusal
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The health check is the only open endpoint; writes and admin calls need their own
    /// permissions, everything else (including unknown paths) at least `read`.
    #[test]
    fn permissions_of_endpoints() {
        let get = Method::GET;
        let post = Method::POST;
        let delete = Method::DELETE;
        assert_eq!(required(&get, "/v1/health"), None);
        assert_eq!(required(&post, "/v1/execute"), Some(Permission::Write));
        for p in [
            "/v1/query",
            "/v1/status",
            "/v1/checksum",
            "/metrics",
            "/",
            "/nope",
        ] {
            assert_eq!(required(&get, p), Some(Permission::Read), "{p}");
        }
        assert_eq!(required(&post, "/v1/query"), Some(Permission::Read));
        assert_eq!(required(&get, "/v1/members"), Some(Permission::Read));
        assert_eq!(required(&post, "/v1/members"), Some(Permission::Admin));
        assert_eq!(required(&delete, "/v1/members/3"), Some(Permission::Admin));
        assert_eq!(
            required(&post, "/v1/members/3/promote"),
            Some(Permission::Admin)
        );
        assert_eq!(required(&get, "/v1/maintenance"), Some(Permission::Read));
        assert_eq!(
            required(&get, "/v1/maintenance/log"),
            Some(Permission::Read)
        );
        assert_eq!(
            required(&post, "/v1/maintenance/2/begin"),
            Some(Permission::Admin)
        );
        for p in ["/v1/init", "/v1/leader", "/v1/audit", "/v1/recover/prepare"] {
            assert_eq!(required(&post, p), Some(Permission::Admin), "{p}");
        }
        // Other accounts' statements are shown and cancelled there.
        assert_eq!(required(&get, "/v1/requests"), Some(Permission::Admin));
        assert_eq!(
            required(&post, "/v1/requests/2147483649/cancel"),
            Some(Permission::Admin)
        );
    }

    /// Basic credentials are decoded; other schemes and garbage are not credentials.
    #[test]
    fn basic_header_parsing() {
        let with = |v: &str| {
            Request::builder()
                .header(header::AUTHORIZATION, v)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        // "root:pa:ss" — a password may contain ':'.
        assert_eq!(
            basic_credentials(&with("Basic cm9vdDpwYTpzcw==")),
            Some(("root".into(), "pa:ss".into()))
        );
        assert_eq!(basic_credentials(&with("Bearer abc")), None);
        assert_eq!(basic_credentials(&with("Basic !!!")), None);
        assert_eq!(basic_credentials(&with("Basic cm9vdA==")), None); // no ':'
    }
}
