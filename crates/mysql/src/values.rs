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
/// from the first non-NULL value of the column.
pub(crate) fn columns(infos: &[ColumnInfo], rows: &[Vec<Value>]) -> Vec<Column> {
    infos
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let meta = match &c.decl_type {
                Some(decl) => quorate_sql::column_meta(Some(decl), &c.name, None),
                None => {
                    let first = rows
                        .iter()
                        .map(|r| r.get(i).map(ValueRef::from).unwrap_or(ValueRef::Null))
                        .find(|v| !matches!(v, ValueRef::Null))
                        .unwrap_or(ValueRef::Null);
                    ColumnMeta::for_value(&c.name, first)
                }
            };
            wire_column(meta, "")
        })
        .collect()
}

/// The rows of a statement that returned rows.
pub(crate) fn result_set(out: StmtOutput) -> QueryResult {
    let columns = columns(&out.columns, &out.rows);
    let rows = out
        .rows
        .into_iter()
        .map(|r| r.into_iter().map(cell).collect())
        .collect();
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
        let c = columns(&infos, &rows);
        assert_eq!(c[0].column_type, ColumnType::LongLong);
        assert_eq!(c[1].column_type, ColumnType::Double);
        assert_eq!(c[2].column_type, ColumnType::Blob);
        assert_eq!(c[2].charset, Column::CHARSET_BINARY);
    }
}
