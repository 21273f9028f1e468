//! `ALTER TABLE` changes SQLite's ALTER TABLE cannot make (`ADD FOREIGN KEY`, `ADD CHECK`,
//! `DROP FOREIGN KEY`, `DROP CHECK` / `DROP CONSTRAINT`, `MODIFY`, `CHANGE`,
//! `ALTER COLUMN ... SET / DROP DEFAULT`), made by editing the table's stored CREATE TABLE
//! text.
//!
//! The translation computes the new text from the current one and writes
//! `ALTER TABLE "d.t" REDEFINE FROM '<current>' TO '<new>'`, which the store runs (see its
//! `redefine.rs`): it refuses the change unless the current text is still the one given
//! and the rows on disk mean the same under the new one, checks the existing rows, and
//! rebuilds the table's indexes when a column's collation changes. This module only edits
//! text.

use std::ops::Range;

use crate::SqlError;
use crate::names;

/// The statement the store runs to replace table `table`'s CREATE TABLE text `from` by `to`.
pub(crate) fn statement(table: &str, from: &str, to: &str) -> String {
    format!(
        "ALTER TABLE {} REDEFINE FROM {} TO {}",
        names::quote(table),
        names::literal(from),
        names::literal(to)
    )
}

/// What the text of statement `sql` becomes once SQLite has run `statements` (ALTER TABLE
/// ADD / DROP / RENAME COLUMN) on it, found by running them on a scratch copy of the table.
/// The store refuses the edit that follows if the guess is wrong: a wrong guess fails the
/// ALTER TABLE (on every retry, if SQLite wrote something else), never loses data.
pub(crate) fn after(table: &str, sql: &str, statements: &[String]) -> Result<String, SqlError> {
    let conn = rusqlite::Connection::open_in_memory()?;
    // What the table's CHECKs and defaults may call.
    crate::register_functions(&conn, crate::functions::SessionState::new())?;
    conn.execute_batch(sql)?;
    for s in statements {
        conn.execute_batch(s)?;
    }
    Ok(conn.query_row(
        "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get(0),
    )?)
}

/// A token of SQLite DDL text with where it is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A bare word or number.
    Word(String),
    /// A quoted identifier (`"x"`, `` `x` ``, `[x]`), unquoted.
    Quoted(String),
    /// A string literal.
    Str,
    Open,
    Close,
    Comma,
    Other,
}

/// The tokens of `sql` with their byte ranges; comments are skipped.
pub(crate) fn tokens(sql: &str) -> Vec<(Tok, Range<usize>)> {
    let b = sql.as_bytes();
    let mut v = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let c = b[i];
        let tok = match c {
            b'\'' | b'"' | b'`' | b'[' => {
                let close = if c == b'[' { b']' } else { c };
                let mut j = i + 1;
                let mut s = Vec::new();
                while j < b.len() {
                    if b[j] == close {
                        if close != b']' && b.get(j + 1) == Some(&close) {
                            s.push(close);
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    s.push(b[j]);
                    j += 1;
                }
                i = (j + 1).min(b.len());
                if c == b'\'' {
                    Tok::Str
                } else {
                    Tok::Quoted(String::from_utf8_lossy(&s).into_owned())
                }
            }
            b'(' => {
                i += 1;
                Tok::Open
            }
            b')' => {
                i += 1;
                Tok::Close
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i = (i + 2).min(b.len());
                continue;
            }
            c if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            // A number with an exponent and its sign (`1.5e-3`) is one word.
            c if c.is_ascii_digit() => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_')
                {
                    if (b[i] == b'e' || b[i] == b'E')
                        && matches!(b.get(i + 1), Some(b'+' | b'-'))
                        && b.get(i + 2).is_some_and(u8::is_ascii_digit)
                    {
                        i += 2;
                    }
                    i += 1;
                }
                Tok::Word(sql[start..i].to_string())
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c >= 0x80 => {
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] == b'.'
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
                Tok::Word(sql[start..i].to_string())
            }
            _ => {
                i += 1;
                Tok::Other
            }
        };
        v.push((tok, start..i));
    }
    v
}

/// A constraint name quorate writes itself (type markers, strict-mode CHECKs).
fn internal_name(n: &str) -> bool {
    crate::ddl::internal_check(n)
        || n.starts_with(crate::ddl::TYPE_MARKER_PREFIX)
        || n == crate::ddl::ON_UPDATE_MARKER
}

