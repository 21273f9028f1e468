//! The AST rewriter shared by every statement that carries expressions or table
//! references: table names are resolved and mangled, MySQL-only expressions become SQLite
//! ones. It runs as a sqlparser `VisitorMut`; expressions are rewritten in post-order, so a
//! rewritten node is built from already rewritten children.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, CastKind, DataType, DateTimeField, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArgumentClause, FunctionArguments, Ident, ObjectName, ObjectNamePart,
    Query, Select, SelectItem, Spanned, TableAlias, TableFactor, TrimWhereField, Value,
    ValueWithSpan, VisitorMut,
};

use crate::{Context, SqlError, names};

/// An expression printed verbatim. sqlparser prints an unquoted identifier as is, which lets
/// a rewrite splice SQLite text built from already rewritten children.
pub(crate) fn raw(s: String) -> Expr {
    Expr::Identifier(Ident::new(s))
}

/// Resolves and mangles table references and rewrites expressions. Collects the SQLite
/// names of the tables touched.
pub(crate) struct Rewriter<'a> {
    pub ctx: &'a Context<'a>,
    /// SQLite names of every table referenced, in order of appearance, without duplicates.
    pub tables: Vec<String>,
    /// CTE names visible at the current point (lower-cased), innermost scope last.
    ctes: Vec<Vec<String>>,
    /// Statement text the spans refer to, for naming unaliased result columns.
    source: &'a str,
    /// Byte offset of the start of every line of `source`.
    line_starts: Vec<usize>,
    /// First error met; the visit stops there.
    pub error: Option<SqlError>,
    /// Aliases of `INSERT ... AS new` rows: `new.col` becomes `excluded.col`.
    pub insert_row_alias: Option<String>,
    /// The database of the table a CREATE / ALTER TABLE defines: an unqualified table that
    /// its FOREIGN KEYs reference is in it (see [`Rewriter::resolve_referenced`]).
    pub defining_db: Option<String>,
}

impl<'a> Rewriter<'a> {
    pub fn new(ctx: &'a Context<'a>, source: &'a str) -> Self {
        Rewriter {
            ctx,
            tables: Vec::new(),
            ctes: Vec::new(),
            source,
            line_starts: Vec::new(),
            error: None,
            insert_row_alias: None,
            defining_db: None,
        }
    }

    /// Resolves the table a FOREIGN KEY references. As in MySQL, an unqualified name is in
    /// the database of the table being defined, not the current database.
    pub fn resolve_referenced(&self, name: &ObjectName) -> Result<(String, String), SqlError> {
        if let (Some(db), [ObjectNamePart::Identifier(t)]) = (&self.defining_db, &name.0[..]) {
            check_table(db, &t.value)?;
            return Ok((db.clone(), t.value.clone()));
        }
        self.resolve(name)
    }

    fn fail(&mut self, e: SqlError) -> ControlFlow<()> {
        if self.error.is_none() {
            self.error = Some(e);
        }
        ControlFlow::Break(())
    }

    /// Resolves a MySQL table name (`t` or `d.t`) to (database, table), checking both.
    pub fn resolve(&self, name: &ObjectName) -> Result<(String, String), SqlError> {
        let parts: Vec<&Ident> = name
            .0
            .iter()
            .map(|p| match p {
                ObjectNamePart::Identifier(i) => Ok(i),
                ObjectNamePart::Function(_) => Err(SqlError::Unsupported {
                    construct: format!("table name {name}"),
                }),
            })
            .collect::<Result<_, _>>()?;
        let (db, table) = match parts.as_slice() {
            [t] => match self.ctx.current_db {
                Some(db) => (db.to_string(), t.value.clone()),
                None => return Err(SqlError::NoDatabaseSelected),
            },
            [d, t] => (d.value.clone(), t.value.clone()),
            _ => {
                return Err(SqlError::BadName {
                    what: "table",
                    name: name.to_string(),
                });
            }
        };
        check_table(&db, &table)?;
        Ok((db, table))
    }

    /// Resolves `name` and records it as touched; returns the SQLite name.
    pub fn table(&mut self, name: &ObjectName) -> Result<(String, String, String), SqlError> {
        let (db, t) = self.resolve(name)?;
        let sqlite = names::table(&db, &t);
        if !self.tables.contains(&sqlite) {
            self.tables.push(sqlite.clone());
        }
        Ok((db, t, sqlite))
    }

