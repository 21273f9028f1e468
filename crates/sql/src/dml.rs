//! SELECT, INSERT, UPDATE, DELETE, REPLACE (and EXPLAIN of them) through sqlparser's MySQL
//! dialect; DDL is handed to [`crate::ddl`].

use std::fmt::Write as _;

use sqlparser::ast::{
    Assignment, AssignmentTarget, Delete, Expr, FromTable, Insert, ObjectName, OnInsert, Query,
    SetExpr, Statement as Ast, TableFactor, TableObject, Update, Value, VisitMut,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use crate::expr::{Rewriter, raw};
use crate::{Context, SqlError, Statement, StatementKind, ddl, names};

/// Parses one statement with sqlparser's MySQL dialect.
pub(crate) fn parse(text: &str) -> Result<Ast, SqlError> {
    let dialect = MySqlDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|e| SqlError::Syntax {
            message: parse_message(e),
        })?;
    let stmt = parser.parse_statement().map_err(|e| SqlError::Syntax {
        message: parse_message(e),
    })?;
    // Trailing tokens after one complete statement are a syntax error.
    while parser.consume_token(&sqlparser::tokenizer::Token::SemiColon) {}
    if parser.peek_token().token != sqlparser::tokenizer::Token::EOF {
        return Err(SqlError::Syntax {
            message: format!(
                "unexpected '{}' after the end of the statement",
                parser.peek_token()
            ),
        });
    }
    Ok(stmt)
}

fn parse_message(e: sqlparser::parser::ParserError) -> String {
    let s = e.to_string();
    s.strip_prefix("sql parser error: ")
        .unwrap_or(&s)
        .to_string()
}

/// MySQL 8's `ALTER TABLE t DROP CHECK name` (which Django sends), which sqlparser does not
/// know, as the `DROP CONSTRAINT name` it means; `None` for any other text.
fn drop_check_as_constraint(text: &str) -> Option<String> {
    if !text
        .trim_start()
        .get(..6)
        .is_some_and(|h| h.eq_ignore_ascii_case("ALTER "))
    {
        return None;
    }
    let upper = text.to_ascii_uppercase();
    let mut out = text.to_string();
    let mut changed = false;
    let mut from = 0;
    while let Some(at) = upper[from..].find("DROP CHECK ").map(|i| i + from) {
        // Outside quotes: an even number of each quote character before it.
        let before = &text[..at];
        if ['\'', '"', '`']
            .iter()
            .all(|q| before.matches(*q).count() % 2 == 0)
            && before.ends_with(|c: char| c.is_whitespace() || c == ',')
        {
            // The same length in both texts up to here: `DROP CHECK` becomes 5 bytes longer.
            let shift = out.len() - text.len();
            out.replace_range(at + shift..at + shift + 10, "DROP CONSTRAINT");
            changed = true;
        }
        from = at + 1;
    }
    changed.then_some(out)
}

pub(crate) fn translate(text: &str, params: usize, ctx: &Context) -> Result<Statement, SqlError> {
    let modified = strip_modifiers(text)?;
    let text = modified.as_deref().unwrap_or(text);
    let mut ast = match parse(text) {
        Ok(a) => a,
        // Locking reads add nothing (transactions are serializable); sqlparser does not
        // know MySQL's old spelling of FOR SHARE.
        Err(e) => match strip_lock_in_share_mode(text).or_else(|| drop_check_as_constraint(text)) {
            Some(t) => parse(&t).map_err(|_| refine_parse_error(text, e))?,
            None => return Err(refine_parse_error(text, e)),
        },
    };
    let mut rw = Rewriter::new(ctx, text);
    let (sqlite, kind) = match &mut ast {
        Ast::Query(q) => (vec![query(&mut rw, q)?], StatementKind::Read),
        Ast::Insert(ins) => (vec![insert(&mut rw, ins)?], StatementKind::Write),
        Ast::Update(u) => (vec![update(&mut rw, u)?], StatementKind::Write),
        Ast::Delete(d) => (vec![delete(&mut rw, d)?], StatementKind::Write),
        Ast::Explain { statement, .. } => {
            let inner = match &mut **statement {
                Ast::Query(q) => query(&mut rw, q)?,
                Ast::Insert(ins) => insert(&mut rw, ins)?,
                Ast::Update(u) => update(&mut rw, u)?,
                Ast::Delete(d) => delete(&mut rw, d)?,
                other => {
                    return Err(SqlError::Unsupported {
                        construct: format!("EXPLAIN {}", first_words(&other.to_string())),
                    });
                }
            };
            (
                vec![format!("EXPLAIN QUERY PLAN {inner}")],
                StatementKind::Read,
            )
        }
        // TRUNCATE deletes rows (its effects replicate as row changes like a DELETE's), but
        // it is a schema statement in MySQL: it commits the open transaction first, and
        // runs in one transaction with its check (see `ddl::referenced_guard`).
        other => {
            let sqlite = ddl::translate(&mut rw, other)?;
            (sqlite, StatementKind::Ddl)
        }
    };
    Ok(Statement::Sql {
        sqlite,
        kind,
        params,
        tables: rw.tables,
    })
}

