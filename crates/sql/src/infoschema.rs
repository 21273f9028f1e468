//! `information_schema`: the catalog tables that tools query (mysqldump / mariadb-dump,
//! ORMs' schema introspection, GUI clients), computed from SQLite's own schema.
//!
//! Nothing is stored: a reference to `information_schema.X` becomes a subquery over
//! `sqlite_schema` and SQLite's table-valued pragmas (`pragma_table_xinfo`,
//! `pragma_index_list`, ...), with the MySQL details (column types, AUTO_INCREMENT,
//! collations) read from the CREATE TABLE text by the `quorate_column` function registered
//! on every connection. The answer is therefore always the replica's current schema, on
//! any node, at the consistency level of the query.
//!
//! Supported: SCHEMATA, TABLES, COLUMNS, STATISTICS, VIEWS, KEY_COLUMN_USAGE (primary keys,
//! unique keys and foreign keys), TABLE_CONSTRAINTS, CHECK_CONSTRAINTS, and the always-empty FILES, ROUTINES, TRIGGERS, EVENTS,
//! PARTITIONS. Anything else is refused with an error naming the table.

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

use crate::catalog::{column_info, fk_name, scan_create_table};
use crate::show::{collation_name, default_value, extra};

/// `d` of an SQLite table name `d.t`, as SQL over the column `n`.
macro_rules! db_of {
    ($n:literal) => {
        concat!("substr(", $n, ", 1, instr(", $n, ", '.') - 1)")
    };
}
/// `t` of an SQLite table name `d.t`, as SQL over the column `n`.
macro_rules! table_of {
    ($n:literal) => {
        concat!("substr(", $n, ", instr(", $n, ", '.') + 1)")
    };
}

/// User tables and views: named `d.t` (quorate's own tables have no dot).
const USER_OBJECTS: &str = "s.type IN ('table', 'view') AND instr(s.name, '.') > 0 \
                            AND s.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'";

fn schemata() -> String {
    "SELECT 'def' AS CATALOG_NAME, name AS SCHEMA_NAME, \
     'utf8mb4' AS DEFAULT_CHARACTER_SET_NAME, \
     'utf8mb4_0900_ai_ci' AS DEFAULT_COLLATION_NAME, NULL AS SQL_PATH, \
     'NO' AS DEFAULT_ENCRYPTION \
     FROM (SELECT 'information_schema' AS name UNION ALL \
     SELECT name FROM _quorate_databases)"
        .to_string()
}

fn tables() -> String {
    format!(
        "SELECT 'def' AS TABLE_CATALOG, {db} AS TABLE_SCHEMA, {t} AS TABLE_NAME, \
         CASE s.type WHEN 'view' THEN 'VIEW' ELSE 'BASE TABLE' END AS TABLE_TYPE, \
         CASE s.type WHEN 'view' THEN NULL ELSE 'InnoDB' END AS ENGINE, \
         CASE s.type WHEN 'view' THEN NULL ELSE 10 END AS VERSION, \
         CASE s.type WHEN 'view' THEN NULL ELSE 'Dynamic' END AS ROW_FORMAT, \
         NULL AS TABLE_ROWS, NULL AS AVG_ROW_LENGTH, NULL AS DATA_LENGTH, \
         NULL AS MAX_DATA_LENGTH, NULL AS INDEX_LENGTH, NULL AS DATA_FREE, \
         NULL AS AUTO_INCREMENT, NULL AS CREATE_TIME, NULL AS UPDATE_TIME, \
         NULL AS CHECK_TIME, \
         CASE s.type WHEN 'view' THEN NULL ELSE 'utf8mb4_0900_ai_ci' END AS TABLE_COLLATION, \
         NULL AS CHECKSUM, '' AS CREATE_OPTIONS, \
         CASE s.type WHEN 'view' THEN 'VIEW' ELSE '' END AS TABLE_COMMENT \
         FROM sqlite_schema s WHERE {USER_OBJECTS}",
        db = db_of!("s.name"),
        t = table_of!("s.name"),
    )
}