    fn is_cte(&self, name: &ObjectName) -> bool {
        if name.0.len() != 1 {
            return false;
        }
        let n = name.to_string().trim_matches('`').to_ascii_lowercase();
        self.ctes.iter().any(|scope| scope.contains(&n))
    }

    /// The source text of a span (1-based line/column positions, columns in characters).
    fn span_text(&mut self, span: sqlparser::tokenizer::Span) -> Option<String> {
        if span.start.line == 0 || span.end.line == 0 {
            return None;
        }
        if self.line_starts.is_empty() {
            self.line_starts.push(0);
            for (i, b) in self.source.bytes().enumerate() {
                if b == b'\n' {
                    self.line_starts.push(i + 1);
                }
            }
        }
        let offset = |line: u64, col: u64| -> Option<usize> {
            let start = *self.line_starts.get(line as usize - 1)?;
            let line_text = &self.source[start..];
            let mut chars = line_text.char_indices();
            let mut pos = line_text.len();
            for _ in 0..col.saturating_sub(1) {
                chars.next()?;
            }
            if let Some((i, _)) = chars.next() {
                pos = i;
            }
            Some(start + pos)
        };
        let a = offset(span.start.line, span.start.column)?;
        let mut b = offset(span.end.line, span.end.column)?;
        // sqlparser's span of a call may stop after the function name: take the argument
        // list too.
        let bytes = self.source.as_bytes();
        while b > a
            && (bytes[b - 1].is_ascii_alphanumeric() || bytes[b - 1] == b'_')
            && bytes.get(b) == Some(&b'(')
        {
            b = match paren_end(self.source, b) {
                Some(e) => e,
                None => break,
            };
        }
        // ... and may stop before the closing parentheses of the last argument.
        let mut open = unclosed_parens(&self.source[a..b]);
        while open > 0 {
            match self.source[b..].find(')') {
                Some(p) if self.source[b..b + p].trim().is_empty() => {
                    b += p + 1;
                    open -= 1;
                }
                _ => break,
            }
        }
        // An INTERVAL's span ends at its value: take the unit too.
        if self.source[a..b].to_ascii_uppercase().contains("INTERVAL") {
            let rest = &self.source[b..];
            let word_start = rest.len() - rest.trim_start().len();
            let word: String = rest[word_start..]
                .chars()
                .take_while(|c| c.is_ascii_alphabetic() || *c == '_')
                .collect();
            if !word.is_empty() && INTERVAL_UNITS.iter().any(|u| word.eq_ignore_ascii_case(u)) {
                b += word_start + word.len();
            }
        }
        (a < b).then(|| self.source[a..b].to_string())
    }
}

/// Units that may follow `INTERVAL value`.
const INTERVAL_UNITS: [&str; 20] = [
    "MICROSECOND",
    "SECOND",
    "MINUTE",
    "HOUR",
    "DAY",
    "WEEK",
    "MONTH",
    "QUARTER",
    "YEAR",
    "SECOND_MICROSECOND",
    "MINUTE_MICROSECOND",
    "MINUTE_SECOND",
    "HOUR_MICROSECOND",
    "HOUR_SECOND",
    "HOUR_MINUTE",
    "DAY_MICROSECOND",
    "DAY_SECOND",
    "DAY_MINUTE",
    "DAY_HOUR",
    "YEAR_MONTH",
];

/// Number of `(` without their `)` in `s`, outside quotes.
fn unclosed_parens(s: &str) -> usize {
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'\'' | b'"' | b'`' => quote = Some(c),
                b'(' => depth += 1,
                b')' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        i += 1;
    }
    depth
}

/// The end (exclusive) of the parenthesised group starting at `open` (a `(`), skipping
/// quoted text.
fn paren_end(s: &str, open: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'\'' | b'"' | b'`' => quote = Some(c),
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// The table of `information_schema` that `name` refers to (`information_schema.t`, or `t`
/// while `information_schema` is the current database), if it refers to one.
fn information_schema_table(name: &ObjectName, current_db: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => Some(i.value.as_str()),
            ObjectNamePart::Function(_) => None,
        })
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [d, t] if d.eq_ignore_ascii_case(crate::INFORMATION_SCHEMA) => Some(t.to_string()),
        [t] if current_db.is_some_and(|d| d.eq_ignore_ascii_case(crate::INFORMATION_SCHEMA)) => {
            Some(t.to_string())
        }
        _ => None,
    }
}

