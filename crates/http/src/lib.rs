//! quorate's HTTP front door: the JSON API, `/metrics` and the status page.
//!
//! Every error is JSON: `{"error": {"code": "<stable code>", "message": "<sentence>"}}` with
//! an HTTP status derived from the code (see `quorate_node::error::ErrorCode`).

pub mod auth;
mod client;
mod metrics;
mod page;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State,
};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use quorate_node::api::{AddMemberRequest, ExecuteRequest, InitRequest, QueryRequest};
use quorate_node::error::{ErrorCode, NodeError};
use quorate_node::{MembershipOp, Node};
use serde::Serialize;

pub use auth::{Access, AuthOutcome, Authenticator, Permission};
pub use metrics::Counters;

#[derive(Clone)]
struct AppState {
    node: Node,
    counters: Arc<Counters>,
    clients: Arc<client::Clients>,
}

/// An error as the API returns it.
pub struct ApiError(NodeError);

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        ApiError(e)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a NodeError,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(ErrorBody { error: &self.0 })).into_response()
    }
}

/// When a request must be answered by (`http.request_timeout_ms` after it arrived).
#[derive(Clone, Copy)]
struct Deadline(tokio::time::Instant);

/// A JSON request body, whatever the Content-Type says (curl -d sends form encoding). It
/// must arrive by the request's deadline.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let deadline = req.extensions().get::<Deadline>().copied();
        let read = Bytes::from_request(req, state);
        let read = match deadline {
            Some(d) => tokio::time::timeout_at(d.0, read).await.map_err(|_| {
                ApiError(NodeError::bad_request(
                    "request body not received in time (slow client?)",
                ))
            })?,
            None => read.await,
        };
        let bytes = read.map_err(|e| {
            let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ErrorCode::TooLarge
            } else {
                ErrorCode::BadRequest
            };
            ApiError(NodeError::new(
                code,
                format!("cannot read the request body: {}", e.body_text()),
            ))
        })?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            ApiError(NodeError::bad_request(format!(
                "invalid JSON request body: {e}"
            )))
        })
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The router of the whole HTTP API; every endpoint but `/v1/health` asks `auth`.
pub fn router(node: Node, counters: Arc<Counters>, auth: Arc<dyn Authenticator>) -> Router {
    let limit = node.config().limits.max_request_bytes;
    Router::new()
        .route("/", get(status_page))
        .route("/metrics", get(metrics))
        .route("/v1/execute", post(execute))
        .route("/v1/query", post(query))
        .route("/v1/status", get(status))
        .route("/v1/requests", get(requests))
        .route("/v1/requests/{id}/cancel", post(cancel_request))
        .route("/v1/health", get(health))
        .route("/v1/checksum", get(checksum))
        .route("/v1/init", post(init))
        .route("/v1/members", get(members).post(add_member))
        .route("/v1/members/{id}/promote", post(promote_member))
        .route("/v1/members/{id}", delete(remove_member))
        .route("/v1/leader", post(transfer_leader))
        .route("/v1/recover/prepare", post(recover_prepare))
        .route("/v1/recover/install", post(recover_install))
        .route("/v1/audit", post(audit_record))
        .route("/v1/maintenance", get(maintenance_list))
        .route("/v1/maintenance/log", get(maintenance_log))
        .route("/v1/maintenance/{id}/{action}", post(maintenance_action))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(auth, auth::check))
        .with_state(AppState {
            clients: client::Clients::start(node.clone()),
            node,
            counters,
        })
}

/// The HTTP API being served (see [`serve`]).
pub struct HttpServer {
    local_addr: SocketAddr,
    accept: tokio::task::AbortHandle,
    draining: tokio::sync::watch::Sender<bool>,
    /// One permit per connection that may be open; those taken are the open connections.
    slots: Arc<tokio::sync::Semaphore>,
    max_connections: usize,
}

