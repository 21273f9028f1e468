//! The fuzzing entry point: every decoder that sees client bytes, reachable from `&[u8]`.

use std::cell::RefCell;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::backend::Backend;
use crate::command::Command;
use crate::config::ServerConfig;
use crate::consts::cap;
use crate::handshake::{self, HandshakeResponse};
use crate::packet::PacketStream;
use crate::stmt::{self, Statement};
use crate::types::{
    Column, ColumnType, ConnectInfo, ErrInfo, OkInfo, PrepareInfo, QueryResult, ResultSet,
    SessionStatus, Value,
};

/// Bound on payloads in the fuzz driver: large enough for multi-chunk framing logic
/// to be reachable in the decoder, small enough to keep runs fast.
const FUZZ_MAX_PACKET_BYTES: usize = 1 << 20;

/// Runs `data` through every decoder that handles client bytes; panics only on a bug.
///
/// Two passes:
/// 1. Decoders directly: `data` is split into packets by the packet reader, and each
///    payload is decoded as a HandshakeResponse41, an SslRequest and a command; a
///    COM_STMT_EXECUTE is decoded against a statement with `stmt_id % 8` parameters
///    (types remembered across packets, long data accumulated as a client would send it).
/// 2. A whole session: `serve_connection` with an in-memory stream that yields `data` and
///    a backend that answers with every column type. If the first byte is even, a valid
///    login (user without password) is put in front, so the rest of `data` is read as
///    commands; otherwise `data` must supply its own handshake response.
pub fn fuzz_decode(data: &[u8]) {
    decode_packets(data);
    run_session(data);
}

/// Pass 1: the framing reader and the pure decoders, without a runtime.
fn decode_packets(data: &[u8]) {
    let mut io = PacketStream::new(
        SliceStream::new(data.to_vec()),
        FUZZ_MAX_PACKET_BYTES,
        Duration::from_secs(1),
    );
    let mut statements: Vec<Statement> = (0..8).map(Statement::new).collect();
    loop {
        // The sequence id restarts at 0 for every command, as in the command phase.
        io.reset_seq();
        let payload = match poll_ready(io.read_payload()) {
            Some(Ok(Some(p))) => p,
            _ => return,
        };
        let _ = handshake::client_capabilities(&payload);
        let _ = handshake::check_ssl_request(&payload);
        let _ = HandshakeResponse::parse(&payload, cap::SERVER_DEFAULT | cap::SSL);
        match Command::parse(&payload) {
            Ok(Command::StmtExecute {
                stmt_id, params, ..
            }) => {
                let st = &mut statements[stmt_id as usize % 8];
                let _ = stmt::decode_params(params, st);
                st.clear_long_data();
            }
            Ok(Command::StmtSendLongData {
                stmt_id,
                param,
                data,
            }) => {
                let st = &mut statements[stmt_id as usize % 8];
                let index = usize::from(param);
                if index < st.param_count {
                    st.long_data.resize(st.param_count, None);
                    st.long_data[index]
                        .get_or_insert_with(Vec::new)
                        .extend_from_slice(data);
                }
            }
            _ => {}
        }
    }
}

/// Polls a future that cannot wait (its I/O is in memory) to completion.
fn poll_ready<F: std::future::Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

thread_local! {
    static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

/// Pass 2: a whole session over an in-memory stream.
fn run_session(data: &[u8]) {
    let mut input = Vec::new();
    if data.first().is_some_and(|b| b % 2 == 0) {
        input.extend_from_slice(&login_packet());
        input.extend_from_slice(&data[1..]);
    } else {
        input.extend_from_slice(data);
    }
    let config = Arc::new(ServerConfig {
        max_allowed_packet: FUZZ_MAX_PACKET_BYTES,
        handshake_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        ..ServerConfig::default()
    });
    RUNTIME.with(|rt| {
        let mut rt = rt.borrow_mut();
        let rt = rt.get_or_insert_with(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a current-thread runtime can be built")
        });
        let stream = SliceStream::new(input);
        let _ = rt.block_on(crate::serve_connection(
            stream,
            FuzzBackend::default(),
            config,
            1,
            None,
        ));
    });
}

/// HandshakeResponse41 (sequence id 1) for user "fuzz" with an empty password.
fn login_packet() -> Vec<u8> {
    let mut p = Vec::new();
    let flags = cap::SERVER_DEFAULT;
    p.extend_from_slice(&flags.to_le_bytes());
    p.extend_from_slice(&(1u32 << 24).to_le_bytes());
    p.push(45);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(b"fuzz\0");
    p.push(0); // empty auth response (lenenc)
    p.extend_from_slice(b"db\0mysql_native_password\0");
    let mut framed = (p.len() as u32).to_le_bytes().to_vec();
    framed[3] = 1;
    framed.extend_from_slice(&p);
    framed
}

/// Reads from a buffer, then EOF; writes are discarded.
struct SliceStream {
    data: Vec<u8>,
    pos: usize,
}

impl SliceStream {
    fn new(data: Vec<u8>) -> Self {
        SliceStream { data, pos: 0 }
    }
}

impl AsyncRead for SliceStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = buf.remaining().min(self.data.len() - self.pos);
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for SliceStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A backend whose answers exercise every encoder: all column types, all value kinds
/// (including kinds that do not match the column type), several results per query.
#[derive(Default)]
struct FuzzBackend {
    in_transaction: bool,
}

