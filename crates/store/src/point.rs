//! Which rows a transaction touched, and which single row an empty point DELETE read.
//!
//! A write transaction that changed nothing still read something, and on the leader what it
//! read may be another transaction's speculative effects: it must not answer before those
//! commit. Without knowing what it read, it waits for every speculative transaction before
//! it (the frontier). One shape is common enough to know exactly: `DELETE FROM t WHERE k =
//! v`, with `k` the table's rowid (its `INTEGER PRIMARY KEY`), that deleted nothing. It read
//! one thing, "row `v` of `t` does not exist", so it needs to wait only for the speculative
//! transactions that touched that row (`oltp_delete` in sysbench is mostly such statements
//! once its rows are gone).
//!
//! Nothing is evaluated for a row that does not exist: no trigger fires, no foreign key is
//! checked, so the row's absence is all such a statement depends on.

use std::collections::HashMap;

use rusqlite::types::Value;

/// Above this many rows a transaction counts as touching every row (it is compared with
/// point reads while in flight; a huge set is not worth keeping).
const TOUCHED_ROWS_MAX: usize = 100_000;

/// The rows one transaction inserted, updated or deleted, by table (lower-cased name) and
/// rowid: the pre-update hook's rowids, old and new. Only compared with point reads of rowid
/// tables, so what it holds for a WITHOUT ROWID table (whose rowids mean nothing) is never
/// matched.
#[derive(Debug, Default, Clone)]
pub(crate) struct Touched {
    /// Sorted rowids per table.
    tables: Vec<(String, Vec<i64>)>,
    /// Too many rows to keep: matches every row.
    every_row: bool,
}

impl Touched {
    /// Adds `rowids` of `table` (in any order, repeats allowed).
    pub(crate) fn add(&mut self, table: &str, rowids: &[i64]) {
        if self.every_row || rowids.is_empty() {
            return;
        }
        let held: usize = self.tables.iter().map(|(_, r)| r.len()).sum();
        if held + rowids.len() > TOUCHED_ROWS_MAX {
            self.every_row = true;
            self.tables = Vec::new();
            return;
        }
        let name = table.to_ascii_lowercase();
        let pos = match self.tables.iter().position(|(t, _)| *t == name) {
            Some(p) => p,
            None => {
                self.tables.push((name, Vec::new()));
                self.tables.len() - 1
            }
        };
        let set = &mut self.tables[pos].1;
        set.extend_from_slice(rowids);
        set.sort_unstable();
        set.dedup();
    }

    /// Whether row `rowid` of `table` (lower-cased) may have been touched.
    pub(crate) fn contains(&self, table: &str, rowid: i64) -> bool {
        self.every_row
            || self
                .tables
                .iter()
                .any(|(t, r)| t == table && r.binary_search(&rowid).is_ok())
    }
}

/// A row read by a statement: its table (lower-cased) and rowid.
pub(crate) type RowKey = (String, i64);

/// `DELETE FROM <table> WHERE <column> = <value>`: the parts of a recognised point DELETE.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PointDelete {
    pub table: String,
    pub column: String,
    pub value: PointValue,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PointValue {
    Integer(i64),
    /// The statement's parameter with this 1-based index.
    Param(usize),
}

