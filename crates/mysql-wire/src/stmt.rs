//! Prepared statements: per-statement state and the decoding of COM_STMT_EXECUTE
//! parameters (binary protocol values).

use crate::buf::Reader;
use crate::consts::codes;
use crate::error::WireError;
use crate::types::{ColumnType, ErrInfo, Value};

/// Flag bit in a parameter's type byte pair: the integer is unsigned.
const PARAM_UNSIGNED: u8 = 0x80;

/// A parameter's declared type, as sent with `new_params_bound`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ParamType {
    pub column_type: ColumnType,
    pub unsigned: bool,
}

/// What the connection remembers about one prepared statement.
#[derive(Debug)]
pub(crate) struct Statement {
    pub param_count: usize,
    /// Types from the last execute that bound them; reused when `new_params_bound` is 0.
    pub param_types: Option<Vec<ParamType>>,
    /// COM_STMT_SEND_LONG_DATA bytes per parameter, consumed by the next execute.
    pub long_data: Vec<Option<Vec<u8>>>,
    /// Set when long data could not be accepted; reported by the next execute.
    pub long_data_error: Option<ErrInfo>,
}

impl Statement {
    pub(crate) fn new(param_count: usize) -> Self {
        Statement {
            param_count,
            param_types: None,
            long_data: Vec::new(),
            long_data_error: None,
        }
    }

    /// Bytes of long data held by this statement.
    pub(crate) fn long_data_bytes(&self) -> usize {
        self.long_data.iter().flatten().map(Vec::len).sum()
    }

    /// Forgets long data (COM_STMT_RESET, and after each execute).
    pub(crate) fn clear_long_data(&mut self) {
        self.long_data.clear();
        self.long_data_error = None;
    }
}

fn wrong_arguments(detail: impl std::fmt::Display) -> ErrInfo {
    ErrInfo::new(
        codes::ER_WRONG_ARGUMENTS,
        b"HY000",
        format!("Incorrect arguments to mysqld_stmt_execute: {detail}"),
    )
}

fn malformed(e: WireError) -> ErrInfo {
    ErrInfo::new(
        codes::ER_MALFORMED_PACKET,
        b"HY000",
        format!("Malformed communication packet: {e}"),
    )
}

/// Decodes the parameter block of COM_STMT_EXECUTE (everything after the flags byte).
///
/// Types are checked against a whitelist before any value is read, so an internal-only
/// type code (TIMESTAMP2, DATETIME2, TIME2, TYPED_ARRAY, ...) is an error, not a crash.
/// Parameters with long data take it (it is consumed); their value is not in the packet.
pub(crate) fn decode_params(block: &[u8], stmt: &mut Statement) -> Result<Vec<Value>, ErrInfo> {
    let mut r = Reader::new(block);
    // iteration count: always 1 in practice, and ignored by MySQL too
    r.u32("iteration count").map_err(malformed)?;
    let n = stmt.param_count;
    if n == 0 {
        return Ok(Vec::new());
    }
    let null_bitmap = r.take(n.div_ceil(8), "NULL bitmap").map_err(malformed)?;
    let new_params_bound = r.u8("new_params_bound flag").map_err(malformed)?;
    if new_params_bound == 1 {
        let mut types = Vec::with_capacity(n);
        for _ in 0..n {
            let code = r.u8("parameter type").map_err(malformed)?;
            let flags = r.u8("parameter flags").map_err(malformed)?;
            let column_type = param_type(code).ok_or_else(|| {
                wrong_arguments(format!("unsupported parameter type 0x{code:02x}"))
            })?;
            types.push(ParamType {
                column_type,
                unsigned: flags & PARAM_UNSIGNED != 0,
            });
        }
        stmt.param_types = Some(types);
    } else if new_params_bound != 0 {
        return Err(wrong_arguments("new_params_bound flag is neither 0 nor 1"));
    }
    let types = stmt
        .param_types
        .as_ref()
        .ok_or_else(|| wrong_arguments("parameter types were never sent"))?;

    let mut values = Vec::with_capacity(n);
    for (i, ty) in types.iter().enumerate() {
        if let Some(data) = stmt.long_data.get_mut(i).and_then(Option::take) {
            values.push(Value::Bytes(data));
            continue;
        }
        if null_bitmap[i / 8] & (1 << (i % 8)) != 0 {
            values.push(Value::Null);
            continue;
        }
        values.push(decode_value(&mut r, *ty).map_err(malformed)?);
    }
    Ok(values)
}

/// The whitelist of parameter types a client may send.
fn param_type(code: u8) -> Option<ColumnType> {
    // ColumnType::from_code already excludes the internal-only codes.
    ColumnType::from_code(code)
}

