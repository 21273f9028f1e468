//! Statements that are not SQL for SQLite: SHOW / DESCRIBE, USE, CREATE / DROP DATABASE,
//! transactions, SET, users and grants, KILL, and the ones accepted as no-ops (LOCK TABLES,
//! FLUSH, ANALYZE TABLE, ALTER TABLE ... DISABLE KEYS). A small hand-written parser over
//! [`crate::lex::tokens`]: these statements are short and sqlparser covers them unevenly.

use rusqlite::types::Value;
use sqlparser::ast::VisitMut;

use crate::expr::Rewriter;
use crate::lex::{Spanned, Tok, tokens};
use crate::show::Show;
use crate::{
    Context, GrantTarget, Privileges, SetValue, SetVar, SqlError, Statement, UserName, UserSpec,
    VarScope, names,
};

fn unsupported<T>(construct: impl Into<String>) -> Result<T, SqlError> {
    Err(SqlError::Unsupported {
        construct: construct.into(),
    })
}

fn syntax<T>(msg: impl Into<String>) -> Result<T, SqlError> {
    Err(SqlError::Syntax {
        message: msg.into(),
    })
}

/// A cursor over the tokens of one statement.
struct P<'a> {
    text: &'a str,
    t: Vec<Spanned>,
    i: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i).map(|s| &s.tok)
    }
    fn peek_is(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| t.is(kw))
    }
    fn peek_at(&self, k: usize) -> Option<&Tok> {
        self.t.get(self.i + k).map(|s| &s.tok)
    }
    fn eat(&mut self, kw: &str) -> bool {
        if self.peek_is(kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn eat_punct(&mut self, p: &str) -> bool {
        if self.peek().is_some_and(|t| t.is_punct(p)) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, kw: &str) -> Result<(), SqlError> {
        if self.eat(kw) {
            Ok(())
        } else {
            syntax(format!("expected {kw} near '{}'", self.rest()))
        }
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.t.get(self.i).map(|s| s.tok.clone());
        if t.is_some() {
            self.i += 1;
        }
        t
    }
    fn done(&self) -> bool {
        self.i >= self.t.len()
    }
    fn rest(&self) -> &str {
        match self.t.get(self.i) {
            Some(s) => &self.text[s.start..],
            None => "",
        }
    }
    fn end(&self) -> Result<(), SqlError> {
        if self.done() {
            Ok(())
        } else {
            syntax(format!("unexpected '{}'", self.rest()))
        }
    }
    /// An identifier (quoted or not).
    fn ident(&mut self) -> Result<String, SqlError> {
        match self.next() {
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => Ok(w),
            _ => syntax(format!("expected a name near '{}'", self.rest())),
        }
    }
    /// `name` or `db.name`.
    fn object(&mut self) -> Result<(Option<String>, String), SqlError> {
        let a = self.ident()?;
        if self.eat_punct(".") {
            let b = self.ident()?;
            Ok((Some(a), b))
        } else {
            Ok((None, a))
        }
    }
    /// `LIKE 'pattern'`; `WHERE` is refused.
    fn like(&mut self) -> Result<Option<String>, SqlError> {
        if self.eat("LIKE") {
            match self.next() {
                Some(Tok::Str(s)) => Ok(Some(s)),
                _ => syntax("expected a string after LIKE"),
            }
        } else if self.peek_is("WHERE") {
            unsupported("SHOW ... WHERE (use LIKE)")
        } else {
            Ok(None)
        }
    }
    fn string(&mut self) -> Result<String, SqlError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(s),
            _ => syntax(format!("expected a string near '{}'", self.rest())),
        }
    }
    fn user(&mut self) -> Result<UserName, SqlError> {
        if self.eat("CURRENT_USER") {
            if self.eat_punct("(") {
                self.eat_punct(")");
            }
            return Ok(UserName {
                user: String::new(),
                host: String::new(),
            });
        }
        let user = match self.next() {
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) | Some(Tok::Str(w)) => w,
            _ => return syntax(format!("expected a user name near '{}'", self.rest())),
        };
        let host = match self.peek() {
            Some(Tok::UserVar(h)) => {
                let h = h.clone();
                self.i += 1;
                h
            }
            _ => "%".to_string(),
        };
        Ok(UserName { user, host })
    }
}

fn db_or_current(db: Option<String>, ctx: &Context) -> Result<String, SqlError> {
    match db.or_else(|| ctx.current_db.map(str::to_string)) {
        Some(d) => {
            names::check("database", &d)?;
            Ok(d)
        }
        None => Err(SqlError::NoDatabaseSelected),
    }
}