impl PointDelete {
    /// The rowid the statement looks up, if its value is an integer (a bound value of
    /// another type is converted by SQLite's affinity rules: not worth following here) and
    /// `params` are as many as the statement has (SQLite counts up to the highest `?N`);
    /// otherwise running it reports the mistake.
    pub(crate) fn rowid(&self, params: &[Value]) -> Option<i64> {
        match self.value {
            PointValue::Integer(v) => params.is_empty().then_some(v),
            PointValue::Param(i) if params.len() == i => match params.get(i.checked_sub(1)?) {
                Some(Value::Integer(v)) => Some(*v),
                _ => None,
            },
            PointValue::Param(_) => None,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    /// A quoted identifier, unquoted.
    Quoted(String),
    Int(i64),
    Param(Option<usize>),
    Punct(char),
}

/// Recognises exactly `DELETE FROM t [AS a] WHERE c = v [;]`, where `t`, `a` and `c` are identifiers
/// (bare, `"..."`, `` `...` `` or `[...]`; not schema-qualified) and `v` is an integer literal
/// (optionally negative), `?` (the only parameter) or `?N`. Anything else is `None`.
pub(crate) fn point_delete(sql: &str) -> Option<PointDelete> {
    let head = sql.trim_start().get(..6)?;
    if !head.eq_ignore_ascii_case("delete") {
        return None;
    }
    let tokens = tokenize(sql)?;
    let mut t = tokens.iter();
    let mut word = |w: &str| matches!(t.next(), Some(Token::Word(x)) if x.eq_ignore_ascii_case(w));
    if !word("delete") || !word("from") {
        return None;
    }
    let table = ident(t.next()?)?;
    let is_word =
        |t: Option<&Token>, w: &str| matches!(t, Some(Token::Word(x)) if x.eq_ignore_ascii_case(w));
    let mut next = t.next();
    if is_word(next, "as") {
        // An alias (our translator names the table by its MySQL name); the column below is
        // not qualified, so the alias changes nothing.
        ident(t.next()?)?;
        next = t.next();
    }
    if !is_word(next, "where") {
        return None;
    }
    let column = ident(t.next()?)?;
    if t.next() != Some(&Token::Punct('=')) {
        return None;
    }
    let value = match t.next()? {
        Token::Int(v) => PointValue::Integer(*v),
        Token::Param(n) => PointValue::Param(n.unwrap_or(1)),
        Token::Punct('-') => match t.next()? {
            Token::Int(v) => PointValue::Integer(v.checked_neg()?),
            _ => return None,
        },
        _ => return None,
    };
    match t.next() {
        None => {}
        Some(Token::Punct(';')) if t.next().is_none() => {}
        Some(_) => return None,
    }
    Some(PointDelete {
        table,
        column,
        value,
    })
}

fn ident(t: &Token) -> Option<String> {
    const RESERVED: &[&str] = &[
        "where",
        "from",
        "delete",
        "and",
        "or",
        "not",
        "limit",
        "order",
        "returning",
        "select",
        "as",
        "indexed",
    ];
    match t {
        Token::Quoted(s) => Some(s.clone()),
        Token::Word(w) if !RESERVED.iter().any(|r| w.eq_ignore_ascii_case(r)) => Some(w.clone()),
        _ => None,
    }
}

/// Splits `sql` into the few token kinds a point DELETE has; `None` for anything else
/// (string literals, comments, operators other than `=`, `-` and `;`, dots, numbers that
/// are not 64-bit integers).
fn tokenize(sql: &str) -> Option<Vec<Token>> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'"' | b'`' | b'[' => {
                let close = if c == b'[' { b']' } else { c };
                let mut name = Vec::new();
                i += 1;
                loop {
                    let &ch = b.get(i)?;
                    i += 1;
                    if ch == close {
                        if close != b']' && b.get(i) == Some(&close) {
                            name.push(close);
                            i += 1;
                        } else {
                            break;
                        }
                    } else {
                        name.push(ch);
                    }
                }
                out.push(Token::Quoted(String::from_utf8(name).ok()?));
            }
            b'?' => {
                i += 1;
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let n = if i > start {
                    Some(sql[start..i].parse::<usize>().ok()?)
                } else {
                    None
                };
                out.push(Token::Param(n));
            }
            b'0'..=b'9' => {
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                    return None;
                }
                out.push(Token::Int(sql[start..i].parse().ok()?));
            }
            b'=' | b'-' | b';' => {
                if c == b'-' && b.get(i + 1) == Some(&b'-') {
                    return None;
                }
                out.push(Token::Punct(c as char));
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$')
                {
                    i += 1;
                }
                out.push(Token::Word(sql[start..i].to_string()));
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Every table of `main` that has a rowid column, with that column's lower-cased name. A
/// single-column PRIMARY KEY is the rowid unless it has an index of its own (`origin =
/// 'pk'`): a key that is not an INTEGER column, `INTEGER PRIMARY KEY DESC`, or a WITHOUT
/// ROWID table. Used by the recorder's shapes and by the read connections' check alike.
pub(crate) fn rowid_columns(
    conn: &rusqlite::Connection,
) -> rusqlite::Result<HashMap<String, String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.name, lower(p.name) \
         FROM main.sqlite_schema AS m, pragma_table_info(m.name, 'main') AS p \
         WHERE m.type = 'table' AND m.sql NOT LIKE 'CREATE VIRTUAL%' AND p.pk > 0 \
           AND (SELECT count(*) FROM pragma_table_info(m.name, 'main') WHERE pk > 0) = 1 \
           AND NOT EXISTS \
             (SELECT 1 FROM pragma_index_list(m.name, 'main') WHERE origin = 'pk')",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// `table`'s entry in a map by table name: the exact name, else one equal ignoring ASCII
/// case (SQLite's rule for table names).
pub(crate) fn by_table<'m, V>(map: &'m HashMap<String, V>, table: &str) -> Option<&'m V> {
    map.get(table).or_else(|| {
        map.iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(table))
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(table: &str, column: &str, value: PointValue) -> Option<PointDelete> {
        Some(PointDelete {
            table: table.into(),
            column: column.into(),
            value,
        })
    }

    /// The point DELETEs our translator and common clients produce are recognised, with the
    /// table, column and value they name.
    #[test]
    fn point_deletes_are_recognised() {
        use PointValue::*;
        assert_eq!(
            point_delete("DELETE FROM \"sbtest.sbtest1\" AS \"sbtest1\" WHERE id = ?1"),
            point("sbtest.sbtest1", "id", Param(1)),
            "what the MySQL front end sends for sysbench's oltp_delete"
        );
        assert_eq!(
            point_delete("DELETE FROM \"sbtest.sbtest1\" WHERE id = ?"),
            point("sbtest.sbtest1", "id", Param(1))
        );
        assert_eq!(
            point_delete("delete from t where id=42;"),
            point("t", "id", Integer(42))
        );
        assert_eq!(
            point_delete("  DELETE\nFROM `a``b` WHERE [my id] = ?3"),
            point("a`b", "my id", Param(3))
        );
        assert_eq!(
            point_delete("DELETE FROM \"q\"\"t\" WHERE \"id\" = - 7"),
            point("q\"t", "id", Integer(-7))
        );
        assert_eq!(
            point_delete("DELETE FROM t WHERE id = -9223372036854775808"),
            None,
            "9223372036854775808 is not a 64-bit integer (SQLite reads it as a real)"
        );
    }

    /// Anything that is not exactly a single-table DELETE on one equality reads more than one
    /// row (or may), and is not recognised.
    #[test]
    fn other_statements_are_not_recognised() {
        for sql in [
            "DELETE FROM t",
            "DELETE FROM t WHERE id = 1 OR id = 2",
            "DELETE FROM t WHERE id = 1 AND v = 2",
            "DELETE FROM t WHERE id > 1",
            "DELETE FROM t WHERE id = 1 LIMIT 1",
            "DELETE FROM t WHERE id = 1 RETURNING *",
            "DELETE FROM t WHERE id = (SELECT 1)",
            "DELETE FROM t WHERE id = 1.0",
            "DELETE FROM t WHERE id = 0x10",
            "DELETE FROM t WHERE id = '1'",
            "DELETE FROM t WHERE id = :id",
            "DELETE FROM t WHERE id = 1 -- comment",
            "DELETE FROM t WHERE id = 1 /* comment */",
            "DELETE FROM t WHERE id = 1; DELETE FROM u",
            "DELETE FROM main.t WHERE id = 1",
            "DELETE FROM t WHERE t.id = 1",
            "DELETE FROM t AS a WHERE a.id = 1",
            "DELETE FROM t AS WHERE id = 1",
            "DELETE FROM t a WHERE id = 1",
            "DELETE FROM t WHERE 1 = id",
            "DELETE FROM t WHERE id = id",
            "DELETE FROM t WHERE id = 99999999999999999999",
            "DELETE FROM t INDEXED BY i WHERE id = 1",
            "DELETE FROM \"t WHERE id = 1",
            "UPDATE t SET v = 1 WHERE id = 1",
            "SELECT * FROM t WHERE id = 1",
            "WITH x AS (SELECT 1) DELETE FROM t WHERE id = 1",
            "",
            "DELETE",
        ] {
            assert_eq!(point_delete(sql), None, "{sql}");
        }
    }

    /// The rowid comes from an integer literal or an integer parameter; a parameter of any
    /// other type (which SQLite might convert), or values that do not match the statement's
    /// parameters (an error when it runs), give none.
    #[test]
    fn the_rowid_is_an_integer_or_nothing() {
        let p = point_delete("DELETE FROM t WHERE id = ?2").unwrap();
        assert_eq!(
            p.rowid(&[Value::Integer(1), Value::Integer(7)]),
            Some(7),
            "?2 is the second parameter"
        );
        assert_eq!(p.rowid(&[Value::Integer(1)]), None, "too few values");
        let three = [Value::Integer(1), Value::Integer(7), Value::Integer(9)];
        assert_eq!(p.rowid(&three), None, "too many values");
        assert_eq!(p.rowid(&[Value::Null, Value::Text("7".into())]), None);
        assert_eq!(p.rowid(&[Value::Null, Value::Real(7.0)]), None);
        let p = point_delete("DELETE FROM t WHERE id = ?0").unwrap();
        assert_eq!(p.rowid(&[Value::Integer(1)]), None, "?0 names no parameter");
        let p = point_delete("DELETE FROM t WHERE id = 4").unwrap();
        assert_eq!(p.rowid(&[]), Some(4));
        assert_eq!(
            p.rowid(&[Value::Integer(4)]),
            None,
            "a value for no parameter"
        );
    }

    /// A touched set answers "maybe" for every row it was given and "no" for others, per
    /// table, case-insensitively; past its size limit it answers "maybe" for every row.
    #[test]
    fn touched_rows_are_found_by_table_and_rowid() {
        let mut t = Touched::default();
        t.add("Sbtest1", &[5, 3, 5]);
        t.add("sbtest2", &[9]);
        t.add("sbtest1", &[1]);
        assert!(t.contains("sbtest1", 5) && t.contains("sbtest1", 3) && t.contains("sbtest1", 1));
        assert!(t.contains("sbtest2", 9));
        assert!(!t.contains("sbtest1", 9) && !t.contains("sbtest2", 5) && !t.contains("t", 5));
        let many: Vec<i64> = (0..=TOUCHED_ROWS_MAX as i64).collect();
        t.add("big", &many);
        assert!(t.contains("other", -1), "past the limit, every row");
    }
}
