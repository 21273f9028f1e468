//! The server driven over an in-memory pipe by a minimal client written here from the
//! protocol documentation (not from this crate's encoders), so each test checks bytes on
//! the wire: handshake and authentication, text and binary results, prepared statements,
//! multi-packet payloads, limits, timeouts and malformed input.

use std::sync::Arc;
use std::time::Duration;

use quorate_mysql_wire::{ServerConfig, Value, WireError, serve_connection};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

#[path = "support/echo_backend.rs"]
mod echo_backend;
use echo_backend::{EchoBackend, ROOT_PASSWORD, SHA2_PASSWORD, sha2_credential, table_rows};

// Capability bits, from the protocol documentation.
const CLIENT_CONNECT_WITH_DB: u32 = 1 << 3;
const CLIENT_PROTOCOL_41: u32 = 1 << 9;
const CLIENT_SSL: u32 = 1 << 11;
const CLIENT_SECURE_CONNECTION: u32 = 1 << 15;
const CLIENT_MULTI_STATEMENTS: u32 = 1 << 16;
const CLIENT_MULTI_RESULTS: u32 = 1 << 17;
const CLIENT_PLUGIN_AUTH: u32 = 1 << 19;
const CLIENT_DEPRECATE_EOF: u32 = 1 << 24;
const BASE_CAPS: u32 = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;

const SERVER_STATUS_IN_TRANS: u16 = 1;
const SERVER_STATUS_AUTOCOMMIT: u16 = 2;
const SERVER_MORE_RESULTS_EXISTS: u16 = 8;

/// The client half of a connection, with the sequence id of the current exchange.
struct Client {
    s: DuplexStream,
    seq: u8,
    server: JoinHandle<Result<(), WireError>>,
}

/// What the client read from the greeting.
struct Greeting {
    version: String,
    connection_id: u32,
    capabilities: u32,
    scramble: Vec<u8>,
    plugin: String,
}

impl Client {
    fn start(config: ServerConfig) -> Client {
        Client::start_with(config, EchoBackend::default())
    }

    fn start_with(config: ServerConfig, backend: EchoBackend) -> Client {
        let (client, server) = tokio::io::duplex(1 << 20);
        let server = tokio::spawn(serve_connection(server, backend, Arc::new(config), 7, None));
        Client {
            s: client,
            seq: 0,
            server,
        }
    }

    /// Reads one payload, reassembling 16 MiB chunks and checking sequence ids.
    async fn read(&mut self) -> Vec<u8> {
        let mut payload = Vec::new();
        loop {
            let mut h = [0u8; 4];
            self.s.read_exact(&mut h).await.expect("packet header");
            let len = u32::from_le_bytes([h[0], h[1], h[2], 0]) as usize;
            assert_eq!(h[3], self.seq, "sequence id");
            self.seq = self.seq.wrapping_add(1);
            let start = payload.len();
            payload.resize(start + len, 0);
            self.s
                .read_exact(&mut payload[start..])
                .await
                .expect("packet payload");
            if len < 0xFF_FFFF {
                return payload;
            }
        }
    }

    /// True if the server closed the connection (reads EOF).
    async fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.s.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    async fn write(&mut self, payload: &[u8]) {
        let mut rest = payload;
        loop {
            let n = rest.len().min(0xFF_FFFF);
            let l = (n as u32).to_le_bytes();
            self.s
                .write_all(&[l[0], l[1], l[2], self.seq])
                .await
                .unwrap();
            self.s.write_all(&rest[..n]).await.unwrap();
            self.seq = self.seq.wrapping_add(1);
            rest = &rest[n..];
            if n < 0xFF_FFFF {
                return;
            }
        }
    }

    async fn command(&mut self, payload: &[u8]) {
        self.seq = 0;
        self.write(payload).await;
    }

    async fn greeting(&mut self) -> Greeting {
        let p = self.read().await;
        assert_eq!(p[0], 10, "protocol version");
        let mut r = Cursor(&p[1..]);
        let version = String::from_utf8(r.nul().to_vec()).unwrap();
        let connection_id = r.u32();
        let mut scramble = r.take(8).to_vec();
        assert_eq!(r.u8(), 0, "filler");
        let caps_lo = r.u16() as u32;
        let _collation = r.u8();
        let status = r.u16();
        assert_eq!(status, SERVER_STATUS_AUTOCOMMIT);
        let caps_hi = r.u16() as u32;
        let auth_len = r.u8() as usize;
        assert_eq!(r.take(10), &[0; 10]);
        let part2 = r.take(auth_len.max(21) - 8);
        scramble.extend_from_slice(&part2[..part2.len() - 1]);
        let plugin = String::from_utf8(r.nul().to_vec()).unwrap();
        Greeting {
            version,
            connection_id,
            capabilities: caps_lo | caps_hi << 16,
            scramble,
            plugin,
        }
    }

