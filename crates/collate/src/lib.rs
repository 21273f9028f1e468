//! MySQL's comparison of date and time values, as SQLite collations.
//!
//! quorate stores DATE, DATETIME, TIMESTAMP and TIME values as text in MySQL's own form
//! (`2024-03-05`, `2024-03-05 10:00:00.000000`, `-01:30:00`). MySQL compares such a column
//! with a string by reading the string as a date and time, not as text: `'2024-3-5'`,
//! `'2024-03-05 00:00:00'` and `'20240305'` are the same instant as the DATE `2024-03-05`,
//! and the DATETIME(6) value `2024-03-05 10:00:00.000000` equals `'2024-03-05 10:00:00'`.
//! Compared as text, none of them would match.
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
//! instant; any other text comes after, in byte order. Stored values always read as dates
//! (the SQL layer stores them in MySQL's form), so a column's own order is time order.
#![forbid(unsafe_code)]

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
/// years of 13 months: only the order matters), or `None` when `s` is not one.
///
/// Read as MySQL reads a string compared with a date (on the ASCII text, spaces around it
/// ignored):
/// * `Y-M-D`, with any one punctuation character between the parts (`2024/3/5`,
///   `2024.03.05`), a year of 1 to 4 digits (two-digit years: 00-69 are 20xx, 70-99
///   19xx), month and day of 1 or 2 digits; optionally followed by a space (or several) or
///   `T`, then `h:m[:s[.fraction]]`;
/// * digits only: `YYYYMMDD`, `YYMMDD`, `YYYYMMDDhhmmss[.fraction]` or
///   `YYMMDDhhmmss[.fraction]`.
///
/// A DATE is its midnight, so the DATE `2024-03-05` equals `'2024-03-05 00:00:00'`, as in
/// MySQL. Zero dates and zero parts (`0000-00-00`) are read as written; months above 12,
/// days above 31 and times out of range are not dates. Fractions beyond microseconds are
/// ignored.
pub fn datetime_key(s: &str) -> Option<i64> {
    let b = s.as_bytes().trim_ascii();
    let whole = |read: fn(&mut Cursor) -> Option<(Date, Clock)>| {
        let mut p = Cursor { b, at: 0 };
        read(&mut p).filter(|_| p.done())
    };
    // `2024.03.05` is all digits and dots too, but not a compact form.
    let compact = b.iter().all(|c| c.is_ascii_digit() || *c == b'.');
    let (date, time) = compact
        .then(|| whole(compact_datetime))
        .flatten()
        .or_else(|| whole(delimited_datetime))?;
    let (year, month, day) = date;
    let (hour, minute, second, micros) = time;
    if month > 12 || day > 31 || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = (year * 13 + month) * 32 + day;
    let seconds = ((days * 24 + hour) * 60 + minute) * 60 + second;
    Some(seconds * MICROS_PER_SECOND + micros)
}

type Date = (i64, i64, i64);
type Clock = (i64, i64, i64, i64);

fn compact_datetime(p: &mut Cursor) -> Option<(Date, Clock)> {
    let digits = p.digits_upto(14)?;
    let year_len = match digits.len() {
        8 | 14 => 4,
        6 | 12 => 2,
        _ => return None,
    };
    let part = |from: usize, len: usize| number(&digits[from..from + len]);
    let year = two_digit_year(part(0, year_len), year_len);
    let date = (year, part(year_len, 2), part(year_len + 2, 2));
    if digits.len() == year_len + 4 {
        return Some((date, (0, 0, 0, 0)));
    }
    let at = year_len + 4;
    let micros = p.fraction()?;
    Some((
        date,
        (part(at, 2), part(at + 2, 2), part(at + 4, 2), micros),
    ))
}

fn delimited_datetime(p: &mut Cursor) -> Option<(Date, Clock)> {
    let year_digits = p.digits_upto(4)?;
    let year = two_digit_year(number(year_digits), year_digits.len());
    p.punctuation()?;
    let month = number(p.digits_upto(2)?);
    p.punctuation()?;
    let day = number(p.digits_upto(2)?);
    let date = (year, month, day);
    if p.done() {
        return Some((date, (0, 0, 0, 0)));
    }
    if !p.eat(b'T') {
        p.spaces()?;
    }
    let hour = number(p.digits_upto(2)?);
    p.expect(b':')?;
    let minute = number(p.digits_upto(2)?);
    let mut second = 0;
    let mut micros = 0;
    if p.eat(b':') {
        second = number(p.digits_upto(2)?);
        micros = p.fraction()?;
    }
    Some((date, (hour, minute, second, micros)))
}

