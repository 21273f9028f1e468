//! The data the backend and the wire exchange: values, column definitions, results.

use std::net::SocketAddr;

/// One SQL value, as a parameter of COM_STMT_EXECUTE or as a cell of a result row.
///
/// In a result row the value is encoded according to its column's [`ColumnType`]; a value
/// of another kind is converted (for example `Bytes(b"42")` in a `LongLong` column is sent
/// as the integer 42 in the binary protocol). Backends should still send matching kinds:
/// the conversion is a safety net, not a type system.
///
/// Parameters reach the backend as the client sent them: the field ranges documented
/// below are what MySQL means, but the wire crate does not check them (a client can send
/// month 13 or 1 000 000 microseconds); the backend validates what it stores.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A signed integer.
    Int(i64),
    /// An unsigned integer (a parameter sent with the unsigned flag, or a BIGINT UNSIGNED
    /// column).
    UInt(u64),
    /// A floating point number (FLOAT parameters are widened to f64).
    Double(f64),
    /// Text or binary data; text is UTF-8 unless the column's charset says otherwise.
    /// DECIMAL values travel as their decimal text.
    Bytes(Vec<u8>),
    /// A calendar date; zero fields are MySQL's zero date.
    Date {
        /// Year, 0..=9999.
        year: u16,
        /// Month, 1..=12 (0 in a zero date).
        month: u8,
        /// Day of month, 1..=31 (0 in a zero date).
        day: u8,
    },
    /// A date and time of day (DATETIME and TIMESTAMP).
    DateTime {
        /// Year, 0..=9999.
        year: u16,
        /// Month, 1..=12.
        month: u8,
        /// Day of month, 1..=31.
        day: u8,
        /// Hour, 0..=23.
        hour: u8,
        /// Minute, 0..=59.
        minute: u8,
        /// Second, 0..=59.
        second: u8,
        /// Microseconds, 0..=999_999.
        micros: u32,
    },
    /// A duration or time of day (TIME): `[-]days hours:minutes:seconds.micros`.
    Time {
        /// True for a negative duration.
        negative: bool,
        /// Whole days (the text form shows `days * 24 + hours` hours).
        days: u32,
        /// Hours, 0..=23.
        hours: u8,
        /// Minutes, 0..=59.
        minutes: u8,
        /// Seconds, 0..=59.
        seconds: u8,
        /// Microseconds, 0..=999_999.
        micros: u32,
    },
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::UInt(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Double(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Bytes(v.as_bytes().to_vec())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Bytes(v.into_bytes())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// MySQL column type codes (`enum_field_types`), as sent in column definitions and in
/// COM_STMT_EXECUTE parameter types. The internal-only codes (TIMESTAMP2, DATETIME2,
/// TIME2, TYPED_ARRAY, ...) are deliberately absent: they never appear on this wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ColumnType {
    /// DECIMAL (old); values travel as text.
    Decimal = 0x00,
    /// TINYINT: 1 byte.
    Tiny = 0x01,
    /// SMALLINT: 2 bytes.
    Short = 0x02,
    /// INT: 4 bytes.
    Long = 0x03,
    /// FLOAT: 4-byte IEEE 754.
    Float = 0x04,
    /// DOUBLE: 8-byte IEEE 754.
    Double = 0x05,
    /// The type of a NULL literal.
    Null = 0x06,
    /// TIMESTAMP: same encoding as DATETIME.
    Timestamp = 0x07,
    /// BIGINT: 8 bytes.
    LongLong = 0x08,
    /// MEDIUMINT: sent as 4 bytes.
    Int24 = 0x09,
    /// DATE.
    Date = 0x0a,
    /// TIME.
    Time = 0x0b,
    /// DATETIME.
    DateTime = 0x0c,
    /// YEAR: sent as 2 bytes.
    Year = 0x0d,
    /// VARCHAR (rarely sent; servers use VarString).
    VarChar = 0x0f,
    /// BIT: sent as a byte string.
    Bit = 0x10,
    /// JSON: sent as text.
    Json = 0xf5,
    /// DECIMAL / NUMERIC: values travel as text.
    NewDecimal = 0xf6,
    /// ENUM: sent as text.
    Enum = 0xf7,
    /// SET: sent as text.
    Set = 0xf8,
    /// TINYBLOB / TINYTEXT.
    TinyBlob = 0xf9,
    /// MEDIUMBLOB / MEDIUMTEXT.
    MediumBlob = 0xfa,
    /// LONGBLOB / LONGTEXT.
    LongBlob = 0xfb,
    /// BLOB / TEXT.
    Blob = 0xfc,
    /// VARCHAR / VARBINARY.
    VarString = 0xfd,
    /// CHAR / BINARY.
    String = 0xfe,
    /// GEOMETRY: sent as a byte string.
    Geometry = 0xff,
}

impl ColumnType {
    /// The one-byte type code on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The type for a wire code, or `None` for codes this server does not accept.
    pub fn from_code(code: u8) -> Option<ColumnType> {
        use ColumnType::*;
        Some(match code {
            0x00 => Decimal,
            0x01 => Tiny,
            0x02 => Short,
            0x03 => Long,
            0x04 => Float,
            0x05 => Double,
            0x06 => Null,
            0x07 => Timestamp,
            0x08 => LongLong,
            0x09 => Int24,
            0x0a => Date,
            0x0b => Time,
            0x0c => DateTime,
            0x0d => Year,
            0x0f => VarChar,
            0x10 => Bit,
            0xf5 => Json,
            0xf6 => NewDecimal,
            0xf7 => Enum,
            0xf8 => Set,
            0xf9 => TinyBlob,
            0xfa => MediumBlob,
            0xfb => LongBlob,
            0xfc => Blob,
            0xfd => VarString,
            0xfe => String,
            0xff => Geometry,
            _ => return None,
        })
    }

    /// True for the integer types (TINYINT .. BIGINT, MEDIUMINT, YEAR).
    pub fn is_integer(self) -> bool {
        use ColumnType::*;
        matches!(self, Tiny | Short | Long | LongLong | Int24 | Year)
    }

    /// True for the types whose values are dates, times or both.
    pub fn is_temporal(self) -> bool {
        use ColumnType::*;
        matches!(self, Date | DateTime | Timestamp | Time)
    }
}

/// One column of a result set, or one parameter of a prepared statement
/// (ColumnDefinition41 on the wire).
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// Database name ("" if none).
    pub schema: String,
    /// Table name or alias ("" for expressions).
    pub table: String,
    /// Column name or alias.
    pub name: String,
    /// Type; decides the binary encoding of the column's values.
    pub column_type: ColumnType,
    /// Bit set of `Column::NOT_NULL`, `Column::UNSIGNED`, ...
    pub flags: u16,
    /// Collation id: [`Column::CHARSET_UTF8MB4`], [`Column::CHARSET_BINARY`], ...
    pub charset: u16,
    /// Maximum display length in bytes.
    pub column_length: u32,
    /// Digits after the decimal point (0x1f: not fixed; 0..=6 for fractional seconds).
    pub decimals: u8,
}

