//! Date and time values as a column stores them.
//!
//! SQLite keeps whatever a statement gives it. MySQL converts each value to its column's type
//! as it stores it: `NOW()` in a DATE column loses its time, `'2024-3-5'` becomes
//! `2024-03-05`, a date in a DATETIME column gains `00:00:00`, `20240305` is a date, and a
//! value that is no date is refused (error 1292 in the default strict mode). Stored as sent,
//! such values compare, sort and format wrongly afterwards: `WHERE d = CURDATE()` misses the
//! row that `NOW()` wrote.
//!
//! Every table whose definition has DATE, DATETIME, TIMESTAMP, TIME or YEAR columns gets two
//! triggers ([`triggers`]): after an INSERT, and after an UPDATE of such a column, they
//! rewrite the row's values the way MySQL would have stored them, using the functions
//! [`register`] adds (`mysql_store_date` and the others), which fail with MySQL's error for a
//! value that is none. The triggers run where statements run, on the leader; followers apply
//! the rows they produced.
//!
//! The triggers follow the table: after each CREATE TABLE or ALTER TABLE runs, on the
//! connection that ran it, [`follow_schema_change`] reads the table as it now is and gives
//! the statements that make its triggers fit (the store runs them in the same transaction
//! and replicates them with the DDL). They are not written by the translator, whose view of
//! the schema may lag behind the leader's (a follower that has not applied the latest DDL,
//! another session's DDL not yet committed). The translator only drops them before a DROP
//! COLUMN, which SQLite refuses while a trigger names the column (`ddl.rs`).
//!
//! What MySQL accepts, as MariaDB 10.11 was seen to (the tests list the cases): a year of one
//! to four digits (two digits: 70-99 are 19xx, 00-69 are 20xx), a month and a day, separated
//! by any punctuation; then, after a space or `T`, hours with optional minutes, seconds and
//! a fraction; or the same without separators (`20240305`, `240305`, `20240305101112`), as
//! text or as a number. Zero dates and zero parts (`0000-00-00`, `2024-00-05`) are kept; an
//! impossible day (`2024-02-30`), a time past 23:59:59, a time zone suffix and trailing text
//! are refused. Fractions beyond the column's precision are cut, not rounded.

use std::fmt::Write as _;

use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Error, OptionalExtension};

use quorate_collate::parse::{
    Parts, TimeParts, parts_of_number, parts_of_text, time_of_number, time_of_text,
};

use crate::names;

/// Suffix of the trigger that stores an inserted row's dates; the table's SQLite name comes
/// first.
pub const INSERT_TRIGGER_SUFFIX: &str = " mysql_store_insert";
/// Suffix of the trigger that stores an updated row's dates.
pub const UPDATE_TRIGGER_SUFFIX: &str = " mysql_store_update";

/// A column type whose values MySQL converts on the way in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Temporal {
    /// DATE.
    Date,
    /// DATETIME(fsp).
    DateTime(u32),
    /// TIMESTAMP(fsp): a DATETIME between 1970-01-01 00:00:01 and 2038-01-19 03:14:07 UTC.
    Timestamp(u32),
    /// TIME(fsp).
    Time(u32),
    /// YEAR.
    Year,
}

impl Temporal {
    /// The kind of an SQLite declared type as `types::map_type` writes it (`DATETIME(3)`).
    pub(crate) fn of_decl(decl: &str) -> Option<Temporal> {
        let upper = decl.trim().to_ascii_uppercase();
        let (base, fsp) = match upper.split_once('(') {
            Some((b, rest)) => {
                let n = rest.trim_end_matches(')').trim().parse::<u32>().ok()?;
                (b.trim(), n.min(6))
            }
            None => (upper.as_str(), 0),
        };
        Some(match base {
            "DATE" => Temporal::Date,
            "DATETIME" => Temporal::DateTime(fsp),
            "TIMESTAMP" => Temporal::Timestamp(fsp),
            "TIME" => Temporal::Time(fsp),
            "YEAR" => Temporal::Year,
            _ => return None,
        })
    }

    /// The collation a column of this type is declared with, so that SQLite compares it
    /// with strings as MySQL does (see `quorate_collate`): DATE, DATETIME and TIMESTAMP as
    /// instants, TIME as durations. YEAR is a number.
    pub(crate) fn collation(self) -> Option<&'static str> {
        match self {
            Temporal::Date | Temporal::DateTime(_) | Temporal::Timestamp(_) => {
                Some(quorate_collate::DATETIME)
            }
            Temporal::Time(_) => Some(quorate_collate::TIME),
            Temporal::Year => None,
        }
    }

    /// The SQL call that stores `value` in a column of this type named `column` (for the
    /// error message).
    fn call(self, value: &str, column: &str) -> String {
        let col = names::literal(column);
        match self {
            Temporal::Date => format!("mysql_store_date({value}, {col})"),
            Temporal::DateTime(f) => format!("mysql_store_datetime({value}, {f}, {col})"),
            Temporal::Timestamp(f) => format!("mysql_store_timestamp({value}, {f}, {col})"),
            Temporal::Time(f) => format!("mysql_store_time({value}, {f}, {col})"),
            Temporal::Year => format!("mysql_store_year({value}, {col})"),
        }
    }
}

