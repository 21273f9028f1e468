//! quorate's errors in MySQL's terms: codes, SQLSTATEs and messages clients act on.
//!
//! | quorate | MySQL |
//! |---|---|
//! | SQLite error (`sql_error`) | what `quorate_sql::mysql_error_for` says (1062, 1146, 1064, ...) |
//! | `aborted` (leader change, rolled back) | 1213 `ER_LOCK_DEADLOCK`, 40001: retry the transaction |
//! | `lock_timeout` | 1205 `ER_LOCK_WAIT_TIMEOUT`, HY000 |
//! | `no_quorum`, `not_leader`, `not_initialized`, `witness`, `diverged` | 1047 `ER_UNKNOWN_COM_ERROR`, 08S01 (Galera's "not ready"), naming the cause |
//! | `outcome_unknown` | 1180 `ER_ERROR_DURING_COMMIT`, HY000: may or may not have committed |
//! | `refused` | 1235 `ER_NOT_SUPPORTED_YET`, 42000 |
//! | `too_stale` | 1105, HY000 |
//! | `too_large` | 1105, HY000 |

use quorate_mysql_wire::ErrInfo;
use quorate_node::error::{ErrorCode, NodeError};
use quorate_sql::{MysqlError, SqlError};
use quorate_store::rusqlite;

/// ER_LOCK_DEADLOCK: the transaction was rolled back; retrying it is safe.
pub(crate) const ER_LOCK_DEADLOCK: u16 = 1213;
/// The one code for "the cluster cannot serve this now" (no quorum, no leader, ...).
pub(crate) const ER_NOT_READY: u16 = 1047;
/// ER_ERROR_DURING_COMMIT: used for "outcome unknown".
pub(crate) const ER_ERROR_DURING_COMMIT: u16 = 1180;

pub(crate) fn err(code: u16, sqlstate: &[u8; 5], message: impl Into<String>) -> ErrInfo {
    ErrInfo::new(code, sqlstate, message)
}

pub(crate) fn from_mysql(e: MysqlError) -> ErrInfo {
    ErrInfo::new(e.code, &e.sqlstate, e.message)
}

pub(crate) fn from_sql(e: &SqlError) -> ErrInfo {
    from_mysql(e.mysql_error())
}

/// 1213: the transaction is gone; `why` says what happened.
pub(crate) fn deadlock(why: &str) -> ErrInfo {
    err(
        ER_LOCK_DEADLOCK,
        b"40001",
        format!(
            "Deadlock found when trying to get lock; try restarting transaction ({why}; \
             nothing of the transaction was applied)"
        ),
    )
}

/// 1317 for a statement stopped by `KILL QUERY` (the session turns it into 3024 when its
/// time limit stopped it), saying whether its transaction was rolled back.
fn interrupted(e: &NodeError) -> ErrInfo {
    let rolled_back = if e.message.contains("rolled back") {
        "; the transaction was rolled back"
    } else {
        ""
    };
    err(
        1317,
        b"70100",
        format!("Query execution was interrupted{rolled_back}"),
    )
}

/// The MySQL error for a node error. `sqlite` is the SQLite statement that failed, if
/// known (it refines a few codes and is cut from SQLite's messages).
pub(crate) fn from_node(e: &NodeError, sqlite: Option<&str>) -> ErrInfo {
    match e.code {
        ErrorCode::SqlError => from_sqlite(e, sqlite),
        ErrorCode::Aborted => deadlock(&e.message),
        ErrorCode::Interrupted => interrupted(e),
        ErrorCode::LockTimeout => err(
            1205,
            b"HY000",
            format!(
                "Lock wait timeout exceeded; try restarting transaction ({})",
                e.message
            ),
        ),
        ErrorCode::NoQuorum
        | ErrorCode::NotLeader
        | ErrorCode::NotInitialized
        | ErrorCode::Witness
        | ErrorCode::Diverged
        | ErrorCode::AccountsUnavailable => err(
            ER_NOT_READY,
            b"08S01",
            format!("Node is not ready for application use: {}", e.message),
        ),
        ErrorCode::OutcomeUnknown => err(
            ER_ERROR_DURING_COMMIT,
            b"HY000",
            format!(
                "Got error during COMMIT: its outcome is unknown, the transaction may or may \
                 not have been committed ({}); check before retrying",
                e.message
            ),
        ),
        ErrorCode::Refused => refused(&e.message),
        ErrorCode::TooStale
        | ErrorCode::TooLarge
        | ErrorCode::BadRequest
        | ErrorCode::UnknownNode
        | ErrorCode::AlreadyInitialized
        | ErrorCode::Unauthenticated
        | ErrorCode::Forbidden
        | ErrorCode::Internal => err(1105, b"HY000", e.message.clone()),
    }
}