impl Column {
    /// The column cannot be NULL.
    pub const NOT_NULL: u16 = 0x0001;
    /// Part of the primary key.
    pub const PRI_KEY: u16 = 0x0002;
    /// Part of a unique key.
    pub const UNIQUE_KEY: u16 = 0x0004;
    /// Part of a non-unique key.
    pub const MULTIPLE_KEY: u16 = 0x0008;
    /// A BLOB or TEXT column.
    pub const BLOB: u16 = 0x0010;
    /// An unsigned integer: binary values are read as unsigned.
    pub const UNSIGNED: u16 = 0x0020;
    /// ZEROFILL.
    pub const ZEROFILL: u16 = 0x0040;
    /// Binary data (binary collation).
    pub const BINARY: u16 = 0x0080;
    /// ENUM.
    pub const ENUM: u16 = 0x0100;
    /// AUTO_INCREMENT.
    pub const AUTO_INCREMENT: u16 = 0x0200;
    /// TIMESTAMP.
    pub const TIMESTAMP: u16 = 0x0400;
    /// SET.
    pub const SET: u16 = 0x0800;
    /// No default value.
    pub const NO_DEFAULT_VALUE: u16 = 0x1000;
    /// ON UPDATE NOW().
    pub const ON_UPDATE_NOW: u16 = 0x2000;
    /// A number.
    pub const NUM: u16 = 0x8000;

    /// Collation id 33: utf8mb3_general_ci.
    pub const CHARSET_UTF8: u16 = 33;
    /// Collation id 45: utf8mb4_general_ci.
    pub const CHARSET_UTF8MB4: u16 = 45;
    /// Collation id 255: utf8mb4_0900_ai_ci (MySQL 8.0's default).
    pub const CHARSET_UTF8MB4_0900: u16 = 255;
    /// Collation id 63: binary (numbers, dates and BLOBs).
    pub const CHARSET_BINARY: u16 = 63;