fn two_digit_year(year: i64, digits: usize) -> i64 {
    match (digits <= 2, year) {
        (true, 0..=69) => year + 2000,
        (true, _) => year + 1900,
        (false, _) => year,
    }
}

/// A time of day or duration in signed microseconds, or `None` when `s` is not one.
///
/// Read as MySQL reads a string compared with a TIME (spaces around it ignored), with an
/// optional leading `-`: `[D ]h:m[:s[.fraction]]` (hours of up to 4 digits, `D` days of
/// up to 2), or digits only, read from the right as seconds, minutes and hours
/// (`ss`, `mmss`, `hhmmss`, `hhhmmss`, with an optional `.fraction`). Minutes and
/// seconds above 59 make it no time.
pub fn time_key(s: &str) -> Option<i64> {
    let b = s.as_bytes().trim_ascii();
    let mut p = Cursor { b, at: 0 };
    let negative = p.eat(b'-');
    let (hours, minutes, seconds, micros) = if b.contains(&b':') {
        let first = number(p.digits_upto(4)?);
        let (days, hour) = if p.spaces().is_some() {
            if first > 34 {
                return None;
            }
            (first, number(p.digits_upto(2)?))
        } else {
            (0, first)
        };
        p.expect(b':')?;
        let minute = number(p.digits_upto(2)?);
        let mut second = 0;
        let mut micros = 0;
        if p.eat(b':') {
            second = number(p.digits_upto(2)?);
            micros = p.fraction()?;
        }
        (days * 24 + hour, minute, second, micros)
    } else {
        let n = number(p.digits_upto(7)?);
        let micros = p.fraction()?;
        (n / 10_000, n / 100 % 100, n % 100, micros)
    };
    if !p.done() || minutes > 59 || seconds > 59 {
        return None;
    }
    let total = ((hours * 60 + minutes) * 60 + seconds) * MICROS_PER_SECOND + micros;
    Some(if negative { -total } else { total })
}

/// The value of ASCII digits (at most 7, so no overflow).
fn number(digits: &[u8]) -> i64 {
    digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0'))
}

/// A reader over the bytes of one value.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn done(&self) -> bool {
        self.at == self.b.len()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.b.get(self.at) == Some(&c);
        if hit {
            self.at += 1;
        }
        hit
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        self.eat(c).then_some(())
    }

    /// One ASCII punctuation character (a date's separator).
    fn punctuation(&mut self) -> Option<()> {
        let c = *self.b.get(self.at)?;
        c.is_ascii_punctuation().then(|| self.at += 1)
    }

    /// One or more spaces.
    fn spaces(&mut self) -> Option<()> {
        let start = self.at;
        while self.b.get(self.at) == Some(&b' ') {
            self.at += 1;
        }
        (self.at > start).then_some(())
    }

    /// A run of 1 to `max` digits (`None` when there is none or it is longer).
    fn digits_upto(&mut self, max: usize) -> Option<&'a [u8]> {
        let start = self.at;
        while self.b.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        let run = &self.b[start..self.at];
        (!run.is_empty() && run.len() <= max).then_some(run)
    }

    /// An optional `.digits` fraction of a second, in microseconds (digits after the sixth
    /// ignored). `None` for a `.` without digits.
    fn fraction(&mut self) -> Option<i64> {
        if !self.eat(b'.') {
            return Some(0);
        }
        let start = self.at;
        while self.b.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        let digits = &self.b[start..self.at];
        if digits.is_empty() {
            return None;
        }
        let kept = &digits[..digits.len().min(6)];
        let scale = 10_i64.pow(6 - kept.len() as u32);
        Some(number(kept) * scale)
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
    /// stays total; out-of-range parts make a text no date.
    #[test]
    fn other_text_comes_after_dates() {
        for s in [
            "",
            "abc",
            "2024-13-01",
            "2024-03-32",
            "2024-03-05 24:00:00",
            "2024-03-05 10:60",
            "2024-03-05 10:00:00.",
            "2024-03-05x",
            "12345",
            "2024-03-05 10",
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
