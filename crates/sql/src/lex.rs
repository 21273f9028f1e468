//! The first pass over a COM_QUERY text: split it into statements and normalise the text
//! so that the parser sees plain MySQL.
//!
//! MySQL clients send bytes, not necessarily UTF-8 (a `mysqldump` of a BLOB column writes
//! the raw bytes inside a string literal). This pass therefore works on bytes and produces,
//! per statement, a UTF-8 string in which:
//! - `/*!NNNNN ... */` version comments are unwrapped (MySQL executes their content when
//!   `NNNNN` is not above its own version; we claim [`crate::MYSQL_VERSION_ID`]),
//! - `/*M!NNNNNN ... */` (MariaDB-only), `/*+ hints */`, `/* ... */`, `-- ` and `#`
//!   comments become a single space,
//! - every `?` placeholder becomes `?N` (1-based, in source order), so a rewrite that moves
//!   or repeats an expression keeps the binding order of the original statement,
//! - a string literal whose bytes are not UTF-8, or that contains a NUL byte (SQLite stops
//!   reading SQL text at NUL), becomes a hex literal `X'..'` (for non-UTF-8) or
//!   `CAST(X'..' AS TEXT)` (UTF-8 with NUL).

use crate::SqlError;

/// The highest `/*!NNNNN` version whose content is executed (MySQL 8.0.36).
const VERSION_COMMENT_MAX: u64 = 80036;

/// Longest chain of binary operators (summed over nesting levels) a statement may contain.
/// A chain such as `a OR b OR c ...` parses without recursion into a tree as deep as the
/// chain is long, and rewriting, printing and dropping that tree recurse: past this bound a
/// 2 MiB thread stack (tokio's default) could overflow in an unoptimised build.
pub const EXPRESSION_CHAIN_MAX: usize = 256;

/// One statement of a COM_QUERY text after the first pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// Normalised statement text, without the trailing `;`.
    pub text: String,
    /// Number of `?` placeholders, renumbered `?1..?params` in `text`.
    pub params: usize,
}