/// MySQL's modifiers after UPDATE and DELETE, which sqlparser would read as a table name
/// (`UPDATE IGNORE t` updated table `IGNORE`): `UPDATE [LOW_PRIORITY] [IGNORE]` becomes
/// `UPDATE [OR IGNORE]` (SQLite's: a row whose change would break a unique key is skipped,
/// as MySQL's IGNORE does); `DELETE [LOW_PRIORITY] [QUICK]` loses them (scheduling hints);
/// `DELETE IGNORE` is refused. `None` when the statement has none.
fn strip_modifiers(text: &str) -> Result<Option<String>, SqlError> {
    let words = |s: &str| -> Vec<(usize, usize)> {
        let b = s.as_bytes();
        let mut v = Vec::new();
        let mut i = 0;
        while i < b.len() && v.len() < 4 {
            if b[i].is_ascii_whitespace() {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            if i == start {
                break;
            }
            v.push((start, i));
        }
        v
    };
    let w = words(text);
    let Some(&(s0, e0)) = w.first() else {
        return Ok(None);
    };
    let verb = &text[s0..e0];
    let (is_update, allowed): (bool, &[&str]) = if verb.eq_ignore_ascii_case("UPDATE") {
        (true, &["LOW_PRIORITY", "IGNORE"])
    } else if verb.eq_ignore_ascii_case("DELETE") {
        (false, &["LOW_PRIORITY", "QUICK", "IGNORE"])
    } else {
        return Ok(None);
    };
    let mut ignore = false;
    let mut end = e0;
    for &(s, e) in &w[1..] {
        let word = &text[s..e];
        if !allowed.iter().any(|a| word.eq_ignore_ascii_case(a)) {
            break;
        }
        ignore |= word.eq_ignore_ascii_case("IGNORE");
        end = e;
    }
    if end == e0 {
        return Ok(None);
    }
    if ignore && !is_update {
        return Err(SqlError::Unsupported {
            construct: "DELETE IGNORE".into(),
        });
    }
    let or = if ignore { " OR IGNORE" } else { "" };
    Ok(Some(format!("{}{verb}{or}{}", &text[..s0], &text[end..])))
}

fn strip_lock_in_share_mode(text: &str) -> Option<String> {
    const SUFFIX: &str = "LOCK IN SHARE MODE";
    let t = text.trim_end();
    let cut = t.len().checked_sub(SUFFIX.len())?;
    (t.is_char_boundary(cut) && t[cut..].eq_ignore_ascii_case(SUFFIX)).then(|| t[..cut].to_string())
}

/// Names constructs that sqlparser does not parse at all, so that refusing them says why.
fn refine_parse_error(text: &str, e: SqlError) -> SqlError {
    let upper = text.to_ascii_uppercase();
    for (needle, construct) in [
        ("INTO OUTFILE", "SELECT ... INTO OUTFILE"),
        ("INTO DUMPFILE", "SELECT ... INTO DUMPFILE"),
    ] {
        if upper.contains(needle) {
            return SqlError::Unsupported {
                construct: construct.into(),
            };
        }
    }
    e
}

/// The first two words of a statement, to name it in an error.
pub(crate) fn first_words(s: &str) -> String {
    s.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

fn finish<T: VisitMut>(rw: &mut Rewriter, node: &mut T) -> Result<(), SqlError> {
    let _ = node.visit(rw);
    match rw.error.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn query(rw: &mut Rewriter, q: &mut Query) -> Result<String, SqlError> {
    finish(rw, q)?;
    Ok(q.to_string())
}

/// `"d.t" AS "t"` for an INSERT / UPDATE / DELETE target.
fn target(rw: &mut Rewriter, name: &ObjectName) -> Result<(String, String, String), SqlError> {
    let (_, t, sqlite) = rw.table(name)?;
    let s = format!("{} AS {}", names::quote(&sqlite), names::quote(&t));
    Ok((s, t, sqlite))
}

fn assignment_column(a: &Assignment) -> Result<String, SqlError> {
    match &a.target {
        // SQLite does not accept a qualified column on the left of SET.
        AssignmentTarget::ColumnName(n) => match n.0.last() {
            Some(sqlparser::ast::ObjectNamePart::Identifier(i)) => Ok(names::quote(&i.value)),
            _ => Err(SqlError::Unsupported {
                construct: format!("assignment to {n}"),
            }),
        },
        AssignmentTarget::Tuple(_) => Err(SqlError::Unsupported {
            construct: "tuple assignment".into(),
        }),
    }
}

fn column_name(n: &ObjectName) -> String {
    match n.0.last() {
        Some(sqlparser::ast::ObjectNamePart::Identifier(i)) => i.value.clone(),
        _ => n.to_string(),
    }
}

fn insert(rw: &mut Rewriter, ins: &mut Insert) -> Result<String, SqlError> {
    let name = match &ins.table {
        TableObject::TableName(n) => n.clone(),
        _ => {
            return Err(SqlError::Unsupported {
                construct: "INSERT INTO TABLE FUNCTION".into(),
            });
        }
    };
    if ins.returning.is_some() {
        return Err(SqlError::Unsupported {
            construct: "INSERT ... RETURNING".into(),
        });
    }
    if ins.partitioned.is_some() {
        return Err(SqlError::Unsupported {
            construct: "INSERT ... PARTITION".into(),
        });
    }
    let (tgt, _t, sqlite_name) = target(rw, &name)?;
    if let Some(a) = &ins.insert_alias {
        if a.col_aliases.as_ref().is_some_and(|c| !c.is_empty()) {
            return Err(SqlError::Unsupported {
                construct: "INSERT ... AS alias(columns)".into(),
            });
        }
        rw.insert_row_alias = Some(a.row_alias.to_string().trim_matches('`').to_string());
    }
    let mut columns: Vec<String> = ins.columns.iter().map(column_name).collect();

    // INSERT ... SET a = 1, b = 2
    let mut source = ins.source.take();
    if source.is_none() && !ins.assignments.is_empty() {
        let mut row = Vec::new();
        columns.clear();
        for a in &ins.assignments {
            columns.push(
                assignment_column(a)?
                    .trim_matches('"')
                    .replace("\"\"", "\""),
            );
            row.push(a.value.clone());
        }
        source = Some(Box::new(values_query(vec![row])));
    }
    let Some(mut source) = source else {
        return Err(SqlError::Unsupported {
            construct: "INSERT without values".into(),
        });
    };

    // Columns whose value is the DEFAULT keyword in every row are left out; SQLite has no
    // DEFAULT in VALUES.
    if let SetExpr::Values(v) = &mut *source.body {
        // SQLite has no DEFAULT in VALUES: with the schema, put each column's default
        // there; without it, leave out columns that are DEFAULT in every row.
        if v.rows.iter().any(|r| r.content.iter().any(is_default))
            && let Some(info) = rw.ctx.catalog.and_then(|c| c.table(&sqlite_name))
        {
            fill_defaults(&info, &columns, v);
        }
        drop_default_columns(&mut columns, v)?;
        if let Some(cat) = rw.ctx.catalog
            && let Some(info) = cat.table(&sqlite_name)
        {
            auto_increment_zero(&info, &columns, v);
        }
    }
    finish(rw, &mut source)?;
    let mut on = ins.on.take();
    if let Some(on) = &mut on {
        finish(rw, on)?;
    }

    let mut s = String::with_capacity(128);
    s.push_str(if ins.replace_into {
        "REPLACE INTO "
    } else if ins.ignore {
        "INSERT OR IGNORE INTO "
    } else {
        "INSERT INTO "
    });
    s.push_str(&tgt);
    let empty_row =
        matches!(&*source.body, SetExpr::Values(v) if v.rows.iter().all(|r| r.content.is_empty()));
    if empty_row {
        if let SetExpr::Values(v) = &*source.body
            && v.rows.len() != 1
        {
            return Err(SqlError::Unsupported {
                construct: "several rows of VALUES ()".into(),
            });
        }
        s.push_str(" DEFAULT VALUES");
        if on.is_some() {
            return Err(SqlError::Unsupported {
                construct: "VALUES () with ON DUPLICATE KEY UPDATE".into(),
            });
        }
        return Ok(s);
    }
    if !columns.is_empty() {
        s.push_str(" (");
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            names::quote_into(&mut s, c);
        }
        s.push(')');
    }
    s.push(' ');
    if on.is_some() {
        // SQLite needs a WHERE in INSERT ... SELECT ... ON CONFLICT to parse the upsert.
        if let SetExpr::Select(sel) = &mut *source.body
            && sel.selection.is_none()
        {
            sel.selection = Some(raw("true".into()));
        }
    }
    let _ = write!(s, "{source}");
    match on {
        None => {}
        Some(OnInsert::DuplicateKeyUpdate(assignments)) => {
            if ins.ignore || ins.replace_into {
                return Err(SqlError::Unsupported {
                    construct: "ON DUPLICATE KEY UPDATE with IGNORE or REPLACE".into(),
                });
            }
            s.push_str(" ON CONFLICT DO UPDATE SET ");
            let mut sets = Vec::with_capacity(assignments.len());
            for (i, a) in assignments.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                let col = assignment_column(a)?;
                let value = a.value.to_string();
                let _ = write!(s, "{col} = {value}");
                sets.push((col, value));
            }
            on_update_columns(rw, &sqlite_name, &sets, &mut s);
        }
        Some(OnInsert::OnConflict(_)) => {
            return Err(SqlError::Unsupported {
                construct: "INSERT ... ON CONFLICT".into(),
            });
        }
        Some(_) => {
            return Err(SqlError::Unsupported {
                construct: "INSERT ... ON".into(),
            });
        }
    }
    Ok(s)
}

fn values_query(rows: Vec<Vec<Expr>>) -> Query {
    // Parse a trivial VALUES query and put the rows in: the AST types stay the parser's own.
    let mut q = match parse("SELECT 1") {
        Ok(Ast::Query(q)) => *q,
        _ => unreachable!("SELECT 1 parses"),
    };
    let values = sqlparser::ast::Values {
        explicit_row: false,
        value_keyword: false,
        rows: rows
            .into_iter()
            .map(|content| sqlparser::ast::Parens {
                opening_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                content,
                closing_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
            })
            .collect(),
    };
    q.body = Box::new(SetExpr::Values(values));
    q
}

fn is_default(e: &Expr) -> bool {
    matches!(e, Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("DEFAULT"))
}

/// Replaces every `DEFAULT` in VALUES by the column's default (NULL when it has none,
/// which also makes an AUTO_INCREMENT key generate its value).
fn fill_defaults(info: &crate::TableInfo, columns: &[String], v: &mut sqlparser::ast::Values) {
    let names: Vec<&str> = if columns.is_empty() {
        info.columns.iter().map(|c| c.name.as_str()).collect()
    } else {
        columns.iter().map(String::as_str).collect()
    };
    for r in v.rows.iter_mut() {
        for (i, e) in r.content.iter_mut().enumerate() {
            if !is_default(e) {
                continue;
            }
            let default = names
                .get(i)
                .and_then(|n| info.columns.iter().find(|c| c.name.eq_ignore_ascii_case(n)))
                .and_then(|c| c.default.clone());
            *e = raw(match default {
                Some(d) => format!("({d})"),
                None => "NULL".to_string(),
            });
        }
    }
}

fn drop_default_columns(
    columns: &mut Vec<String>,
    v: &mut sqlparser::ast::Values,
) -> Result<(), SqlError> {
    let any_default = v.rows.iter().any(|r| r.content.iter().any(is_default));
    if !any_default {
        return Ok(());
    }
    if columns.is_empty() {
        return Err(SqlError::Unsupported {
            construct: "DEFAULT in VALUES without a column list".into(),
        });
    }
    let width = columns.len();
    let mut keep = vec![true; width];
    for (i, k) in keep.iter_mut().enumerate() {
        let defaults = v
            .rows
            .iter()
            .filter(|r| r.content.get(i).is_some_and(is_default))
            .count();
        if defaults == v.rows.len() {
            *k = false;
        } else if defaults > 0 {
            return Err(SqlError::Unsupported {
                construct: "DEFAULT in some rows of a multi-row VALUES only".into(),
            });
        }
    }
    let mut i = 0;
    columns.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    for r in v.rows.iter_mut() {
        let mut i = 0;
        r.content.retain(|_| {
            i += 1;
            keep.get(i - 1).copied().unwrap_or(true)
        });
    }
    Ok(())
}

/// MySQL generates a value when an AUTO_INCREMENT column is given 0 or NULL; SQLite only
/// for NULL. A literal 0 becomes NULL; any other expression `e` becomes `nullif(e, 0)`.
fn auto_increment_zero(
    info: &crate::TableInfo,
    columns: &[String],
    v: &mut sqlparser::ast::Values,
) {
    let Some(pos) = info.columns.iter().position(|c| c.auto_increment) else {
        return;
    };
    let name = &info.columns[pos].name;
    let idx = if columns.is_empty() {
        pos
    } else {
        match columns.iter().position(|c| c.eq_ignore_ascii_case(name)) {
            Some(i) => i,
            None => return,
        }
    };
    for r in v.rows.iter_mut() {
        if let Some(e) = r.content.get_mut(idx) {
            let zero = matches!(e, Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if n.trim_start_matches('0').is_empty() || n == "0"));
            if zero {
                *e = Expr::Value(Value::Null.into());
            } else if !matches!(e, Expr::Value(v) if matches!(v.value, Value::Null)) {
                let inner = std::mem::replace(e, Expr::Value(Value::Null.into()));
                *e = raw(format!("nullif({inner}, 0)"));
            }
        }
    }
}