fn check_db_name(name: &str) -> Result<(), SqlError> {
    names::check("database", name)?;
    names::check_user_db(name)?;
    if matches!(
        name.to_ascii_lowercase().as_str(),
        "information_schema" | "performance_schema" | "mysql" | "sys"
    ) {
        return unsupported(format!("system schema {name}"));
    }
    Ok(())
}

/// `ALTER TABLE t` followed only by table options (`ENGINE=InnoDB`, `DEFAULT CHARSET=...`,
/// `COLLATE ...`, `COMMENT '...'`, `ROW_FORMAT=...`, `CONVERT TO CHARACTER SET ...`, ...),
/// as migrations and upgrade scripts send them: nothing to do, since every table is stored
/// the same way and text is UTF-8 compared case-insensitively, except a change to a binary
/// collation, which is refused (columns keep theirs). `None` when the statement is anything
/// else (sqlparser takes it).
fn alter_table_options(p: &P, ctx: &Context) -> Option<Result<Statement, SqlError>> {
    const OPTIONS: [&str; 18] = [
        "ENGINE",
        "CHARSET",
        "COLLATE",
        "COMMENT",
        "ROW_FORMAT",
        "STATS_PERSISTENT",
        "STATS_AUTO_RECALC",
        "STATS_SAMPLE_PAGES",
        "KEY_BLOCK_SIZE",
        "CHECKSUM",
        "PAGE_CHECKSUM",
        "PACK_KEYS",
        "DELAY_KEY_WRITE",
        "AVG_ROW_LENGTH",
        "MAX_ROWS",
        "MIN_ROWS",
        "TRANSACTIONAL",
        "ENCRYPTION",
    ];
    let mut q = P {
        text: p.text,
        t: p.t.clone(),
        i: 1,
    };
    if !q.eat("TABLE") || q.done() {
        return None;
    }
    let (db, table) = q.object().ok()?;
    if q.done() {
        return None;
    }
    let mut binary = false;
    while !q.done() {
        q.eat("DEFAULT");
        let convert = q.eat("CONVERT");
        if convert && !q.eat("TO") {
            return None;
        }
        let word = if q.eat("CHARACTER") {
            if !q.eat("SET") {
                return None;
            }
            "CHARSET".to_string()
        } else {
            match q.next()? {
                Tok::Word(w) => w.to_ascii_uppercase(),
                _ => return None,
            }
        };
        if !OPTIONS.contains(&word.as_str()) || (convert && word != "CHARSET") {
            return None;
        }
        q.eat_punct("=");
        let value = match q.next()? {
            Tok::Word(v) | Tok::Quoted(v) | Tok::Str(v) | Tok::Num(v) => v.to_ascii_lowercase(),
            _ => return None,
        };
        // A binary or case-sensitive collation would change how text compares.
        let case_sensitive = |v: &str| v == "binary" || v.ends_with("_bin") || v.ends_with("_cs");
        if (word == "COLLATE" || word == "CHARSET") && case_sensitive(&value) {
            binary = true;
        }
        if convert && q.eat("COLLATE") {
            q.eat_punct("=");
            match q.next()? {
                Tok::Word(v) | Tok::Quoted(v) | Tok::Str(v) => {
                    binary |= case_sensitive(&v.to_ascii_lowercase());
                }
                _ => return None,
            }
        }
        q.eat_punct(",");
    }
    // The table must exist, as for any ALTER TABLE.
    let Some(db) = db.or_else(|| ctx.current_db.map(str::to_string)) else {
        return Some(Err(SqlError::NoDatabaseSelected));
    };
    if let Some(cat) = ctx.catalog
        && cat.table(&crate::names::table(&db, &table)).is_none()
    {
        return Some(Err(SqlError::NoSuchTable { db, table }));
    }
    Some(if binary {
        unsupported(
            "ALTER TABLE ... to a binary or case-sensitive collation (columns keep their collation)",
        )
    } else {
        Ok(Statement::NoOp {
            reason: "table options have nothing to do on quorate",
        })
    })
}

