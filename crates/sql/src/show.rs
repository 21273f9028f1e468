//! SHOW and DESCRIBE: what they ask for ([`Show`]) and the catalog answers ([`show`]).

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension};

use crate::catalog::{TableInfo, table_info};
use crate::functions::SessionValues;
use crate::types::ColumnMeta;
use crate::{Context, SqlError, UserName, names};

/// A SHOW / DESCRIBE statement. Database names are resolved at translation time (the
/// current database fills in a missing `FROM db`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Show {
    /// `SHOW DATABASES [LIKE p]`.
    Databases {
        /// LIKE pattern.
        like: Option<String>,
    },
    /// `SHOW [FULL] TABLES [FROM db] [LIKE p]`.
    Tables {
        /// Database.
        db: String,
        /// FULL: add the Table_type column.
        full: bool,
        /// LIKE pattern.
        like: Option<String>,
    },
    /// `SHOW [FULL] COLUMNS FROM t [FROM db] [LIKE p]`, `DESCRIBE t [col]`.
    Columns {
        /// Database.
        db: String,
        /// Table.
        table: String,
        /// FULL: add Collation, Privileges and Comment.
        full: bool,
        /// LIKE pattern (or the column named after DESCRIBE t).
        like: Option<String>,
    },
    /// `SHOW INDEX FROM t [FROM db]`.
    Index {
        /// Database.
        db: String,
        /// Table.
        table: String,
    },
    /// `SHOW CREATE TABLE t`, `SHOW CREATE VIEW v`.
    CreateTable {
        /// Database.
        db: String,
        /// Table or view.
        table: String,
    },
    /// `SHOW CREATE DATABASE [IF NOT EXISTS] d`.
    CreateDatabase {
        /// Database.
        name: String,
        /// IF NOT EXISTS was given.
        if_not_exists: bool,
    },
    /// `SHOW TABLE STATUS [FROM db] [LIKE p]`.
    TableStatus {
        /// Database.
        db: String,
        /// LIKE pattern.
        like: Option<String>,
    },
    /// `SHOW [GLOBAL | SESSION] VARIABLES [LIKE p]` (session layer; see [`variables`]).
    Variables {
        /// GLOBAL was given.
        global: bool,
        /// LIKE pattern.
        like: Option<String>,
    },
    /// `SHOW [GLOBAL | SESSION] STATUS [LIKE p]` (session layer).
    Status {
        /// GLOBAL was given.
        global: bool,
        /// LIKE pattern.
        like: Option<String>,
    },
    /// `SHOW [FULL] PROCESSLIST` (session layer).
    Processlist {
        /// FULL was given.
        full: bool,
    },
    /// `SHOW WARNINGS` (session layer).
    Warnings,
    /// `SHOW ERRORS` (session layer).
    Errors,
    /// `SHOW COUNT(*) WARNINGS` (session layer).
    WarningCount,
    /// `SHOW COUNT(*) ERRORS` (session layer).
    ErrorCount,
    /// `SHOW [STORAGE] ENGINES`.
    Engines,
    /// `SHOW GRANTS [FOR user]` (session layer; `user` is `None` for the current user).
    Grants {
        /// FOR whom.
        user: Option<UserName>,
    },
    /// `SHOW COLLATION [LIKE p]`.
    Collation {
        /// LIKE pattern.
        like: Option<String>,
    },
    /// `SHOW CHARACTER SET [LIKE p]`.
    CharacterSet {
        /// LIKE pattern.
        like: Option<String>,
    },
}

/// MySQL's LIKE: `%` any run, `_` one character, `\` escapes; case-insensitive (the
/// default collation), as SHOW ... LIKE compares.
pub fn like_match(pattern: &str, text: &str) -> bool {
    fn rec(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('%') => (0..=t.len()).any(|i| rec(&p[1..], &t[i..])),
            Some('_') => !t.is_empty() && rec(&p[1..], &t[1..]),
            Some('\\') if p.len() > 1 => !t.is_empty() && eq(p[1], t[0]) && rec(&p[2..], &t[1..]),
            Some(&c) => !t.is_empty() && eq(c, t[0]) && rec(&p[1..], &t[1..]),
        }
    }
    fn eq(a: char, b: char) -> bool {
        a == b || a.to_lowercase().eq(b.to_lowercase())
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    rec(&p, &t)
}