impl HttpServer {
    /// The address the API listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A clean shutdown's first step: stops taking connections, lets each connection finish
    /// the request it is handling (its answer says `Connection: close`) and closes idle
    /// keep-alive connections. Returns once no connection is left, or at `within` with the
    /// number still open (their requests end with the process: their clients see the
    /// connection lost).
    pub async fn drain(&self, within: std::time::Duration) -> usize {
        self.accept.abort();
        self.draining.send_replace(true);
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let open = self.max_connections - self.slots.available_permits();
            if open == 0 || tokio::time::Instant::now() >= deadline {
                return open;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// Serves `io` until the connection ends; once `draining` turns true, the request in
/// progress is answered and the connection closed (an idle one at once).
async fn serve_until_drained<I, S, B>(
    http: &hyper::server::conn::http1::Builder,
    io: I,
    service: S,
    mut draining: tokio::sync::watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = http.serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        // The borrow `wait_for` returns is dropped before the answer is awaited.
        () = async { drop(draining.wait_for(|d| *d).await) } => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Serves the API on `addr`. Connections are bounded (`http.max_connections`; excess ones
/// are closed at once), headers must arrive within `http.header_timeout_ms` (slowloris),
/// and a request is handled within `http.request_timeout_ms`. With `tls`, every connection
/// must speak TLS (HTTPS); the handshake counts against the header timeout.
pub async fn serve(
    node: Node,
    addr: &str,
    counters: Arc<Counters>,
    auth: Arc<dyn Authenticator>,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
) -> std::io::Result<HttpServer> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen for HTTP on {addr}: {e}"))
    })?;
    let local = listener.local_addr()?;
    let limits = node.config().http.clone();
    let request_timeout = std::time::Duration::from_millis(limits.request_timeout_ms);
    let app = router(node, counters, auth).layer(axum::middleware::from_fn(
        move |mut req: Request, next: axum::middleware::Next| async move {
            let deadline = Deadline(tokio::time::Instant::now() + request_timeout);
            req.extensions_mut().insert(deadline);
            // A SQL request is not cut off from outside: its answer must say what became of
            // its statements. Its body is read by the deadline (`JsonBody`), its statements
            // are interrupted at it (`client`), and its waits have limits of their own.
            if client::is_sql(req.uri().path()) {
                return next.run(req).await;
            }
            match tokio::time::timeout_at(deadline.0, next.run(req)).await {
                Ok(r) => r,
                Err(_) => ApiError(NodeError::new(
                    ErrorCode::BadRequest,
                    "request not completed in time (slow client?)",
                ))
                .into_response(),
            }
        },
    ));
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let header_timeout = std::time::Duration::from_millis(limits.header_timeout_ms);
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let (draining, drain_signal) = tokio::sync::watch::channel(false);
    let server_slots = slots.clone();
    let accept = tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                // A flood: close excess connections rather than exhaust the node.
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let app = app.clone();
            let socket = quorate_node::ClientSocket::of(&stream);
            // Handlers and the authentication check see the client's address; SQL requests
            // watch its socket.
            let service =
                hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    if let Some(socket) = &socket {
                        req.extensions_mut().insert(socket.clone());
                    }
                    tower::ServiceExt::oneshot(app.clone(), req)
                });
            let tls = tls.clone();
            let draining = drain_signal.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(header_timeout);
                match tls {
                    None => {
                        let io = hyper_util::rt::TokioIo::new(stream);
                        serve_until_drained(&http, io, service, draining).await;
                    }
                    Some(acceptor) => {
                        // A handshake still under way when the node drains is abandoned.
                        let mut drained = draining.clone();
                        let handshake =
                            tokio::time::timeout(header_timeout, acceptor.accept(stream));
                        let stream = tokio::select! {
                            r = handshake => match r {
                                Ok(Ok(stream)) => stream,
                                _ => return,
                            },
                            () = async { drop(drained.wait_for(|d| *d).await) } => return,
                        };
                        let io = hyper_util::rt::TokioIo::new(stream);
                        serve_until_drained(&http, io, service, draining).await;
                    }
                }
            });
        }
    });
    Ok(HttpServer {
        local_addr: local,
        accept: accept.abort_handle(),
        draining,
        slots: server_slots,
        max_connections: limits.max_connections,
    })
}

async fn not_found() -> ApiError {
    ApiError(NodeError::new(
        ErrorCode::BadRequest,
        "no such endpoint; see docs/API.md",
    ))
}

async fn execute(
    State(s): State<AppState>,
    connection: Connection,
    JsonBody(req): JsonBody<ExecuteRequest>,
) -> ApiResult<quorate_node::api::ExecuteResponse> {
    let r = execute_as_client(&s, connection, req).await;
    s.counters.record("execute", r.as_ref().err());
    Ok(Json(r?))
}

/// What a SQL request brings besides its body.
struct Connection {
    /// The account it was granted to.
    user: Option<String>,
    /// The client's address.
    client: Option<SocketAddr>,
    /// When it must be answered.
    deadline: Option<tokio::time::Instant>,
    /// Its client's socket, watched for a hang-up.
    socket: Option<quorate_node::ClientSocket>,
    /// Its query string.
    params: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Connection {
    type Rejection = std::convert::Infallible;

    /// What `serve` and the authentication check put in the request's extensions.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ext = &parts.extensions;
        Ok(Connection {
            user: ext.get::<auth::Caller>().map(|c| c.0.clone()),
            client: ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0),
            deadline: ext.get::<Deadline>().map(|d| d.0),
            socket: ext.get::<quorate_node::ClientSocket>().cloned(),
            params: parts.uri.query().map(str::to_string),
        })
    }
}