/// Splits `sql` into normalised statements. Empty statements (`;;`, trailing comments) are
/// dropped.
pub(crate) fn split(sql: &[u8]) -> Result<Vec<Chunk>, SqlError> {
    let mut chunks = Vec::new();
    let mut out: Vec<u8> = Vec::with_capacity(sql.len() + 8);
    let mut params = 0usize;
    // End of the version comment we are inside, if any: its closing `*/` is dropped.
    let mut in_version_comment = false;
    let mut i = 0usize;
    let n = sql.len();
    while i < n {
        let b = sql[i];
        match b {
            b'\'' | b'"' => {
                let end = string_end(sql, i)?;
                push_string_literal(&mut out, &sql[i..end]);
                i = end;
            }
            b'`' => {
                let end = backtick_end(sql, i)?;
                out.extend_from_slice(&sql[i..end]);
                i = end;
            }
            b'#' => {
                i = line_end(sql, i);
                out.push(b' ');
            }
            b'-' if sql.get(i + 1) == Some(&b'-')
                && sql
                    .get(i + 2)
                    .is_none_or(|c| c.is_ascii_whitespace() || *c < 32) =>
            {
                i = line_end(sql, i);
                out.push(b' ');
            }
            b'/' if sql.get(i + 1) == Some(&b'*') => {
                if sql.get(i + 2) == Some(&b'!') {
                    // Version comment: `/*!` then optional digits, then code.
                    let mut j = i + 3;
                    let digits_start = j;
                    while j < n && sql[j].is_ascii_digit() {
                        j += 1;
                    }
                    let version: u64 = std::str::from_utf8(&sql[digits_start..j])
                        .ok()
                        .and_then(|d| d.parse().ok())
                        .unwrap_or(0);
                    if version <= VERSION_COMMENT_MAX && !in_version_comment {
                        in_version_comment = true;
                        out.push(b' ');
                        i = j;
                    } else {
                        i = comment_end(sql, i)?;
                        out.push(b' ');
                    }
                } else {
                    i = comment_end(sql, i)?;
                    out.push(b' ');
                }
            }
            b'*' if in_version_comment && sql.get(i + 1) == Some(&b'/') => {
                in_version_comment = false;
                out.push(b' ');
                i += 2;
            }
            b'?' if sql.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                // Already numbered (`?N` is not MySQL syntax; our own shapes use it).
                let mut j = i + 1;
                let mut n = 0usize;
                while j < n_len(sql) && sql[j].is_ascii_digit() {
                    n = n
                        .saturating_mul(10)
                        .saturating_add((sql[j] - b'0') as usize);
                    j += 1;
                }
                params = params.max(n);
                out.extend_from_slice(&sql[i..j]);
                i = j;
            }
            b'?' => {
                params += 1;
                out.push(b'?');
                out.extend_from_slice(params.to_string().as_bytes());
                i += 1;
            }
            b';' => {
                finish(&mut chunks, &mut out, &mut params)?;
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    finish(&mut chunks, &mut out, &mut params)?;
    Ok(chunks)
}

/// An upper estimate of the depth of the expression trees of a statement: binary operators
/// are counted per nesting level since the last comma of that level, and the counts of the
/// enclosing levels are added.
fn expression_chain(text: &str) -> usize {
    let b = text.as_bytes();
    let mut levels: Vec<usize> = vec![0];
    let mut max = 0;
    let mut i = 0;
    let mut prev_op = false;
    while i < b.len() {
        let c = b[i];
        let mut op = false;
        match c {
            b'\'' | b'"' | b'`' => {
                i = if c == b'`' {
                    backtick_end(b, i)
                } else {
                    string_end(b, i)
                }
                .unwrap_or(b.len());
                prev_op = false;
                continue;
            }
            b'(' => levels.push(0),
            b')' if levels.len() > 1 => {
                levels.pop();
            }
            b',' => {
                if let Some(l) = levels.last_mut() {
                    *l = 0;
                }
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'=' | b'<' | b'>' | b'!' | b'|' | b'&' | b'^' => {
                op = true
            }
            c if c.is_ascii_alphabetic() => {
                let s = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let w = &text[s..i];
                if ["AND", "OR", "XOR", "DIV", "MOD", "LIKE", "IS", "REGEXP"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k))
                {
                    if let Some(l) = levels.last_mut() {
                        *l += 1;
                    }
                    max = max.max(levels.iter().sum());
                }
                prev_op = false;
                continue;
            }
            _ => {}
        }
        if op && !prev_op {
            if let Some(l) = levels.last_mut() {
                *l += 1;
            }
            max = max.max(levels.iter().sum());
        }
        prev_op = op;
        i += 1;
    }
    max
}

fn n_len(s: &[u8]) -> usize {
    s.len()
}

fn finish(chunks: &mut Vec<Chunk>, out: &mut Vec<u8>, params: &mut usize) -> Result<(), SqlError> {
    let bytes = std::mem::take(out);
    let count = std::mem::take(params);
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(());
    }
    // Outside string literals (rewritten to hex when needed) non-UTF-8 bytes can only be in
    // identifiers or stray text, which MySQL would reject as well.
    let text = String::from_utf8(bytes).map_err(|_| SqlError::Syntax {
        message: "statement text outside string literals is not valid UTF-8".into(),
    })?;
    let depth = expression_chain(&text);
    if depth > EXPRESSION_CHAIN_MAX {
        return Err(SqlError::TooComplex {
            operators: depth,
            max: EXPRESSION_CHAIN_MAX,
        });
    }
    chunks.push(Chunk {
        text: text.trim().to_string(),
        params: count,
    });
    Ok(())
}

fn line_end(sql: &[u8], mut i: usize) -> usize {
    while i < sql.len() && sql[i] != b'\n' {
        i += 1;
    }
    i
}

fn comment_end(sql: &[u8], start: usize) -> Result<usize, SqlError> {
    let mut i = start + 2;
    while i + 1 < sql.len() {
        if sql[i] == b'*' && sql[i + 1] == b'/' {
            return Ok(i + 2);
        }
        i += 1;
    }
    Err(SqlError::Syntax {
        message: "unterminated /* comment".into(),
    })
}

/// End (exclusive) of the quoted string starting at `start` (MySQL rules: backslash escapes
/// and doubled quotes).
fn string_end(sql: &[u8], start: usize) -> Result<usize, SqlError> {
    let q = sql[start];
    let mut i = start + 1;
    while i < sql.len() {
        let b = sql[i];
        if b == b'\\' {
            i += 2;
        } else if b == q {
            if sql.get(i + 1) == Some(&q) {
                i += 2;
            } else {
                return Ok(i + 1);
            }
        } else {
            i += 1;
        }
    }
    Err(SqlError::Syntax {
        message: "unterminated string literal".into(),
    })
}

fn backtick_end(sql: &[u8], start: usize) -> Result<usize, SqlError> {
    let mut i = start + 1;
    while i < sql.len() {
        if sql[i] == b'`' {
            if sql.get(i + 1) == Some(&b'`') {
                i += 2;
            } else {
                return Ok(i + 1);
            }
        } else {
            i += 1;
        }
    }
    Err(SqlError::Syntax {
        message: "unterminated `identifier`".into(),
    })
}

/// The value of a MySQL string literal (quotes included in `lit`), escapes resolved.
pub(crate) fn unescape(lit: &[u8]) -> Vec<u8> {
    let q = lit[0];
    let body = &lit[1..lit.len() - 1];
    let mut v = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b == b'\\' && i + 1 < body.len() {
            let e = body[i + 1];
            match e {
                b'0' => v.push(0),
                b'n' => v.push(b'\n'),
                b'r' => v.push(b'\r'),
                b't' => v.push(b'\t'),
                b'b' => v.push(8),
                b'Z' => v.push(26),
                // MySQL keeps the backslash before % and _ so that LIKE patterns work.
                b'%' | b'_' => v.extend_from_slice(&[b'\\', e]),
                other => v.push(other),
            }
            i += 2;
        } else if b == q && body.get(i + 1) == Some(&q) {
            v.push(q);
            i += 2;
        } else {
            v.push(b);
            i += 1;
        }
    }
    v
}

