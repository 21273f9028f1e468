//! MySQL column types: how a MySQL type is declared in SQLite, and which MySQL type a result
//! column has, from its SQLite declared type.
//!
//! The SQLite declared type is the MySQL type itself whenever SQLite's affinity rules give
//! that name the right affinity (`INT UNSIGNED` -> INTEGER, `VARCHAR(20)` -> TEXT,
//! `DOUBLE` -> REAL, `DECIMAL(10,2)` / `DATETIME` -> NUMERIC). Otherwise it is a name that
//! carries both: `VARBINARY BLOB(16)`, `BINARY BLOB(16)`, `JSON TEXT`, `ENUM TEXT`. The
//! exact MySQL type of such columns (and of AUTO_INCREMENT keys, which SQLite requires to be
//! declared exactly `INTEGER`) is kept in a named column constraint
//! `CONSTRAINT "mysql_type <type>" NULL`, which SQLite ignores and [`crate::catalog`] reads.

use std::collections::HashMap;

use sqlparser::ast::{DataType, EnumMember};

use crate::SqlError;

/// MySQL column types of the client/server protocol (`enum_field_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MysqlType {
    /// MYSQL_TYPE_TINY (1)
    Tiny,
    /// MYSQL_TYPE_SHORT (2)
    Short,
    /// MYSQL_TYPE_LONG (3)
    Long,
    /// MYSQL_TYPE_FLOAT (4)
    Float,
    /// MYSQL_TYPE_DOUBLE (5)
    Double,
    /// MYSQL_TYPE_NULL (6)
    Null,
    /// MYSQL_TYPE_TIMESTAMP (7)
    Timestamp,
    /// MYSQL_TYPE_LONGLONG (8)
    LongLong,
    /// MYSQL_TYPE_INT24 (9)
    Int24,
    /// MYSQL_TYPE_DATE (10)
    Date,
    /// MYSQL_TYPE_TIME (11)
    Time,
    /// MYSQL_TYPE_DATETIME (12)
    DateTime,
    /// MYSQL_TYPE_YEAR (13)
    Year,
    /// MYSQL_TYPE_BIT (16)
    Bit,
    /// MYSQL_TYPE_JSON (245)
    Json,
    /// MYSQL_TYPE_NEWDECIMAL (246)
    NewDecimal,
    /// MYSQL_TYPE_BLOB (252); TEXT columns are BLOB with a text character set.
    Blob,
    /// MYSQL_TYPE_VAR_STRING (253)
    VarString,
    /// MYSQL_TYPE_STRING (254); also ENUM and SET columns (with ENUM / SET flags).
    String,
}

impl MysqlType {
    /// The protocol code of this type.
    pub fn code(self) -> u8 {
        match self {
            MysqlType::Tiny => 1,
            MysqlType::Short => 2,
            MysqlType::Long => 3,
            MysqlType::Float => 4,
            MysqlType::Double => 5,
            MysqlType::Null => 6,
            MysqlType::Timestamp => 7,
            MysqlType::LongLong => 8,
            MysqlType::Int24 => 9,
            MysqlType::Date => 10,
            MysqlType::Time => 11,
            MysqlType::DateTime => 12,
            MysqlType::Year => 13,
            MysqlType::Bit => 16,
            MysqlType::Json => 245,
            MysqlType::NewDecimal => 246,
            MysqlType::Blob => 252,
            MysqlType::VarString => 253,
            MysqlType::String => 254,
        }
    }

    /// True for the numeric types (the NUM flag).
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            MysqlType::Tiny
                | MysqlType::Short
                | MysqlType::Long
                | MysqlType::Float
                | MysqlType::Double
                | MysqlType::LongLong
                | MysqlType::Int24
                | MysqlType::NewDecimal
                | MysqlType::Year
                | MysqlType::Bit
        )
    }
}

