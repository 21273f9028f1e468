//! CREATE / ALTER / DROP / RENAME / TRUNCATE TABLE, CREATE / DROP INDEX, CREATE / DROP VIEW.
//!
//! A MySQL CREATE TABLE becomes one SQLite CREATE TABLE followed by one CREATE INDEX per
//! KEY / INDEX / UNIQUE KEY of the definition (SQLite has no named inline indexes).

use std::fmt::Write as _;

use sqlparser::ast::{
    AlterTableOperation, ColumnDef, ColumnOption, CreateIndex, CreateTable, Expr, IndexColumn,
    ObjectName, ObjectType, RenameTableNameKind, Statement as Ast, TableConstraint, VisitMut,
};

use crate::expr::{Rewriter, collation};
use crate::types::map_type;
use crate::{SqlError, names, temporal};

/// Name prefix of the CHECK constraint that enforces an ENUM's values; the column name
/// follows. [`crate::mysql_error`] turns its violation into 1265 "Data truncated".
pub const ENUM_CHECK_PREFIX: &str = "mysql_enum ";
/// Name prefix of the CHECK constraint that refuses text or bytes longer than the column's
/// type holds; the column name follows. Its violation is 1406 "Data too long".
pub const LENGTH_CHECK_PREFIX: &str = "mysql_length ";
/// Name prefix of the CHECK constraint that refuses numbers outside the column type's range;
/// the column name follows. Its violation is 1264 "Out of range value".
pub const RANGE_CHECK_PREFIX: &str = "mysql_range ";
/// Name prefix of the CHECK constraint that refuses text in a number column; the kind of
/// number (`integer`, `decimal`, `double`) and the column name follow. Its violation is 1366
/// "Incorrect integer value".
pub const NUMBER_CHECK_PREFIX: &str = "mysql_number ";
/// Name prefix of the CHECK constraint that refuses invalid JSON in a JSON column; the column
/// name follows. Its violation is 3140 "Invalid JSON text".
pub const JSON_CHECK_PREFIX: &str = "mysql_json ";
/// Whether a CHECK constraint named `name` is one quorate adds (ENUM values, strict mode),
/// which SHOW CREATE TABLE leaves out.
pub(crate) fn internal_check(name: &str) -> bool {
    [
        ENUM_CHECK_PREFIX,
        LENGTH_CHECK_PREFIX,
        RANGE_CHECK_PREFIX,
        NUMBER_CHECK_PREFIX,
        JSON_CHECK_PREFIX,
    ]
    .iter()
    .any(|p| name.starts_with(p))
}
/// Name prefix of the marker constraint holding a column's exact MySQL type.
pub const TYPE_MARKER_PREFIX: &str = "mysql_type ";
/// Name of the marker constraint of an `ON UPDATE CURRENT_TIMESTAMP` column.
pub const ON_UPDATE_MARKER: &str = "mysql_on_update";

fn unsupported<T>(construct: impl Into<String>) -> Result<T, SqlError> {
    Err(SqlError::Unsupported {
        construct: construct.into(),
    })
}

fn visit<T: VisitMut>(rw: &mut Rewriter, node: &mut T) -> Result<(), SqlError> {
    let _ = node.visit(rw);
    match rw.error.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `tables` (SQLite names) in an order that drops each only after every other one of them
/// that references it: MySQL drops them together, but SQLite's DROP TABLE first deletes
/// the table's rows, which a table still to be dropped may reference. As given without the
/// catalog. Each table's foreign keys are read once.
fn drop_order(rw: &Rewriter, tables: Vec<String>) -> Vec<String> {
    let Some(cat) = rw.ctx.catalog else {
        return tables;
    };
    let mut edges = Vec::new();
    for t in &tables {
        if let Some(info) = cat.table(t) {
            for fk in &info.foreign_keys {
                edges.push((t.clone(), format!("{}.{}", fk.target.0, fk.target.1)));
            }
        }
    }
    children_first(tables, &edges)
}

/// `tables` ordered so that each comes after every other one of them that references it
/// (`edges`: (from, to) when a foreign key of `from` names `to`; names compare
/// case-insensitively), otherwise in the given order. Tables that reference each other in
/// a cycle, and those that hang from one, come last in the given order.
pub(crate) fn children_first(tables: Vec<String>, edges: &[(String, String)]) -> Vec<String> {
    use std::collections::HashMap;
    let index: HashMap<String, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_ascii_lowercase(), i))
        .collect();
    // For each table, the others of the list it references; and how many reference it.
    let mut targets = vec![Vec::new(); tables.len()];
    let mut referenced_by = vec![0usize; tables.len()];
    for (from, to) in edges {
        let (Some(&f), Some(&t)) = (
            index.get(&from.to_ascii_lowercase()),
            index.get(&to.to_ascii_lowercase()),
        ) else {
            continue;
        };
        if f != t && !targets[f].contains(&t) {
            targets[f].push(t);
            referenced_by[t] += 1;
        }
    }
    let mut done = vec![false; tables.len()];
    let mut order = Vec::with_capacity(tables.len());
    // Each time, the first table (in the given order) that nothing left references.
    while let Some(next) = (0..tables.len()).find(|&i| !done[i] && referenced_by[i] == 0) {
        done[next] = true;
        order.push(next);
        for &t in &targets[next] {
            referenced_by[t] -= 1;
        }
    }
    order.extend((0..tables.len()).filter(|&i| !done[i]));
    let mut slots: Vec<Option<String>> = tables.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// The statement run before a `DROP TABLE`, `DROP DATABASE` or `TRUNCATE` of the SQLite
/// tables `tables`, in the same transaction: with foreign keys on, it calls `refuse`
/// (`mysql_drop_refused`, MySQL's 3730, or `mysql_truncate_refused`, 1701), which fails
/// the statement, when a table not among them has a foreign key naming one of them that
/// exists. MySQL refuses both whenever another table's foreign key references the table;
/// SQLite would drop or empty it, deleting its rows and cascading to the rows that
/// reference them. With `foreign_key_checks = 0` (a dump being loaded) the statement
/// stands, as in MySQL.
pub(crate) fn referenced_guard(refuse: &str, tables: &[String]) -> String {
    let list: Vec<String> = tables.iter().map(|d| names::literal(d)).collect();
    let list = list.join(", ");
    format!(
        "SELECT {refuse}(f.\"table\", s.name) FROM sqlite_schema AS s, \
         pragma_foreign_key_list(s.name) AS f WHERE s.type = 'table' \
         AND f.\"table\" COLLATE NOCASE IN ({list}) \
         AND s.name COLLATE NOCASE NOT IN ({list}) \
         AND EXISTS (SELECT 1 FROM sqlite_schema AS x WHERE x.type = 'table' \
         AND x.name = f.\"table\" COLLATE NOCASE) \
         AND (SELECT foreign_keys FROM pragma_foreign_keys) LIMIT 1"
    )
}