    /// Sends a HandshakeResponse41.
    async fn respond(
        &mut self,
        caps: u32,
        user: &str,
        token: &[u8],
        db: Option<&str>,
        plugin: &str,
    ) {
        let mut p = Vec::new();
        let caps = caps
            | if db.is_some() {
                CLIENT_CONNECT_WITH_DB
            } else {
                0
            };
        p.extend_from_slice(&caps.to_le_bytes());
        p.extend_from_slice(&(16u32 << 20).to_le_bytes());
        p.push(45);
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(user.as_bytes());
        p.push(0);
        p.push(token.len() as u8);
        p.extend_from_slice(token);
        if let Some(db) = db {
            p.extend_from_slice(db.as_bytes());
            p.push(0);
        }
        p.extend_from_slice(plugin.as_bytes());
        p.push(0);
        self.write(&p).await;
    }

    /// Connects as `user` with `password` and the given capabilities; returns the
    /// server's final handshake packet.
    async fn login(
        config: ServerConfig,
        caps: u32,
        user: &str,
        password: &str,
    ) -> (Client, Vec<u8>) {
        let mut c = Client::start(config);
        let g = c.greeting().await;
        let token = native_token(&g.scramble, password);
        c.respond(caps, user, &token, None, "mysql_native_password")
            .await;
        let reply = c.read().await;
        (c, reply)
    }

    async fn logged_in(caps: u32) -> Client {
        let (c, reply) = Client::login(ServerConfig::default(), caps, "root", ROOT_PASSWORD).await;
        assert_eq!(reply[0], 0x00, "login OK, got {reply:?}");
        c
    }
}

/// mysql_native_password as a client computes it.
fn native_token(scramble: &[u8], password: &str) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha1::digest(password.as_bytes());
    let stage2 = Sha1::digest(stage1);
    let mut h = Sha1::new();
    h.update(scramble);
    h.update(stage2);
    stage1
        .iter()
        .zip(h.finalize().iter())
        .map(|(a, b)| a ^ b)
        .collect()
}

/// A reader over a received payload (panics on short input: this is test code).
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take(2).try_into().unwrap())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }
    fn nul(&mut self) -> &'a [u8] {
        let i = self.0.iter().position(|&b| b == 0).unwrap();
        let s = &self.0[..i];
        self.0 = &self.0[i + 1..];
        s
    }
    fn lenenc(&mut self) -> u64 {
        match self.u8() {
            n @ 0..=0xFA => n as u64,
            0xFC => self.u16() as u64,
            0xFD => u32::from_le_bytes([self.u8(), self.u8(), self.u8(), 0]) as u64,
            0xFE => self.u64(),
            x => panic!("bad lenenc prefix {x:#x}"),
        }
    }
    fn lenenc_str(&mut self) -> &'a [u8] {
        let n = self.lenenc() as usize;
        self.take(n)
    }
}

/// An OK packet's fields.
#[derive(Debug, PartialEq)]
struct Ok {
    affected_rows: u64,
    last_insert_id: u64,
    status: u16,
    warnings: u16,
    info: String,
}

fn parse_ok(p: &[u8]) -> Ok {
    assert!(p[0] == 0x00 || p[0] == 0xFE, "not an OK packet: {p:?}");
    let mut r = Cursor(&p[1..]);
    Ok {
        affected_rows: r.lenenc(),
        last_insert_id: r.lenenc(),
        status: r.u16(),
        warnings: r.u16(),
        info: if r.0.is_empty() {
            String::new()
        } else {
            String::from_utf8(r.lenenc_str().to_vec()).unwrap()
        },
    }
}

/// (code, sqlstate, message) of an ERR packet.
fn parse_err(p: &[u8]) -> (u16, String, String) {
    assert_eq!(
        p[0],
        0xFF,
        "not an ERR packet: {:?}",
        String::from_utf8_lossy(p)
    );
    let code = u16::from_le_bytes([p[1], p[2]]);
    assert_eq!(p[3], b'#');
    (
        code,
        String::from_utf8(p[4..9].to_vec()).unwrap(),
        String::from_utf8(p[9..].to_vec()).unwrap(),
    )
}

/// A column definition's fields that matter to decoding.
#[derive(Debug)]
struct ColDef {
    name: String,
    charset: u16,
    length: u32,
    column_type: u8,
    flags: u16,
    decimals: u8,
}

fn parse_column(p: &[u8]) -> ColDef {
    let mut r = Cursor(p);
    assert_eq!(r.lenenc_str(), b"def");
    let _schema = r.lenenc_str();
    let _table = r.lenenc_str();
    let _org_table = r.lenenc_str();
    let name = String::from_utf8(r.lenenc_str().to_vec()).unwrap();
    let _org_name = r.lenenc_str();
    assert_eq!(r.lenenc(), 0x0c);
    let c = ColDef {
        name,
        charset: r.u16(),
        length: r.u32(),
        column_type: r.u8(),
        flags: r.u16(),
        decimals: r.u8(),
    };
    assert_eq!(r.take(2), &[0, 0]);
    c
}

/// Reads column definitions and, without DEPRECATE_EOF, the EOF after them.
async fn read_columns(c: &mut Client, n: usize, deprecate_eof: bool) -> Vec<ColDef> {
    let mut cols = Vec::new();
    for _ in 0..n {
        cols.push(parse_column(&c.read().await));
    }
    if !deprecate_eof {
        let eof = c.read().await;
        assert_eq!(
            (eof[0], eof.len()),
            (0xFE, 5),
            "EOF after column definitions"
        );
    }
    cols
}

