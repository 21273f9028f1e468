//! MySQL's comparison of date and time values, as SQLite collations.
//!
//! quorate stores DATE, DATETIME, TIMESTAMP and TIME values as text in MySQL's own form
//! (`2024-03-05`, `2024-03-05 10:00:00.000000`, `-01:30:00`). MySQL compares such a column
//! with a string by reading the string as a date and time, not as text: `'2024-3-5'`,
//! `'24/3/5'` and `'2024-03-05 00:00:00'` are the same instant as the DATE `2024-03-05`,
//! and the DATETIME(6) value `2024-03-05 10:00:00.000000` equals `'2024-03-05 10:00:00'`.
//! Compared as text, none of them would match. (Text that looks like a number, such as
//! `'20240305'`, compared with the column itself never reaches the collation: the
//! column's NUMERIC affinity makes it a number first.)
//!
//! The SQL layer declares date and time columns with the collations defined here
//! ([`DATETIME`] for DATE, DATETIME and TIMESTAMP, [`TIME`] for TIME). SQLite then uses
//! them wherever it compares a value with the column: `=`, `<`, `BETWEEN`, `IN`, joins,
//! `ORDER BY`, `GROUP BY`, indexes and UNIQUE keys.
//!
//! **Every connection that touches such a table must register them** (SQLite cannot
//! search, build or check an index without its collation): the store registers them on
//! each connection it opens, snapshot copies included, and `quorate_sql::register_functions`
//! does too.
//!
//! The order, a total one as SQLite requires: text that reads as a date and time (or a
//! time) comes first, in time order, and two such texts are equal when they denote the same
//! instant; any other text comes after, in byte order. Stored values read as dates (the
//! SQL layer stores them in MySQL's form; a value `INSERT IGNORE` kept as sent may be a
//! number, which SQLite orders before all text without asking the collation), so a
//! column's own order is time order.
//!
//! **The order is on disk**, in every index on such a column: a change to how a text is
//! read ([`parse`], [`datetime_key`], [`time_key`]) that moves any value must come with
//! a new collation name (or a `REINDEX` of every such index on every replica).
#![forbid(unsafe_code)]

pub mod parse;

use std::cmp::Ordering;

use rusqlite::Connection;

/// The collation of DATE, DATETIME and TIMESTAMP columns.
pub const DATETIME: &str = "MYSQL_DATETIME";
/// The collation of TIME columns.
pub const TIME: &str = "MYSQL_TIME";

/// Registers both collations on `conn` (again on a connection that has them: harmless).
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_collation(DATETIME, compare_datetime)?;
    conn.create_collation(TIME, compare_time)
}

/// Whether `name` (as written in a column definition, any case) is one of these collations.
pub fn is_temporal(name: &str) -> bool {
    name.eq_ignore_ascii_case(DATETIME) || name.eq_ignore_ascii_case(TIME)
}

/// [`DATETIME`]'s order.
pub fn compare_datetime(a: &str, b: &str) -> Ordering {
    compare_by(a, b, datetime_key)
}

/// [`TIME`]'s order.
pub fn compare_time(a: &str, b: &str) -> Ordering {
    compare_by(a, b, time_key)
}