/// Checks a resolved (database, table) pair.
pub(crate) fn check_table(db: &str, table: &str) -> Result<(), SqlError> {
    names::check("database", db)?;
    names::check_user_db(db)?;
    let lower_db = db.to_ascii_lowercase();
    if matches!(
        lower_db.as_str(),
        "information_schema" | "performance_schema" | "mysql" | "sys"
    ) {
        return Err(SqlError::Unsupported {
            construct: format!("system schema {db}"),
        });
    }
    names::check("table", table)?;
    let lt = table.to_ascii_lowercase();
    if lt.starts_with(names::INTERNAL_PREFIX) || lt.starts_with("sqlite_") {
        return Err(SqlError::SystemTable {
            name: table.to_string(),
        });
    }
    Ok(())
}

/// Words MySQL accepts as unquoted names that SQLite reserves (SQLite 3.54's keywords that
/// are not "fallback" identifiers, minus those MySQL reserves too).
const SQLITE_ONLY_KEYWORDS: [&str; 8] = [
    "TRANSACTION",
    "ESCAPE",
    "ISNULL",
    "NOTNULL",
    "RETURNING",
    "NOTHING",
    "AUTOINCREMENT",
    "DEFERRABLE",
];

/// A quoted identifier (double quotes, as SQLite wants).
pub(crate) fn qident(s: &str) -> Ident {
    Ident::with_quote('"', s)
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let mut scope = Vec::new();
        if let Some(with) = &query.with {
            if with.recursive {
                // Recursive CTEs work in SQLite as written.
            }
            for cte in &with.cte_tables {
                scope.push(cte.alias.name.value.to_ascii_lowercase());
            }
        }
        self.ctes.push(scope);
        // Locking reads: every transaction is serializable, so FOR UPDATE / LOCK IN SHARE
        // MODE add nothing.
        query.locks.clear();
        if query.for_clause.is_some() {
            return self.fail(SqlError::Unsupported {
                construct: "FOR XML/JSON clause".into(),
            });
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.ctes.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        if select.into.is_some() {
            return self.fail(SqlError::Unsupported {
                construct: "SELECT ... INTO".into(),
            });
        }
        // SQL_CALC_FOUND_ROWS, SQL_NO_CACHE, HIGH_PRIORITY, STRAIGHT_JOIN: hints only.
        select.select_modifiers = None;
        select.optimizer_hints.clear();
        // FROM DUAL
        if select.from.len() == 1
            && select.from[0].joins.is_empty()
            && let TableFactor::Table { name, .. } = &select.from[0].relation
            && name.0.len() == 1
            && name.to_string().eq_ignore_ascii_case("dual")
        {
            select.from.clear();
        }
        // MySQL names an unaliased expression column by its text as written.
        for item in select.projection.iter_mut() {
            // `d.t.*` -> `t.*` (the table carries its bare name as alias).
            if let SelectItem::QualifiedWildcard(
                sqlparser::ast::SelectItemQualifiedWildcardKind::ObjectName(n),
                _,
            ) = item
                && n.0.len() == 2
            {
                n.0.remove(0);
                continue;
            }
            if let SelectItem::UnnamedExpr(e) = item {
                if matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                    let is_var = match e {
                        Expr::Identifier(i) => i.value.starts_with('@'),
                        Expr::CompoundIdentifier(p) => p[0].value.starts_with('@'),
                        _ => false,
                    };
                    if !is_var {
                        continue;
                    }
                }
                let span = e.span();
                if let Some(text) = self.span_text(span) {
                    let expr = std::mem::replace(e, Expr::Value(Value::Null.into()));
                    // Quoted here: sqlparser's quoting leaves a `"` that follows a backslash
                    // undoubled, which ended the alias early (`SELECT 'a\"b'` failed).
                    *item = SelectItem::ExprWithAlias {
                        expr,
                        alias: Ident::new(names::quote(&text)),
                    };
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, tf: &mut TableFactor) -> ControlFlow<()> {
        match tf {
            TableFactor::Table {
                name,
                alias,
                args,
                with_hints,
                index_directives,
                partitions,
                ..
            } => {
                if args.is_some() {
                    return self.fail(SqlError::Unsupported {
                        construct: format!("table function {name}"),
                    });
                }
                if !partitions.is_empty() {
                    return self.fail(SqlError::Unsupported {
                        construct: "PARTITION (...)".into(),
                    });
                }
                with_hints.clear();
                // USE INDEX / FORCE INDEX / IGNORE INDEX: the SQLite planner decides.
                index_directives.clear();
                if self.is_cte(name) {
                    return ControlFlow::Continue(());
                }
                if let Some(table) = information_schema_table(name, self.ctx.current_db) {
                    let Some(subquery) = crate::infoschema::subquery(&table) else {
                        return self.fail(SqlError::Unsupported {
                            construct: format!("information_schema.{table}"),
                        });
                    };
                    // The subquery goes where the table name was (printed as is).
                    *name = ObjectName::from(vec![Ident::new(subquery)]);
                    if alias.is_none() {
                        *alias = Some(TableAlias {
                            explicit: true,
                            name: qident(&table),
                            columns: vec![],
                            at: None,
                        });
                    }
                    return ControlFlow::Continue(());
                }
                let (_, t, sqlite) = match self.table(name) {
                    Ok(x) => x,
                    Err(e) => return self.fail(e),
                };
                *name = ObjectName::from(vec![qident(&sqlite)]);
                match alias {
                    Some(a) => {
                        a.explicit = true;
                        if a.name.quote_style == Some('`') {
                            a.name.quote_style = Some('"');
                        }
                    }
                    None => {
                        *alias = Some(TableAlias {
                            explicit: true,
                            name: qident(&t),
                            columns: vec![],
                            at: None,
                        })
                    }
                }
            }
            TableFactor::Derived { .. } | TableFactor::NestedJoin { .. } => {}
            other => {
                let construct = format!("table expression {other}");
                return self.fail(SqlError::Unsupported { construct });
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_ident(&mut self, ident: &mut Ident) -> ControlFlow<()> {
        if ident.quote_style == Some('`') {
            ident.quote_style = Some('"');
        } else if ident.quote_style.is_none()
            && SQLITE_ONLY_KEYWORDS
                .iter()
                .any(|k| ident.value.eq_ignore_ascii_case(k))
        {
            // Fine as a MySQL name, a syntax error for SQLite unless quoted.
            ident.quote_style = Some('"');
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_value(&mut self, v: &mut ValueWithSpan) -> ControlFlow<()> {
        let replace = match &mut v.value {
            // MySQL (without ANSI_QUOTES) reads "x" as a string.
            Value::DoubleQuotedString(s) | Value::NationalStringLiteral(s) => {
                Some(Value::SingleQuotedString(std::mem::take(s)))
            }
            _ => None,
        };
        if let Some(r) = replace {
            v.value = r;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match rewrite_expr(self, expr) {
            Ok(Some(new)) => {
                *expr = new;
                ControlFlow::Continue(())
            }
            Ok(None) => ControlFlow::Continue(()),
            Err(e) => self.fail(e),
        }
    }
}

fn unsupported<T>(construct: impl Into<String>) -> Result<T, SqlError> {
    Err(SqlError::Unsupported {
        construct: construct.into(),
    })
}

fn func_args(f: &Function) -> Result<Vec<String>, SqlError> {
    match &f.args {
        FunctionArguments::None => Ok(vec![]),
        FunctionArguments::Subquery(q) => Ok(vec![format!("({q})")]),
        FunctionArguments::List(l) => l
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e.to_string()),
                FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => Ok("*".to_string()),
                other => unsupported(format!("function argument {other}")),
            })
            .collect(),
    }
}

fn call(name: &str, args: &[String]) -> Expr {
    raw(format!("{name}({})", args.join(", ")))
}

/// SQLite type for `CAST(x AS type)`; `None` when the cast is better expressed as a call.
fn cast_target(dt: &DataType) -> Result<&'static str, SqlError> {
    let s = dt.to_string().to_ascii_uppercase();
    let first = s
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or("");
    Ok(match first {
        "SIGNED" | "UNSIGNED" | "INT" | "INTEGER" | "BIGINT" | "TINYINT" | "SMALLINT" => "INTEGER",
        "CHAR" | "VARCHAR" | "NCHAR" | "TEXT" | "JSON" | "CHARACTER" => "TEXT",
        "BINARY" | "VARBINARY" | "BLOB" => "BLOB",
        "DECIMAL" | "NUMERIC" | "DEC" => "NUMERIC",
        "DOUBLE" | "FLOAT" | "REAL" => "REAL",
        "DATE" => "DATE",
        "DATETIME" | "TIMESTAMP" => "DATETIME",
        "TIME" => "TIME",
        "YEAR" => "INTEGER",
        _ => return unsupported(format!("CAST to {s}")),
    })
}

fn cast_expr(inner: String, dt: &DataType) -> Result<Expr, SqlError> {
    Ok(match cast_target(dt)? {
        "DATE" => raw(format!("date({inner})")),
        "DATETIME" => raw(format!("datetime({inner})")),
        "TIME" => raw(format!("time({inner})")),
        t => raw(format!("CAST({inner} AS {t})")),
    })
}

/// An SQLite date modifier for `INTERVAL value unit`, as an SQL expression.
fn interval_modifier(iv: &sqlparser::ast::Interval, negate: bool) -> Result<String, SqlError> {
    let unit = match &iv.leading_field {
        Some(f) => f.clone(),
        None => {
            // MySQL always has a unit; sqlparser may have folded it into the value string.
            return unsupported(format!("INTERVAL {}", iv.value));
        }
    };
    let (mult, unit) = match unit {
        DateTimeField::Second | DateTimeField::Seconds => (1, "seconds"),
        DateTimeField::Minute | DateTimeField::Minutes => (1, "minutes"),
        DateTimeField::Hour | DateTimeField::Hours => (1, "hours"),
        DateTimeField::Day | DateTimeField::Days => (1, "days"),
        DateTimeField::Week(_) | DateTimeField::Weeks => (7, "days"),
        DateTimeField::Month | DateTimeField::Months => (1, "months"),
        DateTimeField::Quarter => (3, "months"),
        DateTimeField::Year | DateTimeField::Years => (1, "years"),
        other => return unsupported(format!("INTERVAL unit {other}")),
    };
    let sign = if negate { "-" } else { "" };
    let value = iv.value.to_string();
    Ok(if mult == 1 {
        format!("(({sign}({value})) || ' {unit}')")
    } else {
        format!("(({sign}({value}) * {mult}) || ' {unit}')")
    })
}

/// `date_expr ± interval`: DATE values stay dates, anything else becomes DATETIME text.
fn date_arith(date: &str, iv: &sqlparser::ast::Interval, negate: bool) -> Result<Expr, SqlError> {
    let m = interval_modifier(iv, negate)?;
    Ok(date_add_modifier(date, &m))
}

/// Applies an SQLite date modifier; a DATE (10 characters) stays a DATE, as in MySQL.
fn date_add_modifier(date: &str, m: &str) -> Expr {
    raw(format!(
        "iif(length({date}) <= 10, date({date}, {m}), datetime({date}, {m}))"
    ))
}

/// A unit argument (`DAY`) as sqlparser hands it over: an identifier, maybe quoted.
fn unit_name(arg: &str) -> String {
    arg.trim_matches(|c| c == '"' || c == '`')
        .to_ascii_uppercase()
}

/// MySQL's `TIMESTAMPDIFF(unit, a, b)`, by the function of that name in
/// [`crate::functions`] (each argument evaluated once, to the microsecond). An unknown unit
/// is refused here.
fn timestampdiff(unit: &str, a: &str, b: &str) -> Result<Expr, SqlError> {
    let unit = unit_name(unit);
    // The simple units: INTERVAL's, before the compound ones.
    if !INTERVAL_UNITS[..9].contains(&unit.as_str()) {
        return unsupported(format!("TIMESTAMPDIFF unit {unit}"));
    }
    Ok(raw(format!("mysql_timestampdiff('{unit}', {a}, {b})")))
}

fn strftime_int(fmt: &str, arg: &str) -> Expr {
    raw(format!("CAST(strftime('{fmt}', {arg}) AS INTEGER)"))
}

/// MySQL collation name to the SQLite collation we use (see docs/MYSQL-COMPAT.md).
pub(crate) fn collation(name: &str) -> &'static str {
    let n = name.to_ascii_lowercase();
    if n == "binary" || n.ends_with("_bin") || n.ends_with("_cs") {
        "BINARY"
    } else {
        "NOCASE"
    }
}

fn rewrite_function(rw: &mut Rewriter, f: &mut Function) -> Result<Option<Expr>, SqlError> {
    if f.name.0.len() != 1 || f.over.is_some() {
        return Ok(None);
    }
    let name = f.name.to_string().trim_matches('"').to_ascii_lowercase();
    let no_parens = matches!(f.args, FunctionArguments::None);
    let a = || func_args(f);
    Ok(Some(match name.as_str() {
        "current_timestamp" | "current_date" | "current_time" if no_parens => return Ok(None),
        "now" | "current_timestamp" | "localtime" | "localtimestamp" | "sysdate" => {
            raw("now()".into())
        }
        "curdate" | "current_date" => raw("curdate()".into()),
        "curtime" | "current_time" => raw("curtime()".into()),
        "database" | "schema" => match rw.ctx.current_db {
            Some(db) => raw(names::literal(db)),
            None => raw("NULL".into()),
        },
        "if" => call("iif", &a()?),
        "isnull" => raw(format!("(({}) IS NULL)", a()?.join(", "))),
        "length" | "octet_length" => call("octet_length", &a()?),
        "char_length" | "character_length" => call("length", &a()?),
        "ucase" => call("upper", &a()?),
        // SQLite's hex() reads a number as its text ('255' -> 323535); MySQL's as a number.
        "hex" => call("mysql_hex", &a()?),
        "lcase" => call("lower", &a()?),
        "mid" | "substring" => call("substr", &a()?),
        "ceiling" => call("ceil", &a()?),
        "pow" => call("power", &a()?),
        // MySQL's one-argument LOG is the natural logarithm; SQLite's is base 10.
        "log" => {
            let v = a()?;
            call(if v.len() == 1 { "ln" } else { "log" }, &v)
        }
        "greatest" => call("max", &a()?),
        "least" => call("min", &a()?),
        "mod" => {
            let v = a()?;
            if v.len() != 2 {
                return Ok(None);
            }
            raw(format!("(({}) % ({}))", v[0], v[1]))
        }
        "ascii" | "ord" => call("unicode", &a()?),
        "rand" => raw("rand()".into()),
        "year" => strftime_int("%Y", &a()?.join(", ")),
        "month" => strftime_int("%m", &a()?.join(", ")),
        "day" | "dayofmonth" => strftime_int("%d", &a()?.join(", ")),
        "hour" => strftime_int("%H", &a()?.join(", ")),
        "minute" => strftime_int("%M", &a()?.join(", ")),
        "second" => strftime_int("%S", &a()?.join(", ")),
        "dayofyear" => strftime_int("%j", &a()?.join(", ")),
        "dayofweek" => raw(format!(
            "(CAST(strftime('%w', {}) AS INTEGER) + 1)",
            a()?.join(", ")
        )),
        "timestampdiff" => {
            let v = a()?;
            if v.len() != 3 {
                return Ok(None);
            }
            timestampdiff(&v[0], &v[1], &v[2])?
        }
        "timestampadd" => {
            let v = a()?;
            if v.len() != 3 {
                return Ok(None);
            }
            // As `d + INTERVAL n unit`.
            let leading_field = match unit_name(&v[0]).as_str() {
                "SECOND" => DateTimeField::Second,
                "MINUTE" => DateTimeField::Minute,
                "HOUR" => DateTimeField::Hour,
                "DAY" => DateTimeField::Day,
                "WEEK" => DateTimeField::Week(None),
                "MONTH" => DateTimeField::Month,
                "QUARTER" => DateTimeField::Quarter,
                "YEAR" => DateTimeField::Year,
                other => return unsupported(format!("TIMESTAMPADD unit {other}")),
            };
            let iv = sqlparser::ast::Interval {
                value: Box::new(raw(v[1].clone())),
                leading_field: Some(leading_field),
                leading_precision: None,
                last_field: None,
                fractional_seconds_precision: None,
            };
            date_arith(&v[2], &iv, false)?
        }
        "datediff" => {
            let v = a()?;
            if v.len() != 2 {
                return Ok(None);
            }
            raw(format!(
                "CAST(julianday(date({})) - julianday(date({})) AS INTEGER)",
                v[0], v[1]
            ))
        }
        "date_add" | "adddate" | "date_sub" | "subdate" => {
            let negate = name == "date_sub" || name == "subdate";
            let args = match &f.args {
                FunctionArguments::List(l) => l.args.clone(),
                _ => return Ok(None),
            };
            match args.as_slice() {
                [
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(d)),
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Interval(iv))),
                ] => date_arith(&d.to_string(), iv, negate)?,
                [
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(d)),
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(n)),
                ] => {
                    let sign = if negate { "-" } else { "" };
                    date_add_modifier(&d.to_string(), &format!("(({sign}({n})) || ' days')"))
                }
                _ => return unsupported(format!("{} with these arguments", name.to_uppercase())),
            }
        }
        "group_concat" => {
            let FunctionArguments::List(l) = &mut f.args else {
                return Ok(None);
            };
            let mut sep = None;
            let mut order = None;
            for c in &l.clauses {
                match c {
                    FunctionArgumentClause::Separator(v) => sep = Some(v.to_string()),
                    FunctionArgumentClause::OrderBy(o) => {
                        order = Some(
                            o.iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", "),
                        )
                    }
                    other => return unsupported(format!("GROUP_CONCAT clause {other}")),
                }
            }
            let distinct = l
                .duplicate_treatment
                .is_some_and(|d| matches!(d, sqlparser::ast::DuplicateTreatment::Distinct));
            let args: Vec<String> = func_args(f)?;
            let value = if args.len() == 1 {
                args[0].clone()
            } else {
                format!("concat({})", args.join(", "))
            };
            if distinct && sep.as_deref().is_some_and(|s| s != "','") {
                return unsupported("GROUP_CONCAT(DISTINCT ... SEPARATOR other than ',')");
            }
            let mut s = String::from("group_concat(");
            if distinct {
                s.push_str("DISTINCT ");
            }
            s.push_str(&value);
            if !distinct {
                s.push_str(", ");
                s.push_str(sep.as_deref().unwrap_or("','"));
            }
            if let Some(o) = order {
                s.push_str(" ORDER BY ");
                s.push_str(&o);
            }
            s.push(')');
            raw(s)
        }
        "values" => {
            // VALUES(col) inside ON DUPLICATE KEY UPDATE: the row that failed to insert.
            let v = a()?;
            if v.len() != 1 {
                return Ok(None);
            }
            raw(format!("excluded.{}", v[0]))
        }
        "match" => return unsupported("MATCH ... AGAINST (FULLTEXT search)"),
        "found_rows" => return unsupported("FOUND_ROWS()"),
        "sleep" => return unsupported("SLEEP()"),
        "get_lock" | "release_lock" | "is_free_lock" => {
            return unsupported(format!("{}() (user-level locks)", name.to_uppercase()));
        }
        _ => return Ok(None),
    }))
}