/// The names of `sqlite_name`'s two triggers.
pub(crate) fn trigger_names(sqlite_name: &str) -> [String; 2] {
    [
        format!("{sqlite_name}{INSERT_TRIGGER_SUFFIX}"),
        format!("{sqlite_name}{UPDATE_TRIGGER_SUFFIX}"),
    ]
}

/// `DROP TRIGGER IF EXISTS` for both triggers of `sqlite_name` (the translator puts them
/// before a DROP COLUMN; [`follow_schema_change`] makes them again after it).
pub(crate) fn drop_triggers(sqlite_name: &str) -> Vec<String> {
    trigger_names(sqlite_name)
        .iter()
        .map(|n| format!("DROP TRIGGER IF EXISTS {}", names::quote(n)))
        .collect()
}

/// The triggers that store the temporal columns of table `db`.`table` (SQLite name
/// `sqlite_name`) as MySQL would; `columns` are (name, SQLite declared type) of its
/// ordinary (not generated) columns. None when it has no such column, or when every name
/// SQLite gives the rowid is taken by a column.
fn triggers(db: &str, table: &str, sqlite_name: &str, columns: &[(String, String)]) -> Vec<String> {
    let temporal: Vec<(&str, Temporal)> = columns
        .iter()
        .filter_map(|(n, d)| Temporal::of_decl(d).map(|k| (n.as_str(), k)))
        .collect();
    if temporal.is_empty() {
        return Vec::new();
    }
    let Some(rowid) = ["rowid", "_rowid_", "oid"]
        .into_iter()
        .find(|r| !columns.iter().any(|(n, _)| n.eq_ignore_ascii_case(r)))
    else {
        return Vec::new();
    };
    let table_q = names::quote(sqlite_name);
    let mut changed = Vec::with_capacity(temporal.len());
    let mut set = Vec::with_capacity(temporal.len());
    for (name, kind) in &temporal {
        let new = format!("NEW.{}", names::quote(name));
        let stored = kind.call(&new, &format!("`{db}`.`{table}`.`{name}`"));
        // As text: the column's own collation would find `2024-3-5` equal to `2024-03-05`
        // and leave the value unconverted.
        changed.push(format!("{new} IS NOT {stored} COLLATE BINARY"));
        set.push(format!("{} = {stored}", names::quote(name)));
    }
    let body = format!(
        "FOR EACH ROW WHEN {} BEGIN UPDATE {table_q} SET {} WHERE {rowid} = NEW.{rowid}; END",
        changed.join(" OR "),
        set.join(", ")
    );
    let [insert, update] = trigger_names(sqlite_name);
    let of: Vec<String> = temporal.iter().map(|(n, _)| names::quote(n)).collect();
    vec![
        format!(
            "CREATE TRIGGER {} AFTER INSERT ON {table_q} {body}",
            names::quote(&insert)
        ),
        format!(
            "CREATE TRIGGER {} AFTER UPDATE OF {} ON {table_q} {body}",
            names::quote(&update),
            of.join(", ")
        ),
    ]
}