/// Runs a batch as a client of its own (see `client`).
async fn execute_as_client(
    s: &AppState,
    connection: Connection,
    mut req: ExecuteRequest,
) -> Result<quorate_node::api::ExecuteResponse, NodeError> {
    let limit = client::Limit::of(connection.params.as_deref(), connection.deadline)?;
    client::refuse_context(req.statements.iter().map(|st| &st.context[..]))?;
    let sql: Vec<&str> = req.statements.iter().map(|st| st.sql.as_str()).collect();
    let about = client::About::new("/v1/execute", connection.user, connection.client, &sql);
    client::run(&s.clients, about, limit, connection.socket, |context| {
        for st in &mut req.statements {
            st.context = context.clone();
        }
        s.node.execute(req)
    })
    .await
}

async fn query(
    State(s): State<AppState>,
    connection: Connection,
    JsonBody(req): JsonBody<QueryRequest>,
) -> ApiResult<quorate_node::api::QueryResponse> {
    let r = query_as_client(&s, connection, req).await;
    s.counters.record("query", r.as_ref().err());
    Ok(Json(r?))
}

/// Runs a query as a client of its own (see `client`).
async fn query_as_client(
    s: &AppState,
    connection: Connection,
    mut req: QueryRequest,
) -> Result<quorate_node::api::QueryResponse, NodeError> {
    let limit = client::Limit::of(connection.params.as_deref(), connection.deadline)?;
    client::refuse_context(std::iter::once(&req.context[..]))?;
    let about = client::About::new(
        "/v1/query",
        connection.user,
        connection.client,
        &[req.sql.as_str()],
    );
    client::run(&s.clients, about, limit, connection.socket, |context| {
        req.context = context;
        s.node.query(req)
    })
    .await
}

/// The statements this node's clients run: its HTTP requests and MySQL connections.
async fn requests(State(s): State<AppState>) -> Json<Vec<client::RequestView>> {
    Json(s.clients.list())
}

#[derive(Serialize)]
struct Cancelled {
    cancelled: u64,
}

/// Cancels one of them: its statements are interrupted wherever they run.
async fn cancel_request(State(s): State<AppState>, Path(id): Path<u64>) -> ApiResult<Cancelled> {
    s.clients.cancel(id)?;
    Ok(Json(Cancelled { cancelled: id }))
}