/// `@@[scope.]name` as a call of `mysql_sysvar('name')`. Sessions hold one value per
/// variable: `@@global.x` reads the session's value too (see docs/MYSQL-COMPAT.md).
fn sysvar_call(name: &str) -> Expr {
    let n = match name.split_once('.') {
        Some((s, n))
            if ["global", "session", "local"]
                .iter()
                .any(|k| s.eq_ignore_ascii_case(k)) =>
        {
            n
        }
        _ => name,
    };
    raw(format!(
        "mysql_sysvar({})",
        names::literal(&n.to_ascii_lowercase())
    ))
}

fn rewrite_expr(rw: &mut Rewriter, expr: &mut Expr) -> Result<Option<Expr>, SqlError> {
    Ok(Some(match expr {
        Expr::Identifier(i) if i.quote_style.is_none() && i.value.starts_with("@@") => {
            sysvar_call(&i.value[2..])
        }
        Expr::Identifier(i) if i.quote_style.is_none() && i.value.starts_with('@') => raw(format!(
            "mysql_uservar({})",
            names::literal(&i.value[1..].to_ascii_lowercase())
        )),
        Expr::Identifier(i)
            if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("DEFAULT") =>
        {
            return unsupported("DEFAULT as a value (name the columns you set instead)");
        }
        Expr::CompoundIdentifier(parts) => {
            if parts[0].value.starts_with("@@") && parts[0].quote_style.is_none() {
                let joined: Vec<&str> = parts.iter().map(|p| p.value.as_str()).collect();
                return Ok(Some(sysvar_call(&joined.join(".")[2..])));
            }
            if let (Some(alias), 2) = (&rw.insert_row_alias, parts.len())
                && parts[0].value.eq_ignore_ascii_case(alias)
            {
                return Ok(Some(raw(format!("excluded.{}", parts[1]))));
            }
            if parts.len() == 3 {
                // db.table.column -> table.column (the table carries its bare name as alias).
                let (db, _) = (parts[0].value.clone(), ());
                check_table(&db, &parts[1].value)?;
                parts.remove(0);
            } else if parts.len() > 3 {
                return unsupported(format!("column reference {expr}"));
            }
            return Ok(None);
        }
        Expr::Function(f) => return rewrite_function(rw, f),
        Expr::BinaryOp { left, op, right } => match op {
            // MySQL's default sql_mode reads || as OR.
            BinaryOperator::StringConcat => {
                *op = BinaryOperator::Or;
                return Ok(None);
            }
            // MySQL's `/` divides exactly (7/2 is 3.5); SQLite's divides integers as integers.
            BinaryOperator::Divide => raw(format!("(({left}) / CAST(({right}) AS REAL))")),
            BinaryOperator::MyIntegerDivide => {
                raw(format!("CAST(({left}) / ({right}) AS INTEGER)"))
            }
            BinaryOperator::Spaceship => raw(format!("(({left}) IS ({right}))")),
            BinaryOperator::Xor => raw(format!("((({left}) <> 0) <> (({right}) <> 0))")),
            BinaryOperator::Plus | BinaryOperator::Minus => {
                let negate = matches!(op, BinaryOperator::Minus);
                match (&**left, &**right) {
                    (d, Expr::Interval(iv)) => date_arith(&d.to_string(), iv, negate)?,
                    (Expr::Interval(iv), d) if !negate => date_arith(&d.to_string(), iv, false)?,
                    _ => return Ok(None),
                }
            }
            BinaryOperator::Regexp => return unsupported("REGEXP"),
            _ => return Ok(None),
        },
        Expr::RLike { .. } => return unsupported("REGEXP / RLIKE"),
        Expr::Like {
            escape_char,
            pattern,
            ..
        } => {
            // MySQL's LIKE escape character is the backslash.
            if escape_char.is_none() {
                let has_backslash = matches!(&**pattern, Expr::Value(v)
                    if matches!(&v.value, Value::SingleQuotedString(s) if s.contains('\\')));
                if has_backslash {
                    *escape_char = Some(Box::new(raw("'\\'".into())));
                }
            }
            return Ok(None);
        }
        Expr::Cast {
            kind,
            expr: inner,
            data_type,
            ..
        } => {
            if matches!(kind, CastKind::DoubleColon) {
                return unsupported("::cast");
            }
            cast_expr(inner.to_string(), data_type)?
        }
        Expr::Convert {
            expr: inner,
            data_type,
            charset,
            ..
        } => match (data_type, charset) {
            (Some(dt), _) => cast_expr(inner.to_string(), dt)?,
            (None, _) => raw(format!("({inner})")),
        },
        Expr::Collate {
            expr: inner,
            collation: c,
        } => raw(format!("({inner}) COLLATE {}", collation(&c.to_string()))),
        Expr::Prefixed { value, .. } => (**value).clone(),
        Expr::TypedString(ts) => match ts.data_type {
            DataType::Date
            | DataType::Datetime(_)
            | DataType::Timestamp(..)
            | DataType::Time(..) => Expr::Value(ts.value.clone()),
            _ => return unsupported(format!("typed literal {}", ts.data_type)),
        },
        Expr::Trim {
            trim_where,
            trim_what,
            expr: inner,
            trim_characters,
        } => {
            if trim_characters.is_some() {
                return unsupported("TRIM(..., characters)");
            }
            let f = match trim_where {
                Some(TrimWhereField::Leading) => "ltrim",
                Some(TrimWhereField::Trailing) => "rtrim",
                _ => "trim",
            };
            match trim_what {
                Some(w) => raw(format!("{f}({inner}, {w})")),
                None => raw(format!("{f}({inner})")),
            }
        }
        Expr::Substring {
            expr: inner,
            substring_from,
            substring_for,
            ..
        } => {
            let from = substring_from
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or("1".into());
            match substring_for {
                Some(n) => raw(format!("substr({inner}, {from}, {n})")),
                None => raw(format!("substr({inner}, {from})")),
            }
        }
        Expr::Position { expr: needle, r#in } => raw(format!("instr({in}, {needle})", r#in = r#in)),
        Expr::Extract {
            field, expr: inner, ..
        } => {
            let fmt = match field {
                DateTimeField::Year => "%Y",
                DateTimeField::Month => "%m",
                DateTimeField::Day => "%d",
                DateTimeField::Hour => "%H",
                DateTimeField::Minute => "%M",
                DateTimeField::Second => "%S",
                other => return unsupported(format!("EXTRACT({other} ...)")),
            };
            strftime_int(fmt, &inner.to_string())
        }
        Expr::Interval(_) => return Ok(None), // consumed by the enclosing + / - or DATE_ADD
        Expr::MatchAgainst { .. } => return unsupported("MATCH ... AGAINST (FULLTEXT search)"),
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) if s.contains('\0') => {
                let hex: String = s.bytes().map(|b| format!("{b:02X}")).collect();
                raw(format!("CAST(X'{hex}' AS TEXT)"))
            }
            _ => return Ok(None),
        },
        _ => return Ok(None),
    }))
}