/// Translates the statement if it is one of ours; `Ok(None)` sends it to sqlparser.
pub(crate) fn translate(text: &str, ctx: &Context) -> Result<Option<Statement>, SqlError> {
    // Cheap first look: most statements on the hot path are DML.
    let first = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    let first_up = first.to_ascii_uppercase();
    match first_up.as_str() {
        "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "WITH" | "" => return Ok(None),
        _ => {}
    }
    let mut p = P {
        text,
        t: tokens(text)?,
        i: 0,
    };
    if first_up == "ALTER"
        && let Some(s) = alter_table_options(&p, ctx)
    {
        return s.map(Some);
    }
    let stmt = match first_up.as_str() {
        "SHOW" => {
            p.i = 1;
            Statement::Show(show(&mut p, ctx)?)
        }
        "DESCRIBE" | "DESC" | "EXPLAIN" => {
            let next = p.peek_at(1);
            let is_query = next.is_none_or(|t| {
                [
                    "SELECT",
                    "INSERT",
                    "UPDATE",
                    "DELETE",
                    "REPLACE",
                    "WITH",
                    "FORMAT",
                    "ANALYZE",
                    "EXTENDED",
                    "PARTITIONS",
                    "TABLE",
                ]
                .iter()
                .any(|k| t.is(k))
                    || t.is_punct("(")
            });
            if is_query {
                return Ok(None);
            }
            p.i = 1;
            let (db, table) = p.object()?;
            let like = match p.next() {
                None => None,
                Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => Some(w),
                Some(Tok::Str(s)) => Some(s),
                _ => return syntax("expected a column name"),
            };
            p.end()?;
            let db = db_or_current(db, ctx)?;
            crate::expr::check_table(&db, &table)?;
            Statement::Show(Show::Columns {
                db,
                table,
                full: false,
                like,
            })
        }
        "USE" => {
            p.i = 1;
            let db = p.ident()?;
            p.end()?;
            check_db_name(&db)?;
            Statement::Use(db)
        }
        "CREATE" | "DROP" | "ALTER"
            if p.peek_at(1)
                .is_some_and(|t| t.is("DATABASE") || t.is("SCHEMA")) =>
        {
            let create = first_up == "CREATE";
            if first_up == "ALTER" {
                // ALTER DATABASE only changes character sets and collations.
                return Ok(Some(Statement::NoOp {
                    reason: "ALTER DATABASE only sets character set / collation defaults",
                }));
            }
            p.i = 2;
            let cond = if p.eat("IF") {
                if create {
                    p.expect("NOT")?;
                }
                p.expect("EXISTS")?;
                true
            } else {
                false
            };
            let name = p.ident()?;
            check_db_name(&name)?;
            // Character set / collation options are ignored: everything is utf8mb4.
            if create {
                Statement::CreateDatabase {
                    name,
                    if_not_exists: cond,
                }
            } else {
                p.end()?;
                Statement::DropDatabase {
                    name,
                    if_exists: cond,
                }
            }
        }
        "BEGIN" => {
            p.i = 1;
            p.eat("WORK");
            p.end()?;
            Statement::Begin { read_only: false }
        }
        "START" => {
            p.i = 1;
            if !p.eat("TRANSACTION") {
                return unsupported(format!("START {}", p.rest()));
            }
            let mut read_only = false;
            while !p.done() {
                if p.eat("READ") {
                    if p.eat("ONLY") {
                        read_only = true;
                    } else {
                        p.expect("WRITE")?;
                    }
                } else if p.eat("WITH") {
                    p.expect("CONSISTENT")?;
                    p.expect("SNAPSHOT")?;
                } else if !p.eat_punct(",") {
                    return syntax(format!("unexpected '{}'", p.rest()));
                }
            }
            Statement::Begin { read_only }
        }
        "COMMIT" => {
            p.i = 1;
            p.eat("WORK");
            no_chain(&mut p)?;
            Statement::Commit
        }
        "ROLLBACK" => {
            p.i = 1;
            p.eat("WORK");
            if p.eat("TO") {
                p.eat("SAVEPOINT");
                let n = p.ident()?;
                p.end()?;
                Statement::RollbackToSavepoint(n)
            } else {
                no_chain(&mut p)?;
                Statement::Rollback
            }
        }
        "SAVEPOINT" => {
            p.i = 1;
            let n = p.ident()?;
            p.end()?;
            Statement::Savepoint(n)
        }
        "RELEASE" => {
            p.i = 1;
            p.expect("SAVEPOINT")?;
            let n = p.ident()?;
            p.end()?;
            Statement::ReleaseSavepoint(n)
        }
        "SET" => {
            p.i = 1;
            set(&mut p, ctx)?
        }
        "LOCK" | "UNLOCK" => Statement::NoOp {
            reason: "LOCK / UNLOCK TABLES: every transaction is serializable",
        },
        "FLUSH" => Statement::NoOp {
            reason: "FLUSH: there are no caches or logs to flush",
        },
        "ANALYZE" | "OPTIMIZE" | "CHECK" | "REPAIR" | "CHECKSUM" => Statement::NoOp {
            reason: "table maintenance statements have nothing to do on quorate",
        },
        "ALTER"
            if p.peek_at(1).is_some_and(|t| t.is("TABLE"))
                && p.t.len() >= 2
                && p.t[p.t.len() - 1].tok.is("KEYS")
                && (p.t[p.t.len() - 2].tok.is("DISABLE")
                    || p.t[p.t.len() - 2].tok.is("ENABLE")) =>
        {
            Statement::NoOp {
                reason: "ALTER TABLE ... DISABLE / ENABLE KEYS: indexes are always maintained",
            }
        }
        "CREATE" | "DROP" | "ALTER" | "RENAME" if p.peek_at(1).is_some_and(|t| t.is("USER")) => {
            users(&mut p, &first_up)?
        }
        "GRANT" | "REVOKE" => grant(&mut p, first_up == "GRANT", ctx)?,
        "KILL" => {
            p.i = 1;
            let query_only = p.eat("QUERY");
            if !query_only {
                p.eat("CONNECTION");
            }
            let id = match p.next() {
                Some(Tok::Num(n)) => n.parse().map_err(|_| SqlError::Syntax {
                    message: format!("bad connection id {n}"),
                })?,
                _ => return syntax("expected a connection id after KILL"),
            };
            p.end()?;
            Statement::Kill { id, query_only }
        }
        "LOAD" => return unsupported("LOAD DATA / LOAD XML"),
        "CALL" => return unsupported("CALL (stored procedures)"),
        "PREPARE" | "EXECUTE" | "DEALLOCATE" => {
            return unsupported("SQL-level PREPARE / EXECUTE (use the binary protocol)");
        }
        "HANDLER" => return unsupported("HANDLER"),
        "XA" => return unsupported("XA transactions"),
        "DO" => return unsupported("DO"),
        "CREATE"
            if p.t.iter().skip(1).take(6).any(|s| {
                [
                    "PROCEDURE",
                    "FUNCTION",
                    "TRIGGER",
                    "EVENT",
                    "SPATIAL",
                    "FULLTEXT",
                    "TEMPORARY",
                ]
                .iter()
                .any(|k| s.tok.is(k))
            }) =>
        {
            let what =
                p.t.iter()
                    .skip(1)
                    .find(|s| {
                        [
                            "PROCEDURE",
                            "FUNCTION",
                            "TRIGGER",
                            "EVENT",
                            "SPATIAL",
                            "FULLTEXT",
                            "TEMPORARY",
                        ]
                        .iter()
                        .any(|k| s.tok.is(k))
                    })
                    .and_then(|s| s.tok.name().map(str::to_uppercase))
                    .unwrap_or_default();
            return unsupported(format!("CREATE {what}"));
        }
        _ => return Ok(None),
    };
    Ok(Some(stmt))
}