/// Reads a whole result set: (columns, rows as raw packets, status of the terminator).
async fn read_result_set(c: &mut Client, deprecate_eof: bool) -> (Vec<ColDef>, Vec<Vec<u8>>, u16) {
    let first = c.read().await;
    let n = Cursor(&first).lenenc() as usize;
    let cols = read_columns(c, n, deprecate_eof).await;
    let mut rows = Vec::new();
    loop {
        let p = c.read().await;
        if p[0] == 0xFE && p.len() < 0xFF_FFFF {
            let status = if deprecate_eof {
                parse_ok(&p).status
            } else {
                assert_eq!(p.len(), 5);
                u16::from_le_bytes([p[3], p[4]])
            };
            return (cols, rows, status);
        }
        rows.push(p);
    }
}

/// Cells of a text row (None = NULL).
fn text_cells(p: &[u8]) -> Vec<Option<String>> {
    let mut r = Cursor(p);
    let mut cells = Vec::new();
    while !r.0.is_empty() {
        if r.0[0] == 0xFB {
            r.u8();
            cells.push(None);
        } else {
            cells.push(Some(String::from_utf8_lossy(r.lenenc_str()).into_owned()));
        }
    }
    cells
}

/// Decodes a binary row by the documented per-type rules.
fn binary_cells(p: &[u8], cols: &[ColDef]) -> Vec<Value> {
    let mut r = Cursor(p);
    assert_eq!(r.u8(), 0x00, "binary row header");
    let bitmap = r.take((cols.len() + 7 + 2) / 8).to_vec();
    let mut out = Vec::new();
    for (i, c) in cols.iter().enumerate() {
        if bitmap[(i + 2) / 8] & (1 << ((i + 2) % 8)) != 0 {
            out.push(Value::Null);
            continue;
        }
        let unsigned = c.flags & 0x20 != 0;
        let v = match c.column_type {
            0x01 => {
                if unsigned {
                    Value::UInt(r.u8() as u64)
                } else {
                    Value::Int(r.u8() as i8 as i64)
                }
            }
            0x02 | 0x0d => {
                if unsigned {
                    Value::UInt(r.u16() as u64)
                } else {
                    Value::Int(r.u16() as i16 as i64)
                }
            }
            0x03 | 0x09 => {
                if unsigned {
                    Value::UInt(r.u32() as u64)
                } else {
                    Value::Int(r.u32() as i32 as i64)
                }
            }
            0x08 => {
                if unsigned {
                    Value::UInt(r.u64())
                } else {
                    Value::Int(r.u64() as i64)
                }
            }
            0x04 => Value::Double(f32::from_bits(r.u32()) as f64),
            0x05 => Value::Double(f64::from_bits(r.u64())),
            0x0a | 0x0c | 0x07 => {
                let len = r.u8();
                let (mut y, mut mo, mut d, mut h, mut mi, mut s, mut us) = (0, 0, 0, 0, 0, 0, 0);
                if len >= 4 {
                    (y, mo, d) = (r.u16(), r.u8(), r.u8());
                }
                if len >= 7 {
                    (h, mi, s) = (r.u8(), r.u8(), r.u8());
                }
                if len == 11 {
                    us = r.u32();
                }
                if c.column_type == 0x0a {
                    assert!(len == 0 || len == 4, "DATE length {len}");
                    Value::Date {
                        year: y,
                        month: mo,
                        day: d,
                    }
                } else {
                    Value::DateTime {
                        year: y,
                        month: mo,
                        day: d,
                        hour: h,
                        minute: mi,
                        second: s,
                        micros: us,
                    }
                }
            }
            0x0b => {
                let len = r.u8();
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
                    let negative = r.u8() == 1;
                    let days = r.u32();
                    let (hours, minutes, seconds) = (r.u8(), r.u8(), r.u8());
                    let micros = if len == 12 { r.u32() } else { 0 };
                    Value::Time {
                        negative,
                        days,
                        hours,
                        minutes,
                        seconds,
                        micros,
                    }
                }
            }
            _ => Value::Bytes(r.lenenc_str().to_vec()),
        };
        out.push(v);
    }
    assert!(r.0.is_empty(), "trailing bytes in binary row");
    out
}

/// The greeting announces the configured version, mysql_native_password, the 4.1
/// protocol with plugin auth and DEPRECATE_EOF, and no CLIENT_SSL without TLS; the right
/// password logs in with an OK whose status says autocommit.
#[tokio::test]
async fn greeting_and_native_auth_with_right_password() {
    let mut c = Client::start(ServerConfig {
        server_version: "8.0.99-test".into(),
        ..Default::default()
    });
    let g = c.greeting().await;
    assert_eq!(g.version, "8.0.99-test");
    assert_eq!(g.connection_id, 7);
    assert_eq!(g.plugin, "mysql_native_password");
    assert_eq!(g.scramble.len(), 20);
    assert!(g.scramble.iter().all(|&b| b != 0));
    for bit in [
        CLIENT_PROTOCOL_41,
        CLIENT_SECURE_CONNECTION,
        CLIENT_PLUGIN_AUTH,
        CLIENT_DEPRECATE_EOF,
        CLIENT_MULTI_RESULTS,
    ] {
        assert!(g.capabilities & bit != 0, "capability {bit:#x}");
    }
    assert_eq!(g.capabilities & CLIENT_SSL, 0);
    let token = native_token(&g.scramble, ROOT_PASSWORD);
    c.respond(
        BASE_CAPS,
        "root",
        &token,
        Some("test"),
        "mysql_native_password",
    )
    .await;
    let ok = parse_ok(&c.read().await);
    assert_eq!(ok.status, SERVER_STATUS_AUTOCOMMIT);
    c.command(&[0x01]).await; // COM_QUIT
    assert!(c.closed().await);
    assert!(c.server.await.unwrap().is_ok());
}