/// Column definition flags of the protocol (`*_FLAG` in MySQL's `mysql_com.h`).
pub mod column_flags {
    /// Column can't be NULL.
    pub const NOT_NULL: u16 = 1;
    /// Part of the primary key.
    pub const PRI_KEY: u16 = 2;
    /// Part of a unique key.
    pub const UNIQUE_KEY: u16 = 4;
    /// Part of a non-unique key.
    pub const MULTIPLE_KEY: u16 = 8;
    /// BLOB or TEXT.
    pub const BLOB: u16 = 16;
    /// Unsigned integer.
    pub const UNSIGNED: u16 = 32;
    /// Binary data (binary collation).
    pub const BINARY: u16 = 128;
    /// ENUM.
    pub const ENUM: u16 = 256;
    /// AUTO_INCREMENT.
    pub const AUTO_INCREMENT: u16 = 512;
    /// TIMESTAMP.
    pub const TIMESTAMP: u16 = 1024;
    /// SET.
    pub const SET: u16 = 2048;
    /// Numeric.
    pub const NUM: u16 = 32768;
}

/// Character set id of `utf8mb4_0900_ai_ci`, used for every text column.
pub const CHARSET_UTF8MB4: u16 = 255;
/// Character set id of `binary`, used for numbers, dates and BLOBs.
pub const CHARSET_BINARY: u16 = 63;

/// The MySQL description of one result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMeta {
    /// Column name (or alias) as the client sees it.
    pub name: String,
    /// MySQL table name (unmangled), when the column comes from a table.
    pub table: Option<String>,
    /// Protocol type.
    pub column_type: MysqlType,
    /// Maximum display length in characters (what MySQL reports as column length).
    pub length: u32,
    /// [`column_flags`] bits.
    pub flags: u16,
    /// Digits after the decimal point (DECIMAL scale; 31 for FLOAT / DOUBLE "not fixed").
    pub decimals: u8,
    /// Character set id: [`CHARSET_UTF8MB4`] or [`CHARSET_BINARY`].
    pub charset: u16,
}

impl ColumnMeta {
    /// A text column (`VARCHAR(255)`-like), for catalog answers and computed columns.
    pub fn text(name: &str) -> Self {
        ColumnMeta {
            name: name.to_string(),
            table: None,
            column_type: MysqlType::VarString,
            length: 255 * 4,
            flags: 0,
            decimals: 0,
            charset: CHARSET_UTF8MB4,
        }
    }

    /// A BIGINT column, for catalog answers.
    pub fn bigint(name: &str) -> Self {
        ColumnMeta {
            name: name.to_string(),
            table: None,
            column_type: MysqlType::LongLong,
            length: 21,
            flags: column_flags::NUM,
            decimals: 0,
            charset: CHARSET_BINARY,
        }
    }

    /// The type of a computed column (no declared type), judged from one of its values:
    /// integers are BIGINT, reals DOUBLE, blobs BLOB, text and NULL VARCHAR.
    pub fn for_value(name: &str, value: rusqlite::types::ValueRef<'_>) -> Self {
        use rusqlite::types::ValueRef;
        match value {
            ValueRef::Integer(_) => ColumnMeta::bigint(name),
            ValueRef::Real(_) => ColumnMeta {
                column_type: MysqlType::Double,
                length: 22,
                decimals: 31,
                ..ColumnMeta::bigint(name)
            },
            ValueRef::Blob(_) => ColumnMeta {
                column_type: MysqlType::Blob,
                length: u32::MAX,
                flags: column_flags::BLOB | column_flags::BINARY,
                charset: CHARSET_BINARY,
                ..ColumnMeta::text(name)
            },
            ValueRef::Text(_) | ValueRef::Null => ColumnMeta::text(name),
        }
    }
}