fn no_chain(p: &mut P) -> Result<(), SqlError> {
    while !p.done() {
        if p.eat("AND") {
            let no = p.eat("NO");
            p.expect("CHAIN")?;
            if !no {
                return unsupported("COMMIT / ROLLBACK AND CHAIN");
            }
        } else if p.eat("NO") {
            p.expect("RELEASE")?;
        } else if p.eat("RELEASE") {
            return unsupported("COMMIT / ROLLBACK RELEASE");
        } else {
            return syntax(format!("unexpected '{}'", p.rest()));
        }
    }
    Ok(())
}

fn show(p: &mut P, ctx: &Context) -> Result<Show, SqlError> {
    let full = p.eat("FULL");
    let scope_global = if p.eat("GLOBAL") {
        Some(true)
    } else if p.eat("SESSION") || p.eat("LOCAL") {
        Some(false)
    } else {
        None
    };
    let what = p
        .next()
        .and_then(|t| t.name().map(str::to_ascii_uppercase))
        .unwrap_or_default();
    let from_db = |p: &mut P| -> Result<Option<String>, SqlError> {
        if p.eat("FROM") || p.eat("IN") {
            Ok(Some(p.ident()?))
        } else {
            Ok(None)
        }
    };
    let s = match what.as_str() {
        "DATABASES" | "SCHEMAS" => Show::Databases { like: p.like()? },
        "TABLES" => {
            let db = db_or_current(from_db(p)?, ctx)?;
            Show::Tables {
                db,
                full,
                like: p.like()?,
            }
        }
        "TABLE" => {
            p.expect("STATUS")?;
            let db = db_or_current(from_db(p)?, ctx)?;
            Show::TableStatus {
                db,
                like: p.like()?,
            }
        }
        "COLUMNS" | "FIELDS" => {
            if !(p.eat("FROM") || p.eat("IN")) {
                return syntax("expected FROM after SHOW COLUMNS");
            }
            let (db, table) = p.object()?;
            let db = match from_db(p)? {
                Some(d) => Some(d),
                None => db,
            };
            let db = db_or_current(db, ctx)?;
            crate::expr::check_table(&db, &table)?;
            Show::Columns {
                db,
                table,
                full,
                like: p.like()?,
            }
        }
        "INDEX" | "INDEXES" | "KEYS" => {
            if !(p.eat("FROM") || p.eat("IN")) {
                return syntax("expected FROM after SHOW INDEX");
            }
            let (db, table) = p.object()?;
            let db = match from_db(p)? {
                Some(d) => Some(d),
                None => db,
            };
            let db = db_or_current(db, ctx)?;
            crate::expr::check_table(&db, &table)?;
            if p.peek_is("WHERE") {
                return unsupported("SHOW INDEX ... WHERE");
            }
            Show::Index { db, table }
        }
        "CREATE" => {
            let kind = p
                .next()
                .and_then(|t| t.name().map(str::to_ascii_uppercase))
                .unwrap_or_default();
            match kind.as_str() {
                "TABLE" | "VIEW" => {
                    let (db, table) = p.object()?;
                    let db = db_or_current(db, ctx)?;
                    crate::expr::check_table(&db, &table)?;
                    Show::CreateTable { db, table }
                }
                "DATABASE" | "SCHEMA" => {
                    let if_not_exists = if p.eat("IF") {
                        p.expect("NOT")?;
                        p.expect("EXISTS")?;
                        true
                    } else {
                        false
                    };
                    let name = p.ident()?;
                    names::check("database", &name)?;
                    Show::CreateDatabase {
                        name,
                        if_not_exists,
                    }
                }
                other => return unsupported(format!("SHOW CREATE {other}")),
            }
        }
        "VARIABLES" => Show::Variables {
            global: scope_global == Some(true),
            like: p.like()?,
        },
        "STATUS" => Show::Status {
            global: scope_global == Some(true),
            like: p.like()?,
        },
        "PROCESSLIST" => Show::Processlist { full },
        "WARNINGS" => Show::Warnings,
        "ERRORS" => Show::Errors,
        "COUNT" => {
            // SHOW COUNT(*) WARNINGS / ERRORS
            let rest = p.rest().to_ascii_uppercase();
            if rest.contains("WARNINGS") {
                Show::WarningCount
            } else if rest.contains("ERRORS") {
                Show::ErrorCount
            } else {
                return syntax("expected SHOW COUNT(*) WARNINGS or ERRORS");
            }
        }
        "STORAGE" | "ENGINES" => {
            if what == "STORAGE" {
                p.expect("ENGINES")?;
            }
            Show::Engines
        }
        "GRANTS" => {
            let user = if p.eat("FOR") { Some(p.user()?) } else { None };
            Show::Grants { user }
        }
        "COLLATION" => Show::Collation { like: p.like()? },
        "CHARACTER" | "CHARSET" => {
            if what == "CHARACTER" {
                p.expect("SET")?;
            }
            Show::CharacterSet { like: p.like()? }
        }
        "" => return syntax("SHOW what?"),
        other => return unsupported(format!("SHOW {other}")),
    };
    if !matches!(
        s,
        Show::WarningCount | Show::ErrorCount | Show::Warnings | Show::Errors
    ) {
        p.end()?;
    }
    Ok(s)
}