pub(crate) fn translate(rw: &mut Rewriter, ast: &mut Ast) -> Result<Vec<String>, SqlError> {
    match ast {
        Ast::CreateTable(ct) => create_table(rw, ct),
        Ast::CreateIndex(ci) => create_index(rw, ci),
        Ast::AlterTable(at) => alter_table(rw, &at.name.clone(), &mut at.operations),
        Ast::Drop {
            object_type,
            if_exists,
            names: list,
            temporary,
            table,
            ..
        } => {
            let ie = if *if_exists { "IF EXISTS " } else { "" };
            match object_type {
                ObjectType::Table if *temporary => Ok(vec![]),
                ObjectType::Table | ObjectType::View => {
                    let kw = if matches!(object_type, ObjectType::Table) {
                        "TABLE"
                    } else {
                        "VIEW"
                    };
                    let mut dropped = Vec::new();
                    for n in list.iter() {
                        dropped.push(rw.table(n)?.2);
                    }
                    if matches!(object_type, ObjectType::Table) {
                        dropped = drop_order(rw, dropped);
                    }
                    let mut v = Vec::with_capacity(dropped.len() + 1);
                    if matches!(object_type, ObjectType::Table) {
                        v.push(referenced_guard("mysql_drop_refused", &dropped));
                    }
                    v.extend(
                        dropped
                            .iter()
                            .map(|s| format!("DROP {kw} {ie}{}", names::quote(s))),
                    );
                    Ok(v)
                }
                ObjectType::Index => {
                    let Some(t) = table else {
                        return unsupported("DROP INDEX without ON table");
                    };
                    let (db, t, _) = rw.table(t)?;
                    let mut v = Vec::new();
                    for n in list.iter() {
                        let idx = n.to_string().trim_matches('`').to_string();
                        if idx.eq_ignore_ascii_case("primary") {
                            return unsupported("dropping the PRIMARY KEY");
                        }
                        v.push(format!(
                            "DROP INDEX {ie}{}",
                            names::quote(&names::index(&db, &t, &idx))
                        ));
                    }
                    Ok(v)
                }
                other => unsupported(format!("DROP {other}")),
            }
        }
        Ast::Truncate(t) => {
            // TRUNCATE is a plain DELETE of every row. AUTO_INCREMENT is not reset: the
            // counter (sqlite_sequence) is not replicated row by row, and every replica
            // derives it from the ids it has seen, so it must only ever grow.
            let mut emptied = Vec::new();
            for target in &t.table_names {
                emptied.push(rw.table(&target.name)?.2);
            }
            let mut v = vec![referenced_guard("mysql_truncate_refused", &emptied)];
            v.extend(
                emptied
                    .iter()
                    .map(|s| format!("DELETE FROM {}", names::quote(s))),
            );
            Ok(v)
        }
        Ast::RenameTable(list) => {
            let mut v = Vec::new();
            for r in list.iter() {
                v.extend(rename(rw, &r.old_name, &r.new_name)?);
            }
            Ok(v)
        }
        Ast::CreateView(cv) => {
            if cv.materialized || !cv.columns.is_empty() {
                return unsupported("CREATE VIEW with a column list or MATERIALIZED");
            }
            let (_, _, s) = rw.table(&cv.name)?;
            visit(rw, &mut cv.query)?;
            let head = if cv.or_replace {
                format!("DROP VIEW IF EXISTS {}", names::quote(&s))
            } else {
                String::new()
            };
            let ine = if cv.if_not_exists {
                "IF NOT EXISTS "
            } else {
                ""
            };
            let create = format!("CREATE VIEW {ine}{} AS {}", names::quote(&s), cv.query);
            Ok(if head.is_empty() {
                vec![create]
            } else {
                vec![head, create]
            })
        }
        other => unsupported(crate::dml::first_words(&other.to_string())),
    }
}

fn ident_name(e: &Expr) -> Result<String, SqlError> {
    match e {
        Expr::Identifier(i) => Ok(i.value.clone()),
        // `col(10)`: a prefix index; SQLite indexes the whole value.
        Expr::Function(f) if f.name.0.len() == 1 => {
            Ok(f.name.to_string().trim_matches(['`', '"']).to_string())
        }
        other => unsupported(format!("index on expression {other}")),
    }
}

fn index_columns(cols: &[IndexColumn]) -> Result<(Vec<String>, String), SqlError> {
    let mut names_v = Vec::new();
    let mut sql = String::from("(");
    for (i, c) in cols.iter().enumerate() {
        let n = ident_name(&c.column.expr)?;
        if i > 0 {
            sql.push_str(", ");
        }
        names::quote_into(&mut sql, &n);
        if c.column.options.sort == Some(sqlparser::ast::OrderBySort::Desc) {
            sql.push_str(" DESC");
        }
        names_v.push(n);
    }
    sql.push(')');
    Ok((names_v, sql))
}

struct IndexDef {
    name: Option<String>,
    unique: bool,
    columns: Vec<String>,
    sql_cols: String,
}

/// Table-level default collation: binary when the table's COLLATE / CHARSET say so.
fn table_binary_collation(ct: &CreateTable) -> bool {
    let opts = ct.table_options.to_string().to_ascii_lowercase();
    opts.split(|c: char| c.is_whitespace() || c == '=')
        .any(|w| w.ends_with("_bin") || w.ends_with("_cs") || w == "binary")
        && (opts.contains("collate") || opts.contains("charset") || opts.contains("character set"))
}

fn is_auto_increment(opt: &ColumnOption) -> bool {
    matches!(opt, ColumnOption::DialectSpecific(toks)
        if toks.iter().any(|t| t.to_string().eq_ignore_ascii_case("AUTO_INCREMENT")))
}

fn default_sql(rw: &mut Rewriter, e: &mut Expr) -> Result<String, SqlError> {
    if let Expr::Function(f) = e {
        let n = f.name.to_string().to_ascii_lowercase();
        if matches!(
            n.as_str(),
            "current_timestamp" | "now" | "localtime" | "localtimestamp"
        ) {
            return Ok("CURRENT_TIMESTAMP".into());
        }
    }
    match e {
        Expr::Value(_) => {
            visit(rw, e)?;
            Ok(e.to_string())
        }
        Expr::UnaryOp { expr, .. } if matches!(**expr, Expr::Value(_)) => Ok(e.to_string()),
        _ => {
            visit(rw, e)?;
            Ok(format!("({e})"))
        }
    }
}