/// `COLUMN_KEY` of column `c` of table `s`, as SHOW COLUMNS gives it.
const COLUMN_KEY: &str = "CASE WHEN c.pk > 0 THEN 'PRI' \
     WHEN EXISTS (SELECT 1 FROM pragma_index_list(s.name) il \
       JOIN pragma_index_info(il.name) ii \
       WHERE il.\"unique\" AND ii.seqno = 0 AND ii.name = c.name \
       AND (SELECT count(*) FROM pragma_index_info(il.name)) = 1) THEN 'UNI' \
     WHEN EXISTS (SELECT 1 FROM pragma_index_list(s.name) il \
       JOIN pragma_index_info(il.name) ii WHERE ii.seqno = 0 AND ii.name = c.name) THEN 'MUL' \
     ELSE '' END";

fn columns() -> String {
    format!(
        "SELECT 'def' AS TABLE_CATALOG, {db} AS TABLE_SCHEMA, {t} AS TABLE_NAME, \
         c.name AS COLUMN_NAME, c.cid + 1 AS ORDINAL_POSITION, \
         quorate_column('default', s.sql, c.name, c.type, c.dflt_value) AS COLUMN_DEFAULT, \
         CASE WHEN c.\"notnull\" OR quorate_column('auto_increment', s.sql, c.name, c.type, NULL) \
           THEN 'NO' ELSE 'YES' END AS IS_NULLABLE, \
         quorate_column('data_type', s.sql, c.name, c.type, NULL) AS DATA_TYPE, \
         quorate_column('char_length', s.sql, c.name, c.type, NULL) AS CHARACTER_MAXIMUM_LENGTH, \
         quorate_column('char_length', s.sql, c.name, c.type, NULL) * 4 AS CHARACTER_OCTET_LENGTH, \
         quorate_column('precision', s.sql, c.name, c.type, NULL) AS NUMERIC_PRECISION, \
         quorate_column('scale', s.sql, c.name, c.type, NULL) AS NUMERIC_SCALE, \
         NULL AS DATETIME_PRECISION, \
         CASE WHEN quorate_column('collation', s.sql, c.name, c.type, NULL) IS NULL THEN NULL \
           ELSE 'utf8mb4' END AS CHARACTER_SET_NAME, \
         quorate_column('collation', s.sql, c.name, c.type, NULL) AS COLLATION_NAME, \
         quorate_column('type', s.sql, c.name, c.type, NULL) AS COLUMN_TYPE, \
         {COLUMN_KEY} AS COLUMN_KEY, \
         quorate_column('extra', s.sql, c.name, c.type, c.dflt_value) AS EXTRA, \
         'select,insert,update,references' AS PRIVILEGES, '' AS COLUMN_COMMENT, \
         '' AS GENERATION_EXPRESSION, NULL AS SRS_ID \
         FROM sqlite_schema s JOIN pragma_table_xinfo(s.name) c \
         WHERE {USER_OBJECTS} AND c.hidden IN (0, 2, 3)",
        db = db_of!("s.name"),
        t = table_of!("s.name"),
    )
}