/// Parses and translates an expression (the value side of SET).
fn set_expr(text: &str, ctx: &Context) -> Result<String, SqlError> {
    let dialect = sqlparser::dialect::MySqlDialect {};
    let mut parser = sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|e| SqlError::Syntax {
            message: e.to_string(),
        })?;
    let mut e = parser.parse_expr().map_err(|e| SqlError::Syntax {
        message: e.to_string(),
    })?;
    let mut rw = Rewriter::new(ctx, text);
    let _ = e.visit(&mut rw);
    if let Some(err) = rw.error.take() {
        return Err(err);
    }
    Ok(e.to_string())
}

fn set_value(toks: &[Spanned], text: &str, ctx: &Context) -> Result<SetValue, SqlError> {
    if toks.is_empty() {
        return syntax("SET without a value");
    }
    if toks.len() == 1 || (toks.len() == 2 && toks[0].tok.is_punct("-")) {
        let neg = toks.len() == 2;
        match &toks[toks.len() - 1].tok {
            Tok::Num(n) => {
                let n = if neg { format!("-{n}") } else { n.clone() };
                if let Ok(i) = n.parse::<i64>() {
                    return Ok(SetValue::Value(Value::Integer(i)));
                }
                if let Ok(f) = n.parse::<f64>() {
                    return Ok(SetValue::Value(Value::Real(f)));
                }
            }
            Tok::Str(s) if !neg => return Ok(SetValue::Value(Value::Text(s.clone()))),
            Tok::Word(w) | Tok::Quoted(w) if !neg => {
                let up = w.to_ascii_uppercase();
                return Ok(match up.as_str() {
                    "DEFAULT" => SetValue::Default,
                    "ON" | "TRUE" => SetValue::Value(Value::Integer(1)),
                    "OFF" | "FALSE" => SetValue::Value(Value::Integer(0)),
                    "NULL" => SetValue::Value(Value::Null),
                    _ => SetValue::Value(Value::Text(w.clone())),
                });
            }
            _ => {}
        }
    }
    let start = toks[0].start;
    let end = toks[toks.len() - 1].end;
    Ok(SetValue::Expr {
        sqlite: set_expr(&text[start..end], ctx)?,
    })
}