/// Appends `col = CURRENT_TIMESTAMP` for every ON UPDATE CURRENT_TIMESTAMP column the
/// statement does not set itself (needs the catalog). `sets` are the statement's own
/// assignments (quoted column, value): as in MySQL, the column takes the time only when one
/// of them gives its row another value (compared as stored, bytes and all: `'bob'` to
/// `'BOB'` is a change in a case-insensitive column too).
fn on_update_columns(rw: &Rewriter, sqlite_name: &str, sets: &[(String, String)], s: &mut String) {
    let Some(cat) = rw.ctx.catalog else { return };
    let Some(info) = cat.table(sqlite_name) else {
        return;
    };
    let mut changed = String::new();
    for c in info.columns.iter().filter(|c| c.on_update) {
        let q = names::quote(&c.name);
        if sets.iter().any(|(x, _)| x.eq_ignore_ascii_case(&q)) {
            continue;
        }
        if changed.is_empty() {
            for (i, (col, value)) in sets.iter().enumerate() {
                let or = if i == 0 { "" } else { " OR " };
                let _ = write!(changed, "{or}{col} IS NOT ({value}) COLLATE BINARY");
            }
        }
        let _ = write!(s, ", {q} = CASE WHEN {changed} THEN now() ELSE {q} END");
    }
}