fn statistics() -> String {
    format!(
        "SELECT 'def' AS TABLE_CATALOG, {db} AS TABLE_SCHEMA, {t} AS TABLE_NAME, \
         CASE WHEN il.\"unique\" THEN 0 ELSE 1 END AS NON_UNIQUE, {db} AS INDEX_SCHEMA, \
         CASE il.origin WHEN 'pk' THEN 'PRIMARY' ELSE quorate_index_name(il.name) END \
           AS INDEX_NAME, \
         ii.seqno + 1 AS SEQ_IN_INDEX, ii.name AS COLUMN_NAME, \
         CASE WHEN ii.\"desc\" THEN 'D' ELSE 'A' END AS COLLATION, NULL AS CARDINALITY, \
         NULL AS SUB_PART, NULL AS PACKED, '' AS NULLABLE, 'BTREE' AS INDEX_TYPE, \
         '' AS COMMENT, '' AS INDEX_COMMENT, 'YES' AS IS_VISIBLE, NULL AS EXPRESSION \
         FROM sqlite_schema s JOIN pragma_index_list(s.name) il \
         JOIN pragma_index_xinfo(il.name) ii \
         WHERE s.type = 'table' AND {USER_OBJECTS} AND ii.key = 1 \
         UNION ALL \
         SELECT 'def', {db}, {t}, 0, {db}, 'PRIMARY', c.pk, c.name, 'A', NULL, NULL, NULL, '', \
         'BTREE', '', '', 'YES', NULL \
         FROM sqlite_schema s JOIN pragma_table_info(s.name) c \
         WHERE s.type = 'table' AND {USER_OBJECTS} AND c.pk > 0 \
         AND NOT EXISTS (SELECT 1 FROM pragma_index_list(s.name) WHERE origin = 'pk')",
        db = db_of!("s.name"),
        t = table_of!("s.name"),
    )
}

fn views() -> String {
    format!(
        "SELECT 'def' AS TABLE_CATALOG, {db} AS TABLE_SCHEMA, {t} AS TABLE_NAME, \
         s.sql AS VIEW_DEFINITION, 'NONE' AS CHECK_OPTION, 'NO' AS IS_UPDATABLE, \
         '' AS DEFINER, 'INVOKER' AS SECURITY_TYPE, 'utf8mb4' AS CHARACTER_SET_CLIENT, \
         'utf8mb4_0900_ai_ci' AS COLLATION_CONNECTION \
         FROM sqlite_schema s WHERE s.type = 'view' AND {USER_OBJECTS}",
        db = db_of!("s.name"),
        t = table_of!("s.name"),
    )
}

fn key_column_usage() -> String {
    format!(
        "SELECT 'def' AS CONSTRAINT_CATALOG, {db} AS CONSTRAINT_SCHEMA, \
         CASE il.origin WHEN 'pk' THEN 'PRIMARY' ELSE quorate_index_name(il.name) END \
           AS CONSTRAINT_NAME, \
         'def' AS TABLE_CATALOG, {db} AS TABLE_SCHEMA, {t} AS TABLE_NAME, \
         ii.name AS COLUMN_NAME, ii.seqno + 1 AS ORDINAL_POSITION, \
         NULL AS POSITION_IN_UNIQUE_CONSTRAINT, NULL AS REFERENCED_TABLE_SCHEMA, \
         NULL AS REFERENCED_TABLE_NAME, NULL AS REFERENCED_COLUMN_NAME \
         FROM sqlite_schema s JOIN pragma_index_list(s.name) il \
         JOIN pragma_index_info(il.name) ii \
         WHERE s.type = 'table' AND {USER_OBJECTS} AND il.\"unique\" \
         UNION ALL \
         SELECT 'def', {db}, 'PRIMARY', 'def', {db}, {t}, c.name, c.pk, NULL, NULL, NULL, NULL \
         FROM sqlite_schema s JOIN pragma_table_info(s.name) c \
         WHERE s.type = 'table' AND {USER_OBJECTS} AND c.pk > 0 \
         AND NOT EXISTS (SELECT 1 FROM pragma_index_list(s.name) WHERE origin = 'pk') \
         UNION ALL \
         SELECT 'def', {db}, \
         quorate_fk_name(s.sql, {t}, \
           (SELECT max(id) FROM pragma_foreign_key_list(s.name)) - f.id), \
         'def', {db}, {t}, f.\"from\", \
         f.seq + 1, f.seq + 1, \
         CASE WHEN instr(f.\"table\", '.') > 0 THEN {fdb} ELSE {db} END, \
         CASE WHEN instr(f.\"table\", '.') > 0 THEN {ft} ELSE f.\"table\" END, f.\"to\" \
         FROM sqlite_schema s JOIN pragma_foreign_key_list(s.name) f \
         WHERE s.type = 'table' AND {USER_OBJECTS}",
        db = db_of!("s.name"),
        t = table_of!("s.name"),
        fdb = db_of!("f.\"table\""),
        ft = table_of!("f.\"table\""),
    )
}

