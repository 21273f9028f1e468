//! Conversions between the wire's values and columns and SQLite's.

use quorate_mysql_wire::{Column, ColumnType, QueryResult, ResultSet, Value as WireValue};
use quorate_sql::ColumnMeta;
use quorate_store::rusqlite::types::{Value, ValueRef};
use quorate_store::{ColumnInfo, StmtOutput};

/// A statement parameter as SQLite binds it.
///
/// Byte strings are bound as TEXT when they are valid UTF-8 (the wire does not say whether
/// a parameter was a string or a blob, and a BLOB never compares equal to TEXT in SQLite,
/// so `WHERE name = ?` would never match), as BLOB otherwise. Dates and times become
/// MySQL-format text, which is how they are stored. Unsigned integers above `i64::MAX`
/// become their decimal text.
pub(crate) fn param(v: WireValue) -> Value {
    match v {
        WireValue::Null => Value::Null,
        WireValue::Int(i) => Value::Integer(i),
        WireValue::UInt(u) => match i64::try_from(u) {
            Ok(i) => Value::Integer(i),
            Err(_) => Value::Text(u.to_string()),
        },
        WireValue::Double(f) => Value::Real(f),
        WireValue::Bytes(b) => match String::from_utf8(b) {
            Ok(s) => Value::Text(s),
            Err(e) => Value::Blob(e.into_bytes()),
        },
        WireValue::Date { year, month, day } => {
            Value::Text(format!("{year:04}-{month:02}-{day:02}"))
        }
        WireValue::DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            micros,
        } => {
            let mut s = format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}");
            if micros > 0 {
                s.push_str(&format!(".{micros:06}"));
            }
            Value::Text(s)
        }
        WireValue::Time {
            negative,
            days,
            hours,
            minutes,
            seconds,
            micros,
        } => {
            let h = u64::from(days) * 24 + u64::from(hours);
            let mut s = format!(
                "{}{h:02}:{minutes:02}:{seconds:02}",
                if negative { "-" } else { "" }
            );
            if micros > 0 {
                s.push_str(&format!(".{micros:06}"));
            }
            Value::Text(s)
        }
    }
}

/// A result cell for the wire.
pub(crate) fn cell(v: Value) -> WireValue {
    match v {
        Value::Null => WireValue::Null,
        Value::Integer(i) => WireValue::Int(i),
        Value::Real(f) => WireValue::Double(f),
        Value::Text(t) => WireValue::Bytes(t.into_bytes()),
        Value::Blob(b) => WireValue::Bytes(b),
    }
}

/// A wire column from the SQL crate's description.
pub(crate) fn wire_column(m: ColumnMeta, schema: &str) -> Column {
    let column_type = ColumnType::from_code(m.column_type.code()).unwrap_or(ColumnType::VarString);
    Column {
        schema: if m.table.is_some() {
            schema.to_string()
        } else {
            String::new()
        },
        table: m.table.unwrap_or_default(),
        name: m.name,
        column_type,
        flags: m.flags,
        charset: m.charset,
        column_length: m.length,
        decimals: m.decimals,
    }
}

/// Result columns: from the declared type when the column comes from a table, else judged
/// from the column's values (the widest kind among them: integer, real, text, binary).
///
/// A declared column holding a value its type cannot carry (SQLite stores what it is
/// given: 7.25 in an INT column, `'abc'` in a DATE one) is described by its values too, so
/// that no client reads a value as a type it is not.
///
/// `kinds` are the widest kinds of SQLite value in each column ([`widest_kinds`]; missing
/// for no rows).
pub(crate) fn columns(
    infos: &[ColumnInfo],
    rows: &[Vec<WireValue>],
    kinds: &[Kind],
) -> Vec<Column> {
    infos
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let values = || rows.iter().filter_map(move |r| r.get(i));
            let by_values = || {
                let widest = kinds.get(i).copied().unwrap_or(Kind::Null);
                ColumnMeta::for_value(&c.name, widest.example())
            };
            match &c.decl_type {
                Some(decl) => {
                    let column =
                        wire_column(quorate_sql::column_meta(Some(decl), &c.name, None), "");
                    if values().all(|v| quorate_mysql_wire::column_holds(&column, v)) {
                        column
                    } else {
                        let mut m = by_values();
                        m.flags |= column.flags & KEY_FLAGS;
                        wire_column(m, "")
                    }
                }
                None => wire_column(by_values(), ""),
            }
        })
        .collect()
}