/// One column definition in SQLite syntax; `pk_here` makes it the AUTOINCREMENT rowid key.
fn column_sql(
    rw: &mut Rewriter,
    col: &mut ColumnDef,
    binary_default: bool,
    auto_inc_pk: bool,
    uniques: &mut Vec<IndexDef>,
    pk_cols: &mut Vec<String>,
) -> Result<String, SqlError> {
    let name = col.name.value.clone();
    names::check("column", &name)?;
    let mapped = map_type(&col.data_type)?;
    let mut s = String::with_capacity(64);
    names::quote_into(&mut s, &name);
    s.push(' ');
    let mut not_null = false;
    let mut default = None;
    let mut coll: Option<&'static str> = None;
    let mut on_update = false;
    let mut checks = Vec::new();
    let mut generated = None;
    let mut fk = None;
    for o in col.options.iter_mut() {
        match &mut o.option {
            ColumnOption::NotNull => not_null = true,
            ColumnOption::Null => {}
            ColumnOption::Default(e) => default = Some(default_sql(rw, e)?),
            ColumnOption::CharacterSet(cs) => {
                if cs.to_string().eq_ignore_ascii_case("binary") {
                    coll = Some("BINARY");
                }
            }
            ColumnOption::Collation(c) => coll = Some(collation(&c.to_string())),
            ColumnOption::Comment(_) | ColumnOption::Invisible => {}
            ColumnOption::OnUpdate(e) => {
                let n = e.to_string().to_ascii_lowercase();
                if n.starts_with("current_timestamp")
                    || n.starts_with("now(")
                    || n.starts_with("localtimestamp")
                {
                    on_update = true;
                } else {
                    return unsupported(format!("ON UPDATE {e}"));
                }
            }
            ColumnOption::PrimaryKey(_) => {
                if !pk_cols.contains(&name) {
                    pk_cols.push(name.clone());
                }
            }
            ColumnOption::Unique(_) => uniques.push(IndexDef {
                name: Some(name.clone()),
                unique: true,
                columns: vec![name.clone()],
                sql_cols: format!("({})", names::quote(&name)),
            }),
            ColumnOption::Check(c) => {
                visit(rw, &mut c.expr)?;
                checks.push(format!("CHECK ({})", c.expr));
            }
            ColumnOption::ForeignKey(f) => {
                let (_, _, s) = rw
                    .resolve_referenced(&f.foreign_table)
                    .map(|(d, t)| (d.clone(), t.clone(), names::table(&d, &t)))?;
                let cols: Vec<String> = f
                    .referred_columns
                    .iter()
                    .map(|c| names::quote(&c.value))
                    .collect();
                fk = Some(format!(
                    "REFERENCES {} ({})",
                    names::quote(&s),
                    cols.join(", ")
                ));
            }
            ColumnOption::Generated {
                generation_expr: Some(e),
                generation_expr_mode,
                ..
            } => {
                visit(rw, e)?;
                let mode = match generation_expr_mode {
                    Some(sqlparser::ast::GeneratedExpressionMode::Stored) => " STORED",
                    _ => " VIRTUAL",
                };
                generated = Some(format!("GENERATED ALWAYS AS ({e}){mode}"));
            }
            opt if is_auto_increment(opt) => {}
            ColumnOption::DialectSpecific(toks) => {
                let t: Vec<String> = toks.iter().map(|t| t.to_string()).collect();
                return unsupported(format!("column option {}", t.join(" ")));
            }
            other => return unsupported(format!("column option {other}")),
        }
    }
    if auto_inc_pk {
        s.push_str("INTEGER NOT NULL CONSTRAINT ");
        names::quote_into(&mut s, &format!("{TYPE_MARKER_PREFIX}{}", mapped.mysql));
        s.push_str(" PRIMARY KEY AUTOINCREMENT");
        return Ok(s);
    }
    s.push_str(&mapped.decl);
    if not_null {
        s.push_str(" NOT NULL");
    }
    if let Some(d) = default {
        let _ = write!(s, " DEFAULT {d}");
    }
    if mapped.text {
        let c = coll.unwrap_or(if binary_default { "BINARY" } else { "NOCASE" });
        let _ = write!(s, " COLLATE {c}");
    } else if let Some(c) =
        temporal::Temporal::of_decl(&mapped.decl).and_then(temporal::Temporal::collation)
    {
        let _ = write!(s, " COLLATE {c}");
    }
    let is_generated = generated.is_some();
    if let Some(g) = generated {
        let _ = write!(s, " {g}");
    }
    // The user's unnamed constraints come before quorate's named ones: SQLite gives an
    // unnamed constraint the name of the last CONSTRAINT before it in the column.
    for c in checks {
        let _ = write!(s, " {c}");
    }
    if let Some(f) = fk {
        let _ = write!(s, " {f}");
    }
    if mapped.needs_marker {
        s.push_str(" CONSTRAINT ");
        names::quote_into(&mut s, &format!("{TYPE_MARKER_PREFIX}{}", mapped.mysql));
        s.push_str(" NULL");
    }
    if let Some(values) = &mapped.enum_values {
        s.push_str(" CONSTRAINT ");
        names::quote_into(&mut s, &format!("{ENUM_CHECK_PREFIX}{name}"));
        let list: Vec<String> = values.iter().map(|v| names::literal(v)).collect();
        let _ = write!(
            s,
            " CHECK ({} IN ({}))",
            names::quote(&name),
            list.join(",")
        );
    }
    if !is_generated {
        for c in crate::types::fit_checks(&name, &mapped.mysql) {
            s.push(' ');
            s.push_str(&c);
        }
    }
    if on_update {
        s.push_str(" CONSTRAINT ");
        names::quote_into(&mut s, ON_UPDATE_MARKER);
        s.push_str(" NULL");
    }
    Ok(s)
}

/// Whether an index on `index` (in order) can serve lookups on `cols`: they are its first
/// columns (names compared as MySQL compares them).
fn covers(index: &[String], cols: &[String]) -> bool {
    index.len() >= cols.len()
        && index
            .iter()
            .zip(cols)
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
}

/// A table-level FOREIGN KEY in SQLite syntax, named `name` when given.
fn foreign_key_sql(
    rw: &mut Rewriter,
    fk: &sqlparser::ast::ForeignKeyConstraint,
    name: Option<&str>,
) -> Result<String, SqlError> {
    let (rdb, rt) = rw.resolve_referenced(&fk.foreign_table)?;
    let mut s = String::new();
    if let Some(n) = name {
        s.push_str("CONSTRAINT ");
        names::quote_into(&mut s, n);
        s.push(' ');
    }
    let cols: Vec<String> = fk.columns.iter().map(|c| names::quote(&c.value)).collect();
    let rcols: Vec<String> = fk
        .referred_columns
        .iter()
        .map(|c| names::quote(&c.value))
        .collect();
    let _ = write!(
        s,
        "FOREIGN KEY ({}) REFERENCES {} ({})",
        cols.join(", "),
        names::quote(&names::table(&rdb, &rt)),
        rcols.join(", ")
    );
    if let Some(a) = &fk.on_delete {
        let _ = write!(s, " ON DELETE {a}");
    }
    if let Some(a) = &fk.on_update {
        let _ = write!(s, " ON UPDATE {a}");
    }
    Ok(s)
}