/// The MySQL result-column description for a column with SQLite declared type
/// `decl_type` (from `sqlite3_column_decltype`; `None` for expressions).
///
/// Declared `INTEGER` is reported as BIGINT: it is how AUTO_INCREMENT keys of every integer
/// width are declared, and SQLite integers are 64-bit, so a narrower type could overflow a
/// client's binary-protocol decoding.
pub fn column_meta(decl_type: Option<&str>, name: &str, table: Option<&str>) -> ColumnMeta {
    /// Declared types seen on this thread, kept at most: a schema has few distinct ones.
    const CACHED_MAX: usize = 256;
    thread_local! {
        static BY_DECL: std::cell::RefCell<HashMap<String, ColumnMeta>> =
            std::cell::RefCell::new(HashMap::new());
    }
    let mut m = match decl_type {
        None => ColumnMeta::text(""),
        Some(decl) => BY_DECL.with_borrow_mut(|cache| {
            if let Some(m) = cache.get(decl) {
                return m.clone();
            }
            let m = meta_of_decl(decl);
            if cache.len() < CACHED_MAX {
                cache.insert(decl.to_string(), m.clone());
            }
            m
        }),
    };
    m.name = name.to_string();
    m.table = table.map(str::to_string);
    m
}

/// [`column_meta`] for declared type `decl`, without a name or table.
fn meta_of_decl(decl: &str) -> ColumnMeta {
    use column_flags as f;
    let mut m = ColumnMeta::text("");
    let upper = decl.to_ascii_uppercase();
    let (base, args, unsigned) = split_decl(&upper);
    let n1: Option<u32> = args.first().and_then(|a| a.trim().parse().ok());
    let n2: Option<u32> = args.get(1).and_then(|a| a.trim().parse().ok());
    let set = |m: &mut ColumnMeta, t: MysqlType, len: u32, flags: u16, cs: u16| {
        m.column_type = t;
        m.length = len;
        m.flags = flags;
        m.charset = cs;
    };
    let num = f::NUM | if unsigned { f::UNSIGNED } else { 0 };
    match base.as_str() {
        "TINYINT" | "BOOL" | "BOOLEAN" => set(&mut m, MysqlType::Tiny, 4, num, CHARSET_BINARY),
        "SMALLINT" => set(&mut m, MysqlType::Short, 6, num, CHARSET_BINARY),
        "MEDIUMINT" => set(&mut m, MysqlType::Int24, 9, num, CHARSET_BINARY),
        "INT" => set(&mut m, MysqlType::Long, 11, num, CHARSET_BINARY),
        "INTEGER" | "BIGINT" => set(&mut m, MysqlType::LongLong, 20, num, CHARSET_BINARY),
        "DECIMAL" | "NUMERIC" | "DEC" | "FIXED" => {
            let p = n1.unwrap_or(10);
            let s = n2.unwrap_or(0);
            set(&mut m, MysqlType::NewDecimal, p + 2, num, CHARSET_BINARY);
            m.decimals = s.min(30) as u8;
        }
        "FLOAT" => {
            set(&mut m, MysqlType::Float, 12, num, CHARSET_BINARY);
            m.decimals = 31;
        }
        "DOUBLE" | "REAL" | "DOUBLE PRECISION" => {
            set(&mut m, MysqlType::Double, 22, num, CHARSET_BINARY);
            m.decimals = 31;
        }
        "BIT" => set(
            &mut m,
            MysqlType::Bit,
            n1.unwrap_or(1),
            f::BINARY,
            CHARSET_BINARY,
        ),
        "DATE" => set(&mut m, MysqlType::Date, 10, f::BINARY, CHARSET_BINARY),
        "DATETIME" => {
            set(
                &mut m,
                MysqlType::DateTime,
                19 + fsp(n1),
                f::BINARY,
                CHARSET_BINARY,
            );
            m.decimals = n1.unwrap_or(0) as u8;
        }
        "TIMESTAMP" => {
            set(
                &mut m,
                MysqlType::Timestamp,
                19 + fsp(n1),
                f::BINARY | f::TIMESTAMP,
                CHARSET_BINARY,
            );
            m.decimals = n1.unwrap_or(0) as u8;
        }
        "TIME" => {
            set(
                &mut m,
                MysqlType::Time,
                10 + fsp(n1),
                f::BINARY,
                CHARSET_BINARY,
            );
            m.decimals = n1.unwrap_or(0) as u8;
        }
        "YEAR" => set(
            &mut m,
            MysqlType::Year,
            4,
            f::NUM | f::UNSIGNED,
            CHARSET_BINARY,
        ),
        "CHAR" | "NCHAR" | "CHARACTER" | "NATIONAL CHAR" => set(
            &mut m,
            MysqlType::String,
            n1.unwrap_or(1) * 4,
            0,
            CHARSET_UTF8MB4,
        ),
        "VARCHAR" | "NVARCHAR" | "CHARACTER VARYING" | "NATIONAL VARCHAR" => set(
            &mut m,
            MysqlType::VarString,
            n1.unwrap_or(255) * 4,
            0,
            CHARSET_UTF8MB4,
        ),
        "BINARY BLOB" => set(
            &mut m,
            MysqlType::String,
            n1.unwrap_or(1),
            f::BINARY,
            CHARSET_BINARY,
        ),
        "VARBINARY BLOB" => set(
            &mut m,
            MysqlType::VarString,
            n1.unwrap_or(255),
            f::BINARY,
            CHARSET_BINARY,
        ),
        "TINYTEXT" => set(&mut m, MysqlType::Blob, 255 * 4, f::BLOB, CHARSET_UTF8MB4),
        "TEXT" => set(&mut m, MysqlType::Blob, 65535 * 4, f::BLOB, CHARSET_UTF8MB4),
        "MEDIUMTEXT" => set(
            &mut m,
            MysqlType::Blob,
            16_777_215 * 4,
            f::BLOB,
            CHARSET_UTF8MB4,
        ),
        "LONGTEXT" | "CLOB" => set(&mut m, MysqlType::Blob, u32::MAX, f::BLOB, CHARSET_UTF8MB4),
        "TINYBLOB" => set(
            &mut m,
            MysqlType::Blob,
            255,
            f::BLOB | f::BINARY,
            CHARSET_BINARY,
        ),
        "BLOB" => set(
            &mut m,
            MysqlType::Blob,
            65535,
            f::BLOB | f::BINARY,
            CHARSET_BINARY,
        ),
        "MEDIUMBLOB" => set(
            &mut m,
            MysqlType::Blob,
            16_777_215,
            f::BLOB | f::BINARY,
            CHARSET_BINARY,
        ),
        "LONGBLOB" => set(
            &mut m,
            MysqlType::Blob,
            u32::MAX,
            f::BLOB | f::BINARY,
            CHARSET_BINARY,
        ),
        "JSON TEXT" => set(
            &mut m,
            MysqlType::Json,
            u32::MAX,
            f::BLOB | f::BINARY,
            CHARSET_BINARY,
        ),
        "ENUM TEXT" => set(&mut m, MysqlType::String, 255 * 4, f::ENUM, CHARSET_UTF8MB4),
        _ => {}
    }
    m
}

