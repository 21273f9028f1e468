//! A fast path for statements that differ only in their literals.
//!
//! Text-protocol clients (sysbench with `--db-ps-mode=disable`, most ORMs without
//! server-side prepare) send the same statement shape over and over with different
//! numbers and strings inlined, so a cache keyed by the full SQL text rarely hits. This
//! cache keys by *shape*: literals are replaced by extra numbered placeholders, the shape is
//! translated once by the ordinary translator, and later statements of the same shape are
//! produced by putting their literals back into the cached SQLite text.
//!
//! It is only used where that is exactly equivalent to translating the statement itself:
//! one DML statement (SELECT / INSERT / UPDATE / DELETE / REPLACE); only plain decimal
//! numbers and quoted strings without backslashes become placeholders; a shape whose
//! translation fails, is not plain DML, or copies a literal into a result-column name is
//! remembered as "not cacheable" and translated normally each time.

use std::collections::HashMap;

use crate::lex::{self, Chunk};
use crate::{Context, SqlError, Statement, StatementKind, translate_bytes};

/// Default number of shapes kept; when full the cache starts over (shapes are few).
pub const SHAPES_MAX: usize = 4096;

/// Longest statement text the cache looks at. A longer one (a multi-row INSERT of a dump, a
/// large value written as text) is translated directly and not remembered: such statements
/// rarely repeat, finding their shape costs several passes over all of their text, and a
/// shape that keeps a large literal (a string with backslash escapes stays in the shape)
/// would keep megabytes per statement in the cache.
pub const CACHED_TEXT_MAX: usize = 16 * 1024;

/// Most bytes of shape text kept; past it the cache starts over, like past [`SHAPES_MAX`].
const SHAPE_BYTES_MAX: usize = 4 << 20;

#[derive(Debug, Clone)]
enum Entry {
    /// The translation of the shape; literal `k` (0-based) is placeholder `?{params+1+k}`.
    Template {
        sqlite: Vec<String>,
        kind: StatementKind,
        tables: Vec<String>,
        params: usize,
        /// The literals may be bound as parameters instead of written into the text (see
        /// [`ShapeCache::translate_bound`]).
        bindable: bool,
    },
    /// Translate this shape the ordinary way.
    NotCacheable,
}

/// Translation cache keyed by statement shape (see the module documentation).
///
/// Translations made with a [`crate::Catalog`] depend on the schema: call [`clear`] after
/// any DDL. One cache per session or per thread; it is not shared.
///
/// [`clear`]: ShapeCache::clear
#[derive(Debug)]
pub struct ShapeCache {
    shapes: HashMap<(String, Option<String>), Entry>,
    capacity: usize,
    /// Bytes of shape text held (keys and templates, roughly).
    bytes: usize,
    /// Statements served from a cached template.
    pub hits: u64,
    /// Statements translated the ordinary way.
    pub misses: u64,
}

impl Default for ShapeCache {
    fn default() -> Self {
        Self::new(SHAPES_MAX)
    }
}

/// A literal found in a statement: its byte range, its SQLite spelling and its value.
struct Literal {
    start: usize,
    end: usize,
    sqlite: String,
    value: rusqlite::types::Value,
}

impl ShapeCache {
    /// An empty cache holding at most `capacity` shapes.
    pub fn new(capacity: usize) -> Self {
        ShapeCache {
            shapes: HashMap::new(),
            capacity: capacity.max(1),
            bytes: 0,
            hits: 0,
            misses: 0,
        }
    }

    /// Forgets every shape (call after DDL).
    pub fn clear(&mut self) {
        self.shapes.clear();
        self.bytes = 0;
    }