fn keep(like: &Option<String>, s: &str) -> bool {
    like.as_deref().is_none_or(|p| like_match(p, s))
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

fn cols(names: &[&str]) -> Vec<ColumnMeta> {
    names.iter().map(|n| ColumnMeta::text(n)).collect()
}

/// The rows of one SHOW answer.
pub type ShowResult = (Vec<ColumnMeta>, Vec<Vec<Value>>);

/// The MySQL databases, from `_quorate_databases` (or, when that table does not exist,
/// from the table names).
pub fn databases(conn: &Connection) -> Result<Vec<String>, SqlError> {
    let has_catalog: bool = conn
        .query_row(
            "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [names::DATABASES_TABLE],
            |_| Ok(true),
        )
        .optional()?
        .unwrap_or(false);
    let sql = if has_catalog {
        format!(
            "SELECT name FROM {} ORDER BY name",
            names::quote(names::DATABASES_TABLE)
        )
    } else {
        "SELECT DISTINCT substr(name, 1, instr(name, '.') - 1) AS d FROM sqlite_schema \
         WHERE type = 'table' AND instr(name, '.') > 0 ORDER BY d"
            .to_string()
    };
    let mut stmt = conn.prepare(&sql)?;
    let v = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(v)
}

fn check_db(conn: &Connection, db: &str) -> Result<(), SqlError> {
    if databases(conn)?.iter().any(|d| d == db) {
        Ok(())
    } else {
        Err(SqlError::UnknownDatabase(db.to_string()))
    }
}

/// Tables (and views) of `db`: (name, is_view), sorted.
fn tables(conn: &Connection, db: &str) -> Result<Vec<(String, bool)>, SqlError> {
    let prefix = format!("{db}.");
    let mut stmt = conn.prepare_cached(
        "SELECT substr(name, ?2 + 1), type = 'view' FROM sqlite_schema \
         WHERE type IN ('table', 'view') AND substr(name, 1, ?2) = ?1 ORDER BY name",
    )?;
    let v = stmt
        .query_map(rusqlite::params![prefix, prefix.len() as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<Vec<(String, bool)>, _>>()?;
    Ok(v)
}

fn table_or_err(conn: &Connection, db: &str, table: &str) -> Result<TableInfo, SqlError> {
    table_info(conn, &names::table(db, table))?.ok_or_else(|| SqlError::NoSuchTable {
        db: db.into(),
        table: table.into(),
    })
}

fn key_of(info: &TableInfo, col: &str) -> &'static str {
    if info.columns.iter().any(|c| c.name == col && c.pk > 0) {
        return "PRI";
    }
    let first = |unique: bool| {
        info.indexes.iter().any(|i| {
            i.name != "PRIMARY"
                && i.unique == unique
                && i.columns.first().is_some_and(|(c, _)| c == col)
                && (!unique || i.columns.len() == 1)
        })
    };
    if first(true) {
        "UNI"
    } else if first(false)
        || info
            .indexes
            .iter()
            .any(|i| i.columns.first().is_some_and(|(c, _)| c == col))
    {
        "MUL"
    } else {
        ""
    }
}

/// A default as MySQL's DESCRIBE shows it: the value, unquoted.
pub(crate) fn default_value(d: &Option<String>) -> Value {
    match d.as_deref() {
        None | Some("NULL") => Value::Null,
        Some(s) if s.starts_with('\'') && s.ends_with('\'') && s.len() >= 2 => {
            text(s[1..s.len() - 1].replace("''", "'"))
        }
        Some(s) => text(s.trim_matches(['(', ')'])),
    }
}

pub(crate) fn extra(c: &crate::ColumnInfo) -> String {
    let mut e = Vec::new();
    if c.auto_increment {
        e.push("auto_increment");
    }
    if c.default.as_deref() == Some("CURRENT_TIMESTAMP") {
        e.push("DEFAULT_GENERATED");
    }
    if c.on_update {
        e.push("on update CURRENT_TIMESTAMP");
    }
    e.join(" ")
}

pub(crate) fn collation_name(c: &crate::ColumnInfo) -> Value {
    match c.collation.as_deref() {
        Some("BINARY") => text("utf8mb4_bin"),
        Some(_) => text("utf8mb4_0900_ai_ci"),
        None => Value::Null,
    }
}

fn bq(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

fn create_table_text(conn: &Connection, info: &TableInfo) -> Result<String, SqlError> {
    let mut lines = Vec::new();
    for c in &info.columns {
        let mut s = format!("  {} {}", bq(&c.name), c.mysql_type);
        if c.collation.as_deref() == Some("BINARY") {
            s.push_str(" COLLATE utf8mb4_bin");
        }
        if c.not_null {
            s.push_str(" NOT NULL");
        }
        if c.auto_increment {
            s.push_str(" AUTO_INCREMENT");
        } else {
            match c.default.as_deref() {
                Some(d) => {
                    s.push_str(" DEFAULT ");
                    s.push_str(d);
                }
                None if !c.not_null => s.push_str(" DEFAULT NULL"),
                None => {}
            }
        }
        if c.on_update {
            s.push_str(" ON UPDATE CURRENT_TIMESTAMP");
        }
        lines.push(s);
    }
    let col_list = |cols: &[(String, bool)]| {
        cols.iter()
            .map(|(c, desc)| {
                if *desc {
                    format!("{} DESC", bq(c))
                } else {
                    bq(c)
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    for i in &info.indexes {
        if i.name == "PRIMARY" {
            lines.push(format!("  PRIMARY KEY ({})", col_list(&i.columns)));
        }
    }
    for i in info.indexes.iter().filter(|i| i.name != "PRIMARY") {
        let kind = if i.unique { "UNIQUE KEY" } else { "KEY" };
        lines.push(format!(
            "  {kind} {} ({})",
            bq(&i.name),
            col_list(&i.columns)
        ));
    }
    for fk in &info.foreign_keys {
        let target = if fk.target.0 == info.db {
            bq(&fk.target.1)
        } else {
            format!("{}.{}", bq(&fk.target.0), bq(&fk.target.1))
        };
        let mut s = format!(
            "  CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})",
            bq(&fk.name),
            fk.columns
                .iter()
                .map(|c| bq(c))
                .collect::<Vec<_>>()
                .join(","),
            target,
            fk.target_columns
                .iter()
                .map(|c| bq(c))
                .collect::<Vec<_>>()
                .join(",")
        );
        if fk.on_delete != "NO ACTION" {
            s.push_str(&format!(" ON DELETE {}", fk.on_delete));
        }
        if fk.on_update != "NO ACTION" {
            s.push_str(&format!(" ON UPDATE {}", fk.on_update));
        }
        lines.push(s);
    }
    for c in &info.checks {
        lines.push(format!("  {c}"));
    }
    let mut s = format!(
        "CREATE TABLE {} (\n{}\n) ENGINE=InnoDB",
        bq(&info.table),
        lines.join(",\n")
    );
    if let Some(seq) = auto_increment(conn, &names::table(&info.db, &info.table))? {
        s.push_str(&format!(" AUTO_INCREMENT={seq}"));
    }
    s.push_str(" DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci");
    Ok(s)
}

/// The next AUTO_INCREMENT value of a table, if it has one and has used it.
fn auto_increment(conn: &Connection, sqlite_name: &str) -> Result<Option<i64>, SqlError> {
    let has_seq: bool = conn
        .query_row(
            "SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence'",
            [],
            |_| Ok(true),
        )
        .optional()?
        .unwrap_or(false);
    if !has_seq {
        return Ok(None);
    }
    Ok(conn
        .query_row(
            "SELECT seq + 1 FROM sqlite_sequence WHERE name = ?1",
            [sqlite_name],
            |r| r.get(0),
        )
        .optional()?)
}

/// SQL text with mangled names turned back into MySQL's: `"d.t"` becomes `` `d`.`t` ``.
fn unmangle_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(pos) = rest.find('"') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let end = after.find('"').unwrap_or(after.len());
        let name = &after[..end];
        match name.split_once('.') {
            Some((d, t)) => out.push_str(&format!("{}.{}", bq(d), bq(t))),
            None => out.push_str(&bq(name)),
        }
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// The read-only schema every account sees (see `infoschema.rs`).
pub const INFORMATION_SCHEMA: &str = "information_schema";

/// Answers the catalog SHOW statements (DATABASES, TABLES, COLUMNS / DESCRIBE, INDEX,
/// CREATE TABLE / VIEW / DATABASE, TABLE STATUS, ENGINES, COLLATION, CHARACTER SET) with
/// read-only queries on `conn`. The session-owned kinds (VARIABLES, STATUS, PROCESSLIST,
/// WARNINGS, ERRORS, GRANTS) return [`SqlError::NotCatalog`]; see [`variables`].
pub fn show(conn: &Connection, show: &Show, _ctx: &Context) -> Result<ShowResult, SqlError> {
    match show {
        Show::Databases { like } => {
            let rows = std::iter::once(INFORMATION_SCHEMA.to_string())
                .chain(databases(conn)?)
                .filter(|d| keep(like, d))
                .map(|d| vec![text(d)])
                .collect();
            Ok((cols(&["Database"]), rows))
        }
        Show::Tables { db, full, like } => {
            check_db(conn, db)?;
            let header = format!("Tables_in_{db}");
            let mut c = cols(&[header.as_str()]);
            if *full {
                c.push(ColumnMeta::text("Table_type"));
            }
            let rows = tables(conn, db)?
                .into_iter()
                .filter(|(t, _)| keep(like, t))
                .map(|(t, view)| {
                    let mut r = vec![text(t)];
                    if *full {
                        r.push(text(if view { "VIEW" } else { "BASE TABLE" }));
                    }
                    r
                })
                .collect();
            Ok((c, rows))
        }
        Show::Columns {
            db,
            table,
            full,
            like,
        } => {
            let info = table_or_err(conn, db, table)?;
            let c = if *full {
                cols(&[
                    "Field",
                    "Type",
                    "Collation",
                    "Null",
                    "Key",
                    "Default",
                    "Extra",
                    "Privileges",
                    "Comment",
                ])
            } else {
                cols(&["Field", "Type", "Null", "Key", "Default", "Extra"])
            };
            let mut rows = Vec::new();
            for col in info.columns.iter().filter(|c| keep(like, &c.name)) {
                let mut r = vec![text(&col.name), text(&col.mysql_type)];
                if *full {
                    r.push(collation_name(col));
                }
                r.push(text(if col.not_null { "NO" } else { "YES" }));
                r.push(text(key_of(&info, &col.name)));
                r.push(default_value(&col.default));
                r.push(text(extra(col)));
                if *full {
                    r.push(text("select,insert,update,references"));
                    r.push(text(""));
                }
                rows.push(r);
            }
            Ok((c, rows))
        }
        Show::Index { db, table } => {
            let info = table_or_err(conn, db, table)?;
            let mut c = cols(&["Table"]);
            c.push(ColumnMeta::bigint("Non_unique"));
            c.extend(cols(&["Key_name"]));
            c.push(ColumnMeta::bigint("Seq_in_index"));
            c.extend(cols(&["Column_name", "Collation"]));
            c.push(ColumnMeta::bigint("Cardinality"));
            c.push(ColumnMeta::bigint("Sub_part"));
            c.extend(cols(&[
                "Packed",
                "Null",
                "Index_type",
                "Comment",
                "Index_comment",
                "Visible",
                "Expression",
            ]));
            let mut rows = Vec::new();
            for ix in &info.indexes {
                for (seq, (col, desc)) in ix.columns.iter().enumerate() {
                    let nullable = info.columns.iter().any(|c| &c.name == col && !c.not_null);
                    rows.push(vec![
                        text(table),
                        Value::Integer(if ix.unique { 0 } else { 1 }),
                        text(&ix.name),
                        Value::Integer(seq as i64 + 1),
                        text(col),
                        text(if *desc { "D" } else { "A" }),
                        Value::Null,
                        Value::Null,
                        Value::Null,
                        text(if nullable { "YES" } else { "" }),
                        text("BTREE"),
                        text(""),
                        text(""),
                        text("YES"),
                        Value::Null,
                    ]);
                }
            }
            Ok((c, rows))
        }
        Show::CreateTable { db, table } => {
            let info = table_or_err(conn, db, table)?;
            if info.is_view {
                let sql: String = conn.query_row(
                    "SELECT sql FROM sqlite_schema WHERE name = ?1",
                    [names::table(db, table)],
                    |r| r.get(0),
                )?;
                let body = sql.find(" AS ").map(|i| &sql[i + 4..]).unwrap_or("");
                let create = format!("CREATE VIEW {} AS {}", bq(table), unmangle_sql(body));
                return Ok((
                    cols(&[
                        "View",
                        "Create View",
                        "character_set_client",
                        "collation_connection",
                    ]),
                    vec![vec![
                        text(table),
                        text(create),
                        text("utf8mb4"),
                        text("utf8mb4_0900_ai_ci"),
                    ]],
                ));
            }
            let create = create_table_text(conn, &info)?;
            Ok((
                cols(&["Table", "Create Table"]),
                vec![vec![text(table), text(create)]],
            ))
        }
        Show::CreateDatabase {
            name,
            if_not_exists,
        } => {
            check_db(conn, name)?;
            let ine = if *if_not_exists {
                "/*!32312 IF NOT EXISTS*/ "
            } else {
                ""
            };
            let create = format!(
                "CREATE DATABASE {ine}{} /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci */ /*!80016 DEFAULT ENCRYPTION='N' */",
                bq(name)
            );
            Ok((
                cols(&["Database", "Create Database"]),
                vec![vec![text(name), text(create)]],
            ))
        }
        Show::TableStatus { db, like } => {
            check_db(conn, db)?;
            let names_c = [
                "Name",
                "Engine",
                "Version",
                "Row_format",
                "Rows",
                "Avg_row_length",
                "Data_length",
                "Max_data_length",
                "Index_length",
                "Data_free",
                "Auto_increment",
                "Create_time",
                "Update_time",
                "Check_time",
                "Collation",
                "Checksum",
                "Create_options",
                "Comment",
            ];
            let c: Vec<ColumnMeta> = names_c
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    if matches!(i, 2 | 4..=10 | 15) {
                        ColumnMeta::bigint(n)
                    } else {
                        ColumnMeta::text(n)
                    }
                })
                .collect();
            let mut rows = Vec::new();
            for (t, view) in tables(conn, db)? {
                if !keep(like, &t) {
                    continue;
                }
                let sqlite_name = names::table(db, &t);
                if view {
                    let mut r = vec![text(&t)];
                    r.extend(std::iter::repeat_n(Value::Null, 16));
                    r.push(text("VIEW"));
                    rows.push(r);
                    continue;
                }
                let count: i64 = conn.query_row(
                    &format!("SELECT count(*) FROM {}", names::quote(&sqlite_name)),
                    [],
                    |r| r.get(0),
                )?;
                let ai = auto_increment(conn, &sqlite_name)?
                    .map(Value::Integer)
                    .unwrap_or(Value::Null);
                rows.push(vec![
                    text(&t),
                    text("InnoDB"),
                    Value::Integer(10),
                    text("Dynamic"),
                    Value::Integer(count),
                    Value::Integer(0),
                    Value::Integer(0),
                    Value::Integer(0),
                    Value::Integer(0),
                    Value::Integer(0),
                    ai,
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    text("utf8mb4_0900_ai_ci"),
                    Value::Null,
                    text(""),
                    text(""),
                ]);
            }
            Ok((c, rows))
        }
        Show::Engines => Ok((
            cols(&[
                "Engine",
                "Support",
                "Comment",
                "Transactions",
                "XA",
                "Savepoints",
            ]),
            vec![vec![
                text("InnoDB"),
                text("DEFAULT"),
                text("quorate: replicated SQLite; every engine name maps here"),
                text("YES"),
                text("NO"),
                text("YES"),
            ]],
        )),
        Show::Collation { like } => {
            let all = [
                ("utf8mb4_0900_ai_ci", "utf8mb4", 255, "Yes"),
                ("utf8mb4_general_ci", "utf8mb4", 45, ""),
                ("utf8mb4_bin", "utf8mb4", 46, ""),
                ("binary", "binary", 63, "Yes"),
            ];
            let mut c = cols(&["Collation", "Charset"]);
            c.push(ColumnMeta::bigint("Id"));
            c.extend(cols(&["Default", "Compiled"]));
            c.push(ColumnMeta::bigint("Sortlen"));
            c.push(ColumnMeta::text("Pad_attribute"));
            let rows = all
                .iter()
                .filter(|r| keep(like, r.0))
                .map(|(n, cs, id, d)| {
                    vec![
                        text(*n),
                        text(*cs),
                        Value::Integer(*id),
                        text(*d),
                        text("Yes"),
                        Value::Integer(1),
                        text("NO PAD"),
                    ]
                })
                .collect();
            Ok((c, rows))
        }
        Show::CharacterSet { like } => {
            let all = [
                ("utf8mb4", "UTF-8 Unicode", "utf8mb4_0900_ai_ci", 4),
                ("binary", "Binary pseudo charset", "binary", 1),
            ];
            let mut c = cols(&["Charset", "Description", "Default collation"]);
            c.push(ColumnMeta::bigint("Maxlen"));
            let rows = all
                .iter()
                .filter(|r| keep(like, r.0))
                .map(|(n, d, co, m)| vec![text(*n), text(*d), text(*co), Value::Integer(*m)])
                .collect();
            Ok((c, rows))
        }
        Show::Variables { .. } => Err(SqlError::NotCatalog("VARIABLES")),
        Show::Status { .. } => Err(SqlError::NotCatalog("STATUS")),
        Show::Processlist { .. } => Err(SqlError::NotCatalog("PROCESSLIST")),
        Show::Warnings | Show::WarningCount => Err(SqlError::NotCatalog("WARNINGS")),
        Show::Errors | Show::ErrorCount => Err(SqlError::NotCatalog("ERRORS")),
        Show::Grants { .. } => Err(SqlError::NotCatalog("GRANTS")),
    }
}

/// `SHOW VARIABLES [LIKE p]` over a session's values (sorted by name).
pub fn variables(values: &SessionValues, like: Option<&str>) -> ShowResult {
    let mut names_v: Vec<&String> = values.variables.keys().collect();
    names_v.sort();
    let rows = names_v
        .into_iter()
        .filter(|n| like.is_none_or(|p| like_match(p, n)))
        .map(|n| {
            let v = match &values.variables[n] {
                Value::Integer(i) => text(i.to_string()),
                Value::Real(f) => text(f.to_string()),
                Value::Text(t) => text(t.clone()),
                Value::Null => text(""),
                Value::Blob(b) => text(String::from_utf8_lossy(b)),
            };
            vec![text(n.clone()), v]
        })
        .collect();
    (cols(&["Variable_name", "Value"]), rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SHOW ... LIKE follows MySQL's LIKE: wildcards, escapes, case-insensitive.
    #[test]
    fn like_patterns() {
        assert!(like_match("char%", "character_set_client"));
        assert!(like_match("%TIMEOUT", "wait_timeout"));
        assert!(like_match("a_c", "abc"));
        assert!(!like_match("a_c", "abbc"));
        assert!(like_match("a\\_c", "a_c"));
        assert!(!like_match("a\\_c", "abc"));
    }

    /// Mangled names in stored SQL are shown the MySQL way.
    #[test]
    fn unmangled_view_sql() {
        assert_eq!(
            unmangle_sql("SELECT \"t\".\"a\" FROM \"d.t\" AS \"t\""),
            "SELECT `t`.`a` FROM `d`.`t` AS `t`"
        );
    }
}