/// The statements that make the date-storing triggers of the tables DDL statement `sql`
/// (SQLite text, as it ran) created, altered or renamed fit those tables as they are now on
/// `conn`, the connection that has just run it: the triggers that do not fit are dropped,
/// the missing ones created. Nothing when they fit already, and nothing for other
/// statements. Run them on the same connection, in the same transaction, and replicate them
/// with the statement.
pub fn follow_schema_change(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<String>> {
    let mut out = Vec::new();
    for table in changed_tables(sql) {
        out.extend(fit_triggers(conn, &table)?);
    }
    Ok(out)
}

/// The tables whose columns or name statement `sql` may have changed: the table of a CREATE
/// TABLE, the table of an ALTER TABLE and the new name it renames it to.
fn changed_tables(sql: &str) -> Vec<String> {
    let words = sql_words(sql, 8);
    let is = |i: usize, kw: &str| {
        words
            .get(i)
            .is_some_and(|(w, quoted)| !quoted && w.eq_ignore_ascii_case(kw))
    };
    let mut out = Vec::new();
    if is(0, "CREATE") && is(1, "TABLE") {
        let at = if is(2, "IF") && is(3, "NOT") && is(4, "EXISTS") {
            5
        } else {
            2
        };
        out.extend(words.get(at).map(|(w, _)| w.clone()));
    } else if is(0, "ALTER") && is(1, "TABLE") {
        out.extend(words.get(2).map(|(w, _)| w.clone()));
        if is(3, "RENAME") && is(4, "TO") {
            out.extend(words.get(5).map(|(w, _)| w.clone()));
        }
    }
    out
}

/// The first `max` words of `sql`: bare words and quoted identifiers (`"a""b"` is `a"b`),
/// each with whether it was quoted; stops at anything else.
fn sql_words(sql: &str, max: usize) -> Vec<(String, bool)> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < max {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        if b[i] == b'"' || b[i] == b'`' {
            let q = b[i];
            let mut word = Vec::new();
            i += 1;
            loop {
                match b.get(i) {
                    None => return out,
                    Some(&c) if c == q && b.get(i + 1) == Some(&q) => {
                        word.push(q);
                        i += 2;
                    }
                    Some(&c) if c == q => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        word.push(c);
                        i += 1;
                    }
                }
            }
            out.push((String::from_utf8_lossy(&word).into_owned(), true));
        } else {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80) {
                i += 1;
            }
            if i == start {
                break;
            }
            let word = &sql[start..i];
            // `main."d.t"`: the schema is not part of the table's name.
            if b.get(i) == Some(&b'.') && word.eq_ignore_ascii_case("main") {
                i += 1;
                continue;
            }
            out.push((word.to_string(), false));
        }
    }
    out
}