fn is_kw(t: &Tok, kw: &str) -> bool {
    matches!(t, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
}

/// Words that begin a column constraint (where a REFERENCES clause ends).
const CONSTRAINT_STARTS: &[&str] = &[
    "CONSTRAINT",
    "PRIMARY",
    "NOT",
    "NULL",
    "UNIQUE",
    "CHECK",
    "DEFAULT",
    "COLLATE",
    "REFERENCES",
    "GENERATED",
    "AS",
];

/// The index just past the parenthesised group opening at `open` (or `open + 1`).
fn group_end(t: &[(Tok, Range<usize>)], open: usize) -> usize {
    let mut end = open;
    let mut depth = 0;
    while let Some((x, _)) = t.get(end) {
        match x {
            Tok::Open => depth += 1,
            Tok::Close => depth -= 1,
            _ => {}
        }
        end += 1;
        if depth <= 0 {
            break;
        }
    }
    end
}

/// A CREATE TABLE text cut into the items of its column list.
pub(crate) struct Table {
    pub text: String,
    /// Each item's byte range, trimmed.
    pub items: Vec<Range<usize>>,
    /// Where the list's closing parenthesis is.
    close: usize,
}

/// An item of the column list: a column or a table constraint.
pub(crate) struct Item<'a> {
    pub text: &'a str,
    pub tokens: Vec<(Tok, Range<usize>)>,
}

