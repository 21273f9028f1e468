//! The trait the database implements: what the wire crate asks of it.

use std::future::Future;
use std::net::SocketAddr;

use crate::consts::codes;
use crate::password::Credential;
use crate::types::{Column, ConnectInfo, ErrInfo, PrepareInfo, QueryResult, SessionStatus, Value};

/// What the connection does when [`Backend::idle_event`] completes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdleEvent {
    /// Keep waiting for the client's next command (the backend handled the event itself,
    /// for example by rolling back a transaction a leader change aborted).
    Continue,
    /// Close the connection, first sending this error if there is one (for example after
    /// `KILL`). `on_disconnect` is called as for any other end of the connection.
    Close(Option<ErrInfo>),
}

/// One backend per client connection; the wire crate calls it for every command.
///
/// All futures must be `Send` so a connection can run on a multi-threaded runtime. The
/// wire crate never calls two methods at once, and never calls anything before
/// `on_connect` except `auth_lookup` and `on_auth_failed`.
pub trait Backend: Send {
    /// Called once when the client connected, before the greeting: the id the greeting
    /// will carry and the client's address (for host-based accounts and for slowing down
    /// failed logins per peer). The default does nothing.
    fn on_accept(&mut self, connection_id: u32, peer: Option<SocketAddr>) {
        let _ = (connection_id, peer);
    }

    /// Called by [`serve_listener`](crate::serve_listener), before `on_accept`, with a
    /// copy of the client's TCP socket (the same connection, shared with the wire crate),
    /// so that the backend can notice a client that hangs up while a command runs: the
    /// wire crate reads nothing from the client until the command's answer is sent. The
    /// backend must neither read from nor write to it. The default drops it.
    fn on_socket(&mut self, socket: std::net::TcpStream) {
        let _ = socket;
    }

    /// The stored credential of `user`, `None` if there is no such user. An error refuses
    /// the login with it (the backend cannot decide now, for example a node that has not
    /// received its accounts yet).
    fn auth_lookup(
        &mut self,
        user: &str,
    ) -> impl Future<Output = Result<Option<Credential>, ErrInfo>> + Send;

    /// Whether the account that just logged in may take the session kept for an
    /// administrator when `max_connections` sessions are taken (MySQL keeps one for
    /// SUPER). Asked by [`serve_listener`](crate::serve_listener) after authentication,
    /// before `on_connect`, only when every other slot is taken. The default: no.
    fn administrator(&mut self) -> bool {
        false
    }

    /// Called once after authentication succeeded, and again with `info.reset == true` on
    /// COM_RESET_CONNECTION; may refuse (for example unknown database, 1049).
    fn on_connect(
        &mut self,
        info: &ConnectInfo,
    ) -> impl Future<Output = Result<(), ErrInfo>> + Send;

    /// Called after a failed authentication (the caller may slow down the next attempt).
    fn on_auth_failed(&mut self, user: &str) -> impl Future<Output = ()> + Send;

    /// COM_QUERY. One result per statement; when the client did not enable
    /// multi-statements the backend gets `multi == false` and must refuse more than one
    /// statement itself. Stop at the first `Err`. An empty vector is answered with OK.
    fn query(&mut self, sql: &str, multi: bool) -> impl Future<Output = Vec<QueryResult>> + Send;

    /// COM_QUERY as the client sent it: the wire crate calls this one. The default passes
    /// UTF-8 text to [`Backend::query`] and refuses anything else with ERR 1300; a backend
    /// that can take binary data inside string literals (as `mysqldump` writes BLOBs)
    /// overrides it.
    fn query_bytes(
        &mut self,
        sql: &[u8],
        multi: bool,
    ) -> impl Future<Output = Vec<QueryResult>> + Send {
        async move {
            match std::str::from_utf8(sql) {
                Ok(text) => self.query(text, multi).await,
                Err(e) => vec![QueryResult::Err(invalid_utf8(e.valid_up_to()))],
            }
        }
    }

    /// COM_STMT_PREPARE. `stmt_id` is assigned by the wire crate.
    fn prepare(
        &mut self,
        stmt_id: u32,
        sql: &str,
    ) -> impl Future<Output = Result<PrepareInfo, ErrInfo>> + Send;

    /// COM_STMT_EXECUTE of a statement `prepare` accepted; `params` has exactly as many
    /// values as `PrepareInfo::params` had entries.
    fn execute(
        &mut self,
        stmt_id: u32,
        params: Vec<Value>,
    ) -> impl Future<Output = QueryResult> + Send;

    /// COM_STMT_CLOSE (also called for every open statement on COM_RESET_CONNECTION).
    fn close(&mut self, stmt_id: u32) -> impl Future<Output = ()> + Send;

    /// COM_INIT_DB (`USE db` from most clients).
    fn init_db(&mut self, db: &str) -> impl Future<Output = Result<(), ErrInfo>> + Send;

    /// COM_FIELD_LIST: the columns of `table` (deprecated by MySQL, still sent by some
    /// clients for tab completion).
    fn field_list(
        &mut self,
        table: &str,
    ) -> impl Future<Output = Result<Vec<Column>, ErrInfo>> + Send;

    /// Runs while the connection waits for the client's next command and is dropped as
    /// soon as one arrives (so it must be cancel-safe). It lets the backend react to events
    /// of its own while the client is idle: a transaction aborted under an idle client, a
    /// `KILL` from another connection. After [`IdleEvent::Continue`] it is called again, so
    /// it must not complete at once every time. The default never completes.
    fn idle_event(&mut self) -> impl Future<Output = IdleEvent> + Send {
        std::future::pending()
    }

    /// The session state to report in the status flags of the next OK / EOF packet.
    fn status(&self) -> SessionStatus;

    /// Connection ended (quit, error, timeout). Roll back anything open; prepared
    /// statements still open are gone too (no `close` calls follow). Called exactly once
    /// for every connection whose `on_connect` succeeded, unless the serving future itself
    /// is dropped.
    fn on_disconnect(&mut self) -> impl Future<Output = ()> + Send;
}

/// The error for COM_QUERY text that is not UTF-8.
pub(crate) fn invalid_utf8(valid_up_to: usize) -> ErrInfo {
    ErrInfo::new(
        codes::ER_INVALID_CHARACTER_STRING,
        b"HY000",
        format!(
            "Invalid utf8mb4 character string in query at byte {valid_up_to}; send binary data \
             as X'..' literals or as prepared statement parameters"
        ),
    )
}
