//! What user SQL may do, decided by SQLite's authorizer at prepare time.
//!
//! The authorizer sees every action a statement will take (tables it reads or writes,
//! schema changes, pragmas, attach, transaction control, functions) before it runs. We use
//! it for two things:
//! - refuse what would break replication or our bookkeeping, with a reason a human can act
//!   on (`ATTACH`, temporary objects, virtual tables, `CREATE TABLE ... AS SELECT`,
//!   transaction control inside a statement, writable pragmas, quorate's own tables);
//! - classify statements: does this one change the schema (DDL is replicated as text)?

use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};

use crate::schema::INTERNAL_PREFIX;

/// Pragmas a user statement may run: read-only introspection.
const READ_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "table_list",
    "collation_list",
    "function_list",
];

/// What the authorizer learned about the statement being prepared.
#[derive(Debug, Default, Clone)]
pub(crate) struct Classification {
    /// The statement changes the schema.
    pub ddl: bool,
    /// The statement creates a table and selects (CREATE TABLE ... AS SELECT).
    creates_table: bool,
    selects: bool,
    /// First reason to refuse the statement.
    pub refused: Option<String>,
}

impl Classification {
    /// A schema statement quorate runs itself (one the authorizer does not see).
    pub(crate) fn schema_statement() -> Self {
        Classification {
            ddl: true,
            ..Classification::default()
        }
    }

    /// The statement creates a table.
    pub(crate) fn creates_table(&self) -> bool {
        self.creates_table
    }

    pub(crate) fn refusal(&self) -> Option<String> {
        if let Some(r) = &self.refused {
            return Some(r.clone());
        }
        if self.creates_table && self.selects {
            return Some(
                "CREATE TABLE ... AS SELECT is not supported: create the table, then INSERT ... SELECT"
                    .to_string(),
            );
        }
        None
    }
}

/// Shared state between a connection's authorizer callback and its owner.
#[derive(Clone, Default)]
pub(crate) struct Guard {
    inner: Arc<Mutex<GuardState>>,
}

#[derive(Default)]
struct GuardState {
    /// Internal statements (ours) are not checked.
    internal: bool,
    current: Classification,
}

impl Guard {
    /// Installs the authorizer on `conn`.
    pub(crate) fn install(&self, conn: &mut rusqlite::Connection) -> rusqlite::Result<()> {
        let state = self.inner.clone();
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            let mut st = state.lock();
            if st.internal {
                return Authorization::Allow;
            }
            authorize(&mut st.current, &ctx)
        }))
    }

    /// Starts classifying a new statement.
    pub(crate) fn reset(&self) {
        self.inner.lock().current = Classification::default();
    }

    pub(crate) fn take(&self) -> Classification {
        std::mem::take(&mut self.inner.lock().current)
    }

    /// Runs `f` with checks off (for quorate's own statements).
    pub(crate) fn internal<T>(&self, f: impl FnOnce() -> T) -> T {
        let previous = std::mem::replace(&mut self.inner.lock().internal, true);
        let out = f();
        self.inner.lock().internal = previous;
        out
    }
}

fn deny(c: &mut Classification, reason: impl Into<String>) -> Authorization {
    if c.refused.is_none() {
        c.refused = Some(reason.into());
    }
    Authorization::Deny
}

fn internal_name(name: &str) -> bool {
    name.len() >= INTERNAL_PREFIX.len()
        && name[..INTERNAL_PREFIX.len()].eq_ignore_ascii_case(INTERNAL_PREFIX)
}

fn authorize(c: &mut Classification, ctx: &AuthContext<'_>) -> Authorization {
    use AuthAction::*;
    match ctx.action {
        // The list of databases is what SHOW DATABASES shows anyone: readable, for
        // information_schema.SCHEMATA.
        Read {
            table_name: "_quorate_databases",
            ..
        } => Authorization::Allow,
        Read { table_name, .. }
        | Insert { table_name }
        | Update { table_name, .. }
        | Delete { table_name } => {
            if internal_name(table_name) {
                return deny(c, format!("{table_name} is internal to quorate"));
            }
            Authorization::Allow
        }
        CreateTable { table_name } => {
            if internal_name(table_name) {
                return deny(c, format!("the {INTERNAL_PREFIX} prefix is reserved"));
            }
            c.ddl = true;
            c.creates_table = true;
            Authorization::Allow
        }
        CreateIndex { table_name, .. }
        | CreateTrigger { table_name, .. }
        | DropIndex { table_name, .. }
        | DropTrigger { table_name, .. }
        | DropTable { table_name } => {
            if internal_name(table_name) {
                return deny(c, format!("{table_name} is internal to quorate"));
            }
            c.ddl = true;
            Authorization::Allow
        }
        AlterTable { table_name, .. } => {
            if internal_name(table_name) {
                return deny(c, format!("{table_name} is internal to quorate"));
            }
            c.ddl = true;
            Authorization::Allow
        }
        CreateView { .. } | DropView { .. } | Reindex { .. } => {
            c.ddl = true;
            Authorization::Allow
        }
        Select => {
            c.selects = true;
            Authorization::Allow
        }
        Recursive => Authorization::Allow,
        // ANALYZE writes sqlite_stat1: statistics of this node's file, which change capture
        // does not replicate (crates/store/src/record.rs).
        Analyze { .. } => deny(
            c,
            "ANALYZE is not supported: its statistics are node-local and not replicated",
        ),
        Function { function_name } => {
            if function_name.eq_ignore_ascii_case("load_extension") {
                return deny(c, "load_extension is not allowed");
            }
            Authorization::Allow
        }
        Pragma {
            pragma_name,
            pragma_value,
        } => {
            let name = pragma_name.to_ascii_lowercase();
            // quick_check with a table is also how SQLite's ALTER TABLE ADD COLUMN checks
            // the existing rows against the new column's CHECK constraints.
            if READ_PRAGMAS.contains(&name.as_str())
                || (pragma_value.is_none() && is_harmless_read_pragma(&name))
                || name == "quick_check"
                || name == "integrity_check"
            {
                Authorization::Allow
            } else {
                deny(
                    c,
                    format!(
                        "PRAGMA {pragma_name} is not allowed (it is node-local or changes settings quorate manages)"
                    ),
                )
            }
        }
        Transaction { .. } | Savepoint { .. } => deny(
            c,
            "transaction control inside a statement is not allowed: use the API's transactions",
        ),
        Attach { .. } | Detach { .. } => deny(
            c,
            "ATTACH / DETACH are not allowed: one database file per node",
        ),
        CreateTempIndex { .. }
        | CreateTempTable { .. }
        | CreateTempTrigger { .. }
        | CreateTempView { .. }
        | DropTempIndex { .. }
        | DropTempTable { .. }
        | DropTempTrigger { .. }
        | DropTempView { .. } => deny(c, "temporary tables, views and triggers are not supported"),
        CreateVtable { .. } | DropVtable { .. } => deny(
            c,
            "virtual tables are not supported (their contents cannot be replicated safely)",
        ),
        _ => deny(c, "this statement is not supported"),
    }
}

/// Pragmas that only report and take no argument.
fn is_harmless_read_pragma(name: &str) -> bool {
    matches!(
        name,
        "foreign_keys"
            | "user_version"
            | "schema_version"
            | "page_count"
            | "page_size"
            | "encoding"
            | "compile_options"
            | "integrity_check"
            | "quick_check"
    )
}