/// A wrong password, a missing password and an unknown user each get ERR 1045 / 28000
/// with MySQL's message, the connection is closed, and serve_connection says why.
#[tokio::test]
async fn native_auth_failures_are_1045() {
    for (user, password, using) in [
        ("root", "wrong", "YES"),
        ("root", "", "NO"),
        ("ghost", "x", "YES"),
    ] {
        let (mut c, reply) =
            Client::login(ServerConfig::default(), BASE_CAPS, user, password).await;
        let (code, state, msg) = parse_err(&reply);
        assert_eq!((code, state.as_str()), (1045, "28000"));
        assert_eq!(
            msg,
            format!("Access denied for user '{user}'@'localhost' (using password: {using})")
        );
        assert!(c.closed().await);
        assert!(matches!(
            c.server.await.unwrap(),
            Err(WireError::AccessDenied { .. })
        ));
    }
}

/// A user without a password logs in only with an empty token.
#[tokio::test]
async fn empty_password_user_needs_empty_token() {
    let (_c, reply) = Client::login(ServerConfig::default(), BASE_CAPS, "nopw", "").await;
    assert_eq!(reply[0], 0x00);
    let (_c, reply) = Client::login(ServerConfig::default(), BASE_CAPS, "nopw", "something").await;
    assert_eq!(parse_err(&reply).0, 1045);
}

/// A client that answers with caching_sha2_password is sent an AuthSwitchRequest to
/// mysql_native_password carrying the greeting's scramble, and its native token logs in.
#[tokio::test]
async fn caching_sha2_client_is_switched_to_native() {
    let mut c = Client::start(ServerConfig::default());
    let g = c.greeting().await;
    c.respond(
        BASE_CAPS,
        "root",
        &[0xAA; 32],
        None,
        "caching_sha2_password",
    )
    .await;
    let scramble = read_auth_switch(&mut c, "mysql_native_password").await;
    assert_eq!(scramble, g.scramble);
    c.write(&native_token(&scramble, ROOT_PASSWORD)).await;
    assert_eq!(c.read().await[0], 0x00);
}

/// A backend that cannot decide a login refuses it with its own error (here 1047), sent
/// in place of the auth result, and the connection ends.
#[tokio::test]
async fn backend_refusal_during_login_is_sent_to_the_client() {
    let (mut c, reply) = Client::login(ServerConfig::default(), BASE_CAPS, "notyet", "x").await;
    let (code, state, message) = parse_err(&reply);
    assert_eq!(
        (code, state.as_str(), message.as_str()),
        (1047, "08S01", "not ready")
    );
    assert!(c.closed().await);
}

/// caching_sha2_password without TLS: an account no one has logged in as yet would need
/// full authentication, which is refused at once with 3159 over plaintext (as is a user
/// that does not exist); once
/// the node has checked the password (over TLS, or HTTP basic auth), the scramble answer is
/// accepted at once (AuthMoreData 3, then OK), and a wrong one gets 1045.
#[tokio::test]
async fn caching_sha2_fast_path_only_after_a_full_authentication() {
    let config = ServerConfig::default();
    // Nothing cached: full authentication is requested, and refused over plaintext.
    let mut c = Client::start(config.clone());
    let g = c.greeting().await;
    c.respond(
        BASE_CAPS,
        "sha2",
        &sha2_token(&g.scramble, SHA2_PASSWORD),
        None,
        "caching_sha2_password",
    )
    .await;
    let (code, _, message) = parse_err(&c.read().await);
    assert_eq!(code, 3159);
    assert!(message.contains("TLS"), "{message}");

    // A user that does not exist gets the same answer (user names cannot be probed).
    let mut c = Client::start(ServerConfig {
        default_auth_plugin: quorate_mysql_wire::AuthPlugin::CachingSha2,
        ..config.clone()
    });
    let g = c.greeting().await;
    assert_eq!(g.plugin, "caching_sha2_password");
    c.respond(
        BASE_CAPS,
        "ghost",
        &sha2_token(&g.scramble, SHA2_PASSWORD),
        None,
        "caching_sha2_password",
    )
    .await;
    assert_eq!(parse_err(&c.read().await).0, 3159);

    // The node checked the password once: the fast path works, for the right password only.
    assert!(sha2_credential().verify_cleartext(SHA2_PASSWORD, &config.password_cache));
    for (password, ok) in [(SHA2_PASSWORD, true), ("wrong", false)] {
        let mut c = Client::start(config.clone());
        let g = c.greeting().await;
        c.respond(
            BASE_CAPS,
            "sha2",
            &[0xAA; 20],
            None,
            "mysql_native_password",
        )
        .await;
        let scramble = read_auth_switch(&mut c, "caching_sha2_password").await;
        assert_eq!(
            scramble, g.scramble,
            "switched with the greeting's scramble"
        );
        c.write(&sha2_token(&g.scramble, password)).await;
        if ok {
            assert_eq!(c.read().await, vec![0x01, 0x03]);
            assert_eq!(c.read().await[0], 0x00);
        } else {
            assert_eq!(parse_err(&c.read().await).0, 1045);
        }
    }
}