    /// Number of shapes cached.
    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    /// True when no shape is cached.
    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    /// Same result as [`crate::translate`], faster for repeated statement shapes.
    pub fn translate(&mut self, sql: &str, ctx: &Context) -> Result<Vec<Statement>, SqlError> {
        if sql.len() > CACHED_TEXT_MAX {
            self.misses += 1;
            return translate_bytes(sql.as_bytes(), ctx);
        }
        let chunks = lex::split(sql.as_bytes())?;
        let [chunk] = chunks.as_slice() else {
            self.misses += 1;
            return translate_bytes(sql.as_bytes(), ctx);
        };
        if !is_dml(&chunk.text) {
            self.misses += 1;
            return translate_bytes(sql.as_bytes(), ctx);
        }
        let literals = literals(&chunk.text);
        let key = (shape(chunk, &literals), ctx.current_db.map(str::to_string));
        if let Some(entry) = self.shapes.get(&key) {
            return match entry {
                Entry::Template {
                    sqlite,
                    kind,
                    tables,
                    params,
                    ..
                } => {
                    self.hits += 1;
                    Ok(vec![Statement::Sql {
                        sqlite: sqlite
                            .iter()
                            .map(|s| instantiate(s, *params, &literals))
                            .collect(),
                        kind: *kind,
                        params: *params,
                        tables: tables.clone(),
                    }])
                }
                Entry::NotCacheable => {
                    self.misses += 1;
                    translate_bytes(sql.as_bytes(), ctx)
                }
            };
        }
        self.misses += 1;
        let entry = match translate_bytes(key.0.as_bytes(), ctx) {
            Ok(mut v) if v.len() == 1 => match v.remove(0) {
                Statement::Sql {
                    sqlite,
                    kind,
                    tables,
                    params,
                } if kind != StatementKind::Ddl
                    && params == chunk.params + literals.len()
                    && sqlite
                        .iter()
                        .all(|s| usable_template(s, chunk.params, literals.len())) =>
                {
                    Entry::Template {
                        bindable: sqlite.len() == 1
                            && !positional_placeholder(&sqlite[0], chunk.params),
                        sqlite,
                        kind,
                        tables,
                        params: chunk.params,
                    }
                }
                _ => Entry::NotCacheable,
            },
            _ => Entry::NotCacheable,
        };
        // The key, and a template about as long as it.
        let bytes = 2 * key.0.len();
        if self.shapes.len() >= self.capacity || self.bytes + bytes > SHAPE_BYTES_MAX {
            self.clear();
        }
        self.bytes += bytes;
        self.shapes.insert(key.clone(), entry);
        // Translate this statement from its own text: identical result, and it reports
        // errors about the real literals.
        match self.shapes.get(&key) {
            Some(Entry::Template {
                sqlite,
                kind,
                tables,
                params,
                ..
            }) => Ok(vec![Statement::Sql {
                sqlite: sqlite
                    .iter()
                    .map(|s| instantiate(s, *params, &literals))
                    .collect(),
                kind: *kind,
                params: *params,
                tables: tables.clone(),
            }]),
            _ => translate_bytes(sql.as_bytes(), ctx),
        }
    }
}

/// A translation whose literals travel as parameters (see [`ShapeCache::translate_bound`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BoundStatement {
    /// The cached translation of the statement's shape: one SQLite statement in which the
    /// client's placeholders are `?1..?params` and literal `k` is `?{params+1+k}`.
    pub sqlite: String,
    /// Read or write (DDL is never cached).
    pub kind: StatementKind,
    /// Number of the client's own `?` placeholders.
    pub params: usize,
    /// SQLite names of the tables touched.
    pub tables: Vec<String>,
    /// The literal values, to bind after the client's parameters.
    pub literals: Vec<rusqlite::types::Value>,
}