fn push_string_literal(out: &mut Vec<u8>, lit: &[u8]) {
    let plain = lit.iter().all(|&b| b != 0 && b < 0x80) && !lit.windows(2).any(|w| w == b"\\0");
    if plain {
        out.extend_from_slice(lit);
        return;
    }
    let value = unescape(lit);
    match std::str::from_utf8(&value) {
        Ok(s) if !s.contains('\0') => out.extend_from_slice(lit),
        Ok(_) => {
            out.extend_from_slice(b"CAST(");
            push_hex(out, &value);
            out.extend_from_slice(b" AS TEXT)");
        }
        Err(_) => push_hex(out, &value),
    }
}

fn push_hex(out: &mut Vec<u8>, value: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.extend_from_slice(b"X'");
    for &b in value {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
    out.push(b'\'');
}

/// A token of a normalised statement, for the hand-written parsers of administrative
/// statements (SHOW, SET, USE, GRANT, ...).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Unquoted word (keyword or identifier), as written.
    Word(String),
    /// Backtick-quoted identifier, unescaped.
    Quoted(String),
    /// String literal, unescaped (lossy for non-UTF-8, which cannot occur after [`split`]).
    Str(String),
    /// Number as written.
    Num(String),
    /// `@name` user variable (name without `@`).
    UserVar(String),
    /// `@@[scope.]name` system variable, as written without `@@`.
    SysVar(String),
    /// `?N` placeholder.
    Param(usize),
    /// Any other punctuation or operator.
    Punct(String),
}

