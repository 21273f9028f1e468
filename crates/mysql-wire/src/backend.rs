//! The trait the database implements: what the wire crate asks of it.

use std::future::Future;

use crate::types::{Column, ConnectInfo, ErrInfo, PrepareInfo, QueryResult, SessionStatus, Value};

/// One backend per client connection; the wire crate calls it for every command.
///
/// All futures must be `Send` so a connection can run on a multi-threaded runtime. The
/// wire crate never calls two methods at once, and never calls anything before
/// `on_connect` except `auth_lookup` and `on_auth_failed`.
pub trait Backend: Send {
    /// SHA1(SHA1(password)) of `user` (see [`native_password_hash`](crate::native_password_hash)),
    /// `Some(None)` for a user with an empty password, `None` if no such user.
    fn auth_lookup(&mut self, user: &str) -> impl Future<Output = Option<Option<[u8; 20]>>> + Send;

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

    /// The session state to report in the status flags of the next OK / EOF packet.
    fn status(&self) -> SessionStatus;

    /// Connection ended (quit, error, timeout). Roll back anything open; prepared
    /// statements still open are gone too (no `close` calls follow). Called exactly once
    /// for every connection whose `on_connect` succeeded, unless the serving future itself
    /// is dropped.
    fn on_disconnect(&mut self) -> impl Future<Output = ()> + Send;
}