const ALL_TYPES: [ColumnType; 27] = {
    use ColumnType::*;
    [
        Decimal, Tiny, Short, Long, Float, Double, Null, Timestamp, LongLong, Int24, Date, Time,
        DateTime, Year, VarChar, Bit, Json, NewDecimal, Enum, Set, TinyBlob, MediumBlob, LongBlob,
        Blob, VarString, String, Geometry,
    ]
};

fn all_columns(decimals: u8) -> Vec<Column> {
    ALL_TYPES
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let mut c = Column::new(format!("c{i}"), t);
            c.decimals = decimals;
            if i % 2 == 0 {
                c.flags |= Column::UNSIGNED;
            }
            c
        })
        .collect()
}

fn sample_values(seed: &[u8]) -> Vec<Value> {
    let s = |i: usize| seed.get(i).copied().unwrap_or(0);
    vec![
        Value::Null,
        Value::Int(i64::from(s(0) as i8) * 1_000_003),
        Value::UInt(u64::MAX - u64::from(s(1))),
        Value::Double(f64::from(s(2)) / 7.0),
        Value::Bytes(seed.to_vec()),
        Value::Date {
            year: u16::from(s(3)) * 40,
            month: s(4),
            day: s(5),
        },
        Value::DateTime {
            year: 2024,
            month: s(6),
            day: s(7),
            hour: s(8),
            minute: s(9),
            second: s(10),
            micros: u32::from(s(11)) * 4000,
        },
        Value::Time {
            negative: s(12) % 2 == 1,
            days: u32::from(s(13)) * 1000,
            hours: s(14),
            minutes: s(15),
            seconds: s(16),
            micros: u32::from(s(17)) * 3999,
        },
        Value::Bytes(b"2021-12-31 23:59:59.5".to_vec()),
        Value::Bytes(b"-838:59:59".to_vec()),
    ]
}

/// Rows that put every sample value in every column.
fn rows_for(values: &[Value], columns: usize) -> Vec<Vec<Value>> {
    (0..values.len())
        .map(|shift| {
            (0..columns)
                .map(|c| values[(c + shift) % values.len()].clone())
                .collect()
        })
        .collect()
}

impl Backend for FuzzBackend {
    async fn auth_lookup(&mut self, _user: &str) -> Result<Option<crate::Credential>, ErrInfo> {
        Ok(Some(crate::Credential::Empty))
    }

    async fn on_connect(&mut self, info: &ConnectInfo) -> Result<(), ErrInfo> {
        match info.database.as_deref() {
            Some("refuse") => Err(ErrInfo::new(1049, b"42000", "Unknown database 'refuse'")),
            _ => Ok(()),
        }
    }

    async fn on_auth_failed(&mut self, _user: &str) {}

    async fn query(&mut self, sql: &str, multi: bool) -> Vec<QueryResult> {
        let b = sql.as_bytes();
        let decimals = b.get(1).copied().unwrap_or(0) % 40;
        let rows = QueryResult::Rows(ResultSet {
            columns: all_columns(decimals),
            rows: rows_for(&sample_values(b), ALL_TYPES.len()),
        });
        let ok = QueryResult::Ok(OkInfo {
            affected_rows: b.len() as u64,
            last_insert_id: 7,
            warnings: 1,
            info: sql.to_string(),
        });
        let err = QueryResult::Err(ErrInfo::new(1064, b"42000", sql));
        self.in_transaction = b.len().is_multiple_of(3);
        match b.first().copied().unwrap_or(0) % 5 {
            0 => vec![rows],
            1 => vec![ok],
            2 => vec![err],
            3 if multi => vec![rows.clone(), ok, rows, err],
            _ => Vec::new(),
        }
    }

    async fn prepare(&mut self, _stmt_id: u32, sql: &str) -> Result<PrepareInfo, ErrInfo> {
        if sql.starts_with('!') {
            return Err(ErrInfo::new(1064, b"42000", "syntax"));
        }
        let params = (0..sql.len() % 6)
            .map(|i| Column::new(format!("?{i}"), ColumnType::VarString))
            .collect();
        Ok(PrepareInfo {
            params,
            columns: if sql.len().is_multiple_of(2) {
                all_columns(0)
            } else {
                Vec::new()
            },
        })
    }

    async fn execute(&mut self, _stmt_id: u32, params: Vec<Value>) -> QueryResult {
        if params.is_empty() {
            return QueryResult::Ok(OkInfo::default());
        }
        let mut values = params;
        values.extend(sample_values(b"exec"));
        QueryResult::Rows(ResultSet {
            columns: all_columns(3),
            rows: rows_for(&values, ALL_TYPES.len()),
        })
    }

    async fn close(&mut self, _stmt_id: u32) {}

    async fn init_db(&mut self, db: &str) -> Result<(), ErrInfo> {
        if db.is_empty() {
            Err(ErrInfo::new(1046, b"3D000", "No database selected"))
        } else {
            Ok(())
        }
    }

    async fn field_list(&mut self, _table: &str) -> Result<Vec<Column>, ErrInfo> {
        Ok(all_columns(0))
    }

    fn status(&self) -> SessionStatus {
        SessionStatus {
            in_transaction: self.in_transaction,
            autocommit: !self.in_transaction,
        }
    }

    async fn on_disconnect(&mut self) {}
}