fn single_table(
    from: &[sqlparser::ast::TableWithJoins],
    what: &str,
) -> Result<ObjectName, SqlError> {
    if from.len() != 1 || !from[0].joins.is_empty() {
        return Err(SqlError::Unsupported {
            construct: format!("multi-table {what}"),
        });
    }
    match &from[0].relation {
        TableFactor::Table { name, .. } => Ok(name.clone()),
        _ => Err(SqlError::Unsupported {
            construct: format!("{what} of a derived table"),
        }),
    }
}

/// `WHERE rowid IN (SELECT rowid FROM target WHERE ... ORDER BY ... LIMIT n)` for MySQL's
/// UPDATE / DELETE with ORDER BY and LIMIT (SQLite is built without that syntax).
fn limited_where(
    tgt: &str,
    selection: Option<&Expr>,
    order_by: &[sqlparser::ast::OrderByExpr],
    limit: Option<&Expr>,
) -> String {
    let mut w = String::new();
    if order_by.is_empty() && limit.is_none() {
        if let Some(e) = selection {
            let _ = write!(w, " WHERE {e}");
        }
        return w;
    }
    let _ = write!(w, " WHERE rowid IN (SELECT rowid FROM {tgt}");
    if let Some(e) = selection {
        let _ = write!(w, " WHERE {e}");
    }
    if !order_by.is_empty() {
        let o: Vec<String> = order_by.iter().map(ToString::to_string).collect();
        let _ = write!(w, " ORDER BY {}", o.join(", "));
    }
    if let Some(l) = limit {
        let _ = write!(w, " LIMIT {l}");
    }
    w.push(')');
    w
}