fn set(p: &mut P, ctx: &Context) -> Result<Statement, SqlError> {
    // SET NAMES / SET CHARACTER SET
    if p.eat("NAMES") {
        let cs = match p.next() {
            Some(t) => t.name().unwrap_or("utf8mb4").to_string(),
            None => return syntax("SET NAMES needs a character set"),
        };
        let mut vars: Vec<SetVar> = [
            "character_set_client",
            "character_set_connection",
            "character_set_results",
        ]
        .iter()
        .map(|n| SetVar {
            scope: VarScope::Session,
            name: n.to_string(),
            value: if cs.eq_ignore_ascii_case("default") {
                SetValue::Default
            } else {
                SetValue::Value(Value::Text(cs.to_ascii_lowercase()))
            },
        })
        .collect();
        if p.eat("COLLATE") {
            let c = p
                .next()
                .and_then(|t| t.name().map(str::to_string))
                .unwrap_or_default();
            vars.push(SetVar {
                scope: VarScope::Session,
                name: "collation_connection".into(),
                value: SetValue::Value(Value::Text(c.to_ascii_lowercase())),
            });
        }
        p.end()?;
        return Ok(Statement::Set(vars));
    }
    if p.peek_is("CHARACTER") || p.peek_is("CHARSET") {
        if p.eat("CHARACTER") {
            p.expect("SET")?;
        } else {
            p.i += 1;
        }
        let cs = p
            .next()
            .and_then(|t| t.name().map(str::to_string))
            .unwrap_or_default();
        p.end()?;
        let v = SetValue::Value(Value::Text(cs.to_ascii_lowercase()));
        return Ok(Statement::Set(vec![
            SetVar {
                scope: VarScope::Session,
                name: "character_set_client".into(),
                value: v.clone(),
            },
            SetVar {
                scope: VarScope::Session,
                name: "character_set_results".into(),
                value: v,
            },
        ]));
    }
    if p.eat("PASSWORD") {
        let user = if p.eat("FOR") {
            p.user()?
        } else {
            UserName {
                user: String::new(),
                host: String::new(),
            }
        };
        if !(p.eat_punct("=")) {
            return syntax("expected = after SET PASSWORD");
        }
        let password = if p.eat("PASSWORD") {
            if !p.eat_punct("(") {
                return syntax("expected ( after PASSWORD");
            }
            let s = p.string()?;
            p.eat_punct(")");
            s
        } else {
            p.string()?
        };
        p.end()?;
        return Ok(Statement::AlterUser {
            users: vec![UserSpec {
                name: user,
                password: Some(password),
                plugin: None,
            }],
            if_exists: false,
        });
    }
    // SET [GLOBAL|SESSION] TRANSACTION ...
    let save = p.i;
    let tx_scope = if p.eat("GLOBAL") {
        VarScope::Global
    } else {
        p.eat("SESSION");
        VarScope::Session
    };
    if p.eat("TRANSACTION") {
        let mut vars = Vec::new();
        while !p.done() {
            if p.eat("ISOLATION") {
                p.expect("LEVEL")?;
                let mut level = Vec::new();
                while let Some(t) = p.peek() {
                    if t.is_punct(",") {
                        break;
                    }
                    level.push(t.name().unwrap_or("").to_ascii_uppercase());
                    p.i += 1;
                }
                vars.push(SetVar {
                    scope: tx_scope,
                    name: "transaction_isolation".into(),
                    value: SetValue::Value(Value::Text(level.join("-"))),
                });
            } else if p.eat("READ") {
                let ro = if p.eat("ONLY") {
                    1
                } else {
                    p.expect("WRITE")?;
                    0
                };
                vars.push(SetVar {
                    scope: tx_scope,
                    name: "transaction_read_only".into(),
                    value: SetValue::Value(Value::Integer(ro)),
                });
            } else if !p.eat_punct(",") {
                return syntax(format!("unexpected '{}'", p.rest()));
            }
        }
        return Ok(Statement::Set(vars));
    }
    p.i = save;

    // Assignments separated by top-level commas.
    let mut vars = Vec::new();
    loop {
        let mut scope = VarScope::Session;
        let name = match p.next() {
            Some(Tok::Word(w))
                if ["GLOBAL", "SESSION", "LOCAL", "PERSIST", "PERSIST_ONLY"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                let up = w.to_ascii_uppercase();
                scope = match up.as_str() {
                    "GLOBAL" => VarScope::Global,
                    "PERSIST" | "PERSIST_ONLY" => VarScope::Persist,
                    _ => VarScope::Session,
                };
                p.ident()?
            }
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => w,
            Some(Tok::SysVar(v)) => {
                let lower = v.to_ascii_lowercase();
                if let Some(n) = lower.strip_prefix("global.") {
                    scope = VarScope::Global;
                    n.to_string()
                } else if let Some(n) = lower
                    .strip_prefix("session.")
                    .or_else(|| lower.strip_prefix("local."))
                {
                    n.to_string()
                } else if let Some(n) = lower
                    .strip_prefix("persist.")
                    .or_else(|| lower.strip_prefix("persist_only."))
                {
                    scope = VarScope::Persist;
                    n.to_string()
                } else {
                    lower
                }
            }
            Some(Tok::UserVar(v)) => {
                scope = VarScope::User;
                v
            }
            _ => return syntax(format!("expected a variable near '{}'", p.rest())),
        };
        if !(p.eat_punct("=") || p.eat_punct(":=")) {
            return syntax(format!("expected = after {name}"));
        }
        let start = p.i;
        let mut depth = 0i32;
        while let Some(t) = p.peek() {
            if t.is_punct("(") {
                depth += 1;
            } else if t.is_punct(")") {
                depth -= 1;
            } else if t.is_punct(",") && depth == 0 {
                break;
            }
            p.i += 1;
        }
        let value = set_value(&p.t[start..p.i], p.text, ctx)?;
        vars.push(SetVar {
            scope,
            name: name.to_ascii_lowercase(),
            value,
        });
        if !p.eat_punct(",") {
            break;
        }
    }
    p.end()?;
    Ok(Statement::Set(vars))
}