impl Tok {
    /// True when this is the unquoted word `kw` (case-insensitive).
    pub fn is(&self, kw: &str) -> bool {
        matches!(self, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }
    /// True when this is the punctuation `p`.
    pub fn is_punct(&self, p: &str) -> bool {
        matches!(self, Tok::Punct(x) if x == p)
    }
    /// The name of an identifier token (quoted or not), or of a string (MySQL accepts
    /// `'user'@'host'` and, in many places, quoted names).
    pub fn name(&self) -> Option<&str> {
        match self {
            Tok::Word(w) | Tok::Quoted(w) | Tok::Str(w) => Some(w),
            _ => None,
        }
    }
}

/// A token and its byte range in the normalised text.
#[derive(Debug, Clone)]
pub(crate) struct Spanned {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

/// Tokenizes a normalised statement (comments already removed by [`split`]).
pub(crate) fn tokens(text: &str) -> Result<Vec<Spanned>, SqlError> {
    let s = text.as_bytes();
    let mut v = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        let start = i;
        let tok = if b.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if b == b'\'' || b == b'"' {
            let end = string_end(s, i)?;
            i = end;
            Tok::Str(String::from_utf8_lossy(&unescape(&s[start..end])).into_owned())
        } else if b == b'`' {
            let end = backtick_end(s, i)?;
            i = end;
            Tok::Quoted(text[start + 1..end - 1].replace("``", "`"))
        } else if b == b'@' {
            let sys = s.get(i + 1) == Some(&b'@');
            i += if sys { 2 } else { 1 };
            if s.get(i)
                .is_some_and(|c| *c == b'\'' || *c == b'"' || *c == b'`')
            {
                let end = if s[i] == b'`' {
                    backtick_end(s, i)?
                } else {
                    string_end(s, i)?
                };
                let name = String::from_utf8_lossy(&unescape(&s[i..end])).into_owned();
                i = end;
                if sys {
                    Tok::SysVar(name)
                } else {
                    Tok::UserVar(name)
                }
            } else {
                let ns = i;
                while i < s.len() && (is_word_byte(s[i]) || s[i] == b'.') {
                    i += 1;
                }
                let name = text[ns..i].to_string();
                if sys {
                    Tok::SysVar(name)
                } else {
                    Tok::UserVar(name)
                }
            }
        } else if b == b'?' {
            i += 1;
            let ns = i;
            while i < s.len() && s[i].is_ascii_digit() {
                i += 1;
            }
            Tok::Param(text[ns..i].parse().unwrap_or(0))
        } else if b.is_ascii_digit() {
            while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'.') {
                i += 1;
            }
            Tok::Num(text[start..i].to_string())
        } else if is_word_byte(b) {
            while i < s.len() && is_word_byte(s[i]) {
                i += 1;
            }
            Tok::Word(text[start..i].to_string())
        } else {
            let two = s.get(i..i + 2);
            let len = match two {
                Some(b":=") | Some(b"<=") | Some(b">=") | Some(b"<>") | Some(b"!=") => 2,
                _ => 1,
            };
            // Multi-byte UTF-8 punctuation cannot occur (non-ASCII bytes are word bytes).
            i += len;
            Tok::Punct(text[start..i].to_string())
        };
        v.push(Spanned { tok, start, end: i });
    }
    Ok(v)
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<String> {
        split(sql.as_bytes())
            .unwrap()
            .into_iter()
            .map(|c| c.text)
            .collect()
    }

    /// Statements are split at top-level semicolons only, never inside quotes or comments.
    #[test]
    fn split_respects_quotes_and_comments() {
        assert_eq!(
            texts("SELECT ';' ; SELECT \"a;b\"; SELECT `x;y` -- c;d\n; /* e;f */ SELECT 1 # g;h"),
            vec!["SELECT ';'", "SELECT \"a;b\"", "SELECT `x;y`", "SELECT 1"]
        );
        assert!(texts(" ; ;\n-- only a comment\n").is_empty());
    }

    /// Version comments are executed (content kept), MariaDB-only and future ones dropped.
    #[test]
    fn version_comments_are_unwrapped() {
        assert_eq!(texts("/*!40101 SET NAMES utf8 */"), vec!["SET NAMES utf8"]);
        assert_eq!(
            texts("CREATE TABLE t (a INT) /*! ENGINE = innodb */"),
            vec!["CREATE TABLE t (a INT)   ENGINE = innodb"]
        );
        assert!(texts("/*M!999999\\- enable the sandbox mode */").is_empty());
        assert!(texts("/*!90000 SET x = 1 */").is_empty());
    }

    /// Placeholders are renumbered in source order; `?` inside strings is left alone.
    #[test]
    fn placeholders_are_numbered() {
        let c = split(b"SELECT ?, '?', ? FROM t WHERE a = ?").unwrap();
        assert_eq!(c[0].text, "SELECT ?1, '?', ?2 FROM t WHERE a = ?3");
        assert_eq!(c[0].params, 3);
    }

    /// String literals that SQLite could not read as text become hex literals.
    #[test]
    fn binary_and_nul_literals_become_hex() {
        let c = split(b"INSERT INTO t VALUES ('a\xff\\0b', 'x\\0y', 'caf\xc3\xa9')").unwrap();
        assert_eq!(
            c[0].text,
            "INSERT INTO t VALUES (X'61FF0062', CAST(X'780079' AS TEXT), 'caf\u{e9}')"
        );
    }

    /// The token scanner understands variables, quoted names and strings with escapes.
    #[test]
    fn tokens_cover_admin_syntax() {
        let t = tokens("SET @@session.x = 'it''s', @u := `a``b`").unwrap();
        let toks: Vec<Tok> = t.into_iter().map(|s| s.tok).collect();
        assert_eq!(
            toks,
            vec![
                Tok::Word("SET".into()),
                Tok::SysVar("session.x".into()),
                Tok::Punct("=".into()),
                Tok::Str("it's".into()),
                Tok::Punct(",".into()),
                Tok::UserVar("u".into()),
                Tok::Punct(":=".into()),
                Tok::Quoted("a`b".into()),
            ]
        );
    }
}