impl Item<'_> {
    /// The column's name, `None` for a table constraint.
    pub(crate) fn column(&self) -> Option<&str> {
        let first = &self.tokens.first()?.0;
        if ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"]
            .iter()
            .any(|k| is_kw(first, k))
        {
            return None;
        }
        match first {
            Tok::Word(w) | Tok::Quoted(w) => Some(w),
            _ => None,
        }
    }

    /// For a table-level FOREIGN KEY: `Some(its CONSTRAINT name, if any)`.
    pub(crate) fn foreign_key(&self) -> Option<Option<&str>> {
        let t = &self.tokens;
        match t.first().map(|x| &x.0) {
            Some(f) if is_kw(f, "FOREIGN") => Some(None),
            Some(c) if is_kw(c, "CONSTRAINT") => match (t.get(1), t.get(2)) {
                (Some((Tok::Word(n) | Tok::Quoted(n), _)), Some((f, _))) if is_kw(f, "FOREIGN") => {
                    Some(Some(n))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether the item has bare word `kw`.
    pub(crate) fn has(&self, kw: &str) -> bool {
        self.tokens.iter().any(|(t, _)| is_kw(t, kw))
    }

    /// Whether a `COLLATE <collation>` clause names `collation`.
    pub(crate) fn collates(&self, collation: &str) -> bool {
        self.tokens
            .windows(2)
            .any(|w| is_kw(&w[0].0, "COLLATE") && is_kw(&w[1].0, collation))
    }

    /// The item's text without its `DEFAULT ...` clause, and with `DEFAULT <default>`
    /// added when `default` is given.
    pub(crate) fn with_default(&self, default: Option<&str>) -> String {
        let t = &self.tokens;
        let mut out = self.text.to_string();
        if let Some(at) = t.iter().position(|(x, _)| is_kw(x, "DEFAULT")) {
            let mut end = at + 1;
            // A sign, then one token, or a parenthesised expression.
            if matches!(t.get(end), Some((Tok::Other, r)) if matches!(&self.text[r.clone()], "-" | "+"))
            {
                end += 1;
            }
            if matches!(t.get(end), Some((Tok::Open, _))) {
                end = group_end(t, end);
            } else {
                // `X'ab'` is a word and a string.
                if matches!(t.get(end), Some((Tok::Word(w), _)) if w.eq_ignore_ascii_case("x"))
                    && matches!(t.get(end + 1), Some((Tok::Str, _)))
                {
                    end += 1;
                }
                end += 1;
            }
            // From the end of the token before DEFAULT: its space goes too.
            let from = if at > 0 {
                t[at - 1].1.end
            } else {
                t[at].1.start
            };
            let to = t.get(end - 1).map_or(self.text.len(), |x| x.1.end);
            out.replace_range(from..to, "");
        }
        if let Some(d) = default {
            out.push_str(" DEFAULT ");
            out.push_str(d);
        }
        out
    }

    /// Where quorate's own named constraints begin in the item (its end if it has none):
    /// a constraint without a name must come before them, or SQLite gives it the name of
    /// the last one before it.
    pub(crate) fn internal_start(&self) -> usize {
        self.tokens
            .windows(2)
            .find(|w| {
                is_kw(&w[0].0, "CONSTRAINT")
                    && matches!(&w[1].0, Tok::Quoted(n) | Tok::Word(n) if internal_name(n))
            })
            .map_or(self.text.len(), |w| w[0].1.start)
    }

    /// The user's CHECK clauses of a column (those without one of quorate's constraint
    /// names) and its REFERENCES clause, as text: what MySQL keeps when the column is
    /// modified, since it holds them as table constraints.
    pub(crate) fn kept_constraints(&self) -> Vec<String> {
        let t = &self.tokens;
        let mut out = Vec::new();
        let mut i = 0;
        while i < t.len() {
            let named = is_kw(&t[i].0, "CONSTRAINT");
            let (start, head) = if named { (i, i + 2) } else { (i, i) };
            let Some((kw, _)) = t.get(head) else {
                break;
            };
            let internal =
                named && matches!(&t[i + 1].0, Tok::Quoted(n) | Tok::Word(n) if internal_name(n));
            let end = if is_kw(kw, "CHECK") {
                group_end(t, head + 1)
            } else if is_kw(kw, "REFERENCES") {
                // The table, its column list, then ON DELETE / ON UPDATE / MATCH /
                // DEFERRABLE up to the next column constraint.
                let mut e = head + 2;
                if matches!(t.get(e), Some((Tok::Open, _))) {
                    e = group_end(t, e);
                }
                while let Some((x, _)) = t.get(e) {
                    if CONSTRAINT_STARTS.iter().any(|k| is_kw(x, k)) {
                        break;
                    }
                    e = if matches!(x, Tok::Open) {
                        group_end(t, e)
                    } else {
                        e + 1
                    };
                }
                e
            } else {
                i += 1;
                continue;
            };
            if !internal {
                let to = t[end - 1].1.end;
                out.push(self.text[t[start].1.start..to].to_string());
            }
            i = end;
        }
        out
    }
}

impl Table {
    /// Cuts `text`, a CREATE TABLE statement, into its items.
    pub(crate) fn parse(text: &str) -> Result<Table, SqlError> {
        let toks = tokens(text);
        let mut items = Vec::new();
        let mut depth = 0;
        // The first token of the item being read, and the end of its last one.
        let mut first: Option<usize> = None;
        let mut last_end = 0;
        for (t, r) in &toks {
            match t {
                Tok::Open if depth == 0 => {
                    depth = 1;
                    continue;
                }
                Tok::Open => depth += 1,
                Tok::Close if depth == 1 => {
                    items.extend(first.take().map(|f| f..last_end));
                    return Ok(Table {
                        text: text.to_string(),
                        items,
                        close: r.start,
                    });
                }
                Tok::Close => depth -= 1,
                Tok::Comma if depth == 1 => {
                    items.extend(first.take().map(|f| f..last_end));
                    continue;
                }
                _ => {}
            }
            if depth >= 1 {
                first.get_or_insert(r.start);
                last_end = r.end;
            }
        }
        Err(SqlError::Sqlite(
            "the table's stored definition could not be read".into(),
        ))
    }

    pub(crate) fn item(&self, i: usize) -> Item<'_> {
        let text = &self.text[self.items[i].clone()];
        Item {
            text,
            tokens: tokens(text),
        }
    }

    /// The index of column `name` (compared as MySQL compares column names).
    pub(crate) fn column(&self, name: &str) -> Option<usize> {
        (0..self.items.len()).find(|&i| {
            self.item(i)
                .column()
                .is_some_and(|c| c.eq_ignore_ascii_case(name))
        })
    }

    /// The table-level FOREIGN KEY named `name` (compared as MySQL compares names).
    pub(crate) fn constraint(&self, name: &str) -> Option<usize> {
        (0..self.items.len()).find(|&i| {
            let it = self.item(i);
            let t = &it.tokens;
            it.column().is_none()
                && matches!((t.first(), t.get(1), t.get(2)),
                    (Some((Tok::Word(c), _)), Some((Tok::Word(n) | Tok::Quoted(n), _)), Some((k, _)))
                        if c.eq_ignore_ascii_case("CONSTRAINT") && n.eq_ignore_ascii_case(name)
                            && is_kw(k, "FOREIGN"))
        })
    }

    /// The user's CHECK clauses (not quorate's own), in the order `catalog::named_checks`
    /// lists them: item, token range of the clause within the item (from CONSTRAINT when
    /// named, else from CHECK), and whether it is named.
    fn user_checks(&self) -> Vec<(usize, Range<usize>, bool)> {
        let mut out = Vec::new();
        for i in 0..self.items.len() {
            let it = self.item(i);
            let t = &it.tokens;
            let mut k = 0;
            while k < t.len() {
                if !is_kw(&t[k].0, "CHECK") {
                    k += 1;
                    continue;
                }
                let named = k >= 2 && is_kw(&t[k - 2].0, "CONSTRAINT");
                let end = group_end(t, k + 1);
                // As `catalog::scan_table_checks` decides: quorate's names are quoted.
                let internal =
                    named && matches!(&t[k - 1].0, Tok::Quoted(n) if crate::ddl::internal_check(n));
                if !internal {
                    let start = if named { k - 2 } else { k };
                    let base = self.items[i].start;
                    out.push((i, base + t[start].1.start..base + t[end - 1].1.end, named));
                }
                k = end;
            }
        }
        out
    }

    /// The text with every unnamed CHECK of the user named as MySQL names it now
    /// (`<mysql_table>_chk_<n>`), so that the names stay when another check goes.
    pub(crate) fn checks_named(&self, mysql_table: &str) -> String {
        let names = crate::catalog::named_checks(&self.text, mysql_table);
        let mut s = self.text.clone();
        // Last first, so that the ranges before stay valid.
        for ((_, r, named), (name, _)) in self.user_checks().into_iter().zip(names).rev() {
            if !named {
                s.insert_str(
                    r.start,
                    &format!("CONSTRAINT {} ", crate::names::quote(&name)),
                );
            }
        }
        s
    }

    /// The CHECK MySQL calls `name` (its declared name, or the `<mysql_table>_chk_<n>` that
    /// `catalog::named_checks` gives it): the text without it, the other unnamed ones named
    /// as they are now; `None` if there is no such check.
    pub(crate) fn without_check(&self, name: &str, mysql_table: &str) -> Option<String> {
        let names = crate::catalog::named_checks(&self.text, mysql_table);
        let at = names
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))?;
        let named = Table::parse(&self.checks_named(mysql_table)).ok()?;
        let (item, r, _) = named.user_checks().into_iter().nth(at)?;
        if named.item(item).column().is_none() {
            return Some(named.removed(item));
        }
        // From the end of what comes before it: its space goes too.
        let before = named.text[..r.start].trim_end().len();
        let mut s = named.text.clone();
        s.replace_range(before..r.end, "");
        Some(s)
    }

    /// The text with item `i` replaced by `with`.
    pub(crate) fn replaced(&self, i: usize, with: &str) -> String {
        let mut s = self.text.clone();
        s.replace_range(self.items[i].clone(), with);
        s
    }

    /// The text without item `i`.
    pub(crate) fn removed(&self, i: usize) -> String {
        let mut s = self.text.clone();
        let r = if i > 0 {
            self.items[i - 1].end..self.items[i].end
        } else if self.items.len() > 1 {
            self.items[0].start..self.items[1].start
        } else {
            self.items[0].clone()
        };
        s.replace_range(r, "");
        s
    }

    /// The text with `item` added at the end of the list.
    pub(crate) fn appended(&self, item: &str) -> String {
        let end = self.items.last().map_or(self.close, |r| r.end);
        let mut s = self.text.clone();
        s.insert_str(end, &format!(",\n  {item}"));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "CREATE TABLE \"d.t\" (\n  \"id\" INTEGER NOT NULL PRIMARY KEY, -- note\n  \"a,b\" VARCHAR(10) DEFAULT 'x,(y' COLLATE NOCASE CHECK (\"a,b\" <> ')'),\n  \"n\" INT DEFAULT -5 CONSTRAINT \"c\" CHECK (n > -10) REFERENCES \"d.p\" (\"id\"),\n  CONSTRAINT \"f\" FOREIGN KEY (\"n\") REFERENCES \"d.p\" (\"id\")\n)";

    /// Items are cut at the commas of the column list only (not inside quotes, literals,
    /// parentheses or comments), and edits keep everything else byte for byte.
    #[test]
    fn cuts_and_edits_the_column_list() {
        let t = Table::parse(T).unwrap();
        assert_eq!(t.items.len(), 4);
        assert_eq!(t.item(1).column(), Some("a,b"));
        assert_eq!(t.column("A,B"), Some(1));
        assert_eq!(t.item(3).column(), None);
        assert_eq!(t.item(3).foreign_key(), Some(Some("f")));
        assert_eq!(t.item(2).foreign_key(), None);
        assert!(t.item(1).collates("nocase"));
        assert_eq!(
            t.removed(3),
            T.replace(
                ",\n  CONSTRAINT \"f\" FOREIGN KEY (\"n\") REFERENCES \"d.p\" (\"id\")",
                ""
            )
        );
        assert_eq!(
            t.removed(0),
            T.replace("\"id\" INTEGER NOT NULL PRIMARY KEY, -- note\n  ", "")
        );
        assert_eq!(
            t.appended("CHECK (1)"),
            T.replace("(\"id\")\n)", "(\"id\"),\n  CHECK (1)\n)")
        );
        assert_eq!(
            t.replaced(2, "\"n\" INT"),
            T.replace(&T[t.items[2].clone()], "\"n\" INT")
        );
    }

    /// A DEFAULT clause of every form the translation writes is found and replaced.
    #[test]
    fn replaces_defaults() {
        let t = Table::parse(T).unwrap();
        assert_eq!(
            t.item(1).with_default(Some("'z'")),
            "\"a,b\" VARCHAR(10) COLLATE NOCASE CHECK (\"a,b\" <> ')') DEFAULT 'z'"
        );
        assert_eq!(
            t.item(2).with_default(None),
            "\"n\" INT CONSTRAINT \"c\" CHECK (n > -10) REFERENCES \"d.p\" (\"id\")"
        );
        for (col, rest) in [
            ("c INT DEFAULT (1 + 2) NOT NULL", "c INT NOT NULL"),
            ("c BLOB DEFAULT X'00' NOT NULL", "c BLOB NOT NULL"),
            ("c DATETIME DEFAULT CURRENT_TIMESTAMP", "c DATETIME"),
            ("c INT", "c INT"),
        ] {
            let t = Table::parse(&format!("CREATE TABLE x ({col})")).unwrap();
            assert_eq!(t.item(0).with_default(None), rest);
        }
    }

    /// A modified column keeps the user's CHECK and REFERENCES clauses, not quorate's own
    /// named constraints.
    #[test]
    fn keeps_the_users_constraints() {
        let t = Table::parse(T).unwrap();
        assert_eq!(
            t.item(2).kept_constraints(),
            vec![
                "CONSTRAINT \"c\" CHECK (n > -10)".to_string(),
                "REFERENCES \"d.p\" (\"id\")".to_string()
            ]
        );
        let internal = format!(
            "CREATE TABLE x (c TEXT CONSTRAINT \"{}c\" CHECK (length(c) <= 3) CONSTRAINT \"{}varchar(3)\" NULL CHECK (c <> ''))",
            crate::ddl::LENGTH_CHECK_PREFIX,
            crate::ddl::TYPE_MARKER_PREFIX
        );
        let t = Table::parse(&internal).unwrap();
        assert_eq!(
            t.item(0).kept_constraints(),
            vec!["CHECK (c <> '')".to_string()]
        );
    }

    /// Unnamed CHECKs are `<table>_chk_<n>` in order, skipping numbers a declared name
    /// uses; dropping one by that name names the others as they were, so that no name
    /// moves to another check.
    #[test]
    fn checks_keep_their_names() {
        let sql = "CREATE TABLE \"d.t\" (a INT CHECK (a > 0), b INT CHECK (b > 0), \
                   CONSTRAINT \"t_chk_2\" CHECK (a < b), CHECK (a <> 5))";
        let names: Vec<String> = crate::catalog::named_checks(sql, "t")
            .into_iter()
            .map(|c| c.0)
            .collect();
        assert_eq!(names, ["t_chk_1", "t_chk_3", "t_chk_2", "t_chk_4"]);
        let t = Table::parse(sql).unwrap();
        let after = t.without_check("T_CHK_1", "t").unwrap();
        assert_eq!(
            after,
            "CREATE TABLE \"d.t\" (a INT, b INT CONSTRAINT \"t_chk_3\" CHECK (b > 0), \
             CONSTRAINT \"t_chk_2\" CHECK (a < b), CONSTRAINT \"t_chk_4\" CHECK (a <> 5))"
        );
        let names: Vec<String> = crate::catalog::named_checks(&after, "t")
            .into_iter()
            .map(|c| c.0)
            .collect();
        assert_eq!(names, ["t_chk_3", "t_chk_2", "t_chk_4"]);
        assert!(t.without_check("t_chk_9", "t").is_none());
        assert_eq!(crate::catalog::highest_check_number(sql, "t"), 4);
    }

    /// The text SQLite stores after ADD COLUMN is what `after` predicts.
    #[test]
    fn predicts_sqlites_own_edits() {
        let sql = "CREATE TABLE \"d.t\" (a INT)";
        let got = after(
            "d.t",
            sql,
            &["ALTER TABLE \"d.t\" ADD COLUMN b TEXT".into()],
        )
        .unwrap();
        assert_eq!(got, "CREATE TABLE \"d.t\" (a INT, b TEXT)");
    }
}