/// The CHECK constraints of user tables (quorate's own strict-mode ones left out), named
/// as MySQL names them (`catalog::named_checks`); at most 256 per table.
fn check_constraints() -> String {
    format!(
        "SELECT 'def' AS CONSTRAINT_CATALOG, {db} AS CONSTRAINT_SCHEMA, \
         quorate_check(s.sql, {t}, n.i, 0) AS CONSTRAINT_NAME, \
         quorate_check(s.sql, {t}, n.i, 1) AS CHECK_CLAUSE, \
         {db} AS TABLE_SCHEMA, {t} AS TABLE_NAME \
         FROM sqlite_schema s JOIN (WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL \
         SELECT i + 1 FROM k WHERE i < 255) SELECT i FROM k) n \
         WHERE s.type = 'table' AND {USER_OBJECTS} \
         AND n.i < quorate_check(s.sql, {t}, -1, 0)",
        db = db_of!("s.name"),
        t = table_of!("s.name"),
    )
}

/// PRIMARY KEY, UNIQUE and FOREIGN KEY constraints (from KEY_COLUMN_USAGE) and CHECKs.
fn table_constraints() -> String {
    format!(
        "SELECT DISTINCT 'def' AS CONSTRAINT_CATALOG, CONSTRAINT_SCHEMA, CONSTRAINT_NAME, \
         TABLE_SCHEMA, TABLE_NAME, \
         CASE WHEN REFERENCED_TABLE_NAME IS NOT NULL THEN 'FOREIGN KEY' \
           WHEN CONSTRAINT_NAME = 'PRIMARY' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END \
           AS CONSTRAINT_TYPE, 'YES' AS ENFORCED \
         FROM ({kcu}) \
         UNION ALL \
         SELECT 'def', CONSTRAINT_SCHEMA, CONSTRAINT_NAME, TABLE_SCHEMA, TABLE_NAME, \
         'CHECK', 'YES' FROM ({checks})",
        kcu = key_column_usage(),
        checks = check_constraints(),
    )
}

/// An always-empty table with these columns.
fn empty(columns: &[&str]) -> String {
    let cols: Vec<String> = columns.iter().map(|c| format!("NULL AS {c}")).collect();
    format!("SELECT {} WHERE 0", cols.join(", "))
}

