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

#[derive(Debug, Clone)]
enum Entry {
    /// The translation of the shape; literal `k` (0-based) is placeholder `?{params+1+k}`.
    Template {
        sqlite: Vec<String>,
        kind: StatementKind,
        tables: Vec<String>,
        params: usize,
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

/// A literal found in a statement: its byte range and its SQLite spelling.
struct Literal {
    start: usize,
    end: usize,
    sqlite: String,
}

impl ShapeCache {
    /// An empty cache holding at most `capacity` shapes.
    pub fn new(capacity: usize) -> Self {
        ShapeCache {
            shapes: HashMap::new(),
            capacity: capacity.max(1),
            hits: 0,
            misses: 0,
        }
    }

    /// Forgets every shape (call after DDL).
    pub fn clear(&mut self) {
        self.shapes.clear();
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
        if self.shapes.len() >= self.capacity {
            self.shapes.clear();
        }
        self.shapes.insert(key.clone(), entry);
        // Translate this statement from its own text: identical result, and it reports
        // errors about the real literals.
        match self.shapes.get(&key) {
            Some(Entry::Template {
                sqlite,
                kind,
                tables,
                params,
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
                    v.push(Literal {
                        start,
                        end: i,
                        sqlite: text[start..i].to_string(),
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

    /// Literals that are not placeholders stay in the shape; strings are re-quoted for SQLite.
    #[test]
    fn literal_scanning() {
        let l = literals(
            "SELECT a1, 'x''y', \"q\", 12.5, sbtest1 FROM t WHERE b = 0x1F AND c = _utf8'z'",
        );
        let got: Vec<&str> = l.iter().map(|l| l.sqlite.as_str()).collect();
        assert_eq!(got, vec!["'x''y'", "'q'", "12.5"]);
    }
}