fn fsp(n: Option<u32>) -> u32 {
    match n {
        Some(d) if d > 0 => d + 1,
        _ => 0,
    }
}

/// Splits an upper-cased declared type into its base name (words), the numbers in
/// parentheses, and whether UNSIGNED appears.
fn split_decl(upper: &str) -> (String, Vec<String>, bool) {
    let (head, args) = match upper.find('(') {
        Some(i) => {
            let end = upper[i..].find(')').map(|e| i + e).unwrap_or(upper.len());
            (
                format!("{} {}", &upper[..i], upper.get(end + 1..).unwrap_or("")),
                upper[i + 1..end]
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .collect(),
            )
        }
        None => (upper.to_string(), vec![]),
    };
    let mut unsigned = false;
    let words: Vec<&str> = head
        .split_whitespace()
        .filter(|w| match *w {
            "UNSIGNED" => {
                unsigned = true;
                false
            }
            "SIGNED" | "ZEROFILL" => false,
            _ => true,
        })
        .collect();
    (words.join(" "), args, unsigned)
}

/// How one MySQL column type is declared in SQLite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapped {
    /// SQLite declared type.
    pub decl: String,
    /// The MySQL type as MySQL 8 prints it (lower case), e.g. `int unsigned`.
    pub mysql: String,
    /// Whether `decl` alone does not say `mysql` (then a `mysql_type` marker is written).
    pub needs_marker: bool,
    /// Character data: gets the NOCASE / BINARY collation.
    pub text: bool,
    /// Values of an ENUM.
    pub enum_values: Option<Vec<String>>,
    /// An integer type (may be AUTO_INCREMENT).
    pub integer: bool,
}