    /// A column with the usual metadata for its type: binary charset and the NUM / BINARY
    /// flags for numbers and dates, utf8mb4 for text, the display length MySQL reports.
    /// Set `schema`, `table` and extra flags on the result as needed.
    pub fn new(name: impl Into<String>, column_type: ColumnType) -> Column {
        use ColumnType::*;
        let (charset, column_length, decimals, flags) = match column_type {
            Tiny => (Self::CHARSET_BINARY, 4, 0, Self::NUM | Self::BINARY),
            Short => (Self::CHARSET_BINARY, 6, 0, Self::NUM | Self::BINARY),
            Int24 => (Self::CHARSET_BINARY, 9, 0, Self::NUM | Self::BINARY),
            Long => (Self::CHARSET_BINARY, 11, 0, Self::NUM | Self::BINARY),
            LongLong => (Self::CHARSET_BINARY, 20, 0, Self::NUM | Self::BINARY),
            Year => (
                Self::CHARSET_BINARY,
                4,
                0,
                Self::NUM | Self::BINARY | Self::UNSIGNED,
            ),
            Float => (Self::CHARSET_BINARY, 12, 31, Self::NUM | Self::BINARY),
            Double => (Self::CHARSET_BINARY, 22, 31, Self::NUM | Self::BINARY),
            Decimal | NewDecimal => (Self::CHARSET_BINARY, 11, 0, Self::NUM | Self::BINARY),
            Date => (Self::CHARSET_BINARY, 10, 0, Self::BINARY),
            Time => (Self::CHARSET_BINARY, 17, 6, Self::BINARY),
            DateTime | Timestamp => (Self::CHARSET_BINARY, 26, 6, Self::BINARY),
            Null => (Self::CHARSET_BINARY, 0, 0, Self::BINARY),
            Bit | Geometry => (Self::CHARSET_BINARY, 64, 0, Self::BINARY),
            TinyBlob | MediumBlob | LongBlob | Blob => {
                (Self::CHARSET_UTF8MB4, u32::MAX, 0, Self::BLOB)
            }
            Json => (Self::CHARSET_BINARY, u32::MAX, 0, Self::BLOB | Self::BINARY),
            VarChar | VarString | String | Enum | Set => (Self::CHARSET_UTF8MB4, 1024, 0, 0),
        };
        Column {
            schema: std::string::String::new(),
            table: std::string::String::new(),
            name: name.into(),
            column_type,
            flags,
            charset,
            column_length,
            decimals,
        }
    }

    /// True if the UNSIGNED flag is set.
    pub fn is_unsigned(&self) -> bool {
        self.flags & Self::UNSIGNED != 0
    }
}

/// A fully materialised result set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResultSet {
    /// Column definitions, in order.
    pub columns: Vec<Column>,
    /// Rows; each has exactly one value per column (missing cells are sent as NULL,
    /// extra cells are dropped).
    pub rows: Vec<Vec<Value>>,
}

/// The content of an OK packet (a statement that returned no rows).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OkInfo {
    /// Rows changed (or matched, as the backend decides).
    pub affected_rows: u64,
    /// AUTO_INCREMENT id generated by the statement, 0 if none.
    pub last_insert_id: u64,
    /// Number of warnings.
    pub warnings: u16,
    /// Human-readable info ("Rows matched: 1  Changed: 1  Warnings: 0"), may be empty.
    pub info: String,
}

/// The content of an ERR packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrInfo {
    /// MySQL error code (1064, 1146, ...).
    pub code: u16,
    /// Five-character SQLSTATE ("42000", "HY000", ...).
    pub sqlstate: [u8; 5],
    /// Message shown to the user.
    pub message: String,
}

impl ErrInfo {
    /// An error with the given code, SQLSTATE and message.
    pub fn new(code: u16, sqlstate: &[u8; 5], message: impl Into<String>) -> ErrInfo {
        ErrInfo {
            code,
            sqlstate: *sqlstate,
            message: message.into(),
        }
    }
}

/// The result of one statement.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryResult {
    /// The statement succeeded without a result set.
    Ok(OkInfo),
    /// The statement returned rows.
    Rows(ResultSet),
    /// The statement failed.
    Err(ErrInfo),
}

/// What COM_STMT_PREPARE tells the client about a statement.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PrepareInfo {
    /// One entry per `?` placeholder (clients mostly ignore the details; the count matters).
    pub params: Vec<Column>,
    /// The columns the statement will return (empty for statements without rows).
    pub columns: Vec<Column>,
}

/// Session state reported in the status flags of OK and EOF packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionStatus {
    /// A transaction is open (SERVER_STATUS_IN_TRANS).
    pub in_transaction: bool,
    /// Autocommit is on (SERVER_STATUS_AUTOCOMMIT).
    pub autocommit: bool,
}

impl Default for SessionStatus {
    fn default() -> Self {
        SessionStatus {
            in_transaction: false,
            autocommit: true,
        }
    }
}

/// Who connected; passed to [`Backend::on_connect`](crate::Backend::on_connect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectInfo {
    /// The id sent in the greeting (what `CONNECTION_ID()` should return).
    pub connection_id: u32,
    /// The authenticated user.
    pub user: String,
    /// The default database: from the handshake, or the last successful COM_INIT_DB.
    pub database: Option<String>,
    /// The client's address, if known.
    pub peer: Option<SocketAddr>,
    /// True if the connection runs over TLS.
    pub secure: bool,
    /// False at login; true when the client sent COM_RESET_CONNECTION (the backend should
    /// roll back, drop session state and start afresh).
    pub reset: bool,
    /// True if the client asked for `CLIENT_FOUND_ROWS`: an UPDATE's affected rows are the
    /// rows it matched, not only those it changed.
    pub found_rows: bool,
}
