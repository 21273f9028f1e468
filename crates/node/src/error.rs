//! The errors clients see: a stable code and a sentence for a human.

use serde::{Deserialize, Serialize};

use quorate_store::StoreError;

/// Stable error codes (part of the API; never renamed).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed (JSON, missing fields, wrong types).
    BadRequest,
    /// SQLite rejected the statement (syntax, constraint, no such table, ...).
    SqlError,
    /// Valid SQL that quorate refuses (the message says why).
    Refused,
    /// Too large (request, result or transaction).
    TooLarge,
    /// No leader with a majority is reachable: writes and linearizable reads are refused.
    NoQuorum,
    /// This node stopped leading while handling the request (retried internally; seen by
    /// clients only if leadership keeps moving).
    NotLeader,
    /// A bounded read could not be served within the staleness asked for.
    TooStale,
    /// The transaction was rolled back (leader change, conflict); retrying is safe.
    Aborted,
    /// The statement was interrupted (MySQL `KILL QUERY`, `max_execution_time`); an
    /// explicit transaction it ran in on the writer was rolled back. Not retried.
    Interrupted,
    /// The write was sent but its fate is unknown; check before retrying.
    OutcomeUnknown,
    /// Waited too long for the writer.
    LockTimeout,
    /// A membership call named a node that is not a member (or not reachable to add).
    UnknownNode,
    /// `init` on a cluster that was already formed with other members.
    AlreadyInitialized,
    /// The node is not initialized yet (no cluster formed).
    NotInitialized,
    /// This node is a witness and holds no data.
    Witness,
    /// This replica stopped because its data no longer matches the log.
    Diverged,
    /// No credentials, or wrong ones (HTTP 401).
    Unauthenticated,
    /// The credentials are valid but lack the permission this call needs (HTTP 403).
    Forbidden,
    /// This node cannot check credentials yet: it has not received the cluster's accounts
    /// (joining, catching up) or never holds them (a witness). Another node can (HTTP 503).
    AccountsUnavailable,
    /// Anything else (a bug, an I/O error).
    Internal,
}

/// An error with its code, a sentence, and where known the failing statement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct NodeError {
    pub code: ErrorCode,
    pub message: String,
    /// For batches: index of the statement that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_index: Option<usize>,
    /// For `sql_error`: SQLite's extended result code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqlite_code: Option<i32>,
}

impl NodeError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            statement_index: None,
            sqlite_code: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    pub fn at_statement(mut self, index: usize) -> Self {
        self.statement_index = Some(index);
        self
    }

    /// True if the same request may simply be sent again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.code,
            ErrorCode::Aborted
                | ErrorCode::NoQuorum
                | ErrorCode::LockTimeout
                | ErrorCode::NotLeader
        )
    }

    /// True if a statement failing with this error ended its transaction (rolled back).
    pub fn ends_transaction(&self) -> bool {
        matches!(self.code, ErrorCode::Aborted | ErrorCode::Interrupted)
    }

    /// HTTP status for this error.
    pub fn http_status(&self) -> u16 {
        match self.code {
            ErrorCode::BadRequest | ErrorCode::SqlError | ErrorCode::Refused => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::UnknownNode => 404,
            ErrorCode::Aborted
            | ErrorCode::LockTimeout
            | ErrorCode::AlreadyInitialized
            | ErrorCode::Interrupted => 409,
            ErrorCode::TooLarge => 413,
            ErrorCode::NoQuorum
            | ErrorCode::NotLeader
            | ErrorCode::TooStale
            | ErrorCode::NotInitialized
            | ErrorCode::Witness
            | ErrorCode::Diverged
            | ErrorCode::AccountsUnavailable => 503,
            ErrorCode::OutcomeUnknown => 504,
            ErrorCode::Internal => 500,
        }
    }
}

impl From<StoreError> for NodeError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        if e.is_interrupt() {
            return NodeError::new(ErrorCode::Interrupted, message);
        }
        match e {
            StoreError::Sql(inner) => {
                let code = match &inner {
                    quorate_store::rusqlite::Error::SqliteFailure(f, _) => Some(f.extended_code),
                    _ => None,
                };
                NodeError {
                    code: ErrorCode::SqlError,
                    message,
                    statement_index: None,
                    sqlite_code: code,
                }
            }
            StoreError::Refused(_) => NodeError::new(ErrorCode::Refused, message),
            StoreError::Aborted(_) => NodeError::new(ErrorCode::Aborted, message),
            StoreError::Interrupted(_) => NodeError::new(ErrorCode::Interrupted, message),
            StoreError::OutcomeUnknown(_) => NodeError::new(ErrorCode::OutcomeUnknown, message),
            StoreError::LockTimeout(..) => NodeError::new(ErrorCode::LockTimeout, message),
            StoreError::TooLarge(_) => NodeError::new(ErrorCode::TooLarge, message),
            StoreError::Diverged { .. } => NodeError::new(ErrorCode::Diverged, message),
            StoreError::Witness => NodeError::new(ErrorCode::Witness, message),
            StoreError::Corrupt(_) | StoreError::Io(_) => NodeError::internal(message),
        }
    }
}
