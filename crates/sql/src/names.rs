//! How MySQL names map onto SQLite names.
//!
//! One SQLite database holds every MySQL database: MySQL table `t` of database `d` is the
//! SQLite table `d.t` (one identifier that contains a dot; MySQL names cannot contain one),
//! and index `i` on it is `d.t.i` (SQLite index names are global). Generated SQL always
//! double-quotes these names. Users never see the mangled form: errors and SHOW output are
//! un-mangled with the functions here.

use crate::SqlError;

/// Prefix of the tables quorate keeps for itself; user SQL can never reach them.
pub const INTERNAL_PREFIX: &str = "_quorate_";
/// The catalog of MySQL databases: `"_quorate_databases"(name TEXT PRIMARY KEY)`.
pub const DATABASES_TABLE: &str = "_quorate_databases";
/// Longest database, table, column or index name MySQL accepts.
pub const NAME_LEN_MAX: usize = 64;

/// Checks a MySQL database / table / index name (`what` names the kind for the error).
pub fn check(what: &'static str, name: &str) -> Result<(), SqlError> {
    if name.is_empty()
        || name.contains('.')
        || name.chars().count() > NAME_LEN_MAX
        || name.ends_with(' ')
        || name.contains('\0')
    {
        return Err(SqlError::BadName {
            what,
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Rejects names that would reach internal or SQLite schema tables.
pub fn check_user_db(db: &str) -> Result<(), SqlError> {
    let lower = db.to_ascii_lowercase();
    if lower.starts_with(INTERNAL_PREFIX) || lower.starts_with("sqlite_") {
        return Err(SqlError::SystemTable {
            name: db.to_string(),
        });
    }
    Ok(())
}

/// The SQLite name of table `table` in database `db` (not quoted).
pub fn table(db: &str, table: &str) -> String {
    let mut s = String::with_capacity(db.len() + table.len() + 1);
    s.push_str(db);
    s.push('.');
    s.push_str(table);
    s
}

/// The SQLite name of index `index` on table `table` of database `db` (not quoted).
pub fn index(db: &str, table: &str, index: &str) -> String {
    format!("{db}.{table}.{index}")
}

/// `name` as an SQLite double-quoted identifier.
pub fn quote(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 2);
    quote_into(&mut s, name);
    s
}

/// Appends `name` as an SQLite double-quoted identifier.
pub fn quote_into(out: &mut String, name: &str) {
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

/// `s` as an SQLite string literal.
pub fn literal(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('\'');
    for c in s.chars() {
        if c == '\'' {
            o.push('\'');
        }
        o.push(c);
    }
    o.push('\'');
    o
}

/// Splits an SQLite table name `d.t` into (database, table); `None` for internal tables.
pub fn split_sqlite_name(name: &str) -> Option<(&str, &str)> {
    let name = name.strip_prefix("main.").unwrap_or(name);
    name.split_once('.')
}

/// An SQLite table name as the user knows it: `d.t` stays `d.t` (that is also MySQL's way
/// to write a qualified name), quotes and a `main.` schema prefix are removed.
pub fn unmangle_table(name: &str) -> String {
    let n = name.trim_matches('"');
    n.strip_prefix("main.").unwrap_or(n).to_string()
}

/// An SQLite index name `d.t.i` as the user knows it: `i`.
pub fn unmangle_index(name: &str) -> String {
    let n = name.trim_matches('"');
    let n = n.strip_prefix("main.").unwrap_or(n);
    match n.splitn(3, '.').nth(2) {
        Some(i) => i.to_string(),
        None => n.to_string(),
    }
}

/// Removes SQLite-side quoting artifacts from an error message: `"d.t"` becomes `d.t` and a
/// `main.` schema prefix disappears.
pub fn unmangle_message(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(pos) = rest.find('"') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        match after.find('"') {
            Some(end) if after[..end].contains('.') => {
                out.push_str(&after[..end]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push('"');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    // Drop SQLite's schema prefix `main.` where it starts a name, not inside other words.
    let mut clean = String::with_capacity(out.len());
    let mut prev: Option<char> = None;
    let mut i = 0;
    while i < out.len() {
        let starts_name = prev.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'));
        if starts_name && out[i..].starts_with("main.") {
            i += "main.".len();
            prev = Some('.');
            continue;
        }
        let c = out[i..].chars().next().unwrap_or(' ');
        clean.push(c);
        prev = Some(c);
        i += c.len_utf8();
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mangled names round-trip to what the user wrote.
    #[test]
    fn unmangling() {
        assert_eq!(table("d", "t"), "d.t");
        assert_eq!(quote("d.t"), "\"d.t\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(unmangle_table("\"main.d.t\""), "d.t");
        assert_eq!(unmangle_index("d.t.k_1"), "k_1");
        assert_eq!(
            unmangle_message("near \"d.t\": syntax error"),
            "near d.t: syntax error"
        );
        assert_eq!(split_sqlite_name("shop.orders"), Some(("shop", "orders")));
    }

    /// Names with a dot, empty names and over-long names are refused; internal prefixes too.
    #[test]
    fn name_checks() {
        assert!(check("table", "a.b").is_err());
        assert!(check("table", "").is_err());
        assert!(check("table", &"x".repeat(65)).is_err());
        assert!(check("table", "ok_name").is_ok());
        assert!(check_user_db("_quorate_x").is_err());
        assert!(check_user_db("sqlite_master").is_err());
    }
}