/// The statements that make table `sqlite_name`'s date triggers fit its columns as they are.
fn fit_triggers(conn: &Connection, named: &str) -> rusqlite::Result<Vec<String>> {
    // The table as stored: SQLite compares table names without case, and the statement may
    // spell it otherwise (`CREATE TABLE T`, then `ALTER TABLE t`). Only ordinary rowid
    // tables get triggers (they key their rewrite on the rowid).
    let stored: Option<(String, bool)> = conn
        .query_row(
            "SELECT name, type = 'table' AND NOT wr FROM pragma_table_list \
             WHERE schema = 'main' AND name = ?1 COLLATE NOCASE",
            [named],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let table_name = stored.as_ref().map_or(named, |(n, _)| n.as_str());
    let columns: Vec<(String, String)> = match &stored {
        Some((name, true)) => {
            let mut stmt = conn.prepare(
                "SELECT name, type FROM pragma_table_xinfo(?1) WHERE hidden = 0 ORDER BY cid",
            )?;
            stmt.query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        }
        _ => Vec::new(),
    };
    // Tables outside the MySQL naming (`d.t`) get none, but lose any left from a rename.
    let wanted = match names::split_sqlite_name(table_name) {
        Some((db, table)) => triggers(db, table, table_name, &columns),
        None => Vec::new(),
    };
    let mut stmt = conn.prepare(
        "SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' \
         AND tbl_name = ?1 COLLATE NOCASE ORDER BY name",
    )?;
    let existing: Vec<(String, String)> = stmt
        .query_map([table_name], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<(String, String)>>>()?
        .into_iter()
        .filter(|(n, _)| n.ends_with(INSERT_TRIGGER_SUFFIX) || n.ends_with(UPDATE_TRIGGER_SUFFIX))
        .collect();
    let mut existing_sql: Vec<&str> = existing.iter().map(|(_, s)| s.as_str()).collect();
    let mut wanted_sql: Vec<&str> = wanted.iter().map(String::as_str).collect();
    existing_sql.sort_unstable();
    wanted_sql.sort_unstable();
    if existing_sql == wanted_sql {
        return Ok(Vec::new());
    }
    let mut out: Vec<String> = existing
        .iter()
        .map(|(n, _)| format!("DROP TRIGGER {}", names::quote(n)))
        .collect();
    if !wanted.is_empty() {
        // A trigger of that name left on another table (renamed outside MySQL) would make
        // the CREATE fail.
        out.extend(
            drop_triggers(table_name)
                .into_iter()
                .filter(|d| !existing.iter().any(|(n, _)| d.ends_with(&names::quote(n)))),
        );
    }
    out.extend(wanted);
    Ok(out)
}

/// `YYYY-MM-DD`.
fn date_text(p: &Parts) -> String {
    format!("{:04}-{:02}-{:02}", p.y, p.mo, p.d)
}

/// `YYYY-MM-DD hh:mm:ss[.fraction]` with `fsp` digits of fraction.
fn datetime_text(p: &Parts, fsp: u32) -> String {
    let mut s = format!("{} {:02}:{:02}:{:02}", date_text(p), p.h, p.mi, p.s);
    push_fraction(&mut s, p.us, fsp);
    s
}

/// `[-]hh:mm:ss[.fraction]` with `fsp` digits of fraction (no sign for a zero time).
fn time_text(t: &TimeParts, fsp: u32) -> String {
    let zero = (t.h, t.mi, t.s) == (0, 0, 0) && t.us < 10u32.pow(6 - fsp.min(6));
    let mut s = format!(
        "{}{:02}:{:02}:{:02}",
        if t.negative && !zero { "-" } else { "" },
        t.h,
        t.mi,
        t.s
    );
    push_fraction(&mut s, t.us, fsp);
    s
}

/// `.` and the first `fsp` digits of `us` microseconds (cut, not rounded); nothing for 0.
fn push_fraction(s: &mut String, us: u32, fsp: u32) {
    if fsp > 0 {
        let digits = format!("{us:06}");
        let _ = write!(s, ".{}", &digits[..fsp.min(6) as usize]);
    }
}

/// The date and time a value means, for a DATE, DATETIME or TIMESTAMP column.
fn parts_of(v: ValueRef<'_>) -> Option<Parts> {
    let p = match v {
        ValueRef::Integer(n) => parts_of_number(u64::try_from(n).ok()?, 0)?,
        ValueRef::Real(f) if f >= 0.0 && f.is_finite() => {
            let us = ((f.fract() * 1e6) as u32).min(999_999);
            parts_of_number(f.trunc() as u64, us)?
        }
        ValueRef::Text(t) | ValueRef::Blob(t) => parts_of_text(std::str::from_utf8(t).ok()?)?,
        _ => return None,
    };
    p.valid().then_some(p)
}

fn time_of(v: ValueRef<'_>) -> Option<TimeParts> {
    let t = match v {
        ValueRef::Integer(n) => {
            let mut t = time_of_number(n.unsigned_abs(), 0)?;
            t.negative = n < 0;
            t
        }
        ValueRef::Real(f) if f.is_finite() => {
            let a = f.abs();
            let us = ((a.fract() * 1e6) as u32).min(999_999);
            let mut t = time_of_number(a.trunc() as u64, us)?;
            t.negative = f < 0.0;
            t
        }
        ValueRef::Text(b) | ValueRef::Blob(b) => time_of_text(std::str::from_utf8(b).ok()?)?,
        _ => return None,
    };
    t.valid().then_some(t)
}

/// Why a value cannot be stored: MySQL's message; [`crate::mysql_error`] finds its code by
/// the message's first words.
fn refuse(what: &str, v: ValueRef<'_>, column: &str) -> Error {
    let shown = match v {
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Null => "NULL".into(),
    };
    Error::UserFunctionError(
        format!("Incorrect {what} value: '{shown}' for column {column}").into(),
    )
}

/// The value a DATE / DATETIME / TIMESTAMP / TIME / YEAR column stores for `v`, or MySQL's
/// error. NULL stays NULL.
fn store(kind: Temporal, v: ValueRef<'_>, column: &str) -> rusqlite::Result<Value> {
    if matches!(v, ValueRef::Null) {
        return Ok(Value::Null);
    }
    match kind {
        Temporal::Date => parts_of(v)
            .map(|p| Value::Text(date_text(&p)))
            .ok_or_else(|| refuse("date", v, column)),
        Temporal::DateTime(fsp) => parts_of(v)
            .map(|p| Value::Text(datetime_text(&p, fsp)))
            .ok_or_else(|| refuse("datetime", v, column)),
        Temporal::Timestamp(fsp) => parts_of(v)
            .filter(|p| {
                let zero = *p == Parts::default();
                let secs = crate::functions::days_from_civil(p.y as i64, p.mo, p.d) * 86_400
                    + (p.h * 3600 + p.mi * 60 + p.s) as i64;
                zero || (p.mo > 0 && p.d > 0 && (1..=i32::MAX as i64).contains(&secs))
            })
            .map(|p| Value::Text(datetime_text(&p, fsp)))
            .ok_or_else(|| refuse("datetime", v, column)),
        Temporal::Time(fsp) => time_of(v)
            .map(|t| Value::Text(time_text(&t, fsp)))
            .ok_or_else(|| refuse("time", v, column)),
        Temporal::Year => store_year(v, column),
    }
}

fn store_year(v: ValueRef<'_>, column: &str) -> rusqlite::Result<Value> {
    let n = match v {
        ValueRef::Integer(n) => n,
        ValueRef::Real(f) if f.is_finite() => f.round() as i64,
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            let s = std::str::from_utf8(t).unwrap_or("");
            let s = s.trim_matches(|c: char| c.is_ascii_whitespace());
            match s.parse::<i64>() {
                // A two-digit '0' or '00' as text is 2000 (the number 0 is the zero year).
                Ok(0) => 2000,
                Ok(n) => n,
                Err(_) => {
                    return Err(Error::UserFunctionError(
                        format!("Incorrect integer value: '{s}' for column {column}").into(),
                    ));
                }
            }
        }
        ValueRef::Null => return Ok(Value::Null),
        ValueRef::Real(_) => -1,
    };
    let y = match n {
        0 => 0,
        1..=69 => 2000 + n,
        70..=99 => 1900 + n,
        1901..=2155 => n,
        _ => {
            return Err(Error::UserFunctionError(
                format!("Out of range value for column {column}").into(),
            ));
        }
    };
    Ok(Value::Integer(y))
}

/// Registers the functions the triggers call: `mysql_store_date(v, column)`,
/// `mysql_store_datetime(v, fsp, column)`, `mysql_store_timestamp(v, fsp, column)`,
/// `mysql_store_time(v, fsp, column)` and `mysql_store_year(v, column)`.
pub(crate) fn register(conn: &Connection) -> rusqlite::Result<()> {
    let det = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    let column = |ctx: &rusqlite::functions::Context<'_>, i: usize| -> String {
        ctx.get_raw(i)
            .as_str()
            .map(str::to_string)
            .unwrap_or_default()
    };
    let fsp = |ctx: &rusqlite::functions::Context<'_>| -> u32 {
        ctx.get_raw(1).as_i64().unwrap_or(0).clamp(0, 6) as u32
    };
    conn.create_scalar_function("mysql_store_date", 2, det, move |ctx| {
        store(Temporal::Date, ctx.get_raw(0), &column(ctx, 1))
    })?;
    conn.create_scalar_function("mysql_store_datetime", 3, det, move |ctx| {
        store(
            Temporal::DateTime(fsp(ctx)),
            ctx.get_raw(0),
            &column(ctx, 2),
        )
    })?;
    conn.create_scalar_function("mysql_store_timestamp", 3, det, move |ctx| {
        store(
            Temporal::Timestamp(fsp(ctx)),
            ctx.get_raw(0),
            &column(ctx, 2),
        )
    })?;
    conn.create_scalar_function("mysql_store_time", 3, det, move |ctx| {
        store(Temporal::Time(fsp(ctx)), ctx.get_raw(0), &column(ctx, 2))
    })?;
    conn.create_scalar_function("mysql_store_year", 2, det, move |ctx| {
        store(Temporal::Year, ctx.get_raw(0), &column(ctx, 1))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(kind: Temporal, v: Value) -> Result<Value, String> {
        let r: ValueRef<'_> = (&v).into();
        store(kind, r, "`d`.`t`.`c`").map_err(|e| e.to_string())
    }

    fn text(kind: Temporal, s: &str) -> Result<String, String> {
        match stored(kind, Value::Text(s.into()))? {
            Value::Text(t) => Ok(t),
            other => Ok(format!("{other:?}")),
        }
    }

    /// Dates and datetimes are stored as MariaDB 10.11 stored them, every case below
    /// checked against it (`INSERT` then `SELECT` of the column).
    #[test]
    fn dates_and_datetimes_as_mariadb_stores_them() {
        let dt = Temporal::DateTime(0);
        let cases: &[(&str, &str, &str)] = &[
            ("2024-03-05", "2024-03-05", "2024-03-05 00:00:00"),
            ("2024-3-5", "2024-03-05", "2024-03-05 00:00:00"),
            ("24-3-8", "2024-03-08", "2024-03-08 00:00:00"),
            ("4-3-8", "0004-03-08", "0004-03-08 00:00:00"),
            ("2024/03/08", "2024-03-08", "2024-03-08 00:00:00"),
            ("2024.03.08", "2024-03-08", "2024-03-08 00:00:00"),
            ("20240308", "2024-03-08", "2024-03-08 00:00:00"),
            ("240308", "2024-03-08", "2024-03-08 00:00:00"),
            ("2024-03-05 10:11:12", "2024-03-05", "2024-03-05 10:11:12"),
            ("2024-03-05T10:11:12", "2024-03-05", "2024-03-05 10:11:12"),
            (
                "2024-03-05 10:11:12.987",
                "2024-03-05",
                "2024-03-05 10:11:12",
            ),
            ("0000-00-00", "0000-00-00", "0000-00-00 00:00:00"),
            ("2024-00-05", "2024-00-05", "2024-00-05 00:00:00"),
            (" 2024-03-05", "2024-03-05", "2024-03-05 00:00:00"),
            ("2024-03-05 ", "2024-03-05", "2024-03-05 00:00:00"),
            ("999-01-01", "0999-01-01", "0999-01-01 00:00:00"),
            ("2024-03-05 10", "2024-03-05", "2024-03-05 10:00:00"),
            ("2024-03-05 10:11", "2024-03-05", "2024-03-05 10:11:00"),
            ("2024-03-05 10:11:12.", "2024-03-05", "2024-03-05 10:11:12"),
            ("2024-3-5 1:2:3", "2024-03-05", "2024-03-05 01:02:03"),
            ("2024-03-05 10.11.12", "2024-03-05", "2024-03-05 10:11:12"),
            ("2024/3/5 10-11-12", "2024-03-05", "2024-03-05 10:11:12"),
            ("20240305T101112", "2024-03-05", "2024-03-05 10:11:12"),
            ("2024-02-29", "2024-02-29", "2024-02-29 00:00:00"),
        ];
        for (input, date, datetime) in cases {
            assert_eq!(text(Temporal::Date, input).as_deref(), Ok(*date), "{input}");
            assert_eq!(text(dt, input).as_deref(), Ok(*datetime), "{input}");
        }
        let refused = [
            "2024-13-45",
            "",
            "not a date",
            "2024-02-30",
            "2023-02-29",
            "2024-03-05abc",
            "2024-03-05Z",
            "2024-03-05 25:00:00",
            "2024-03-05T10:11:12.123Z",
            "2024-03-05 10:11:12+01:00",
        ];
        for input in refused {
            let e = text(Temporal::Date, input).unwrap_err();
            assert!(e.starts_with("Incorrect date value: '"), "{input}: {e}");
            let e = text(dt, input).unwrap_err();
            assert!(e.starts_with("Incorrect datetime value: '"), "{input}: {e}");
        }
        let numbers: &[(i64, &str)] = &[
            (20240308, "2024-03-08 00:00:00"),
            (240308, "2024-03-08 00:00:00"),
            (20240306101112, "2024-03-06 10:11:12"),
            (0, "0000-00-00 00:00:00"),
        ];
        for (n, want) in numbers {
            assert_eq!(
                stored(dt, Value::Integer(*n)),
                Ok(Value::Text(want.to_string())),
                "{n}"
            );
            assert_eq!(
                stored(Temporal::Date, Value::Integer(*n)),
                Ok(Value::Text(want[..10].to_string())),
                "{n}"
            );
        }
        assert!(stored(Temporal::Date, Value::Integer(1)).is_err());
        assert_eq!(
            stored(Temporal::Date, Value::Integer(101112)),
            Ok(Value::Text("2010-11-12".into()))
        );
        for bad in ["10:11", "2 10:11:12"] {
            assert!(text(Temporal::Date, bad).is_err(), "{bad}");
        }
        assert_eq!(
            stored(dt, Value::Real(20240306.5)),
            Ok(Value::Text("2024-03-06 00:00:00".into()))
        );
        assert_eq!(stored(Temporal::Date, Value::Null), Ok(Value::Null));
    }

    /// Fractions are cut to the column's precision and padded to it.
    #[test]
    fn fractional_seconds_follow_the_precision() {
        let dt3 = Temporal::DateTime(3);
        assert_eq!(
            text(dt3, "2024-03-05 10:11:12.98765").as_deref(),
            Ok("2024-03-05 10:11:12.987")
        );
        assert_eq!(
            text(dt3, "2024-03-05 10:11:12").as_deref(),
            Ok("2024-03-05 10:11:12.000")
        );
        assert_eq!(
            text(dt3, "2024-03-05").as_deref(),
            Ok("2024-03-05 00:00:00.000")
        );
        assert_eq!(
            text(dt3, "2024-03-05 10:11:12.9").as_deref(),
            Ok("2024-03-05 10:11:12.900")
        );
        assert_eq!(
            text(Temporal::Time(2), "10:11:12.987").as_deref(),
            Ok("10:11:12.98")
        );
    }

    /// TIMESTAMP keeps to its range (UTC); the zero value is allowed.
    #[test]
    fn timestamps_keep_to_their_range() {
        let ts = Temporal::Timestamp(0);
        assert_eq!(
            text(ts, "2024-03-05 10:11:12").as_deref(),
            Ok("2024-03-05 10:11:12")
        );
        assert_eq!(text(ts, "0000-00-00").as_deref(), Ok("0000-00-00 00:00:00"));
        assert_eq!(
            text(ts, "2038-01-19 03:14:07").as_deref(),
            Ok("2038-01-19 03:14:07")
        );
        for bad in [
            "1960-01-01",
            "2040-01-01",
            "2038-01-19 03:14:08",
            "2024-00-05",
        ] {
            assert!(text(ts, bad).is_err(), "{bad}");
        }
    }

    /// TIME values as MariaDB 10.11 stored them.
    #[test]
    fn times_as_mariadb_stores_them() {
        let t = Temporal::Time(0);
        let cases = [
            ("10:11", "10:11:00"),
            ("10:11:12", "10:11:12"),
            ("1:2:3", "01:02:03"),
            ("10", "00:00:10"),
            ("1011", "00:10:11"),
            ("101112", "10:11:12"),
            ("-10:11:12", "-10:11:12"),
            ("838:59:59", "838:59:59"),
            ("2 10:11:12", "58:11:12"),
            ("10:11:12.987", "10:11:12"),
            ("2024-03-05 10:11:12", "10:11:12"),
            ("10:11:12 ", "10:11:12"),
            ("24:00:00", "24:00:00"),
            ("240305", "24:03:05"),
            ("-00:00:00", "00:00:00"),
        ];
        for (input, want) in cases {
            assert_eq!(text(t, input).as_deref(), Ok(want), "{input}");
        }
        for bad in [
            "839:00:00",
            "10:61:00",
            "",
            "abc",
            "1 2",
            "2024-03-05",
            "24/3/5",
        ] {
            let e = text(t, bad).unwrap_err();
            assert!(e.starts_with("Incorrect time value: '"), "{bad}: {e}");
        }
        for (n, want) in [(101112, "10:11:12"), (1112, "00:11:12"), (12, "00:00:12")] {
            assert_eq!(stored(t, Value::Integer(n)), Ok(Value::Text(want.into())));
        }
        assert_eq!(
            stored(t, Value::Real(101112.5)),
            Ok(Value::Text("10:11:12".into()))
        );
    }

    /// YEAR: two-digit years move into 1970-2069, the range is 1901-2155 and 0.
    #[test]
    fn years_as_mariadb_stores_them() {
        let y = |v: Value| stored(Temporal::Year, v);
        for (n, want) in [(2024, 2024), (24, 2024), (70, 1970), (99, 1999), (0, 0)] {
            assert_eq!(y(Value::Integer(n)), Ok(Value::Integer(want)), "{n}");
        }
        assert_eq!(y(Value::Text("00".into())), Ok(Value::Integer(2000)));
        assert_eq!(y(Value::Text("2024".into())), Ok(Value::Integer(2024)));
        for bad in [1900, 2156] {
            let e = y(Value::Integer(bad)).unwrap_err();
            assert!(e.starts_with("Out of range value"), "{bad}: {e}");
        }
        let e = y(Value::Text("abc".into())).unwrap_err();
        assert!(e.starts_with("Incorrect integer value"), "{e}");
    }

    /// After a CREATE or ALTER TABLE, the statements make the table's triggers fit its
    /// columns as they are, and once they fit there is nothing more to do; other
    /// statements, tables without date columns and generated columns get none.
    #[test]
    fn triggers_follow_the_table() {
        let conn = Connection::open_in_memory().unwrap();
        let run = |sql: &str| {
            conn.execute_batch(sql).unwrap();
            let follow = follow_schema_change(&conn, sql).unwrap();
            for f in &follow {
                conn.execute_batch(f).unwrap();
            }
            follow
        };
        let created = run("CREATE TABLE \"d.t\" (id INTEGER PRIMARY KEY, d DATE, \
             g DATE GENERATED ALWAYS AS (d) VIRTUAL, dt DATETIME(3))");
        let body = "FOR EACH ROW WHEN \
            NEW.\"d\" IS NOT mysql_store_date(NEW.\"d\", '`d`.`t`.`d`') COLLATE BINARY \
            OR NEW.\"dt\" IS NOT mysql_store_datetime(NEW.\"dt\", 3, '`d`.`t`.`dt`') COLLATE BINARY \
            BEGIN UPDATE \"d.t\" SET \"d\" = mysql_store_date(NEW.\"d\", '`d`.`t`.`d`'), \
            \"dt\" = mysql_store_datetime(NEW.\"dt\", 3, '`d`.`t`.`dt`') \
            WHERE rowid = NEW.rowid; END";
        assert_eq!(created[..2], drop_triggers("d.t")[..]);
        assert_eq!(
            created[2..],
            vec![
                format!("CREATE TRIGGER \"d.t mysql_store_insert\" AFTER INSERT ON \"d.t\" {body}"),
                format!(
                    "CREATE TRIGGER \"d.t mysql_store_update\" AFTER UPDATE OF \"d\", \"dt\" \
                     ON \"d.t\" {body}"
                ),
            ]
        );
        assert_eq!(
            follow_schema_change(&conn, "ALTER TABLE \"d.t\" ADD x INT").unwrap(),
            Vec::<String>::new()
        );
        assert!(run("CREATE INDEX \"d.t.i\" ON \"d.t\" (d)").is_empty());
        assert!(run("CREATE TABLE \"d.n\" (id INTEGER PRIMARY KEY, v TEXT)").is_empty());
        // A rename moves the triggers to names of the new table.
        let renamed = run("ALTER TABLE \"d.t\" RENAME TO \"d.u\"");
        assert_eq!(renamed.len(), 6, "{renamed:?}");
        assert!(
            renamed[0].starts_with("DROP TRIGGER \"d.t mysql_store_"),
            "{renamed:?}"
        );
        assert!(
            renamed[4].starts_with("CREATE TRIGGER \"d.u mysql_store_insert\""),
            "{renamed:?}"
        );
        // The translator drops the triggers before a DROP COLUMN; after it they are made
        // again for the date columns left, and a table without any has none.
        conn.execute_batch("DROP INDEX \"d.t.i\"").unwrap();
        assert!(run("ALTER TABLE \"d.u\" DROP COLUMN g").is_empty());
        for (col, made) in [("dt", 4), ("d", 0)] {
            for d in drop_triggers("d.u") {
                conn.execute_batch(&d).unwrap();
            }
            let follow = run(&format!("ALTER TABLE \"d.u\" DROP COLUMN {col}"));
            assert_eq!(follow.len(), made, "{col}: {follow:?}");
        }
        // The statement may spell the name in another case than the table has.
        let made = run("CREATE TABLE \"d.T\" (id INTEGER PRIMARY KEY, d DATE)");
        assert!(
            made[2].starts_with("CREATE TRIGGER \"d.T mysql_store_insert\""),
            "{made:?}"
        );
        assert!(run("ALTER TABLE \"d.t\" ADD COLUMN x INT").is_empty());
        let made = run("ALTER TABLE \"d.t\" ADD COLUMN e DATE");
        assert!(made.iter().any(|m| m.contains("NEW.\"e\"")), "{made:?}");
        // Renamed out of the MySQL naming: the triggers go with the name.
        let gone = run("ALTER TABLE \"d.t\" RENAME TO plain");
        assert_eq!(gone.len(), 2, "{gone:?}");
        assert!(
            gone.iter().all(|g| g.starts_with("DROP TRIGGER")),
            "{gone:?}"
        );
        // WITHOUT ROWID tables (only the HTTP API makes them) get none.
        assert!(run("CREATE TABLE \"d.w\" (k TEXT PRIMARY KEY, d DATE) WITHOUT ROWID").is_empty());
        conn.execute_batch("INSERT INTO \"d.w\" VALUES ('a', '2024-01-01')")
            .unwrap();
        let left: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0);
    }

    /// The tables a schema statement names, quoted or not.
    #[test]
    fn tables_a_statement_changes() {
        assert_eq!(
            changed_tables("CREATE TABLE IF NOT EXISTS \"d.a\"\"b\" (x)"),
            ["d.a\"b"]
        );
        assert_eq!(changed_tables("create table d_t (x)"), ["d_t"]);
        assert_eq!(
            changed_tables("ALTER TABLE \"d.t\" RENAME TO \"d.u\""),
            ["d.t", "d.u"]
        );
        assert_eq!(
            changed_tables("ALTER TABLE `d.t` ADD COLUMN x INT"),
            ["d.t"]
        );
        assert!(changed_tables("CREATE INDEX \"d.t.i\" ON \"d.t\" (x)").is_empty());
        assert!(changed_tables("DROP TABLE \"d.t\"").is_empty());
        assert_eq!(
            changed_tables("ALTER TABLE main.\"d.t\" RENAME TO \"d.u\""),
            ["d.t", "d.u"]
        );
    }

    /// The declared types `map_type` writes are recognised, others are not.
    #[test]
    fn kinds_of_declared_types() {
        assert_eq!(Temporal::of_decl("DATE"), Some(Temporal::Date));
        assert_eq!(
            Temporal::of_decl("DATETIME(3)"),
            Some(Temporal::DateTime(3))
        );
        assert_eq!(Temporal::of_decl("TIMESTAMP"), Some(Temporal::Timestamp(0)));
        assert_eq!(Temporal::of_decl("TIME(6)"), Some(Temporal::Time(6)));
        assert_eq!(Temporal::of_decl("YEAR"), Some(Temporal::Year));
        assert_eq!(Temporal::of_decl("VARCHAR(10)"), None);
        assert_eq!(Temporal::of_decl("DATETIMEX"), None);
    }
}