/// The SQLite subquery for `information_schema.<table>` (any case), or `None` when quorate
/// does not provide that table.
pub(crate) fn subquery(table: &str) -> Option<String> {
    // Rows of databases the session holds no privilege on are left out, as in MySQL.
    let visible = |sql: String, column: &str| {
        format!("SELECT * FROM ({sql}) WHERE quorate_visible_db({column})")
    };
    let sql = match table.to_ascii_uppercase().as_str() {
        "SCHEMATA" => visible(schemata(), "SCHEMA_NAME"),
        "TABLES" => visible(tables(), "TABLE_SCHEMA"),
        "COLUMNS" => visible(columns(), "TABLE_SCHEMA"),
        "STATISTICS" => visible(statistics(), "TABLE_SCHEMA"),
        "VIEWS" => visible(views(), "TABLE_SCHEMA"),
        "KEY_COLUMN_USAGE" => visible(key_column_usage(), "TABLE_SCHEMA"),
        "TABLE_CONSTRAINTS" => visible(table_constraints(), "TABLE_SCHEMA"),
        "CHECK_CONSTRAINTS" => visible(check_constraints(), "CONSTRAINT_SCHEMA"),
        "FILES" => empty(&[
            "FILE_ID",
            "FILE_NAME",
            "FILE_TYPE",
            "TABLESPACE_NAME",
            "TABLE_CATALOG",
            "TABLE_SCHEMA",
            "TABLE_NAME",
            "LOGFILE_GROUP_NAME",
            "LOGFILE_GROUP_NUMBER",
            "ENGINE",
            "FULLTEXT_KEYS",
            "DELETED_ROWS",
            "UPDATE_COUNT",
            "FREE_EXTENTS",
            "TOTAL_EXTENTS",
            "EXTENT_SIZE",
            "INITIAL_SIZE",
            "MAXIMUM_SIZE",
            "AUTOEXTEND_SIZE",
            "CREATION_TIME",
            "LAST_UPDATE_TIME",
            "LAST_ACCESS_TIME",
            "RECOVER_TIME",
            "TRANSACTION_COUNTER",
            "VERSION",
            "ROW_FORMAT",
            "TABLE_ROWS",
            "AVG_ROW_LENGTH",
            "DATA_LENGTH",
            "MAX_DATA_LENGTH",
            "INDEX_LENGTH",
            "DATA_FREE",
            "CREATE_TIME",
            "UPDATE_TIME",
            "CHECK_TIME",
            "CHECKSUM",
            "STATUS",
            "EXTRA",
        ]),
        "ROUTINES" => empty(&[
            "SPECIFIC_NAME",
            "ROUTINE_CATALOG",
            "ROUTINE_SCHEMA",
            "ROUTINE_NAME",
            "ROUTINE_TYPE",
            "DATA_TYPE",
            "ROUTINE_BODY",
            "ROUTINE_DEFINITION",
            "EXTERNAL_NAME",
            "EXTERNAL_LANGUAGE",
            "PARAMETER_STYLE",
            "IS_DETERMINISTIC",
            "SQL_DATA_ACCESS",
            "SQL_PATH",
            "SECURITY_TYPE",
            "CREATED",
            "LAST_ALTERED",
            "SQL_MODE",
            "ROUTINE_COMMENT",
            "DEFINER",
        ]),
        "TRIGGERS" => empty(&[
            "TRIGGER_CATALOG",
            "TRIGGER_SCHEMA",
            "TRIGGER_NAME",
            "EVENT_MANIPULATION",
            "EVENT_OBJECT_CATALOG",
            "EVENT_OBJECT_SCHEMA",
            "EVENT_OBJECT_TABLE",
            "ACTION_ORDER",
            "ACTION_CONDITION",
            "ACTION_STATEMENT",
            "ACTION_ORIENTATION",
            "ACTION_TIMING",
            "CREATED",
            "SQL_MODE",
            "DEFINER",
        ]),
        "EVENTS" => empty(&[
            "EVENT_CATALOG",
            "EVENT_SCHEMA",
            "EVENT_NAME",
            "DEFINER",
            "TIME_ZONE",
            "EVENT_BODY",
            "EVENT_DEFINITION",
            "EVENT_TYPE",
            "EXECUTE_AT",
            "INTERVAL_VALUE",
            "INTERVAL_FIELD",
            "SQL_MODE",
            "STARTS",
            "ENDS",
            "STATUS",
            "ON_COMPLETION",
            "CREATED",
            "LAST_ALTERED",
            "EVENT_COMMENT",
        ]),
        "PARTITIONS" => empty(&[
            "TABLE_CATALOG",
            "TABLE_SCHEMA",
            "TABLE_NAME",
            "PARTITION_NAME",
            "SUBPARTITION_NAME",
            "PARTITION_ORDINAL_POSITION",
            "PARTITION_METHOD",
            "PARTITION_EXPRESSION",
            "TABLE_ROWS",
            "PARTITION_COMMENT",
            "TABLESPACE_NAME",
        ]),
        _ => return None,
    };
    Some(format!("({sql})"))
}