/// Reads an AuthSwitchRequest for `plugin` and returns its scramble.
async fn read_auth_switch(c: &mut Client, plugin: &str) -> Vec<u8> {
    let switch = c.read().await;
    let mut r = Cursor(&switch);
    assert_eq!(r.u8(), 0xFE, "AuthSwitchRequest");
    assert_eq!(r.nul(), plugin.as_bytes());
    let scramble = r.take(20).to_vec();
    assert_eq!(r.0, &[0]);
    scramble
}

/// caching_sha2_password's fast-path answer as a client computes it.
fn sha2_token(scramble: &[u8], password: &str) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let stage1 = Sha256::digest(password.as_bytes());
    let stage2 = Sha256::digest(stage1);
    let mut h = Sha256::new();
    h.update(stage2);
    h.update(scramble);
    stage1
        .iter()
        .zip(h.finalize().iter())
        .map(|(a, b)| a ^ b)
        .collect()
}

/// COM_QUERY text result set without DEPRECATE_EOF: count, definitions (charset before
/// length), EOF, rows with NULLs, final EOF; BEGIN sets IN_TRANS in the next OK; a write
/// reports affected rows and last insert id.
#[tokio::test]
async fn text_result_set_with_eof_packets() {
    let mut c = Client::logged_in(BASE_CAPS).await;
    c.command(b"\x03SELECT * FROM t").await;
    let (cols, rows, status) = read_result_set(&mut c, false).await;
    assert_eq!(cols.len(), 16);
    assert_eq!(
        (
            cols[0].name.as_str(),
            cols[0].column_type,
            cols[0].charset,
            cols[0].length
        ),
        ("id", 0x08, 63, 20)
    );
    assert_eq!(cols[0].flags & 0x0203, 0x0203); // NOT_NULL | PRI_KEY | AUTO_INCREMENT
    assert_eq!(
        (cols[9].name.as_str(), cols[9].charset, cols[9].column_type),
        ("name", 45, 0xfd)
    );
    assert_eq!((cols[12].column_type, cols[12].decimals), (0x0c, 6));
    assert_eq!(status, SERVER_STATUS_AUTOCOMMIT);
    let row0 = text_cells(&rows[0]);
    assert_eq!(row0[5].as_deref(), Some("18446744073709551615"));
    assert_eq!(row0[12].as_deref(), Some("1999-12-31 23:59:58.123456"));
    assert_eq!(row0[14].as_deref(), Some("-838:59:59"));
    assert!(text_cells(&rows[2])[1..].iter().all(Option::is_none));

    c.command(b"\x03BEGIN").await;
    assert_eq!(
        parse_ok(&c.read().await).status,
        SERVER_STATUS_IN_TRANS | SERVER_STATUS_AUTOCOMMIT
    );
    c.command(b"\x03INSERT INTO x VALUES (1)").await;
    let ok = parse_ok(&c.read().await);
    assert_eq!(
        (
            ok.affected_rows,
            ok.last_insert_id,
            ok.status & SERVER_STATUS_IN_TRANS
        ),
        (1, 42, 1)
    );
}

/// With DEPRECATE_EOF there is no EOF after the definitions and the rows end with a
/// 0xFE-headed OK packet.
#[tokio::test]
async fn text_result_set_with_deprecate_eof() {
    let mut c = Client::logged_in(BASE_CAPS | CLIENT_DEPRECATE_EOF).await;
    c.command(b"\x03SELECT hello").await;
    let (cols, rows, status) = read_result_set(&mut c, true).await;
    assert_eq!(cols.len(), 1);
    assert_eq!(text_cells(&rows[0]), vec![Some("SELECT hello".to_string())]);
    assert_eq!(status, SERVER_STATUS_AUTOCOMMIT);
}

/// Multi-statements: refused by the backend when the client did not enable them, then
/// after COM_SET_OPTION(ON) two results arrive, the first flagged MORE_RESULTS_EXISTS;
/// a client that enabled them at login can turn them off with COM_SET_OPTION(OFF).
#[tokio::test]
async fn set_option_toggles_multi_statements() {
    let mut c = Client::logged_in(BASE_CAPS | CLIENT_MULTI_RESULTS).await;
    c.command(b"\x03INSERT INTO a VALUES (1); SELECT x").await;
    assert_eq!(parse_err(&c.read().await).0, 1064);
    c.command(&[0x1b, 0, 0]).await; // COM_SET_OPTION multi-statements on
    let eof = c.read().await;
    assert_eq!((eof[0], eof.len()), (0xFE, 5));
    c.command(b"\x03INSERT INTO a VALUES (1); SELECT x").await;
    let ok = parse_ok(&c.read().await);
    assert_eq!(
        ok.status & SERVER_MORE_RESULTS_EXISTS,
        SERVER_MORE_RESULTS_EXISTS
    );
    let (_, rows, status) = read_result_set(&mut c, false).await;
    assert_eq!(text_cells(&rows[0]), vec![Some("SELECT x".to_string())]);
    assert_eq!(status & SERVER_MORE_RESULTS_EXISTS, 0);

    // A client that asked for CLIENT_MULTI_STATEMENTS at login, then turned it off.
    let mut c = Client::logged_in(BASE_CAPS | CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS).await;
    c.command(b"\x03INSERT INTO a VALUES (1); INSERT INTO a VALUES (2)")
        .await;
    assert_eq!(
        parse_ok(&c.read().await).status & SERVER_MORE_RESULTS_EXISTS,
        SERVER_MORE_RESULTS_EXISTS
    );
    assert_eq!(
        parse_ok(&c.read().await).status & SERVER_MORE_RESULTS_EXISTS,
        0
    );
    c.command(&[0x1b, 1, 0]).await; // COM_SET_OPTION multi-statements off
    assert_eq!(c.read().await[0], 0xFE);
    c.command(b"\x03INSERT INTO a VALUES (1); INSERT INTO a VALUES (2)")
        .await;
    assert_eq!(parse_err(&c.read().await).0, 1064);
}