fn quote_list(values: &[String]) -> String {
    values
        .iter()
        .map(|v| crate::names::literal(v))
        .collect::<Vec<_>>()
        .join(",")
}

/// The CHECK constraints that refuse, for a column of MySQL type `mysql` (as [`map_type`]
/// names it, `int unsigned`, `varchar(20)`, `decimal(10,2)`), what MySQL's default strict
/// mode refuses: text and bytes longer than the type holds (1406; trailing spaces beyond a
/// CHAR / VARCHAR length are allowed, as MySQL cuts them), numbers outside the type's range
/// (1264), text that is no number in a number column (1366; SQLite's column affinity has
/// already turned numeric text into a number), and invalid JSON (3140). Each is named with
/// its prefix from `ddl.rs` and the column, which [`crate::mysql_error`] reads back.
///
/// Values are checked, not converted: a fraction in an integer column is kept (MySQL rounds
/// it), and a DECIMAL keeps more digits than its scale.
pub(crate) fn fit_checks(column: &str, mysql: &str) -> Vec<String> {
    use crate::ddl::{
        JSON_CHECK_PREFIX, LENGTH_CHECK_PREFIX, NUMBER_CHECK_PREFIX, RANGE_CHECK_PREFIX,
    };
    let lower = mysql.to_ascii_lowercase();
    let end = lower.find(['(', ' ']).unwrap_or(lower.len());
    let base = &lower[..end];
    let args: Vec<u64> = lower[end..]
        .strip_prefix('(')
        .and_then(|r| r.split_once(')'))
        .map(|(inner, _)| {
            inner
                .split(',')
                .filter_map(|a| a.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let unsigned = lower.contains(" unsigned");
    let q = crate::names::quote(column);
    let named = |prefix: &str, expr: String| {
        format!(
            "CONSTRAINT {} CHECK ({expr})",
            crate::names::quote(&format!("{prefix}{column}"))
        )
    };
    let number = |kind: &str| {
        named(
            &format!("{NUMBER_CHECK_PREFIX}{kind} "),
            format!("typeof({q}) <> 'text'"),
        )
    };
    let range =
        |lo: &str, hi: &str| named(RANGE_CHECK_PREFIX, format!("{q} BETWEEN {lo} AND {hi}"));
    let bytes = |n: u64| named(LENGTH_CHECK_PREFIX, format!("octet_length({q}) <= {n}"));
    let integer = |lo: &str, hi: &str, uhi: &str| {
        let r = if unsigned {
            range("0", uhi)
        } else {
            range(lo, hi)
        };
        vec![number("integer"), r]
    };
    match base {
        "tinyint" => integer("-128", "127", "255"),
        "smallint" => integer("-32768", "32767", "65535"),
        "mediumint" => integer("-8388608", "8388607", "16777215"),
        "int" => integer("-2147483648", "2147483647", "4294967295"),
        "bigint" => integer(
            "-9223372036854775808",
            "9223372036854775807",
            "18446744073709551615",
        ),
        "decimal" => {
            let (p, sc) = (
                args.first().copied().unwrap_or(10),
                args.get(1).copied().unwrap_or(0),
            );
            let mut v = vec![number("decimal")];
            // Beyond about 15 digits the bound means nothing to a double.
            if p >= sc && p - sc <= 15 && sc <= 15 {
                // The largest value that rounds to p digits: 999.995 is out of DECIMAL(5,2).
                let limit = format!(
                    "{}{}5",
                    "9".repeat((p - sc) as usize),
                    if sc > 0 {
                        format!(".{}", "9".repeat(sc as usize))
                    } else {
                        ".".to_string()
                    }
                );
                let low = if unsigned {
                    format!("{q} >= 0")
                } else {
                    format!("{q} > -{limit}")
                };
                v.push(named(
                    RANGE_CHECK_PREFIX,
                    format!("{low} AND {q} < {limit}"),
                ));
            }
            v
        }
        "float" => {
            let lo = if unsigned { "0" } else { "-3.402823466e38" };
            vec![number("double"), range(lo, "3.402823466e38")]
        }
        "double" => {
            let mut v = vec![number("double")];
            if unsigned {
                v.push(named(RANGE_CHECK_PREFIX, format!("{q} >= 0")));
            }
            v
        }
        "char" | "varchar" => match args.first() {
            Some(n) => vec![named(
                LENGTH_CHECK_PREFIX,
                format!("length({q}) <= {n} OR length(rtrim({q}, ' ')) <= {n}"),
            )],
            None => Vec::new(),
        },
        "binary" | "varbinary" => args.first().map(|n| vec![bytes(*n)]).unwrap_or_default(),
        "tinytext" | "tinyblob" => vec![bytes(255)],
        "text" | "blob" => vec![bytes(65_535)],
        "mediumtext" | "mediumblob" => vec![bytes(16_777_215)],
        "json" => vec![named(JSON_CHECK_PREFIX, format!("json_valid({q})"))],
        _ => Vec::new(),
    }
}

/// Maps a MySQL column type.
pub(crate) fn map_type(dt: &DataType) -> Result<Mapped, SqlError> {
    let mk = |decl: &str, mysql: String, text: bool, integer: bool| Mapped {
        needs_marker: false,
        decl: decl.to_string(),
        mysql,
        text,
        enum_values: None,
        integer,
    };
    match dt {
        DataType::Enum(members, _) => {
            let values: Vec<String> = members
                .iter()
                .map(|m| match m {
                    EnumMember::Name(n) => n.clone(),
                    EnumMember::NamedValue(n, _) => n.clone(),
                })
                .collect();
            return Ok(Mapped {
                decl: "ENUM TEXT".into(),
                mysql: format!("enum({})", quote_list(&values)),
                needs_marker: true,
                text: true,
                enum_values: Some(values),
                integer: false,
            });
        }
        DataType::Set(values) => {
            return Ok(Mapped {
                decl: "TEXT".into(),
                mysql: format!("set({})", quote_list(values)),
                needs_marker: true,
                text: true,
                enum_values: None,
                integer: false,
            });
        }
        _ => {}
    }
    let s = dt.to_string();
    let upper = s.to_ascii_uppercase();
    let (base, args, unsigned) = split_decl(&upper);
    let zerofill = upper.contains("ZEROFILL");
    let paren = if args.is_empty() {
        String::new()
    } else {
        format!("({})", args.join(","))
    };
    let us = if unsigned { " UNSIGNED" } else { "" };
    let lus = if unsigned { " unsigned" } else { "" };
    let int = |name: &str| -> Mapped {
        let lname = name.to_ascii_lowercase();
        // MySQL 8 drops the display width except for TINYINT(1) (booleans) and ZEROFILL.
        if name == "TINYINT" && args.first().map(String::as_str) == Some("1") && !unsigned {
            return mk("TINYINT(1)", "tinyint(1)".into(), false, true);
        }
        let mysql = if zerofill {
            format!("{lname}{}{lus} zerofill", paren.to_ascii_lowercase())
        } else {
            format!("{lname}{lus}")
        };
        Mapped {
            needs_marker: zerofill,
            ..mk(&format!("{name}{us}"), mysql, false, true)
        }
    };
    Ok(match base.as_str() {
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "BIGINT" => int(&base),
        "INT" => int("INT"),
        "INTEGER" => {
            // INTEGER stays INTEGER: a single-column INTEGER PRIMARY KEY is the rowid.
            let mut m = int("INT");
            m.decl = format!("INTEGER{us}");
            m
        }
        "BOOL" | "BOOLEAN" => mk("TINYINT(1)", "tinyint(1)".into(), false, true),
        "SERIAL" => Mapped {
            needs_marker: true,
            ..mk("INTEGER", "bigint unsigned".into(), false, true)
        },
        "DECIMAL" | "NUMERIC" | "DEC" | "FIXED" => {
            let p = if args.is_empty() {
                "(10,0)".to_string()
            } else if args.len() == 1 {
                format!("({},0)", args[0])
            } else {
                paren.clone()
            };
            Mapped {
                needs_marker: unsigned,
                ..mk(
                    &format!("DECIMAL{p}"),
                    format!("decimal{p}{lus}"),
                    false,
                    false,
                )
            }
        }
        "FLOAT" => mk(
            &format!("FLOAT{us}{paren}"),
            format!("float{}{lus}", paren.to_lowercase()),
            false,
            false,
        ),
        "DOUBLE" | "DOUBLE PRECISION" | "REAL" | "FLOAT8" | "FLOAT64" => mk(
            &format!("DOUBLE{us}{paren}"),
            format!("double{}{lus}", paren.to_lowercase()),
            false,
            false,
        ),
        "BIT" => mk(
            &format!("BIT{paren}"),
            format!(
                "bit{}",
                if paren.is_empty() {
                    "(1)".into()
                } else {
                    paren.clone()
                }
            ),
            false,
            false,
        ),
        "DATE" => mk("DATE", "date".into(), false, false),
        "DATETIME" => mk(
            &format!("DATETIME{paren}"),
            format!("datetime{paren}"),
            false,
            false,
        ),
        "TIMESTAMP" => mk(
            &format!("TIMESTAMP{paren}"),
            format!("timestamp{paren}"),
            false,
            false,
        ),
        "TIME" => mk(
            &format!("TIME{paren}"),
            format!("time{paren}"),
            false,
            false,
        ),
        "YEAR" => mk("YEAR", "year".into(), false, false),
        "CHAR" | "CHARACTER" | "NCHAR" | "NATIONAL CHAR" | "NATIONAL CHARACTER" => {
            let p = if paren.is_empty() {
                "(1)".to_string()
            } else {
                paren.clone()
            };
            mk(&format!("CHAR{p}"), format!("char{p}"), true, false)
        }
        "VARCHAR" | "CHARACTER VARYING" | "NVARCHAR" | "NATIONAL VARCHAR" | "CHAR VARYING" => mk(
            &format!("VARCHAR{paren}"),
            format!("varchar{paren}"),
            true,
            false,
        ),
        "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" => {
            mk(&base, base.to_ascii_lowercase(), true, false)
        }
        "LONG" | "LONG VARCHAR" => mk("MEDIUMTEXT", "mediumtext".into(), true, false),
        "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
            mk(&base, base.to_ascii_lowercase(), false, false)
        }
        "LONG VARBINARY" => mk("MEDIUMBLOB", "mediumblob".into(), false, false),
        "BINARY" => {
            let p = if paren.is_empty() {
                "(1)".to_string()
            } else {
                paren.clone()
            };
            Mapped {
                needs_marker: true,
                ..mk(
                    &format!("BINARY BLOB{p}"),
                    format!("binary{p}"),
                    false,
                    false,
                )
            }
        }
        "VARBINARY" => Mapped {
            needs_marker: true,
            ..mk(
                &format!("VARBINARY BLOB{paren}"),
                format!("varbinary{paren}"),
                false,
                false,
            )
        },
        "JSON" => Mapped {
            needs_marker: true,
            ..mk("JSON TEXT", "json".into(), false, false)
        },
        "GEOMETRY" | "POINT" | "LINESTRING" | "POLYGON" | "MULTIPOINT" | "MULTILINESTRING"
        | "MULTIPOLYGON" | "GEOMETRYCOLLECTION" | "GEOMCOLLECTION" => {
            return Err(SqlError::Unsupported {
                construct: format!("spatial type {s}"),
            });
        }
        _ => {
            return Err(SqlError::Unsupported {
                construct: format!("column type {s}"),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;

    fn dt(s: &str) -> DataType {
        Parser::new(&MySqlDialect {})
            .try_with_sql(s)
            .unwrap()
            .parse_data_type()
            .unwrap()
    }

    /// Declared types keep the MySQL name where SQLite's affinity rules agree with it.
    #[test]
    fn declared_types() {
        let cases = [
            ("int(11)", "INT", "int"),
            ("INT(10) UNSIGNED", "INT UNSIGNED", "int unsigned"),
            ("bigint unsigned", "BIGINT UNSIGNED", "bigint unsigned"),
            ("tinyint(1)", "TINYINT(1)", "tinyint(1)"),
            ("BOOLEAN", "TINYINT(1)", "tinyint(1)"),
            ("INTEGER", "INTEGER", "int"),
            ("varchar(255)", "VARCHAR(255)", "varchar(255)"),
            ("CHAR(120)", "CHAR(120)", "char(120)"),
            ("decimal(10,2)", "DECIMAL(10,2)", "decimal(10,2)"),
            ("DECIMAL", "DECIMAL(10,0)", "decimal(10,0)"),
            ("datetime(6)", "DATETIME(6)", "datetime(6)"),
            ("longtext", "LONGTEXT", "longtext"),
            ("blob", "BLOB", "blob"),
            ("varbinary(16)", "VARBINARY BLOB(16)", "varbinary(16)"),
            ("json", "JSON TEXT", "json"),
            ("double", "DOUBLE", "double"),
        ];
        for (mysql, decl, shown) in cases {
            let m = map_type(&dt(mysql)).unwrap();
            assert_eq!(
                (m.decl.as_str(), m.mysql.as_str()),
                (decl, shown),
                "{mysql}"
            );
        }
        let e = map_type(&dt("enum('a','b')")).unwrap();
        assert_eq!(e.decl, "ENUM TEXT");
        assert_eq!(e.enum_values, Some(vec!["a".to_string(), "b".to_string()]));
        assert!(map_type(&dt("POINT")).is_err());
    }

    /// Result-column metadata follows the declared type; INTEGER is reported as BIGINT.
    #[test]
    fn column_meta_from_decltype() {
        let m = column_meta(Some("INT UNSIGNED"), "a", Some("t"));
        assert_eq!(m.column_type, MysqlType::Long);
        assert!(m.flags & column_flags::UNSIGNED != 0);
        assert_eq!(
            column_meta(Some("INTEGER"), "id", None).column_type,
            MysqlType::LongLong
        );
        let d = column_meta(Some("DECIMAL(10,2)"), "d", None);
        assert_eq!((d.column_type, d.decimals), (MysqlType::NewDecimal, 2));
        assert_eq!(
            column_meta(Some("VARCHAR(10)"), "v", None).column_type,
            MysqlType::VarString
        );
        assert_eq!(
            column_meta(Some("JSON TEXT"), "j", None).column_type,
            MysqlType::Json
        );
        assert_eq!(
            column_meta(Some("DATETIME"), "d", None).column_type,
            MysqlType::DateTime
        );
        assert_eq!(
            column_meta(None, "x", None).column_type,
            MysqlType::VarString
        );
        let b = column_meta(Some("LONGBLOB"), "b", None);
        assert_eq!(b.charset, CHARSET_BINARY);
    }
}