/// One binary-protocol value of the given type.
fn decode_value(r: &mut Reader<'_>, ty: ParamType) -> Result<Value, WireError> {
    use ColumnType::*;
    let int = |bits: u64, signed: i64| {
        if ty.unsigned {
            Value::UInt(bits)
        } else {
            Value::Int(signed)
        }
    };
    Ok(match ty.column_type {
        Null => Value::Null,
        Tiny => {
            let b = r.u8("TINYINT parameter")?;
            int(u64::from(b), i64::from(b as i8))
        }
        Short | Year => {
            let v = r.u16("SMALLINT parameter")?;
            int(u64::from(v), i64::from(v as i16))
        }
        Long | Int24 => {
            let v = r.u32("INT parameter")?;
            int(u64::from(v), i64::from(v as i32))
        }
        LongLong => {
            let v = r.u64("BIGINT parameter")?;
            int(v, v as i64)
        }
        Float => {
            let v = r.u32("FLOAT parameter")?;
            Value::Double(f64::from(f32::from_bits(v)))
        }
        Double => Value::Double(f64::from_bits(r.u64("DOUBLE parameter")?)),
        Date | DateTime | Timestamp => {
            let len = r.u8("DATETIME parameter length")?;
            if !matches!(len, 0 | 4 | 7 | 11) {
                return Err(WireError::Malformed {
                    what: "DATETIME parameter length (must be 0, 4, 7 or 11)",
                });
            }
            let b = r.take(usize::from(len), "DATETIME parameter")?;
            let (year, month, day) = if len >= 4 {
                (u16::from_le_bytes([b[0], b[1]]), b[2], b[3])
            } else {
                (0, 0, 0)
            };
            let (hour, minute, second) = if len >= 7 {
                (b[4], b[5], b[6])
            } else {
                (0, 0, 0)
            };
            let micros = if len == 11 {
                u32::from_le_bytes([b[7], b[8], b[9], b[10]])
            } else {
                0
            };
            if ty.column_type == Date && (hour, minute, second, micros) == (0, 0, 0, 0) {
                Value::Date { year, month, day }
            } else {
                Value::DateTime {
                    year,
                    month,
                    day,
                    hour,
                    minute,
                    second,
                    micros,
                }
            }
        }
        Time => {
            let len = r.u8("TIME parameter length")?;
            if !matches!(len, 0 | 8 | 12) {
                return Err(WireError::Malformed {
                    what: "TIME parameter length (must be 0, 8 or 12)",
                });
            }
            let b = r.take(usize::from(len), "TIME parameter")?;
            if len == 0 {
                Value::Time {
                    negative: false,
                    days: 0,
                    hours: 0,
                    minutes: 0,
                    seconds: 0,
                    micros: 0,
                }
            } else {
                Value::Time {
                    negative: b[0] != 0,
                    days: u32::from_le_bytes([b[1], b[2], b[3], b[4]]),
                    hours: b[5],
                    minutes: b[6],
                    seconds: b[7],
                    micros: if len == 12 {
                        u32::from_le_bytes([b[8], b[9], b[10], b[11]])
                    } else {
                        0
                    },
                }
            }
        }
        Decimal | NewDecimal | VarChar | Bit | Json | Enum | Set | TinyBlob | MediumBlob
        | LongBlob | Blob | VarString | String | Geometry => {
            Value::Bytes(r.lenenc_bytes("string parameter")?.to_vec())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(bitmap: &[u8], types: Option<&[(u8, u8)]>, values: &[u8]) -> Vec<u8> {
        let mut b = 1u32.to_le_bytes().to_vec();
        b.extend_from_slice(bitmap);
        match types {
            Some(t) => {
                b.push(1);
                for &(ty, fl) in t {
                    b.extend_from_slice(&[ty, fl]);
                }
            }
            None => b.push(0),
        }
        b.extend_from_slice(values);
        b
    }

    /// Signed, unsigned (flag 0x80), NULL and string parameters decode; the types are
    /// remembered for an execute that does not resend them.
    #[test]
    fn params_decode_and_types_are_remembered() {
        let mut st = Statement::new(3);
        let b = block(
            &[0b010],
            Some(&[(0x01, 0), (0x08, 0), (0x08, 0x80)]),
            &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        );
        assert_eq!(
            decode_params(&b, &mut st).unwrap(),
            vec![Value::Int(-1), Value::Null, Value::UInt(u64::MAX)]
        );
        let b = block(&[0b011], None, &[0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            decode_params(&b, &mut st).unwrap(),
            vec![Value::Null, Value::Null, Value::UInt(0)]
        );
    }

    /// Internal-only type codes that crash mysql_common's decoder are refused with 1210.
    #[test]
    fn internal_type_codes_are_refused() {
        for code in [0x11u8, 0x12, 0x13, 0x14, 0x0e, 0xf2, 0x42] {
            let mut st = Statement::new(1);
            let b = block(&[0], Some(&[(code, 0)]), &[4, 1, 2, 3, 4]);
            assert_eq!(
                decode_params(&b, &mut st).unwrap_err().code,
                codes::ER_WRONG_ARGUMENTS
            );
        }
    }

    /// Missing types on the first execute, truncated values and bad temporal lengths are
    /// errors, not panics.
    #[test]
    fn bad_blocks_are_errors() {
        let mut st = Statement::new(1);
        assert!(decode_params(&block(&[0], None, &[]), &mut st).is_err());
        let mut st = Statement::new(1);
        assert!(decode_params(&block(&[0], Some(&[(0x08, 0)]), &[1, 2]), &mut st).is_err());
        let mut st = Statement::new(1);
        assert!(
            decode_params(
                &block(&[0], Some(&[(0x0c, 0)]), &[5, 1, 2, 3, 4, 5]),
                &mut st
            )
            .is_err()
        );
        let mut st = Statement::new(1);
        assert!(decode_params(&[1, 0], &mut st).is_err());
    }

    /// Long data replaces the parameter's value and is consumed by the execute.
    #[test]
    fn long_data_is_used_once() {
        let mut st = Statement::new(1);
        st.long_data = vec![Some(b"big".to_vec())];
        let b = block(&[0], Some(&[(0xfc, 0)]), &[]);
        assert_eq!(
            decode_params(&b, &mut st).unwrap(),
            vec![Value::Bytes(b"big".to_vec())]
        );
        assert!(decode_params(&b, &mut st).is_err()); // value now expected in the packet
    }
}