fn refused(message: &str) -> ErrInfo {
    let m = message.strip_prefix("not supported: ").unwrap_or(message);
    if m.starts_with("SAVEPOINT") && m.ends_with("does not exist") {
        return err(1305, b"42000", m.to_string());
    }
    err(
        1235,
        b"42000",
        format!("This version of quorate doesn't yet support this: {m}"),
    )
}

/// SQLite's error (code and message, as the node reports it) in MySQL's terms.
fn from_sqlite(e: &NodeError, sqlite: Option<&str>) -> ErrInfo {
    let mut msg = e.message.as_str();
    // Errors found while preparing read "<message> in <sql> at offset <n>".
    if let Some(sql) = sqlite
        && let Some(pos) = msg.rfind(&format!(" in {sql} at offset "))
    {
        msg = &msg[..pos];
    }
    let code = e.sqlite_code.unwrap_or(1);
    let failure =
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some(msg.to_string()));
    from_mysql(quorate_sql::mysql_error_for(&failure, sqlite.unwrap_or("")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_err(code: ErrorCode, message: &str, sqlite_code: Option<i32>) -> NodeError {
        NodeError {
            code,
            message: message.into(),
            statement_index: None,
            sqlite_code,
        }
    }

    /// SQLite's errors keep their MySQL codes when they come back from the node (possibly
    /// from another node, as code and text).
    #[test]
    fn sqlite_errors_map_to_mysql_codes() {
        let sql = "SELECT * FROM \"d.nope\" AS \"nope\"";
        let e = node_err(
            ErrorCode::SqlError,
            &format!("no such table: d.nope in {sql} at offset 14"),
            Some(1),
        );
        let m = from_node(&e, Some(sql));
        assert_eq!(m.code, 1146);
        assert_eq!(m.message, "Table 'd.nope' doesn't exist");
        let dup = node_err(
            ErrorCode::SqlError,
            "UNIQUE constraint failed: d.t.id",
            Some(1555),
        );
        assert_eq!(from_node(&dup, Some("INSERT INTO \"d.t\"")).code, 1062);
        let syntax = node_err(ErrorCode::SqlError, "near \"SELEC\": syntax error", Some(1));
        assert_eq!(from_node(&syntax, None).code, 1064);
    }

    /// Cluster conditions map to the documented codes.
    #[test]
    fn cluster_errors_map_to_documented_codes() {
        let q = from_node(
            &node_err(
                ErrorCode::NoQuorum,
                "no quorum: 1 of 3 voters reachable",
                None,
            ),
            None,
        );
        assert_eq!((q.code, &q.sqlstate), (1047, b"08S01"));
        assert!(q.message.contains("1 of 3 voters reachable"));
        let a = from_node(&node_err(ErrorCode::Aborted, "leader changed", None), None);
        assert_eq!((a.code, &a.sqlstate), (1213, b"40001"));
        let u = from_node(&node_err(ErrorCode::OutcomeUnknown, "timeout", None), None);
        assert_eq!(u.code, 1180);
        assert!(u.message.contains("may or may not"));
        let l = from_node(&node_err(ErrorCode::LockTimeout, "10s", None), None);
        assert_eq!(l.code, 1205);
    }
}