fn execute_packet(
    stmt_id: u32,
    null_bitmap: &[u8],
    types: Option<&[(u8, u8)]>,
    values: &[u8],
) -> Vec<u8> {
    let mut p = vec![0x17];
    p.extend_from_slice(&stmt_id.to_le_bytes());
    p.push(0); // CURSOR_TYPE_NO_CURSOR
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(null_bitmap);
    match types {
        Some(t) => {
            p.push(1);
            for &(ty, flags) in t {
                p.extend_from_slice(&[ty, flags]);
            }
        }
        None => p.push(0),
    }
    p.extend_from_slice(values);
    p
}

/// Prepare / execute: the prepare-OK layout (id, counts, parameter and column
/// definitions), parameters with NULL, the unsigned flag, a blob and long data, remembered
/// types on a second execute, the binary result row, then COM_STMT_RESET and
/// COM_STMT_CLOSE (an execute after close is ERR 1243).
#[tokio::test]
async fn prepared_statement_params_and_binary_result() {
    let mut c = Client::logged_in(BASE_CAPS).await;
    c.command(b"\x16SELECT ?, ?, ?, ?, ?").await;
    let p = c.read().await;
    let mut r = Cursor(&p);
    assert_eq!(r.u8(), 0x00);
    let stmt_id = r.u32();
    assert_eq!((r.u16(), r.u16(), r.u8(), r.u16()), (5, 5, 0, 0)); // columns, params, filler, warnings
    assert!(r.0.is_empty());
    read_columns(&mut c, 5, false).await; // parameters
    read_columns(&mut c, 5, false).await; // columns

    // p0 BIGINT UNSIGNED = u64::MAX, p1 NULL, p2 BLOB, p3 TINYINT -1, p4 BLOB via long data
    let mut long = vec![0x18];
    long.extend_from_slice(&stmt_id.to_le_bytes());
    long.extend_from_slice(&4u16.to_le_bytes());
    long.extend_from_slice(b"long ");
    c.command(&long).await;
    long.truncate(7);
    long.extend_from_slice(b"data");
    c.command(&long).await;

    let mut values = u64::MAX.to_le_bytes().to_vec();
    values.extend_from_slice(&[3, 0, 0xFF, b'z']);
    values.push(0xFF);
    let types = [(0x08, 0x80), (0x06, 0), (0xfc, 0), (0x01, 0), (0xfc, 0)];
    c.command(&execute_packet(
        stmt_id,
        &[0b0000_0010],
        Some(&types),
        &values,
    ))
    .await;
    let (cols, rows, _) = read_result_set(&mut c, false).await;
    assert_eq!(
        binary_cells(&rows[0], &cols),
        vec![
            Value::UInt(u64::MAX),
            Value::Null,
            Value::Bytes(vec![0, 0xFF, b'z']),
            Value::Int(-1),
            Value::Bytes(b"long data".to_vec()),
        ]
    );

    // Second execute: new_params_bound = 0, types remembered; long data was consumed.
    let mut values = 5u64.to_le_bytes().to_vec();
    values.extend_from_slice(&[1, b'a', 0x7F, 2, b'h', b'i']);
    c.command(&execute_packet(stmt_id, &[0b0000_0010], None, &values))
        .await;
    let (cols, rows, _) = read_result_set(&mut c, false).await;
    assert_eq!(
        binary_cells(&rows[0], &cols),
        vec![
            Value::UInt(5),
            Value::Null,
            Value::Bytes(b"a".to_vec()),
            Value::Int(127),
            Value::Bytes(b"hi".to_vec())
        ]
    );

    let mut reset = vec![0x1a];
    reset.extend_from_slice(&stmt_id.to_le_bytes());
    c.command(&reset).await;
    assert_eq!(c.read().await[0], 0x00);

    let mut close = vec![0x19];
    close.extend_from_slice(&stmt_id.to_le_bytes());
    c.command(&close).await; // no response
    c.command(&execute_packet(stmt_id, &[0], None, &[])).await;
    assert_eq!(parse_err(&c.read().await).0, 1243);
}