fn compare_by(a: &str, b: &str, key: fn(&str) -> Option<i64>) -> Ordering {
    match (key(a), key(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.as_bytes().cmp(b.as_bytes()),
    }
}

const MICROS_PER_SECOND: i64 = 1_000_000;

/// A date and time as one number in time order (microseconds, with months of 32 days and
/// years of 13 months: only the order matters), or `None` when `s` is none.
///
/// `s` is read exactly as the SQL layer reads a value it stores in a DATE, DATETIME or
/// TIMESTAMP column ([`parse::parts_of_text`]): `2024-3-5`, `24/3/5`, `2024-03-05T10:11`,
/// `2024-03-05 10.11.12`, `20240305T101112`, ... A DATE is its midnight, so the DATE
/// `2024-03-05` equals `'2024-03-05 00:00:00'`, as in MySQL. A value MySQL would refuse to
/// store (`2024-02-30`, `10:61`) is no date.
pub fn datetime_key(s: &str) -> Option<i64> {
    // Stored values (nearly every comparison an index makes) are read without the general
    // parser, which costs several times more; both read them the same (`fast_paths_agree`).
    let p = stored_datetime(s.as_bytes())
        .or_else(|| parse::parts_of_text(s))
        .filter(parse::Parts::valid)?;
    let days = (i64::from(p.y) * 13 + i64::from(p.mo)) * 32 + i64::from(p.d);
    let seconds = ((days * 24 + i64::from(p.h)) * 60 + i64::from(p.mi)) * 60 + i64::from(p.s);
    Some(seconds * MICROS_PER_SECOND + i64::from(p.us))
}

/// A time of day or duration in signed microseconds, or `None` when `s` is none: read as
/// the SQL layer reads a value it stores in a TIME column ([`parse::time_of_text`]):
/// `10:5`, `-1:00`, `2 10:00`, `10:00:00.25`, ...
pub fn time_key(s: &str) -> Option<i64> {
    let t = stored_time(s.as_bytes())
        .or_else(|| parse::time_of_text(s))
        .filter(parse::TimeParts::valid)?;
    let seconds = (i64::from(t.h) * 60 + i64::from(t.mi)) * 60 + i64::from(t.s);
    let total = seconds * MICROS_PER_SECOND + i64::from(t.us);
    Some(if t.negative { -total } else { total })
}

/// `YYYY-MM-DD[ hh:mm:ss[.f]]` (1 to 6 fraction digits), the form a DATE, DATETIME or
/// TIMESTAMP column stores, read as [`parse::parts_of_text`] reads it; `None` for any
/// other text (which the general parser then reads).
fn stored_datetime(b: &[u8]) -> Option<parse::Parts> {
    let mut p = parse::Parts {
        y: digits_at(b, 0, 4)?,
        mo: digits_at(b, 5, 2)?,
        d: digits_at(b, 8, 2)?,
        ..Default::default()
    };
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    if b.len() == 10 {
        return Some(p);
    }
    if b.len() < 19 || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    p.h = digits_at(b, 11, 2)?;
    p.mi = digits_at(b, 14, 2)?;
    p.s = digits_at(b, 17, 2)?;
    p.us = fraction_at(b, 19)?;
    Some(p)
}

/// `[-]hh:mm:ss[.f]` (two or three hour digits, 1 to 6 fraction digits), the form a TIME
/// column stores, read as [`parse::time_of_text`] reads it; `None` for any other text.
fn stored_time(b: &[u8]) -> Option<parse::TimeParts> {
    let negative = b.first() == Some(&b'-');
    let b = &b[usize::from(negative)..];
    let hours = match b.iter().position(|c| *c == b':')? {
        n @ (2 | 3) => n,
        _ => return None,
    };
    if b.len() < hours + 6 || b[hours + 3] != b':' {
        return None;
    }
    Some(parse::TimeParts {
        negative,
        h: digits_at(b, 0, hours)?,
        mi: digits_at(b, hours + 1, 2)?,
        s: digits_at(b, hours + 4, 2)?,
        us: fraction_at(b, hours + 6)?,
    })
}

/// The number `b[at..at + len]` spells, if those bytes exist and are all ASCII digits.
fn digits_at(b: &[u8], at: usize, len: usize) -> Option<u32> {
    b.get(at..at + len)?.iter().try_fold(0u32, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// Microseconds of `.f` (1 to 6 digits) ending the text at `at`; 0 when the text ends
/// there; `None` for anything else.
fn fraction_at(b: &[u8], at: usize) -> Option<u32> {
    match b.get(at..)? {
        [] => Some(0),
        [b'.', digits @ ..] if (1..=6).contains(&digits.len()) => {
            let n = digits_at(digits, 0, digits.len())?;
            Some(n * 10u32.pow(6 - digits.len() as u32))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Property: the forms MySQL reads as one instant compare equal, whatever their
    /// spelling, and a DATE equals its midnight.
    #[test]
    fn spellings_of_one_instant_are_equal() {
        let same = [
            "2024-03-05 00:00:00",
            "2024-03-05",
            "2024-3-5",
            "2024/03/05",
            "24-03-05",
            "20240305",
            "240305",
            "2024-03-05T00:00",
            "2024-03-05 00:00:00.000000",
            "  2024-03-05  00:00:00 ",
            "20240305000000",
            "2024.03.05",
        ];
        for s in same {
            assert_eq!(
                compare_datetime(s, "2024-03-05 00:00:00"),
                Ordering::Equal,
                "{s}"
            );
        }
        assert_eq!(
            compare_datetime("2024-03-05 10:00:00.000000", "2024-03-05 10:00:00"),
            Ordering::Equal
        );
        assert_eq!(
            compare_datetime("2024-03-05 10:00:00.5", "2024-03-05 10:00:00.500000"),
            Ordering::Equal
        );
        assert_eq!(compare_datetime("99-1-1", "1999-01-01"), Ordering::Equal);
        // One digit is no two-digit year: stored as year 4, compared as year 4.
        assert_eq!(compare_datetime("4-3-8", "0004-03-08"), Ordering::Equal);
        for (spelt, stored) in [
            ("2024-03-05 10", "2024-03-05 10:00:00"),
            ("2024-03-05 10.11.12", "2024-03-05 10:11:12"),
            ("2024/3/5 10-11-12", "2024-03-05 10:11:12"),
            ("2024-03-05 10:11:12.", "2024-03-05 10:11:12"),
            ("20240305T101112", "2024-03-05 10:11:12"),
            ("20240305101112.5", "2024-03-05 10:11:12.500"),
        ] {
            assert_eq!(compare_datetime(spelt, stored), Ordering::Equal, "{spelt}");
        }
        assert_eq!(
            compare_datetime("0000-00-00", "0000-00-00 00:00:00"),
            Ordering::Equal
        );
    }

    /// Property: instants are ordered by time, whatever their spelling; a DATE comes
    /// before any later time of its day.
    #[test]
    fn instants_are_in_time_order() {
        let ordered = [
            "0000-00-00 00:00:00",
            "1999-12-31 23:59:59.999999",
            "2024-3-5",
            "2024-03-05 00:00:00.000001",
            "2024-03-05 9:05",
            "2024-03-05 10:00:00",
            "2024-03-05 10:00:00.5",
            "20240306",
            "2024-11-01",
            "9999-12-31 23:59:59",
        ];
        for (i, a) in ordered.iter().enumerate() {
            for (j, b) in ordered.iter().enumerate() {
                assert_eq!(compare_datetime(a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
    }

    /// Property: text that is no date sorts after every date, by its bytes, so the order
    /// stays total; what MySQL refuses to store (out-of-range parts, an impossible day,
    /// trailing text) is no date.
    #[test]
    fn other_text_comes_after_dates() {
        for s in [
            "",
            "abc",
            "2024-13-01",
            "2024-03-32",
            "2024-03-05 24:00:00",
            "2024-03-05 10:60",
            "2024-02-30",
            "2024-03-05x",
            "2024-03-05Z",
            "12345",
        ] {
            assert_eq!(datetime_key(s), None, "{s:?}");
            assert_eq!(compare_datetime("9999-12-31", s), Ordering::Less, "{s:?}");
            assert_eq!(
                compare_datetime(s, "0000-00-00"),
                Ordering::Greater,
                "{s:?}"
            );
        }
        assert_eq!(compare_datetime("abc", "abd"), Ordering::Less);
        assert_eq!(compare_datetime("abc", "abc"), Ordering::Equal);
    }

    /// Property: for the text MySQL stores, time order is text order, so an index keeps
    /// the order it would have had without the collation.
    #[test]
    fn stored_forms_keep_text_order() {
        let stored = [
            "0000-00-00 00:00:00.000",
            "1970-01-01 00:00:01.000",
            "2024-03-05 00:00:00.000",
            "2024-03-05 00:00:00.001",
            "2024-03-05 23:59:59.999",
            "2038-01-19 03:14:07.000",
        ];
        for a in stored {
            for b in stored {
                assert_eq!(compare_datetime(a, b), a.cmp(b), "{a} vs {b}");
            }
        }
    }

    /// Property: TIME values compare as signed durations: negative ones first, hours
    /// beyond 99 after smaller ones (which text order gets wrong), and the short forms
    /// MySQL accepts equal their full form.
    #[test]
    fn times_compare_as_durations() {
        let ordered = [
            "-838:59:59",
            "-01:00:00",
            "-00:00:00.5",
            "00:00:00",
            "00:00:01",
            "9:05",
            "10:00:00",
            "10:00:00.25",
            "1 10:00:00",
            "100:00:00",
            "838:59:59",
        ];
        for (i, a) in ordered.iter().enumerate() {
            for (j, b) in ordered.iter().enumerate() {
                assert_eq!(compare_time(a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
        for (short, full) in [
            ("10:5", "10:05:00"),
            ("100500", "10:05:00"),
            ("0500", "00:05:00"),
            ("5", "00:00:05"),
            ("10:05:00.000", "10:05:00"),
            ("2 1:00", "49:00:00"),
            ("-1:00", "-01:00:00"),
        ] {
            assert_eq!(compare_time(short, full), Ordering::Equal, "{short}");
        }
        for s in ["", "ab", "10:60", "10:00:60", "1:2:3:4", "35 00:00:00", "-"] {
            assert_eq!(time_key(s), None, "{s:?}");
        }
    }

    /// Property: the fast readings of stored forms give exactly what the general parser
    /// gives, for stored forms and for texts that only look like them.
    #[test]
    fn fast_paths_agree() {
        let mut texts: Vec<String> = Vec::new();
        for date in [
            "2024-03-05",
            "0000-00-00",
            "2024-02-30",
            "2024-13-01",
            "9999-12-31",
        ] {
            texts.push(date.to_string());
            for time in ["00:00:00", "23:59:59", "24:00:00", "10:60:00", "1:02:03"] {
                texts.push(format!("{date} {time}"));
                for frac in [".", ".5", ".123456", ".1234567", ".12a"] {
                    texts.push(format!("{date} {time}{frac}"));
                }
            }
            texts.push(format!("{date}T10:00:00"));
            texts.push(format!("{date} 10:00:00 "));
            texts.push(format!("{date}x"));
        }
        for time in [
            "00:00:00",
            "100:00:00",
            "838:59:59",
            "839:00:00",
            "10:60:00",
            "1:00:00",
        ] {
            for sign in ["", "-"] {
                for frac in ["", ".25", ".000000", ".1234567", "."] {
                    texts.push(format!("{sign}{time}{frac}"));
                }
            }
        }
        texts.extend(
            ["", "-", "2024-03-0", "12:34", "1234:00:00", "2024-03-05 ü"].map(String::from),
        );
        for t in &texts {
            let general = parse::parts_of_text(t).filter(parse::Parts::valid);
            if let Some(fast) = stored_datetime(t.as_bytes()) {
                assert_eq!(Some(fast).filter(parse::Parts::valid), general, "{t:?}");
            }
            let general = parse::time_of_text(t).filter(parse::TimeParts::valid);
            if let Some(fast) = stored_time(t.as_bytes()) {
                assert_eq!(Some(fast).filter(parse::TimeParts::valid), general, "{t:?}");
            }
        }
        assert!(stored_datetime(b"2024-03-05 10:00:00.5").is_some());
        assert!(stored_time(b"-100:00:00.25").is_some());
    }

    /// Property: SQLite uses the collation for a column's comparisons, its index and its
    /// UNIQUE key, once registered on the connection.
    #[test]
    fn sqlite_compares_columns_by_time() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, dt DATETIME(6) COLLATE MYSQL_DATETIME,
                             tm TIME COLLATE MYSQL_TIME);
             CREATE INDEX t_dt ON t (dt);
             INSERT INTO t (dt, tm) VALUES ('2024-03-05 00:00:00.000000', '-01:00:00'),
                                           ('2024-03-05 10:00:00.000000', '100:00:00'),
                                           ('2024-03-06 00:00:00.000000', '09:00:00');",
        )
        .unwrap();
        let ids = |sql: &str| -> Vec<i64> {
            let mut st = conn.prepare(sql).unwrap();
            st.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(ids("SELECT id FROM t WHERE dt = '2024-3-5'"), vec![1]);
        assert_eq!(
            ids("SELECT id FROM t WHERE dt = '2024-03-05 10:00:00'"),
            vec![2]
        );
        assert_eq!(
            ids(
                "SELECT id FROM t WHERE dt BETWEEN '2024-03-05' AND '2024-03-05 23:59:59' ORDER BY id"
            ),
            vec![1, 2]
        );
        assert_eq!(ids("SELECT id FROM t WHERE dt > '2024-03-05'"), vec![2, 3]);
        assert_eq!(
            ids("SELECT id FROM t WHERE dt IN ('2024/3/6', '1999-1-1')"),
            vec![3]
        );
        assert_eq!(ids("SELECT id FROM t ORDER BY tm"), vec![1, 3, 2]);
        assert_eq!(ids("SELECT id FROM t WHERE tm > '9:30'"), vec![2]);
        conn.execute_batch("CREATE UNIQUE INDEX t_dt_u ON t (dt)")
            .unwrap();
        let dup = conn.execute("INSERT INTO t (dt) VALUES ('2024-3-6')", []);
        assert!(dup.is_err(), "the UNIQUE key compares by time: {dup:?}");
    }
}