/// The flags a column keeps when it is described by its values instead of its type.
const KEY_FLAGS: u16 = Column::NOT_NULL | Column::PRI_KEY | Column::UNIQUE_KEY;

/// The kinds of SQLite values, narrowest first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    Null,
    Integer,
    Real,
    Text,
    Binary,
}

impl Kind {
    fn example(self) -> ValueRef<'static> {
        match self {
            Kind::Null => ValueRef::Null,
            Kind::Integer => ValueRef::Integer(0),
            Kind::Real => ValueRef::Real(0.0),
            Kind::Text => ValueRef::Text(b""),
            Kind::Binary => ValueRef::Blob(b""),
        }
    }
}

/// The widest kind of value in each column of `rows`.
pub(crate) fn widest_kinds(width: usize, rows: &[Vec<Value>]) -> Vec<Kind> {
    let mut kinds = vec![Kind::Null; width];
    for row in rows {
        for (k, v) in kinds.iter_mut().zip(row) {
            let this = match v {
                Value::Null => Kind::Null,
                Value::Integer(_) => Kind::Integer,
                Value::Real(_) => Kind::Real,
                Value::Text(_) => Kind::Text,
                Value::Blob(_) => Kind::Binary,
            };
            *k = (*k).max(this);
        }
    }
    kinds
}

/// The rows of a statement that returned rows.
pub(crate) fn result_set(out: StmtOutput) -> QueryResult {
    let kinds = widest_kinds(out.columns.len(), &out.rows);
    let rows: Vec<Vec<WireValue>> = out
        .rows
        .into_iter()
        .map(|r| r.into_iter().map(cell).collect())
        .collect();
    let columns = columns(&out.columns, &rows, &kinds);
    QueryResult::Rows(ResultSet { columns, rows })
}

/// A catalog answer (SHOW ...) as a result set.
pub(crate) fn show_result(columns: Vec<ColumnMeta>, rows: Vec<Vec<Value>>) -> QueryResult {
    QueryResult::Rows(ResultSet {
        columns: columns.into_iter().map(|m| wire_column(m, "")).collect(),
        rows: rows
            .into_iter()
            .map(|r| r.into_iter().map(cell).collect())
            .collect(),
    })
}

/// A text column for answers the session layer builds itself.
pub(crate) fn text_column(name: &str) -> Column {
    wire_column(ColumnMeta::text(name), "")
}

/// A BIGINT column for answers the session layer builds itself.
pub(crate) fn bigint_column(name: &str) -> Column {
    wire_column(ColumnMeta::bigint(name), "")
}