fn update(rw: &mut Rewriter, u: &mut Update) -> Result<String, SqlError> {
    if u.from.is_some() {
        return Err(SqlError::Unsupported {
            construct: "UPDATE ... FROM".into(),
        });
    }
    if u.returning.is_some() {
        return Err(SqlError::Unsupported {
            construct: "UPDATE ... RETURNING".into(),
        });
    }
    let name = single_table(std::slice::from_ref(&u.table), "UPDATE")?;
    let (tgt, _t, sqlite_name) = target(rw, &name)?;
    for a in u.assignments.iter_mut() {
        finish(rw, &mut a.value)?;
    }
    if let Some(sel) = &mut u.selection {
        finish(rw, sel)?;
    }
    for o in u.order_by.iter_mut() {
        finish(rw, o)?;
    }
    if let Some(l) = &mut u.limit {
        finish(rw, l)?;
    }
    let mut s = String::with_capacity(96);
    s.push_str("UPDATE ");
    match u.or {
        None => {}
        // From MySQL's `UPDATE IGNORE` (see `strip_modifiers`).
        Some(sqlparser::ast::SqliteOnConflict::Ignore) => s.push_str("OR IGNORE "),
        Some(other) => {
            return Err(SqlError::Unsupported {
                construct: format!("UPDATE {other}"),
            });
        }
    }
    s.push_str(&tgt);
    s.push_str(" SET ");
    let mut sets = Vec::with_capacity(u.assignments.len());
    for (i, a) in u.assignments.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let col = assignment_column(a)?;
        let value = a.value.to_string();
        let _ = write!(s, "{col} = {value}");
        sets.push((col, value));
    }
    on_update_columns(rw, &sqlite_name, &sets, &mut s);
    s.push_str(&limited_where(
        &tgt,
        u.selection.as_ref(),
        &u.order_by,
        u.limit.as_ref(),
    ));
    Ok(s)
}

fn delete(rw: &mut Rewriter, d: &mut Delete) -> Result<String, SqlError> {
    if !d.tables.is_empty() || d.using.is_some() {
        return Err(SqlError::Unsupported {
            construct: "multi-table DELETE".into(),
        });
    }
    if d.returning.is_some() {
        return Err(SqlError::Unsupported {
            construct: "DELETE ... RETURNING".into(),
        });
    }
    let from = match &d.from {
        FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f) => f.clone(),
    };
    let name = single_table(&from, "DELETE")?;
    let (tgt, _, _) = target(rw, &name)?;
    if let Some(sel) = &mut d.selection {
        finish(rw, sel)?;
    }
    for o in d.order_by.iter_mut() {
        finish(rw, o)?;
    }
    if let Some(l) = &mut d.limit {
        finish(rw, l)?;
    }
    let mut s = format!("DELETE FROM {tgt}");
    s.push_str(&limited_where(
        &tgt,
        d.selection.as_ref(),
        &d.order_by,
        d.limit.as_ref(),
    ));
    Ok(s)
}