/// Binary result rows decode, by the documented per-type rules, to exactly the values
/// the backend returned, for every column type of the echo table.
#[tokio::test]
async fn binary_result_every_column_type() {
    let mut c = Client::logged_in(BASE_CAPS | CLIENT_DEPRECATE_EOF).await;
    c.command(b"\x16SELECT * FROM t").await;
    let p = c.read().await;
    let stmt_id = u32::from_le_bytes(p[1..5].try_into().unwrap());
    read_columns(&mut c, 16, true).await;
    c.command(&execute_packet(stmt_id, &[], None, &[])).await;
    let (cols, rows, _) = read_result_set(&mut c, true).await;
    let want = table_rows();
    for (row, want) in rows.iter().zip(&want) {
        let got = binary_cells(row, &cols);
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let w = match (cols[i].column_type, w) {
                // FLOAT travels as f32; YEAR column is unsigned; DECIMAL travels as text.
                (0x04, Value::Double(f)) => Value::Double(*f as f32 as f64),
                (0x0d, Value::Int(n)) => Value::UInt(*n as u64),
                _ => w.clone(),
            };
            assert_eq!(g, &w, "column {} ({})", i, cols[i].name);
        }
    }
}

/// Payloads above 16 MiB: a 17 MiB COM_QUERY is reassembled from chunks by the server and
/// the 17 MiB echoed cell comes back split into chunks the client reassembles.
#[tokio::test]
async fn multi_packet_payloads_both_directions() {
    let mut c = Client::logged_in(BASE_CAPS).await;
    let mut q = b"\x03SELECT ".to_vec();
    q.extend(std::iter::repeat_n(b'x', 17 * 1024 * 1024));
    c.command(&q).await;
    let (_, rows, _) = read_result_set(&mut c, false).await;
    assert!(rows[0].len() > 0xFF_FFFF);
    let cell = text_cells(&rows[0]).remove(0).unwrap();
    assert!(cell.as_bytes() == &q[1..]);
}

/// A packet whose header announces more than max_allowed_packet gets ERR 1153 before its
/// payload is sent, and the connection is closed.
#[tokio::test]
async fn oversized_packet_is_refused_cleanly() {
    let (mut c, reply) = Client::login(
        ServerConfig {
            max_allowed_packet: 1024 * 1024,
            ..Default::default()
        },
        BASE_CAPS,
        "root",
        ROOT_PASSWORD,
    )
    .await;
    assert_eq!(reply[0], 0);
    c.s.write_all(&[0x00, 0x00, 0x20, 0x00]).await.unwrap(); // 2 MiB header, no payload
    c.seq = 1;
    let (code, state, _) = parse_err(&c.read().await);
    assert_eq!((code, state.as_str()), (1153, "08S01"));
    assert!(c.closed().await);
    assert!(matches!(
        c.server.await.unwrap(),
        Err(WireError::PacketTooLarge { .. })
    ));
}

/// An idle client is sent ERR 4031 and disconnected after idle_timeout.
#[tokio::test]
async fn idle_timeout_closes_connection() {
    let (mut c, _) = Client::login(
        ServerConfig {
            idle_timeout: Duration::from_millis(200),
            ..Default::default()
        },
        BASE_CAPS,
        "root",
        ROOT_PASSWORD,
    )
    .await;
    c.seq = 0;
    assert_eq!(parse_err(&c.read().await).0, 4031);
    assert!(c.closed().await);
    assert!(matches!(
        c.server.await.unwrap(),
        Err(WireError::IdleTimeout(_))
    ));
}

/// The backend learns the connection id before the greeting (`on_accept`), and an event
/// of its own while the client is idle (`idle_event`) can end the connection with an error;
/// until then the connection serves commands as usual.
#[tokio::test]
async fn backend_hooks_accept_and_idle_event() {
    let notify = Arc::new(tokio::sync::Notify::new());
    let mut backend = EchoBackend::default();
    backend.close_on = Some(notify.clone());
    let mut c = Client::start_with(ServerConfig::default(), backend);
    let g = c.greeting().await;
    let token = native_token(&g.scramble, ROOT_PASSWORD);
    c.respond(BASE_CAPS, "root", &token, None, "mysql_native_password")
        .await;
    assert_eq!(c.read().await[0], 0x00);
    c.command(b"\x03SELECT ACCEPTED").await;
    let (_, rows, _) = read_result_set(&mut c, false).await;
    assert_eq!(
        text_cells(&rows[0]),
        vec![Some(g.connection_id.to_string())]
    );
    notify.notify_one();
    c.seq = 0;
    let (code, state, _) = parse_err(&c.read().await);
    assert_eq!((code, state.as_str()), (1927, "70100"));
    assert!(c.closed().await);
    assert!(c.server.await.unwrap().is_ok());
}

/// A client that never answers the greeting is disconnected after handshake_timeout.
#[tokio::test]
async fn handshake_timeout_closes_connection() {
    let mut c = Client::start(ServerConfig {
        handshake_timeout: Duration::from_millis(200),
        ..Default::default()
    });
    c.greeting().await;
    assert!(c.closed().await);
    assert!(matches!(
        c.server.await.unwrap(),
        Err(WireError::HandshakeTimeout(_))
    ));
}