/// A text cell.
pub(crate) fn text(s: impl Into<String>) -> WireValue {
    WireValue::Bytes(s.into().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parameters bind the way SQLite compares them: text as TEXT, binary data as BLOB,
    /// dates as MySQL-format text, huge unsigned values as their digits.
    #[test]
    fn parameters_bind_as_sqlite_compares_them() {
        assert_eq!(
            param(WireValue::Bytes(b"abc".to_vec())),
            Value::Text("abc".into())
        );
        assert_eq!(
            param(WireValue::Bytes(vec![0xff, 0x00])),
            Value::Blob(vec![0xff, 0x00])
        );
        assert_eq!(
            param(WireValue::UInt(u64::MAX)),
            Value::Text("18446744073709551615".into())
        );
        assert_eq!(
            param(WireValue::DateTime {
                year: 2024,
                month: 1,
                day: 2,
                hour: 3,
                minute: 4,
                second: 5,
                micros: 60
            }),
            Value::Text("2024-01-02 03:04:05.000060".into())
        );
        assert_eq!(
            param(WireValue::Time {
                negative: true,
                days: 1,
                hours: 2,
                minutes: 3,
                seconds: 4,
                micros: 0
            }),
            Value::Text("-26:03:04".into())
        );
    }

    /// Declared INTEGER reports BIGINT; expressions are typed by their values.
    #[test]
    fn column_types_from_declarations_and_values() {
        let infos = vec![
            ColumnInfo {
                name: "id".into(),
                decl_type: Some("INTEGER".into()),
            },
            ColumnInfo {
                name: "x".into(),
                decl_type: None,
            },
            ColumnInfo {
                name: "b".into(),
                decl_type: Some("BLOB".into()),
            },
        ];
        let rows = vec![
            vec![Value::Integer(1), Value::Null, Value::Null],
            vec![Value::Integer(2), Value::Real(0.5), Value::Null],
        ];
        let kinds = widest_kinds(3, &rows);
        let cells: Vec<Vec<WireValue>> = rows
            .into_iter()
            .map(|r| r.into_iter().map(cell).collect())
            .collect();
        let c = columns(&infos, &cells, &kinds);
        assert_eq!(c[0].column_type, ColumnType::LongLong);
        assert_eq!(c[1].column_type, ColumnType::Double);
        assert_eq!(c[2].column_type, ColumnType::Blob);
        assert_eq!(c[2].charset, Column::CHARSET_BINARY);
    }

    /// A column is typed by all its values, not the first: a computed column with a whole
    /// number first and 7.25 later is DOUBLE, one with text later is text; a declared
    /// column holding a value its type cannot carry (7.25 or 'x' in INT, 300 in TINYINT,
    /// a date and time in DATE, a number in DATETIME) is described by its values, so that
    /// neither protocol hands a client a value as a type it is not.
    #[test]
    fn a_column_is_typed_by_every_value_it_holds() {
        let info = |decl: Option<&str>| ColumnInfo {
            name: "c".into(),
            decl_type: decl.map(str::to_string),
        };
        let typed = |decl: Option<&str>, values: Vec<Value>| {
            let rows: Vec<Vec<Value>> = values.into_iter().map(|v| vec![v]).collect();
            let kinds = widest_kinds(1, &rows);
            let cells: Vec<Vec<WireValue>> = rows
                .into_iter()
                .map(|r| r.into_iter().map(cell).collect())
                .collect();
            columns(&[info(decl)], &cells, &kinds)[0].column_type
        };
        let (i, r, t) = (Value::Integer, Value::Real, |s: &str| Value::Text(s.into()));
        assert_eq!(typed(None, vec![i(10), r(7.25)]), ColumnType::Double);
        assert_eq!(typed(None, vec![i(1), t("x")]), ColumnType::VarString);
        assert_eq!(typed(None, vec![i(1), i(2)]), ColumnType::LongLong);
        assert_eq!(typed(Some("INT"), vec![i(1), r(7.25)]), ColumnType::Double);
        assert_eq!(
            typed(Some("INT"), vec![i(1), t("x")]),
            ColumnType::VarString
        );
        assert_eq!(
            typed(Some("INT"), vec![i(1), Value::Null]),
            ColumnType::Long
        );
        assert_eq!(typed(Some("INT"), vec![t("12")]), ColumnType::Long);
        assert_eq!(typed(Some("TINYINT"), vec![i(300)]), ColumnType::LongLong);
        assert_eq!(
            typed(Some("TINYINT UNSIGNED"), vec![i(255)]),
            ColumnType::Tiny
        );
        assert_eq!(
            typed(Some("INT UNSIGNED"), vec![i(-1)]),
            ColumnType::LongLong
        );
        assert_eq!(
            typed(Some("DECIMAL(10,2)"), vec![r(7.25), i(3)]),
            ColumnType::NewDecimal
        );
        assert_eq!(
            typed(Some("DECIMAL(10,2)"), vec![t("abc")]),
            ColumnType::VarString
        );
        assert_eq!(typed(Some("DATE"), vec![t("2024-03-05")]), ColumnType::Date);
        assert_eq!(
            typed(Some("DATE"), vec![t("2024-03-05 10:11:12")]),
            ColumnType::VarString
        );
        assert_eq!(
            typed(Some("DATETIME"), vec![t("2024-03-05 10:11:12.5")]),
            ColumnType::DateTime
        );
        assert_eq!(
            typed(Some("DATETIME"), vec![i(20240306)]),
            ColumnType::LongLong
        );
        assert_eq!(typed(Some("TIME"), vec![t("10:11:12")]), ColumnType::Time);
        assert_eq!(typed(Some("TIME"), vec![t("ten")]), ColumnType::VarString);
        assert_eq!(
            typed(Some("VARCHAR(5)"), vec![i(1), r(2.5)]),
            ColumnType::VarString
        );
    }
}