fn create_table(rw: &mut Rewriter, ct: &mut CreateTable) -> Result<Vec<String>, SqlError> {
    if ct.temporary {
        return unsupported("CREATE TEMPORARY TABLE");
    }
    if ct.query.is_some() {
        return unsupported("CREATE TABLE ... AS SELECT / ... SELECT");
    }
    if ct.or_replace {
        return unsupported("CREATE OR REPLACE TABLE");
    }
    let (db, t, sqlite_name) = rw.table(&ct.name)?;
    rw.defining_db = Some(db.clone());
    let ine = if ct.if_not_exists {
        "IF NOT EXISTS "
    } else {
        ""
    };
    if let Some(like) = &ct.like {
        let src = match like {
            sqlparser::ast::CreateTableLikeKind::Parenthesized(l)
            | sqlparser::ast::CreateTableLikeKind::Plain(l) => l.name.clone(),
        };
        return create_like(rw, &src, &db, &t, &sqlite_name, ine);
    }
    let binary_default = table_binary_collation(ct);

    // Primary key and AUTO_INCREMENT column.
    let mut pk_cols: Vec<String> = Vec::new();
    // The FOREIGN KEYs' names and columns, for the indexes MySQL makes for them.
    let mut fk_indexes: Vec<(Option<String>, Vec<String>)> = Vec::new();
    let mut indexes: Vec<IndexDef> = Vec::new();
    let mut table_items: Vec<String> = Vec::new();
    for c in ct.constraints.iter_mut() {
        match c {
            TableConstraint::PrimaryKey(pk) => {
                let (cols, _) = index_columns(&pk.columns)?;
                pk_cols = cols;
            }
            TableConstraint::Unique(u) => {
                let (cols, sql_cols) = index_columns(&u.columns)?;
                let name = u
                    .index_name
                    .as_ref()
                    .or(u.name.as_ref())
                    .map(|i| i.value.clone());
                indexes.push(IndexDef {
                    name,
                    unique: true,
                    columns: cols,
                    sql_cols,
                });
            }
            TableConstraint::Index(i) => {
                let (cols, sql_cols) = index_columns(&i.columns)?;
                indexes.push(IndexDef {
                    name: i.name.as_ref().map(|n| n.value.clone()),
                    unique: false,
                    columns: cols,
                    sql_cols,
                });
            }
            TableConstraint::FulltextOrSpatial(f) => {
                return unsupported(if f.fulltext {
                    "FULLTEXT index"
                } else {
                    "SPATIAL index"
                });
            }
            TableConstraint::ForeignKey(fk) => {
                let name = fk.name.as_ref().map(|n| n.value.clone());
                table_items.push(foreign_key_sql(rw, fk, name.as_deref())?);
                let cols: Vec<String> = fk.columns.iter().map(|c| c.value.clone()).collect();
                fk_indexes.push((name, cols));
            }
            TableConstraint::Check(ch) => {
                visit(rw, &mut ch.expr)?;
                let mut s = String::new();
                if let Some(n) = &ch.name {
                    s.push_str("CONSTRAINT ");
                    names::quote_into(&mut s, &n.value);
                    s.push(' ');
                }
                let _ = write!(s, "CHECK ({})", ch.expr);
                table_items.push(s);
            }
            other => return unsupported(format!("table constraint {other}")),
        }
    }
    // Column-level PRIMARY KEY.
    for col in ct.columns.iter() {
        if col
            .options
            .iter()
            .any(|o| matches!(o.option, ColumnOption::PrimaryKey(_)))
        {
            pk_cols = vec![col.name.value.clone()];
        }
    }
    let auto_inc: Vec<String> = ct
        .columns
        .iter()
        .filter(|c| {
            c.options.iter().any(|o| is_auto_increment(&o.option))
                || c.data_type.to_string().eq_ignore_ascii_case("SERIAL")
        })
        .map(|c| c.name.value.clone())
        .collect();
    if auto_inc.len() > 1 {
        return unsupported("more than one AUTO_INCREMENT column");
    }
    let auto_inc = auto_inc.into_iter().next();
    if let Some(a) = &auto_inc {
        let indexed = indexes.iter().any(|i| i.columns.first() == Some(a));
        if pk_cols.is_empty() && indexed {
            // An AUTO_INCREMENT column with only a secondary KEY becomes the PRIMARY KEY:
            // SQLite generates values only for its rowid key.
            pk_cols = vec![a.clone()];
        } else if pk_cols.len() != 1 || !pk_cols[0].eq_ignore_ascii_case(a) {
            return unsupported("AUTO_INCREMENT on a column that is not the whole PRIMARY KEY");
        }
    }

    let mut items = Vec::with_capacity(ct.columns.len() + 2);
    for col in ct.columns.iter_mut() {
        let is_ai = auto_inc
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(&col.name.value));
        // MySQL's primary key columns are NOT NULL whether or not the DDL says so; SQLite
        // would accept NULL in them (and its change capture would lose such rows).
        let in_pk = pk_cols
            .iter()
            .any(|c| c.eq_ignore_ascii_case(&col.name.value));
        if in_pk
            && !col
                .options
                .iter()
                .any(|o| matches!(o.option, ColumnOption::NotNull))
        {
            col.options.push(sqlparser::ast::ColumnOptionDef {
                name: None,
                option: ColumnOption::NotNull,
            });
        }
        let mut dummy_pk = Vec::new();
        let s = column_sql(rw, col, binary_default, is_ai, &mut indexes, &mut dummy_pk)?;
        items.push(s);
    }
    if auto_inc.is_none() && !pk_cols.is_empty() {
        let cols: Vec<String> = pk_cols.iter().map(|c| names::quote(c)).collect();
        items.push(format!("PRIMARY KEY ({})", cols.join(", ")));
    }
    items.extend(table_items);

    // MySQL gives a foreign key an index on its columns when no index starts with them,
    // named after the constraint (or its first column); ORMs count on it (Django makes no
    // index of its own for a ForeignKey on MySQL).
    for (name, cols) in fk_indexes {
        let covered = covers(&pk_cols, &cols) || indexes.iter().any(|i| covers(&i.columns, &cols));
        if !covered && !cols.is_empty() {
            let sql_cols = format!(
                "({})",
                cols.iter()
                    .map(|c| names::quote(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            indexes.push(IndexDef {
                name: Some(name.unwrap_or_else(|| cols[0].clone())),
                unique: false,
                columns: cols,
                sql_cols,
            });
        }
    }

    let mut out = Vec::with_capacity(1 + indexes.len());
    out.push(format!(
        "CREATE TABLE {ine}{} (\n  {}\n)",
        names::quote(&sqlite_name),
        items.join(",\n  ")
    ));
    let mut used: Vec<String> = Vec::new();
    for ix in indexes {
        let base = ix.name.clone().unwrap_or_else(|| ix.columns[0].clone());
        if base.eq_ignore_ascii_case("primary") {
            continue;
        }
        let mut name = base.clone();
        let mut n = 2;
        while used.iter().any(|u| u.eq_ignore_ascii_case(&name)) {
            name = format!("{base}_{n}");
            n += 1;
        }
        names::check("index", &name)?;
        used.push(name.clone());
        out.push(format!(
            "CREATE {}INDEX {ine}{} ON {} {}",
            if ix.unique { "UNIQUE " } else { "" },
            names::quote(&names::index(&db, &t, &name)),
            names::quote(&sqlite_name),
            ix.sql_cols
        ));
    }
    Ok(out)
}

/// `CREATE TABLE new LIKE old`: the stored definition of `old` under the new names.
fn create_like(
    rw: &mut Rewriter,
    src: &ObjectName,
    db: &str,
    t: &str,
    sqlite_name: &str,
    ine: &str,
) -> Result<Vec<String>, SqlError> {
    let (sdb, st) = rw.resolve(src)?;
    let src_sqlite = names::table(&sdb, &st);
    let Some(cat) = rw.ctx.catalog else {
        return unsupported("CREATE TABLE ... LIKE without a schema catalog");
    };
    let Some(sqls) = cat.schema_sql(&src_sqlite) else {
        return Err(SqlError::NoSuchTable { db: sdb, table: st });
    };
    let old_q = names::quote(&src_sqlite);
    let new_q = names::quote(sqlite_name);
    let old_ix = format!("\"{}.", src_sqlite.replace('"', "\"\""));
    let new_ix = format!("\"{}.", names::table(db, t).replace('"', "\"\""));
    let mut out = Vec::new();
    for (i, s) in sqls.iter().enumerate() {
        let s = s.replacen(&old_ix, &new_ix, 1).replace(&old_q, &new_q);
        let s = if i == 0 {
            s.replacen("CREATE TABLE ", &format!("CREATE TABLE {ine}"), 1)
        } else if let Some(rest) = s.strip_prefix("CREATE UNIQUE INDEX ") {
            format!("CREATE UNIQUE INDEX {ine}{rest}")
        } else if let Some(rest) = s.strip_prefix("CREATE INDEX ") {
            format!("CREATE INDEX {ine}{rest}")
        } else {
            s
        };
        out.push(s);
    }
    Ok(out)
}

fn create_index(rw: &mut Rewriter, ci: &mut CreateIndex) -> Result<Vec<String>, SqlError> {
    if let Some(u) = &ci.using {
        let u = u.to_string().to_ascii_uppercase();
        if u.contains("FULLTEXT") || u.contains("SPATIAL") {
            return unsupported(format!("{u} index"));
        }
    }
    let (db, t, sqlite_name) = rw.table(&ci.table_name)?;
    let Some(name) = &ci.name else {
        return unsupported("CREATE INDEX without a name");
    };
    let iname = name.to_string().trim_matches(['`', '"']).to_string();
    names::check("index", &iname)?;
    let (_, cols) = index_columns(&ci.columns)?;
    Ok(vec![format!(
        "CREATE {}INDEX {}{} ON {} {}",
        if ci.unique { "UNIQUE " } else { "" },
        if ci.if_not_exists {
            "IF NOT EXISTS "
        } else {
            ""
        },
        names::quote(&names::index(&db, &t, &iname)),
        names::quote(&sqlite_name),
        cols
    )])
}

fn rename(rw: &mut Rewriter, old: &ObjectName, new: &ObjectName) -> Result<Vec<String>, SqlError> {
    let (odb, ot, os) = rw.table(old)?;
    let (ndb, nt, ns) = rw.table(new)?;
    let mut v = vec![format!(
        "ALTER TABLE {} RENAME TO {}",
        names::quote(&os),
        names::quote(&ns)
    )];
    // Index names carry the table name: recreate them under the new one when the schema
    // is known (SQLite cannot rename an index).
    if let Some(cat) = rw.ctx.catalog
        && let Some(sqls) = cat.schema_sql(&os)
    {
        let old_ix = format!("\"{}.", names::table(&odb, &ot).replace('"', "\"\""));
        let new_ix = format!("\"{}.", names::table(&ndb, &nt).replace('"', "\"\""));
        for s in sqls.iter().skip(1) {
            let Some(start) = s.find(&old_ix) else {
                continue;
            };
            let end = s[start + 1..]
                .find('"')
                .map(|e| start + 1 + e)
                .unwrap_or(s.len());
            let old_name = &s[start..=end];
            v.push(format!("DROP INDEX {old_name}"));
            v.push(
                s.replacen(&old_ix, &new_ix, 1)
                    .replace(&names::quote(&os), &names::quote(&ns)),
            );
        }
    }
    Ok(v)
}

/// A table's stored CREATE TABLE text followed through the operations of one ALTER TABLE,
/// for the operations that edit it (see [`crate::redefine`]).
struct Definition {
    /// The table's SQLite name.
    sqlite: String,
    /// The text as of the last edit, once it was needed.
    text: Option<String>,
    /// SQLite ALTER TABLE statements (ADD / DROP / RENAME COLUMN) emitted since `text`.
    since: Vec<String>,
    /// The table was renamed by an earlier operation.
    renamed: bool,
    /// Where in the statements emitted the edits are.
    edits: Vec<usize>,
}

impl Definition {
    /// The text the table will have when the next statement runs.
    fn current(&mut self, rw: &Rewriter) -> Result<String, SqlError> {
        if self.renamed {
            return unsupported(
                "ALTER TABLE that renames the table and then changes its definition (use two statements)",
            );
        }
        let text = match self.text.clone() {
            Some(t) => t,
            None => {
                let Some(cat) = rw.ctx.catalog else {
                    return unsupported("this ALTER TABLE without a schema catalog");
                };
                let Some(sqls) = cat.schema_sql(&self.sqlite) else {
                    let (db, t) =
                        names::split_sqlite_name(&self.sqlite).unwrap_or(("", &self.sqlite));
                    return Err(SqlError::NoSuchTable {
                        db: db.to_string(),
                        table: t.to_string(),
                    });
                };
                sqls.into_iter().next().unwrap_or_default()
            }
        };
        let text = if self.since.is_empty() {
            text
        } else {
            let after = crate::redefine::after(&self.sqlite, &text, &self.since)?;
            self.since.clear();
            after
        };
        self.text = Some(text.clone());
        Ok(text)
    }

    /// Emits the edit from `from` to `to` into `v`.
    fn edit(&mut self, v: &mut Vec<String>, from: &str, to: String) {
        self.edits.push(v.len());
        v.push(crate::redefine::statement(&self.sqlite, from, &to));
        self.text = Some(to);
    }

    /// Notes SQLite statement `sql`, just emitted, which may change the table's text.
    fn ran(&mut self, sql: &str) {
        if sql.starts_with("ALTER TABLE ") {
            self.since.push(sql.to_string());
        }
    }
}

/// The MySQL names of the table-level FOREIGN KEYs of `table` (its text), in order: the
/// declared name, or the one [`crate::catalog`] shows for an unnamed one.
fn foreign_key_names(table: &crate::redefine::Table, mysql_table: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for i in 0..table.items.len() {
        if let Some(name) = table.item(i).foreign_key() {
            let n = out.len();
            out.push((
                i,
                name.map_or_else(|| format!("{mysql_table}_ibfk_{}", n + 1), str::to_string),
            ));
        }
    }
    out
}

/// Refuses to drop a foreign key by name from a table with a column-level `REFERENCES`:
/// SHOW CREATE TABLE and information_schema may give such a table's keys each other's
/// generated names (a known gap), so the name could drop another key.
fn refuse_column_references(table: &crate::redefine::Table) -> Result<(), SqlError> {
    let column_level = (0..table.items.len()).any(|i| {
        let it = table.item(i);
        it.column().is_some() && it.has("REFERENCES")
    });
    if column_level {
        return unsupported(
            "dropping a FOREIGN KEY by name from a table with a column-level REFERENCES \
             (its keys' generated names are not reliable)",
        );
    }
    Ok(())
}

/// Whether column `col` is in the table's PRIMARY KEY (declared on the column or as a table
/// constraint).
fn in_primary_key(table: &crate::redefine::Table, col: usize) -> bool {
    use crate::redefine::Tok;
    let item = table.item(col);
    if item.has("PRIMARY") {
        return true;
    }
    let Some(name) = item.column() else {
        return false;
    };
    (0..table.items.len()).any(|i| {
        let it = table.item(i);
        let t = &it.tokens;
        let word = |k: usize, w: &str| matches!(t.get(k), Some((Tok::Word(x), _)) if x.eq_ignore_ascii_case(w));
        let at = if word(0, "PRIMARY") {
            0
        } else if word(0, "CONSTRAINT") && word(2, "PRIMARY") {
            2
        } else {
            return false;
        };
        if !word(at + 1, "KEY") || !matches!(t.get(at + 2), Some((Tok::Open, _))) {
            return false;
        }
        // The names in the column list, up to its closing parenthesis.
        t[at + 3..]
            .iter()
            .take_while(|(x, _)| !matches!(x, Tok::Close))
            .any(|(x, _)| matches!(x, Tok::Word(w) | Tok::Quoted(w) if w.eq_ignore_ascii_case(name)))
    })
}

/// The table's text without its FOREIGN KEY item `at`, the unnamed ones after it named as
/// they are named now: MySQL does not number them again.
fn without_foreign_key(
    mut table: crate::redefine::Table,
    existing: &[(usize, String)],
    at: usize,
) -> Result<String, SqlError> {
    // Last first, so that the items before keep their places.
    for (i, n) in existing.iter().rev() {
        if *i > at && table.item(*i).foreign_key() == Some(None) {
            let named = format!("CONSTRAINT {} {}", names::quote(n), table.item(*i).text);
            table = crate::redefine::Table::parse(&table.replaced(*i, &named))?;
        }
    }
    Ok(table.removed(at))
}

/// MODIFY / CHANGE: the column item of `def` (named `old` in the table) replacing the old
/// one, and the UNIQUE indexes the definition asks for.
fn modified_column(
    rw: &mut Rewriter,
    table: &crate::redefine::Table,
    at: usize,
    def: &mut ColumnDef,
) -> Result<(String, Vec<IndexDef>), SqlError> {
    let old = table.item(at);
    let was_auto = old.has("AUTOINCREMENT");
    let auto = def.options.iter().any(|o| is_auto_increment(&o.option))
        || def.data_type.to_string().eq_ignore_ascii_case("SERIAL");
    if was_auto != auto {
        return unsupported("adding or removing AUTO_INCREMENT with MODIFY / CHANGE COLUMN");
    }
    if def
        .options
        .iter()
        .any(|o| matches!(o.option, ColumnOption::Generated { .. }))
    {
        return unsupported("MODIFY / CHANGE COLUMN ... GENERATED ALWAYS AS");
    }
    let in_pk = in_primary_key(table, at);
    if !in_pk
        && def
            .options
            .iter()
            .any(|o| matches!(o.option, ColumnOption::PrimaryKey(_)))
    {
        return unsupported(
            "MODIFY / CHANGE COLUMN ... PRIMARY KEY (the primary key cannot change)",
        );
    }
    // As in CREATE TABLE: a primary key column is NOT NULL.
    if in_pk
        && !def
            .options
            .iter()
            .any(|o| matches!(o.option, ColumnOption::NotNull))
    {
        def.options.push(sqlparser::ast::ColumnOptionDef {
            name: None,
            option: ColumnOption::NotNull,
        });
    }
    // The table's default collation is not stored: a text column keeps the one it had
    // unless the definition names one.
    let binary = old.collates("BINARY");
    let mut uniques = Vec::new();
    let mut pk = Vec::new();
    let mut item = column_sql(rw, def, binary, auto, &mut uniques, &mut pk)?;
    // MySQL holds a column's CHECKs and foreign keys as the table's: they stay, before
    // quorate's own named constraints (an unnamed one after them would take their name).
    let kept = old.kept_constraints();
    if !kept.is_empty() {
        let at = crate::redefine::Item {
            text: &item,
            tokens: crate::redefine::tokens(&item),
        }
        .internal_start();
        let kept = kept.join(" ");
        if at < item.len() {
            item.insert_str(at, &format!("{kept} "));
        } else {
            item.push(' ');
            item.push_str(&kept);
        }
    }
    Ok((item, uniques))
}

fn alter_table(
    rw: &mut Rewriter,
    name: &ObjectName,
    ops: &mut [AlterTableOperation],
) -> Result<Vec<String>, SqlError> {
    let (db, t, s) = rw.table(name)?;
    rw.defining_db = Some(db.clone());
    let q = names::quote(&s);
    let mut v = Vec::new();
    let mut def = Definition {
        sqlite: s.clone(),
        text: None,
        since: Vec::new(),
        renamed: false,
        edits: Vec::new(),
    };
    // Indexes this statement makes (name, columns) and drops (name), for the foreign keys
    // it adds; the table's indexes as DROP COLUMN leaves them, once one ran.
    let mut made: Vec<(String, Vec<String>)> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    let mut indexes_now: Option<Vec<crate::catalog::IndexInfo>> = None;
    for op in ops.iter_mut() {
        let emitted = v.len();
        match op {
            AlterTableOperation::AddColumn {
                column_def,
                if_not_exists,
                ..
            } => {
                if *if_not_exists {
                    return unsupported("ADD COLUMN IF NOT EXISTS");
                }
                if column_def
                    .options
                    .iter()
                    .any(|o| is_auto_increment(&o.option))
                {
                    return unsupported("ADD COLUMN ... AUTO_INCREMENT");
                }
                let mut uniques = Vec::new();
                let mut pk = Vec::new();
                let col = column_sql(rw, column_def, false, false, &mut uniques, &mut pk)?;
                if !pk.is_empty() {
                    return unsupported("ADD COLUMN ... PRIMARY KEY");
                }
                v.push(format!("ALTER TABLE {q} ADD COLUMN {col}"));
                for u in uniques {
                    let n = u.name.unwrap_or_default();
                    v.push(format!(
                        "CREATE UNIQUE INDEX {} ON {q} {}",
                        names::quote(&names::index(&db, &t, &n)),
                        u.sql_cols
                    ));
                }
            }
            AlterTableOperation::DropColumn { column_names, .. } => {
                // A column's own unnamed CHECK goes with it: the others are named first, so
                // that their names do not move.
                if let Ok(from) = def.current(rw)
                    && let Ok(table) = crate::redefine::Table::parse(&from)
                {
                    let named = table.checks_named(&t);
                    if named != from {
                        def.edit(&mut v, &from, named);
                    }
                }
                let indexes = indexes_now.get_or_insert_with(|| {
                    let mut now: Vec<crate::catalog::IndexInfo> = rw
                        .ctx
                        .catalog
                        .and_then(|c| c.table(&s))
                        .map(|i| i.indexes)
                        .unwrap_or_default();
                    // As this statement left them so far.
                    now.retain(|ix| !dropped.iter().any(|d| d.eq_ignore_ascii_case(&ix.name)));
                    now.extend(made.iter().map(|(name, cols)| crate::catalog::IndexInfo {
                        name: name.clone(),
                        unique: false,
                        columns: cols.iter().map(|c| (c.clone(), false)).collect(),
                    }));
                    now
                });
                for c in column_names.iter() {
                    // SQLite refuses to drop a column that a trigger names; the store makes
                    // the date triggers again after the ALTER (temporal::follow_schema_change).
                    v.extend(temporal::drop_triggers(&s));
                    // Or one an index uses. MySQL takes the column out of its indexes,
                    // dropping those left without a column.
                    let mut again = Vec::new();
                    for ix in indexes.iter().filter(|ix| ix.name != "PRIMARY") {
                        if !ix
                            .columns
                            .iter()
                            .any(|(n, _)| n.eq_ignore_ascii_case(&c.value))
                        {
                            continue;
                        }
                        let quoted = names::quote(&names::index(&db, &t, &ix.name));
                        v.push(format!("DROP INDEX {quoted}"));
                        let rest: Vec<String> = ix
                            .columns
                            .iter()
                            .filter(|(n, _)| !n.eq_ignore_ascii_case(&c.value))
                            .map(|(n, desc)| {
                                format!("{}{}", names::quote(n), if *desc { " DESC" } else { "" })
                            })
                            .collect();
                        if !rest.is_empty() {
                            again.push(format!(
                                "CREATE {}INDEX {quoted} ON {q} ({})",
                                if ix.unique { "UNIQUE " } else { "" },
                                rest.join(", ")
                            ));
                        }
                    }
                    // What the indexes are after this drop, for the next one.
                    for ix in indexes.iter_mut() {
                        ix.columns
                            .retain(|(n, _)| !n.eq_ignore_ascii_case(&c.value));
                    }
                    indexes.retain(|ix| !ix.columns.is_empty());
                    v.push(format!(
                        "ALTER TABLE {q} DROP COLUMN {}",
                        names::quote(&c.value)
                    ));
                    v.extend(again);
                }
            }
            AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => v.push(format!(
                "ALTER TABLE {q} RENAME COLUMN {} TO {}",
                names::quote(&old_column_name.value),
                names::quote(&new_column_name.value)
            )),
            AlterTableOperation::RenameTable { table_name } => {
                let new = match table_name {
                    RenameTableNameKind::As(n) | RenameTableNameKind::To(n) => n.clone(),
                };
                v.extend(rename(rw, name, &new)?);
                def.renamed = true;
            }
            AlterTableOperation::AddConstraint { constraint, .. } => match constraint {
                TableConstraint::Index(i) => {
                    let (cols, sql_cols) = index_columns(&i.columns)?;
                    let n = i
                        .name
                        .as_ref()
                        .map(|n| n.value.clone())
                        .unwrap_or_else(|| cols[0].clone());
                    v.push(format!(
                        "CREATE INDEX {} ON {q} {sql_cols}",
                        names::quote(&names::index(&db, &t, &n))
                    ));
                    made.push((n, cols));
                }
                TableConstraint::Unique(u) => {
                    let (cols, sql_cols) = index_columns(&u.columns)?;
                    let n = u
                        .index_name
                        .as_ref()
                        .or(u.name.as_ref())
                        .map(|n| n.value.clone())
                        .unwrap_or_else(|| cols[0].clone());
                    v.push(format!(
                        "CREATE UNIQUE INDEX {} ON {q} {sql_cols}",
                        names::quote(&names::index(&db, &t, &n))
                    ));
                    made.push((n, cols));
                }
                TableConstraint::FulltextOrSpatial(_) => {
                    return unsupported("ADD FULLTEXT / SPATIAL index");
                }
                TableConstraint::ForeignKey(fk) => {
                    let from = def.current(rw)?;
                    let table = crate::redefine::Table::parse(&from)?;
                    let existing = foreign_key_names(&table, &t);
                    let name = match &fk.name {
                        Some(n) => {
                            if existing
                                .iter()
                                .any(|(_, e)| e.eq_ignore_ascii_case(&n.value))
                            {
                                return Err(SqlError::DuplicateForeignKey(n.value.clone()));
                            }
                            n.value.clone()
                        }
                        // MySQL's generated name: one more than the highest in use.
                        None => {
                            let prefix = format!("{t}_ibfk_");
                            let highest = existing
                                .iter()
                                .filter_map(|(_, e)| e.strip_prefix(&prefix)?.parse::<u64>().ok())
                                .max()
                                .unwrap_or(0);
                            format!("{prefix}{}", highest + 1)
                        }
                    };
                    let item = foreign_key_sql(rw, fk, Some(&name))?;
                    def.edit(&mut v, &from, table.appended(&item));
                    // MySQL's index for the key, when no index starts with its columns.
                    let cols: Vec<String> = fk.columns.iter().map(|c| c.value.clone()).collect();
                    let info = rw.ctx.catalog.and_then(|c| c.table(&s));
                    let mut existing: Vec<(String, Vec<String>)> = info
                        .map(|i| {
                            i.indexes
                                .into_iter()
                                .map(|x| (x.name, x.columns.into_iter().map(|c| c.0).collect()))
                                .collect()
                        })
                        .unwrap_or_default();
                    existing.retain(|(n, _)| !dropped.iter().any(|d| d.eq_ignore_ascii_case(n)));
                    existing.extend(made.iter().cloned());
                    if !cols.is_empty() && !existing.iter().any(|(_, i)| covers(i, &cols)) {
                        let base = fk
                            .name
                            .as_ref()
                            .map_or_else(|| cols[0].clone(), |n| n.value.clone());
                        let mut index = base.clone();
                        let mut n = 2;
                        while existing.iter().any(|(e, _)| e.eq_ignore_ascii_case(&index)) {
                            index = format!("{base}_{n}");
                            n += 1;
                        }
                        let list: Vec<String> = cols.iter().map(|c| names::quote(c)).collect();
                        v.push(format!(
                            "CREATE INDEX {} ON {q} ({})",
                            names::quote(&names::index(&db, &t, &index)),
                            list.join(", ")
                        ));
                        made.push((index, cols));
                    }
                }
                TableConstraint::Check(ch) => {
                    visit(rw, &mut ch.expr)?;
                    let from = def.current(rw)?;
                    let table = crate::redefine::Table::parse(&from)?;
                    // Named as MySQL names it when the statement does not: one more than
                    // the highest `<table>_chk_<n>`.
                    let name = match &ch.name {
                        Some(n) => n.value.clone(),
                        None => format!(
                            "{t}_chk_{}",
                            crate::catalog::highest_check_number(&from, &t) + 1
                        ),
                    };
                    let taken = crate::catalog::named_checks(&from, &t)
                        .iter()
                        .any(|(n, _)| n.eq_ignore_ascii_case(&name))
                        || table.constraint(&name).is_some();
                    if taken {
                        return Err(SqlError::DuplicateCheck(name));
                    }
                    let mut item = String::from("CONSTRAINT ");
                    names::quote_into(&mut item, &name);
                    let _ = write!(item, " CHECK ({})", ch.expr);
                    def.edit(&mut v, &from, table.appended(&item));
                }
                other => {
                    return unsupported(format!(
                        "ALTER TABLE ADD {}",
                        crate::dml::first_words(&other.to_string())
                    ));
                }
            },
            AlterTableOperation::DropIndex { name } => {
                dropped.push(name.value.clone());
                v.push(format!(
                    "DROP INDEX {}",
                    names::quote(&names::index(&db, &t, &name.value))
                ));
            }
            AlterTableOperation::DropConstraint {
                name, if_exists, ..
            } => {
                // A FOREIGN KEY or CHECK of that name (MySQL's DROP CONSTRAINT / DROP CHECK).
                if let Ok(from) = def.current(rw)
                    && let Ok(table) = crate::redefine::Table::parse(&from)
                {
                    // A CHECK (by its declared name or the one MySQL gives it, `t_chk_1`).
                    if let Some(to) = table.without_check(&name.value, &t) {
                        def.edit(&mut v, &from, to);
                        continue;
                    }
                    if let Some(at) = table.constraint(&name.value) {
                        refuse_column_references(&table)?;
                        let existing = foreign_key_names(&table, &t);
                        let to = without_foreign_key(table, &existing, at)?;
                        def.edit(&mut v, &from, to);
                        continue;
                    }
                }
                // MySQL's DROP KEY / DROP INDEX arrive here in some forms.
                dropped.push(name.value.clone());
                let ie = if *if_exists { "IF EXISTS " } else { "" };
                v.push(format!(
                    "DROP INDEX {ie}{}",
                    names::quote(&names::index(&db, &t, &name.value))
                ));
            }
            AlterTableOperation::AutoIncrement { .. }
            | AlterTableOperation::Algorithm { .. }
            | AlterTableOperation::Lock { .. } => {}
            AlterTableOperation::DropPrimaryKey { .. } => {
                return unsupported("ALTER TABLE DROP PRIMARY KEY");
            }
            AlterTableOperation::DropForeignKey { name, .. } => {
                let from = def.current(rw)?;
                let table = crate::redefine::Table::parse(&from)?;
                refuse_column_references(&table)?;
                let existing = foreign_key_names(&table, &t);
                let Some(&(at, _)) = existing
                    .iter()
                    .find(|(_, e)| e.eq_ignore_ascii_case(&name.value))
                else {
                    return Err(SqlError::CantDrop(name.value.clone()));
                };
                let to = without_foreign_key(table, &existing, at)?;
                def.edit(&mut v, &from, to);
            }
            AlterTableOperation::ModifyColumn {
                col_name,
                data_type,
                options,
                column_position,
            } => {
                let change = ColumnChange {
                    old_name: col_name,
                    new_name: None,
                    data_type,
                    options,
                    moved: column_position.is_some(),
                };
                redefine_column(rw, &mut def, &mut v, (&db, &t, &q), change)?;
            }
            AlterTableOperation::ChangeColumn {
                old_name,
                new_name,
                data_type,
                options,
                column_position,
            } => {
                let change = ColumnChange {
                    old_name,
                    new_name: Some(new_name),
                    data_type,
                    options,
                    moved: column_position.is_some(),
                };
                redefine_column(rw, &mut def, &mut v, (&db, &t, &q), change)?;
            }
            AlterTableOperation::AlterColumn { column_name, op } => {
                use sqlparser::ast::AlterColumnOperation as A;
                let default = match op {
                    A::SetDefault { value } => Some(default_sql(rw, value)?),
                    A::DropDefault => None,
                    other => return unsupported(format!("ALTER TABLE ALTER COLUMN ... {other}")),
                };
                let from = def.current(rw)?;
                let table = crate::redefine::Table::parse(&from)?;
                let at = table
                    .column(&column_name.value)
                    .ok_or_else(|| SqlError::UnknownColumn(column_name.value.clone(), t.clone()))?;
                let item = table.item(at).with_default(default.as_deref());
                def.edit(&mut v, &from, table.replaced(at, &item));
            }
            other => {
                return unsupported(format!(
                    "ALTER TABLE {}",
                    crate::dml::first_words(&other.to_string())
                ));
            }
        }
        // What this operation ran natively, for the text of a later edit.
        for (i, sql) in v.iter().enumerate().skip(emitted) {
            if !def.edits.contains(&i) {
                def.ran(sql);
            }
        }
    }
    Ok(v)
}

/// MODIFY (no new name) or CHANGE of a column, as the ALTER TABLE gave it.
struct ColumnChange<'a> {
    old_name: &'a sqlparser::ast::Ident,
    new_name: Option<&'a sqlparser::ast::Ident>,
    data_type: &'a sqlparser::ast::DataType,
    options: &'a mut Vec<ColumnOption>,
    /// `FIRST` / `AFTER` was given.
    moved: bool,
}

/// MODIFY / CHANGE: the table redefined with the column's new definition, then the column
/// renamed, then the UNIQUE indexes the definition asks for. `(db, t, q)`: the table's
/// database, MySQL name and quoted SQLite name.
fn redefine_column(
    rw: &mut Rewriter,
    def: &mut Definition,
    v: &mut Vec<String>,
    (db, t, q): (&str, &str, &str),
    change: ColumnChange<'_>,
) -> Result<(), SqlError> {
    if change.moved {
        return unsupported("MODIFY / CHANGE COLUMN ... FIRST / AFTER (columns keep their order)");
    }
    if let Some(n) = change.new_name {
        names::check("column", &n.value)?;
    }
    let from = def.current(rw)?;
    // The checks named first, so that a check the definition adds takes a name of its own
    // (as MySQL numbers them) and none moves.
    let table =
        crate::redefine::Table::parse(&crate::redefine::Table::parse(&from)?.checks_named(t))?;
    let at = table
        .column(&change.old_name.value)
        .ok_or_else(|| SqlError::UnknownColumn(change.old_name.value.clone(), t.to_string()))?;
    let old = table.item(at).column().unwrap_or_default().to_string();
    let new = change
        .new_name
        .map_or_else(|| old.clone(), |n| n.value.clone());
    // The definition changes under the old name, then the column is renamed (which SQLite
    // does everywhere the name is used). A change of case only is not a rename to SQLite
    // (its names ignore case): the definition has it.
    let renamed = !old.eq_ignore_ascii_case(&new);
    let mut cd = ColumnDef {
        name: sqlparser::ast::Ident::new(if renamed { &old } else { &new }),
        data_type: change.data_type.clone(),
        options: change
            .options
            .drain(..)
            .map(|option| sqlparser::ast::ColumnOptionDef { name: None, option })
            .collect(),
    };
    let (item, uniques) = modified_column(rw, &table, at, &mut cd)?;
    let to = crate::redefine::Table::parse(&table.replaced(at, &item))?.checks_named(t);
    def.edit(v, &from, to);
    if renamed {
        v.push(format!(
            "ALTER TABLE {q} RENAME COLUMN {} TO {}",
            names::quote(&old),
            names::quote(&new)
        ));
    }
    push_unique_indexes(v, db, t, q, uniques, &cd.name.value, &new);
    Ok(())
}

/// The UNIQUE indexes a MODIFY / CHANGE definition asks for, on the column now named `new`
/// (`old` in the definition).
fn push_unique_indexes(
    v: &mut Vec<String>,
    db: &str,
    t: &str,
    q: &str,
    uniques: Vec<IndexDef>,
    old: &str,
    new: &str,
) {
    for u in uniques {
        let n = u
            .name
            .filter(|n| n != old)
            .unwrap_or_else(|| new.to_string());
        v.push(format!(
            "CREATE UNIQUE INDEX {} ON {q} ({})",
            names::quote(&names::index(db, t, &n)),
            names::quote(new)
        ));
    }
}

#[cfg(test)]
mod order_tests {
    use super::children_first;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    /// A table comes after every other one of the list that references it, names compared
    /// case-insensitively; unrelated tables keep their order; a cycle goes last as given.
    #[test]
    fn referencing_tables_come_first() {
        let edges = vec![
            ("d.ch".to_string(), "d.P".to_string()),
            ("d.gc".to_string(), "d.ch".to_string()),
            ("d.x".to_string(), "d.x".to_string()),
            ("d.a".to_string(), "d.b".to_string()),
            ("d.b".to_string(), "d.a".to_string()),
        ];
        assert_eq!(
            children_first(s(&["d.p", "d.x", "d.CH", "d.a", "d.b", "d.gc"]), &edges),
            s(&["d.x", "d.gc", "d.CH", "d.p", "d.a", "d.b"])
        );
        assert_eq!(children_first(s(&["d.u", "d.v"]), &[]), s(&["d.u", "d.v"]));
    }
}