async fn status(State(s): State<AppState>) -> Json<quorate_node::Status> {
    Json(s.node.status().await)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    node_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// 200 only when this node can serve linearizable writes now; else 503 with the reason.
async fn health(State(s): State<AppState>) -> Response {
    let (ok, reason) = s.node.writable();
    let warnings = if ok {
        s.node.status().await.warnings
    } else {
        Vec::new()
    };
    let body = Health {
        status: if ok { "ok" } else { "unavailable" },
        node_id: s.node.id(),
        reason,
        warnings,
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

async fn checksum(State(s): State<AppState>) -> ApiResult<quorate_store::Checksum> {
    let r = s.node.store().checksum().await;
    Ok(Json(r.map_err(NodeError::from)?))
}

async fn init(State(s): State<AppState>, body: Bytes) -> ApiResult<quorate_node::InitOutcome> {
    let req = if body.iter().all(|b| b.is_ascii_whitespace()) {
        InitRequest { members: None }
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError(NodeError::bad_request(format!(
                "invalid JSON request body: {e}"
            )))
        })?
    };
    Ok(Json(s.node.init(req).await?))
}

async fn members(State(s): State<AppState>) -> Json<Vec<quorate_node::MemberStatus>> {
    Json(s.node.status().await.members)
}

#[derive(Serialize)]
struct MembersChanged {
    members: Vec<u64>,
}

async fn add_member(
    State(s): State<AppState>,
    JsonBody(req): JsonBody<AddMemberRequest>,
) -> ApiResult<MembersChanged> {
    Ok(Json(MembersChanged {
        members: s.node.membership(MembershipOp::Add(req)).await?,
    }))
}

async fn promote_member(
    State(s): State<AppState>,
    Path(id): Path<u64>,
) -> ApiResult<MembersChanged> {
    Ok(Json(MembersChanged {
        members: s.node.membership(MembershipOp::Promote(id)).await?,
    }))
}

async fn remove_member(
    State(s): State<AppState>,
    Path(id): Path<u64>,
) -> ApiResult<MembersChanged> {
    Ok(Json(MembersChanged {
        members: s.node.membership(MembershipOp::Remove(id)).await?,
    }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferRequest {
    /// The voter to lead; omitted: the most up-to-date data voter.
    #[serde(default)]
    to: Option<u64>,
}

#[derive(Serialize)]
struct Leader {
    leader: u64,
}

async fn transfer_leader(
    State(s): State<AppState>,
    JsonBody(req): JsonBody<TransferRequest>,
) -> ApiResult<Leader> {
    let r = s
        .node
        .membership(MembershipOp::TransferLeader(req.to))
        .await?;
    Ok(Json(Leader {
        leader: r.first().copied().unwrap_or(0),
    }))
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct MaintenanceRequest {
    /// Who is acting (recorded in the audit log).
    operator: Option<String>,
    /// Proceed although the plan is not safe (recorded).
    accept_risk: bool,
    /// Proceed outside the configured maintenance windows.
    yes: bool,
}

async fn maintenance_action(
    State(s): State<AppState>,
    Path((id, action)): Path<(u64, String)>,
    body: Bytes,
) -> ApiResult<quorate_node::maintenance::MaintenanceReply> {
    use quorate_node::maintenance::MaintenanceOp;
    let req: MaintenanceRequest = if body.iter().all(|b| b.is_ascii_whitespace()) {
        MaintenanceRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError(NodeError::bad_request(format!(
                "invalid JSON request body: {e}"
            )))
        })?
    };
    let operator = req.operator.unwrap_or_else(|| "api".into());
    let op = match action.as_str() {
        "plan" => MaintenanceOp::Plan { node: id },
        "begin" => MaintenanceOp::Begin {
            node: id,
            operator,
            accept_risk: req.accept_risk,
            outside_window_ok: req.yes,
        },
        "ack" => MaintenanceOp::Ack { node: id, operator },
        "abort" => MaintenanceOp::Abort { node: id, operator },
        "end" => MaintenanceOp::End { node: id, operator },
        other => {
            return Err(ApiError(NodeError::bad_request(format!(
                "unknown maintenance action `{other}` (plan, begin, ack, abort, end)"
            ))));
        }
    };
    Ok(Json(s.node.maintenance(op).await?))
}

async fn recover_prepare(
    State(s): State<AppState>,
    JsonBody(req): JsonBody<quorate_node::recover::RecoverPrepareRequest>,
) -> ApiResult<quorate_node::recover::RecoverPrepared> {
    Ok(Json(s.node.recover_prepare(req).await?))
}

#[derive(Serialize)]
struct Staged {
    staged: bool,
    restarting: bool,
}

async fn recover_install(
    State(s): State<AppState>,
    JsonBody(req): JsonBody<quorate_node::recover::RecoverInstallRequest>,
) -> ApiResult<Staged> {
    s.node.recover_install(req).await?;
    Ok(Json(Staged {
        staged: true,
        restarting: true,
    }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditRequest {
    operator: String,
    action: String,
    detail: String,
}

async fn audit_record(
    State(s): State<AppState>,
    JsonBody(req): JsonBody<AuditRequest>,
) -> ApiResult<quorate_node::maintenance::MaintenanceReply> {
    use quorate_node::maintenance::MaintenanceOp;
    Ok(Json(
        s.node
            .maintenance(MaintenanceOp::Record {
                operator: req.operator,
                action: req.action,
                detail: req.detail,
            })
            .await?,
    ))
}

async fn maintenance_list(
    State(s): State<AppState>,
) -> ApiResult<quorate_node::maintenance::MaintenanceReply> {
    Ok(Json(
        s.node
            .maintenance(quorate_node::maintenance::MaintenanceOp::List)
            .await?,
    ))
}

#[derive(serde::Deserialize)]
struct LogQuery {
    limit: Option<u32>,
}

async fn maintenance_log(
    State(s): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<LogQuery>,
) -> ApiResult<quorate_node::maintenance::MaintenanceReply> {
    let limit = q.limit.unwrap_or(100).min(10_000);
    Ok(Json(
        s.node
            .maintenance(quorate_node::maintenance::MaintenanceOp::Log { limit })
            .await?,
    ))
}

async fn metrics(State(s): State<AppState>) -> Response {
    let text = metrics::render(&s.node, &s.counters, &s.clients.list()).await;
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

async fn status_page() -> Html<&'static str> {
    Html(page::PAGE)
}

/// Fuzzing entry point: parses `data` as every JSON request body the API accepts. Must
/// never panic.
pub fn fuzz_decode_body(data: &[u8]) {
    let _ = serde_json::from_slice::<ExecuteRequest>(data);
    let _ = serde_json::from_slice::<QueryRequest>(data);
    let _ = serde_json::from_slice::<AddMemberRequest>(data);
    let _ = serde_json::from_slice::<InitRequest>(data);
    let _ = serde_json::from_slice::<MaintenanceRequest>(data);
    let _ = serde_json::from_slice::<TransferRequest>(data);
    let _ = serde_json::from_slice::<quorate_node::recover::RecoverInstallRequest>(data);
}