impl ShapeCache {
    /// [`ShapeCache::translate`] for one DML statement whose literals can be bound as
    /// parameters without changing its meaning: the same SQLite text for every statement of
    /// the shape (so a prepared-statement cache keyed by text hits) and the literal values.
    /// `None` when that does not apply (not DML, not cacheable, several SQLite statements,
    /// or a literal that stands for a column position as in `ORDER BY 1`): use `translate`.
    ///
    /// Bound and inlined literals mean the same in SQLite (neither has a type affinity);
    /// only plans may differ, where an index on an expression or a partial index would have
    /// matched the literal.
    pub fn translate_bound(&mut self, sql: &str, ctx: &Context) -> Option<BoundStatement> {
        if sql.len() > CACHED_TEXT_MAX {
            return None;
        }
        let chunks = lex::split(sql.as_bytes()).ok()?;
        let [chunk] = chunks.as_slice() else {
            return None;
        };
        if !is_dml(&chunk.text) {
            return None;
        }
        let literals = literals(&chunk.text);
        let key = (shape(chunk, &literals), ctx.current_db.map(str::to_string));
        if !self.shapes.contains_key(&key) {
            // Learn the shape (and report nothing: the caller translates this one).
            let _ = self.translate(sql, ctx);
            return None;
        }
        match self.shapes.get(&key) {
            Some(Entry::Template {
                sqlite,
                kind,
                tables,
                params,
                bindable: true,
            }) => {
                self.hits += 1;
                Some(BoundStatement {
                    sqlite: sqlite[0].clone(),
                    kind: *kind,
                    params: *params,
                    tables: tables.clone(),
                    literals: literals.into_iter().map(|l| l.value).collect(),
                })
            }
            _ => None,
        }
    }
}