/// One fact about column `name` of a table created by `create_sql` (its declared SQLite
/// type `decl`, its default as SQLite keeps it): see [`register`]. Type, default, extra
/// and collation are those SHOW COLUMNS gives.
fn column_fact(
    what: &str,
    create_sql: &str,
    name: &str,
    decl: &str,
    default: Option<&str>,
) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    let c = column_info(
        &scan_create_table(create_sql),
        name.to_string(),
        decl.to_string(),
        false,
        default.map(str::to_string),
        0,
    );
    let base = c
        .mysql_type
        .split(['(', ' '])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let args: Vec<i64> = c
        .mysql_type
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .filter(|_| !matches!(base.as_str(), "enum" | "set"))
        .map(|(inside, _)| {
            inside
                .split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let numeric = matches!(
        base.as_str(),
        "tinyint" | "smallint" | "mediumint" | "int" | "bigint" | "decimal" | "float" | "double"
    );
    let int = |v: Option<i64>| v.map_or(Value::Null, Value::Integer);
    match what {
        "type" => Value::Text(c.mysql_type.clone()),
        "data_type" => Value::Text(base),
        "auto_increment" => Value::Integer(i64::from(c.auto_increment)),
        "collation" => collation_name(&c),
        "char_length" => match base.as_str() {
            "char" | "varchar" => int(args.first().copied()),
            "tinytext" => Value::Integer(255),
            "text" => Value::Integer(65_535),
            "mediumtext" => Value::Integer(16_777_215),
            "longtext" => Value::Integer(4_294_967_295),
            _ => Value::Null,
        },
        "precision" if numeric => match base.as_str() {
            "decimal" => int(Some(args.first().copied().unwrap_or(10))),
            "tinyint" => Value::Integer(3),
            "smallint" => Value::Integer(5),
            "mediumint" => Value::Integer(7),
            "int" => Value::Integer(10),
            "bigint" => Value::Integer(19),
            "float" => Value::Integer(12),
            _ => Value::Integer(22),
        },
        "scale" if numeric => match base.as_str() {
            "decimal" => int(Some(args.get(1).copied().unwrap_or(0))),
            "float" | "double" => Value::Null,
            _ => Value::Integer(0),
        },
        "default" => default_value(&c.default),
        "extra" => Value::Text(extra(&c)),
        _ => Value::Null,
    }
}

/// Registers the functions the subqueries use: `quorate_column(what, create_sql, column,
/// declared_type, default)`, `quorate_index_name(sqlite_index_name)` and
/// `quorate_fk_name(create_sql, table, n)` (the n-th foreign key's name, 0-based).
pub(crate) fn register(conn: &Connection) -> rusqlite::Result<()> {
    let det = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("quorate_column", 5, det, |ctx| {
        let s = |i: usize| -> rusqlite::Result<Option<String>> { ctx.get(i) };
        Ok(column_fact(
            &s(0)?.unwrap_or_default(),
            &s(1)?.unwrap_or_default(),
            &s(2)?.unwrap_or_default(),
            &s(3)?.unwrap_or_default(),
            s(4)?.as_deref(),
        ))
    })?;
    conn.create_scalar_function("quorate_index_name", 1, det, |ctx| {
        let name: String = ctx.get(0)?;
        Ok(crate::names::unmangle_index(&name))
    })?;
    // quorate_check(sql, table, n, 0 / 1): the name / clause of the table's n-th CHECK;
    // with n = -1, how many it has.
    conn.create_scalar_function("quorate_check", 4, det, |ctx| {
        let sql: String = ctx.get(0)?;
        let table: String = ctx.get(1)?;
        let n: i64 = ctx.get(2)?;
        let part: i64 = ctx.get(3)?;
        let checks = crate::catalog::named_checks(&sql, &table);
        Ok(match usize::try_from(n) {
            Err(_) => rusqlite::types::Value::Integer(checks.len() as i64),
            Ok(n) => checks
                .into_iter()
                .nth(n)
                .map_or(rusqlite::types::Value::Null, |c| {
                    rusqlite::types::Value::Text(if part == 0 { c.0 } else { c.1 })
                }),
        })
    })?;
    conn.create_scalar_function("quorate_fk_name", 3, det, |ctx| {
        let sql: String = ctx.get(0)?;
        let table: String = ctx.get(1)?;
        let n: i64 = ctx.get(2)?;
        Ok(fk_name(&sql, &table, usize::try_from(n).unwrap_or(0)))
    })
}