fn user_list_specs(p: &mut P, with_password: bool) -> Result<Vec<UserSpec>, SqlError> {
    let mut users = Vec::new();
    loop {
        let name = p.user()?;
        let mut password = None;
        let mut plugin = None;
        if with_password && p.eat("IDENTIFIED") {
            if p.eat("WITH") {
                plugin = Some(p.ident()?);
                if p.eat("AS") {
                    return unsupported(
                        "IDENTIFIED WITH ... AS 'hash' (give the password with BY)",
                    );
                }
                if p.eat("BY") {
                    password = Some(p.string()?);
                }
            } else {
                p.expect("BY")?;
                if p.eat("PASSWORD") {
                    return unsupported("IDENTIFIED BY PASSWORD 'hash'");
                }
                password = Some(p.string()?);
            }
        }
        users.push(UserSpec {
            name,
            password,
            plugin,
        });
        if !p.eat_punct(",") {
            break;
        }
    }
    Ok(users)
}

fn users(p: &mut P, verb: &str) -> Result<Statement, SqlError> {
    p.i = 2;
    match verb {
        "CREATE" => {
            let if_not_exists = if p.eat("IF") {
                p.expect("NOT")?;
                p.expect("EXISTS")?;
                true
            } else {
                false
            };
            let users = user_list_specs(p, true)?;
            // Account options (REQUIRE, WITH MAX_..., PASSWORD EXPIRE, ...) are ignored.
            Ok(Statement::CreateUser {
                users,
                if_not_exists,
            })
        }
        "DROP" => {
            let if_exists = if p.eat("IF") {
                p.expect("EXISTS")?;
                true
            } else {
                false
            };
            let mut users = Vec::new();
            loop {
                users.push(p.user()?);
                if !p.eat_punct(",") {
                    break;
                }
            }
            p.end()?;
            Ok(Statement::DropUser { users, if_exists })
        }
        "ALTER" => {
            let if_exists = if p.eat("IF") {
                p.expect("EXISTS")?;
                true
            } else {
                false
            };
            if p.eat("USER") {
                // ALTER USER USER() IDENTIFIED BY ...
                p.eat_punct("(");
                p.eat_punct(")");
                p.expect("IDENTIFIED")?;
                p.expect("BY")?;
                let pw = p.string()?;
                return Ok(Statement::AlterUser {
                    users: vec![UserSpec {
                        name: UserName {
                            user: String::new(),
                            host: String::new(),
                        },
                        password: Some(pw),
                        plugin: None,
                    }],
                    if_exists,
                });
            }
            let users = user_list_specs(p, true)?;
            if users.iter().all(|u| u.password.is_none()) {
                return unsupported("ALTER USER without IDENTIFIED BY");
            }
            Ok(Statement::AlterUser { users, if_exists })
        }
        _ => unsupported("RENAME USER"),
    }
}