/// Unknown and unsupported commands get ERR 1047 and the connection stays usable;
/// COM_STMT_FETCH gets 1421; COM_PING, COM_STATISTICS, COM_INIT_DB and COM_FIELD_LIST
/// answer as documented; COM_RESET_CONNECTION calls on_connect again.
#[tokio::test]
async fn small_commands() {
    let mut c = Client::logged_in(BASE_CAPS).await;
    for cmd in [0x99u8, 0x11, 0x00, 0x0a] {
        c.command(&[cmd]).await;
        let (code, state, msg) = parse_err(&c.read().await);
        assert_eq!(
            (code, state.as_str(), msg.as_str()),
            (1047, "08S01", "Unknown command")
        );
    }
    c.command(&[0x1c, 1, 0, 0, 0, 1, 0, 0, 0]).await;
    assert_eq!(parse_err(&c.read().await).0, 1421);
    c.command(&[0x0e]).await;
    assert_eq!(c.read().await[0], 0x00);
    c.command(&[0x09]).await;
    assert!(
        String::from_utf8(c.read().await)
            .unwrap()
            .starts_with("Uptime: ")
    );
    c.command(b"\x02nosuchdb").await;
    assert_eq!(parse_err(&c.read().await).0, 1049);
    c.command(b"\x02other").await;
    assert_eq!(c.read().await[0], 0x00);
    c.command(b"\x03SELECT DATABASE()").await;
    let (_, rows, _) = read_result_set(&mut c, false).await;
    assert_eq!(text_cells(&rows[0]), vec![Some("other".to_string())]);
    c.command(b"\x04t\0").await;
    let mut defs = 0;
    loop {
        let p = c.read().await;
        if p[0] == 0xFE && p.len() == 5 {
            break;
        }
        assert_eq!(*p.last().unwrap(), 0xFB, "field list default value");
        parse_column(&p[..p.len() - 1]);
        defs += 1;
    }
    assert_eq!(defs, 16);
    c.command(&[0x1f]).await;
    assert_eq!(c.read().await[0], 0x00);
    c.command(b"\x03SELECT RESETS").await;
    let (_, rows, _) = read_result_set(&mut c, false).await;
    assert_eq!(text_cells(&rows[0]), vec![Some("1".to_string())]);
}

/// Malformed command packets get ERR 1835 (or 1210 / 1243 for statement errors), never a
/// panic, and the connection keeps working: empty packet, truncated execute, an internal
/// type code that crashes mysql_common's decoder, truncated values, bad temporal length,
/// invalid UTF-8 in a query.
#[tokio::test]
async fn malformed_commands_are_errors() {
    let mut c = Client::logged_in(BASE_CAPS).await;
    c.command(b"\x16SELECT ?").await;
    let p = c.read().await;
    let stmt_id = u32::from_le_bytes(p[1..5].try_into().unwrap());
    read_columns(&mut c, 1, false).await;
    read_columns(&mut c, 1, false).await;

    let cases: Vec<(Vec<u8>, u16)> = vec![
        (vec![], 1835),
        (vec![0x17, 1], 1835),
        (vec![0x19], 1835),
        (
            execute_packet(stmt_id, &[0], Some(&[(0x12, 0)]), &[7, 0, 0, 0, 0, 0, 0, 0]),
            1210,
        ),
        (
            execute_packet(stmt_id, &[0], Some(&[(0xf2, 0)]), &[1, 0]),
            1210,
        ),
        (
            execute_packet(stmt_id, &[0], Some(&[(0x08, 0)]), &[1, 2, 3]),
            1835,
        ),
        (
            execute_packet(
                stmt_id,
                &[0],
                Some(&[(0x0c, 0)]),
                &[9, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            ),
            1835,
        ),
        (
            execute_packet(
                stmt_id,
                &[0],
                Some(&[(0xfd, 0)]),
                &[0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            ),
            1835,
        ),
        (execute_packet(stmt_id, &[0], Some(&[(0x08, 0)]), &[]), 1835),
        (execute_packet(stmt_id + 100, &[0], None, &[]), 1243),
        (b"\x03SELECT '\xff\xfe'".to_vec(), 1300),
    ];
    for (payload, code) in cases {
        c.command(&payload).await;
        let got = parse_err(&c.read().await);
        assert_eq!(got.0, code, "payload {payload:?}: {got:?}");
    }
    c.command(&[0x0e]).await;
    assert_eq!(c.read().await[0], 0x00, "connection still usable");
}

/// A garbage handshake response gets ERR 1043 "Bad handshake" and a close; a packet with
/// the wrong sequence id ends the connection with PacketOutOfOrder.
#[tokio::test]
async fn malformed_handshake_and_sequence_errors() {
    let mut c = Client::start(ServerConfig::default());
    c.greeting().await;
    c.write(&[0x00, 0x02, 0xFF]).await;
    assert_eq!(parse_err(&c.read().await).0, 1043);
    assert!(c.closed().await);
    assert!(matches!(
        c.server.await.unwrap(),
        Err(WireError::Malformed { .. })
    ));

    let mut c = Client::logged_in(BASE_CAPS).await;
    c.seq = 5;
    c.write(&[0x0e]).await;
    assert!(c.closed().await);
    assert!(matches!(
        c.server.await.unwrap(),
        Err(WireError::PacketOutOfOrder {
            expected: 0,
            got: 5
        })
    ));
}