/// Whether a literal placeholder of `sql` (a template) may stand for a column position:
/// a whole term of an `ORDER BY` / `GROUP BY` list (`ORDER BY 2`), which a bound parameter
/// would turn into a constant. Conservative: any literal placeholder right after `BY` or a
/// comma, once such a clause appeared, and followed by the end of a term.
fn positional_placeholder(sql: &str, params: usize) -> bool {
    let b = sql.as_bytes();
    let upper = sql.to_ascii_uppercase();
    let Some(first) = [upper.find("ORDER BY"), upper.find("GROUP BY")]
        .into_iter()
        .flatten()
        .min()
    else {
        return false;
    };
    let mut i = first;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => i = skip_sqlite_quoted(b, i),
            b'?' => {
                let (n, end) = number_at(b, i + 1);
                if n > params {
                    let before = upper[..i].trim_end();
                    let after = upper[end..].trim_start();
                    let starts_term = before.ends_with(',') || before.ends_with("BY");
                    let ends_term = after.is_empty()
                        || [
                            ",",
                            ")",
                            "ASC",
                            "DESC",
                            "NULLS",
                            "COLLATE",
                            "LIMIT",
                            "HAVING",
                            "WINDOW",
                            "UNION",
                            "EXCEPT",
                            "INTERSECT",
                        ]
                        .iter()
                        .any(|k| after.starts_with(k));
                    if starts_term && ends_term {
                        return true;
                    }
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    false
}

fn is_dml(text: &str) -> bool {
    let first = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    ["SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE"]
        .iter()
        .any(|k| first.eq_ignore_ascii_case(k))
}

/// The literals of a normalised statement that may become placeholders.
fn literals(text: &str) -> Vec<Literal> {
    let b = text.as_bytes();
    let mut v = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let prev = if i > 0 { b[i - 1] } else { b' ' };
        let prev_word =
            prev.is_ascii_alphanumeric() || prev == b'_' || prev == b'$' || prev >= 0x80;
        match c {
            b'\'' | b'"' => {
                let Some(end) = quoted_end(b, i) else {
                    return v;
                };
                let body = &text[i + 1..end - 1];
                // Introducers (_utf8mb4'x', N'x', X'..'), escapes and adjacent-literal
                // concatenation stay in the shape.
                let next_quote = b[end..].iter().find(|x| !x.is_ascii_whitespace());
                if !prev_word && !body.contains('\\') && !matches!(next_quote, Some(b'\'' | b'"')) {
                    let value = if c == b'\'' {
                        body.replace("''", "'")
                    } else {
                        body.replace("\"\"", "\"")
                    };
                    v.push(Literal {
                        start: i,
                        end,
                        sqlite: crate::names::literal(&value),
                        value: rusqlite::types::Value::Text(value),
                    });
                }
                i = end;
            }
            b'`' => {
                i = quoted_end(b, i).unwrap_or(b.len());
            }
            b'0'..=b'9' if !prev_word && prev != b'.' && prev != b'?' => {
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i < b.len() && b[i] == b'.' {
                    i += 1;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                let is_word =
                    i < b.len() && (b[i].is_ascii_alphabetic() || b[i] == b'_' || b[i] >= 0x80);
                if !is_word {
                    let digits = &text[start..i];
                    // As SQLite reads a numeric literal: an integer if it fits, else real.
                    let value = match digits.parse::<i64>() {
                        Ok(n) if !digits.contains('.') => rusqlite::types::Value::Integer(n),
                        _ => rusqlite::types::Value::Real(digits.parse().unwrap_or(0.0)),
                    };
                    v.push(Literal {
                        start,
                        end: i,
                        sqlite: digits.to_string(),
                        value,
                    });
                } else {
                    // 1e5, 0x1F, 12abc (an identifier): keep in the shape.
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                        i += 1;
                    }
                }
            }
            _ => i += 1,
        }
    }
    v
}

fn quoted_end(b: &[u8], start: usize) -> Option<usize> {
    let q = b[start];
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == b'\\' && q != b'`' {
            i += 2;
        } else if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
            } else {
                return Some(i + 1);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// The statement text with literal `k` replaced by `?{params+1+k}`.
fn shape(chunk: &Chunk, literals: &[Literal]) -> String {
    let mut s = String::with_capacity(chunk.text.len());
    let mut last = 0;
    for (k, l) in literals.iter().enumerate() {
        s.push_str(&chunk.text[last..l.start]);
        s.push('?');
        s.push_str(&(chunk.params + 1 + k).to_string());
        last = l.end;
    }
    s.push_str(&chunk.text[last..]);
    s
}

/// Visits the `?N` placeholders of generated SQLite text outside quotes, and tells whether
/// a literal placeholder sits inside a quoted name (then the template is not usable).
fn usable_template(sql: &str, params: usize, literals: usize) -> bool {
    let b = sql.as_bytes();
    let mut seen = vec![false; literals];
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => i = skip_sqlite_quoted(b, i),
            b'"' => {
                let end = skip_sqlite_quoted(b, i);
                if sql[i..end].contains('?') {
                    // A result-column name made from the statement text: it would show the
                    // placeholder, not the literal.
                    if literals > 0 && placeholder_in(&sql[i..end], params) {
                        return false;
                    }
                }
                i = end;
            }
            b'?' => {
                let (n, end) = number_at(b, i + 1);
                if n > params {
                    match seen.get_mut(n - params - 1) {
                        Some(s) => *s = true,
                        None => return false,
                    }
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    seen.iter().all(|s| *s)
}

fn placeholder_in(s: &str, params: usize) -> bool {
    let b = s.as_bytes();
    (0..b.len()).any(|i| b[i] == b'?' && number_at(b, i + 1).0 > params)
}

fn skip_sqlite_quoted(b: &[u8], start: usize) -> usize {
    let q = b[start];
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

fn number_at(b: &[u8], mut i: usize) -> (usize, usize) {
    let mut n = 0usize;
    while i < b.len() && b[i].is_ascii_digit() {
        n = n.saturating_mul(10).saturating_add((b[i] - b'0') as usize);
        i += 1;
    }
    (n, i)
}

/// The template with literal placeholders replaced by the statement's literals.
fn instantiate(template: &str, params: usize, literals: &[Literal]) -> String {
    let b = template.as_bytes();
    let extra: usize = literals.iter().map(|l| l.sqlite.len()).sum();
    let mut out = String::with_capacity(template.len() + extra);
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => i = skip_sqlite_quoted(b, i),
            b'?' => {
                let (n, end) = number_at(b, i + 1);
                if n > params
                    && let Some(l) = literals.get(n - params - 1)
                {
                    out.push_str(&template[last..i]);
                    out.push_str(&l.sqlite);
                    last = end;
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    out.push_str(&template[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate;

    fn same(cache: &mut ShapeCache, sql: &str, db: Option<&str>) {
        let ctx = Context::with_db(db);
        assert_eq!(cache.translate(sql, &ctx), translate(sql, &ctx), "{sql}");
    }

    /// The cache gives exactly the translator's result, hitting for repeated shapes.
    #[test]
    fn cached_equals_translated() {
        let mut c = ShapeCache::default();
        let statements = [
            "SELECT c FROM sbtest1 WHERE id=1",
            "SELECT c FROM sbtest1 WHERE id=2",
            "SELECT c FROM sbtest1 WHERE id BETWEEN 5 AND 104 ORDER BY c",
            "SELECT c FROM sbtest1 WHERE id BETWEEN 6 AND 105 ORDER BY c",
            "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 1 AND 2",
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES (0, 5, 'it''s', \"dq\")",
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES (3, 6, 'x', 'y')",
            "UPDATE sbtest1 SET c='a' WHERE id=9",
            "DELETE FROM sbtest1 WHERE id=10 LIMIT 1",
            "SELECT 1",
            "SELECT 2",
            "SELECT 'a\\_b' LIKE 'a\\_b'",
            "SELECT _utf8mb4'x', N'y', X'41', 0x41, 1e3, 1.5, -7",
            "SELECT * FROM t WHERE d > NOW() - INTERVAL 7 DAY",
            "SELECT CAST(x AS DECIMAL(10,2)) FROM t WHERE a = ?",
            "SELECT * FROM t WHERE a = ? AND b = 3",
            "SELECT * FROM t WHERE a = ? AND b = 4",
            "SELECT 'a' 'b'",
            "SHOW TABLES",
        ];
        for s in statements {
            same(&mut c, s, Some("d"));
        }
        assert_eq!(
            c.hits, 4,
            "point select, range, insert and the b = ? shape repeat"
        );
    }

    /// Bound literals give the same rows as inlined ones, statement by statement; shapes
    /// whose literal stands for a column position (`ORDER BY 2`) are not bound.
    #[test]
    fn bound_literals_mean_the_same() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE \"d.t\" (id INTEGER PRIMARY KEY, k INT, c TEXT, f REAL);
             INSERT INTO \"d.t\" VALUES (1, 5, 'a', 0.5), (2, 5, 'B', 1.5), (3, 7, 'c', NULL),
                                        (4, 10, '10', 2.5), (5, 2, 'it''s', 3.0);",
        )
        .unwrap();
        let rows =
            |sql: &str, params: &[rusqlite::types::Value]| -> Vec<Vec<rusqlite::types::Value>> {
                let mut st = conn.prepare(sql).unwrap();
                let n = st.column_count();
                let mut out = Vec::new();
                let mut r = st.query(rusqlite::params_from_iter(params.iter())).unwrap();
                while let Some(row) = r.next().unwrap() {
                    out.push((0..n).map(|i| row.get(i).unwrap()).collect());
                }
                out
            };
        let ctx = Context::with_db(Some("d"));
        let mut c = ShapeCache::default();
        let bound_shapes = [
            (
                "SELECT c FROM t WHERE id = 2",
                "SELECT c FROM t WHERE id = 3",
            ),
            (
                "SELECT id FROM t WHERE id BETWEEN 1 AND 3 ORDER BY c",
                "SELECT id FROM t WHERE id BETWEEN 2 AND 5 ORDER BY c",
            ),
            (
                "SELECT id FROM t WHERE c = '10'",
                "SELECT id FROM t WHERE c = 'b'",
            ),
            (
                "SELECT id FROM t WHERE k = '5'",
                "SELECT id FROM t WHERE k = 10",
            ),
            (
                "SELECT SUM(k) FROM t WHERE f > 1.0",
                "SELECT SUM(k) FROM t WHERE f > 0.75",
            ),
            (
                "SELECT id FROM t ORDER BY id DESC LIMIT 2",
                "SELECT id FROM t ORDER BY id DESC LIMIT 3",
            ),
            (
                "SELECT k, count(*) FROM t WHERE id > 0 GROUP BY k HAVING count(*) > 1",
                "SELECT k, count(*) FROM t WHERE id > 1 GROUP BY k HAVING count(*) > 0",
            ),
            (
                "SELECT id, k FROM t WHERE c = 'it''s'",
                "SELECT id, k FROM t WHERE c = 'a'",
            ),
            (
                "SELECT id FROM t WHERE id = 99999999999999999999",
                "SELECT id FROM t WHERE id = 4",
            ),
        ];
        for (first, second) in bound_shapes {
            assert!(
                c.translate_bound(first, &ctx).is_none(),
                "learns the shape: {first}"
            );
            let b = c
                .translate_bound(second, &ctx)
                .unwrap_or_else(|| panic!("not bound: {second}"));
            let inlined = match c.translate(second, &ctx).unwrap().remove(0) {
                Statement::Sql { sqlite, .. } => sqlite[0].clone(),
                other => panic!("{other:?}"),
            };
            assert_eq!(
                rows(&b.sqlite, &b.literals),
                rows(&inlined, &[]),
                "{second}"
            );
        }
        for positional in [
            "SELECT c, k FROM t ORDER BY 2",
            "SELECT k, count(*) FROM t GROUP BY 1",
        ] {
            let _ = c.translate_bound(positional, &ctx);
            assert!(
                c.translate_bound(positional, &ctx).is_none(),
                "{positional}"
            );
        }
        assert!(positional_placeholder("SELECT a FROM t ORDER BY ?1", 0));
        assert!(positional_placeholder(
            "SELECT a FROM t GROUP BY a, ?2 HAVING x",
            1
        ));
        assert!(!positional_placeholder(
            "SELECT a FROM t WHERE b = ?1 ORDER BY a LIMIT ?2",
            0
        ));
        assert!(!positional_placeholder(
            "SELECT a FROM t ORDER BY a + ?1",
            0
        ));
    }

    /// Literals that are not placeholders stay in the shape; strings are re-quoted for SQLite.
    #[test]
    fn literal_scanning() {
        let l = literals(
            "SELECT a1, 'x''y', \"q\", 12.5, sbtest1 FROM t WHERE b = 0x1F AND c = _utf8'z'",
        );
        let got: Vec<&str> = l.iter().map(|l| l.sqlite.as_str()).collect();
        assert_eq!(got, vec!["'x''y'", "'q'", "12.5"]);
    }

    /// Statements longer than `CACHED_TEXT_MAX` are translated exactly as without the cache
    /// and leave nothing in it, however many distinct ones arrive (before, each kept its whole
    /// text as a shape when its string literal had backslash escapes: about 40 MiB per
    /// 20 MiB value written as text); ordinary statements are still cached.
    #[test]
    fn long_statements_are_translated_but_not_remembered() {
        let mut c = ShapeCache::default();
        let ctx = Context::with_db(Some("db"));
        for i in 0..3 {
            let big = format!(
                "INSERT INTO b (v) VALUES ('{i}{}')",
                "x\\n".repeat(CACHED_TEXT_MAX / 3)
            );
            assert!(big.len() > CACHED_TEXT_MAX);
            assert_eq!(c.translate(&big, &ctx), translate(&big, &ctx));
            assert_eq!(c.translate_bound(&big, &ctx), None);
        }
        assert_eq!(c.len(), 0);
        let plain = format!(
            "INSERT INTO b (v) VALUES ('{}')",
            "y".repeat(CACHED_TEXT_MAX / 2)
        );
        same(&mut c, &plain, Some("db"));
        assert_eq!(c.len(), 1);
    }

    /// The cache's text is bounded in bytes as well as in shapes: many distinct shapes of a
    /// few KiB each start it over before it holds more than `SHAPE_BYTES_MAX`.
    #[test]
    fn shape_text_is_bounded_in_bytes() {
        let mut c = ShapeCache::default();
        let ctx = Context::with_db(Some("db"));
        for i in 0..1000 {
            // A distinct shape each time: the column list differs.
            let cols: Vec<String> = (0..400).map(|k| format!("c{i}_{k}")).collect();
            let sql = format!("SELECT {} FROM t WHERE id = 1", cols.join(", "));
            let _ = c.translate(&sql, &ctx);
            assert!(c.bytes <= SHAPE_BYTES_MAX, "{} bytes after {i}", c.bytes);
        }
        assert!(c.len() < 1000);
    }
}