fn privileges(p: &mut P) -> Result<Privileges, SqlError> {
    if p.eat("ALL") {
        p.eat("PRIVILEGES");
        return Ok(Privileges::All);
    }
    let mut list = Vec::new();
    loop {
        let mut words = Vec::new();
        while let Some(t) = p.peek() {
            if t.is_punct(",") || t.is("ON") || t.is("TO") || t.is("FROM") {
                break;
            }
            if t.is_punct("(") {
                return unsupported("column-level privileges");
            }
            words.push(t.name().unwrap_or("").to_ascii_uppercase());
            p.i += 1;
        }
        if words.is_empty() {
            return syntax("expected a privilege");
        }
        list.push(words.join(" "));
        if !p.eat_punct(",") {
            break;
        }
    }
    Ok(Privileges::List(list))
}

fn grant_target(p: &mut P, ctx: &Context) -> Result<GrantTarget, SqlError> {
    p.eat("TABLE");
    let star = |p: &mut P| p.eat_punct("*");
    if star(p) {
        if p.eat_punct(".") {
            if !star(p) {
                return syntax("expected *.*");
            }
            return Ok(GrantTarget {
                db: None,
                table: None,
            });
        }
        // `*` alone: every table of the current database.
        let db = db_or_current(None, ctx)?;
        return Ok(GrantTarget {
            db: Some(db),
            table: None,
        });
    }
    let a = p.ident()?;
    if p.eat_punct(".") {
        if star(p) {
            return Ok(GrantTarget {
                db: Some(a),
                table: None,
            });
        }
        let t = p.ident()?;
        return Ok(GrantTarget {
            db: Some(a),
            table: Some(t),
        });
    }
    let db = db_or_current(None, ctx)?;
    Ok(GrantTarget {
        db: Some(db),
        table: Some(a),
    })
}

fn grant(p: &mut P, is_grant: bool, ctx: &Context) -> Result<Statement, SqlError> {
    p.i = 1;
    let privileges = privileges(p)?;
    // REVOKE ALL PRIVILEGES, GRANT OPTION FROM u
    if !is_grant && p.eat_punct(",") {
        p.expect("GRANT")?;
        p.expect("OPTION")?;
        p.expect("FROM")?;
        let mut from = Vec::new();
        loop {
            from.push(p.user()?);
            if !p.eat_punct(",") {
                break;
            }
        }
        p.end()?;
        return Ok(Statement::Revoke {
            privileges,
            on: GrantTarget {
                db: None,
                table: None,
            },
            from,
        });
    }
    if !p.eat("ON") {
        return unsupported("GRANT / REVOKE of roles");
    }
    if p.peek_is("PROCEDURE") || p.peek_is("FUNCTION") {
        return unsupported("GRANT on routines");
    }
    let on = grant_target(p, ctx)?;
    p.expect(if is_grant { "TO" } else { "FROM" })?;
    let mut users = Vec::new();
    loop {
        users.push(p.user()?);
        if p.eat("IDENTIFIED") {
            return unsupported("GRANT ... IDENTIFIED BY (use CREATE USER)");
        }
        if !p.eat_punct(",") {
            break;
        }
    }
    let mut with_grant_option = false;
    if is_grant && p.eat("WITH") {
        p.expect("GRANT")?;
        p.expect("OPTION")?;
        with_grant_option = true;
    }
    p.end()?;
    Ok(if is_grant {
        Statement::Grant {
            privileges,
            on,
            to: users,
            with_grant_option,
        }
    } else {
        Statement::Revoke {
            privileges,
            on,
            from: users,
        }
    })
}
