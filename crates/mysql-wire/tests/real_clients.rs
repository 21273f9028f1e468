//! Compatibility with real MySQL clients: the `mariadb` command-line client, PyMySQL and
//! the Rust driver mysql_async (binary protocol). A client built on this crate would
//! share its encoding mistakes; these clients do not.
//!
//! Each test starts the server in-process on a loopback port with the echo backend
//! (`tests/support/echo_backend.rs`). Tests that need an external program print a message
//! and pass without checking anything when the program is missing (install with
//! `apt-get install -y mariadb-client` and `pip install pymysql`).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use mysql_async::prelude::*;
use mysql_async::{Conn, OptsBuilder, Row, Value as MyValue};
use quorate_mysql_wire::{ServerConfig, serve_listener};

#[path = "support/echo_backend.rs"]
mod echo_backend;
use echo_backend::{EchoBackend, MAX_ALLOWED_PACKET, ROOT_PASSWORD};

/// Starts the echo server on an ephemeral loopback port.
async fn start_server(config: ServerConfig) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_listener(
        listener,
        Arc::new(config),
        EchoBackend::default,
    ));
    addr
}

fn test_config() -> ServerConfig {
    ServerConfig {
        max_allowed_packet: MAX_ALLOWED_PACKET,
        ..ServerConfig::default()
    }
}

fn tls_config() -> Arc<quorate_mysql_wire::rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/tls");
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("cert.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    Arc::new(config)
}

fn have_program(program: &str, probe: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs the mariadb client against `addr`; `args` come after host and port.
async fn mariadb(addr: SocketAddr, args: &[&str]) -> Output {
    tokio::process::Command::new("mariadb")
        .arg("-h127.0.0.1")
        .arg(format!("-P{}", addr.port()))
        .arg("--connect-timeout=10")
        .args(args)
        .output()
        .await
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// mariadb CLI: login with the right password, a text result set of every column type
/// printed as MySQL prints it, multi-statements, an error code with SQLSTATE, COM_INIT_DB,
/// and the exact "Access denied" message for a wrong password, a missing password and an
/// unknown user; an empty-password user logs in without a password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_cli_text_protocol() {
    if !have_program("mariadb", &["--version"]) {
        println!("SKIPPED: `mariadb` client not found (apt-get install -y mariadb-client)");
        return;
    }
    let addr = start_server(test_config()).await;
    let pw = format!("-p{ROOT_PASSWORD}");

    let out = mariadb(addr, &["-uroot", &pw, "--batch", "-e", "SELECT * FROM t"]).await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let expected = "id\ttiny\tsmall\tmedium\tnum\tubig\tflt\tdbl\tdec\tname\tdata\td\tdt\tts\ttm\tyr\n\
        1\t-128\t-32768\t-8388608\t-2147483648\t18446744073709551615\t1.5\t-2.25e-10\t-12345.67\t\
        héllo wörld ✓ 😀\t\\0\u{1}\u{2}\u{FFFD}\u{FFFD}'\\\\\t2024-02-29\t1999-12-31 23:59:58.123456\t\
        2038-01-19 03:14:07.000000\t-838:59:59\t2155\n\
        2\t127\t32767\t8388607\t2147483647\t0\t0\t1e300\t0.00\t\t\t0001-01-01\t\
        2000-01-01 00:00:00.000000\t1970-01-01 00:00:01.000000\t01:02:03\t1901\n\
        3\tNULL\tNULL\tNULL\tNULL\tNULL\tNULL\tNULL\tNULL\tNULL\tNULL\tNULL\tNULL\tNULL\tNULL\tNULL\n";
    assert_eq!(text(&out.stdout), expected);

    // Multi-statements (the CLI enables them), the default database, then USE.
    let out = mariadb(
        addr,
        &["-uroot", &pw, "-Dtest", "--batch", "--skip-column-names", "-e",
          "SELECT DATABASE(); INSERT INTO x VALUES (1); SELECT 'two'; USE other; SELECT DATABASE()"],
    )
    .await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "test\nSELECT 'two'\nother\n");

    let out = mariadb(addr, &["-uroot", &pw, "-e", "SELECT ERROR"]).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("ERROR 1146 (42S02) at line 1: Table 'test.nope' doesn't exist"),
        "stderr: {}",
        text(&out.stderr)
    );

    let out = mariadb(addr, &["-uroot", "-pwrong", "-e", "SELECT 1"]).await;
    assert!(
        text(&out.stderr).contains(
            "ERROR 1045 (28000): Access denied for user 'root'@'127.0.0.1' (using password: YES)"
        ),
        "stderr: {}",
        text(&out.stderr)
    );
    let out = mariadb(addr, &["-uroot", "-e", "SELECT 1"]).await;
    assert!(
        text(&out.stderr)
            .contains("Access denied for user 'root'@'127.0.0.1' (using password: NO)"),
        "stderr: {}",
        text(&out.stderr)
    );
    let out = mariadb(addr, &["-ughost", "-px", "-e", "SELECT 1"]).await;
    assert!(
        text(&out.stderr).contains("ERROR 1045 (28000)"),
        "stderr: {}",
        text(&out.stderr)
    );

    let out = mariadb(
        addr,
        &[
            "-unopw",
            "--batch",
            "--skip-column-names",
            "-e",
            "SELECT hi",
        ],
    )
    .await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "SELECT hi\n");

    // The backend refuses an unknown default database at connect time.
    let out = mariadb(addr, &["-uroot", &pw, "-Dnosuchdb", "-e", "SELECT 1"]).await;
    assert!(
        text(&out.stderr).contains("ERROR 1049 (42000): Unknown database 'nosuchdb'"),
        "stderr: {}",
        text(&out.stderr)
    );
}

/// mariadb CLI over TLS: the client upgrades after SslRequest and the backend is told the
/// connection is secure; with require_secure_transport a plaintext login gets ERR 3159.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_cli_tls_and_require_secure_transport() {
    if !have_program("mariadb", &["--version"]) {
        println!("SKIPPED: `mariadb` client not found (apt-get install -y mariadb-client)");
        return;
    }
    let addr = start_server(ServerConfig {
        tls: Some(tls_config()),
        require_secure_transport: true,
        ..test_config()
    })
    .await;
    let pw = format!("-p{ROOT_PASSWORD}");
    let ca = format!(
        "--ssl-ca={}/tests/support/tls/cert.pem",
        env!("CARGO_MANIFEST_DIR")
    );

    let out = mariadb(
        addr,
        &[
            "-uroot",
            &pw,
            "--ssl",
            &ca,
            "--ssl-verify-server-cert",
            "--batch",
            "--skip-column-names",
            "-e",
            "SELECT SECURE; SELECT * FROM t",
        ],
    )
    .await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("1\n1\t-128"), "stdout: {stdout}");
    assert_eq!(stdout.lines().count(), 4);

    let out = mariadb(addr, &["-uroot", &pw, "--skip-ssl", "-e", "SELECT 1"]).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(
            "ERROR 3159 (HY000): Connections using insecure transport are prohibited while \
             --require_secure_transport=ON."
        ),
        "stderr: {}",
        text(&out.stderr)
    );
}

/// mariadb CLI and a caching_sha2_password account, with that plugin named in the greeting:
/// the first plaintext login is refused with 3159 and a message that says to use TLS; a TLS
/// login with the right password works (full authentication), a wrong one gets 1045; after
/// it, plaintext logins work (fast path from the node's cache). A native account still logs
/// in over plaintext after an auth switch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_cli_caching_sha2_password() {
    if !have_program("mariadb", &["--version"]) {
        println!("SKIPPED: `mariadb` client not found (apt-get install -y mariadb-client)");
        return;
    }
    let addr = start_server(ServerConfig {
        tls: Some(tls_config()),
        default_auth_plugin: quorate_mysql_wire::AuthPlugin::CachingSha2,
        ..test_config()
    })
    .await;
    let pw = format!("-p{}", echo_backend::SHA2_PASSWORD);
    let query = ["--batch", "--skip-column-names", "-e", "SELECT SECURE"];

    let out = mariadb(addr, &[&["-usha2", &pw, "--skip-ssl"][..], &query].concat()).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("ERROR 3159") && stderr.contains("TLS"),
        "{stderr}"
    );

    let out = mariadb(
        addr,
        &[&["-usha2", "-pwrong", "--ssl"][..], &query].concat(),
    )
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("ERROR 1045"),
        "{}",
        text(&out.stderr)
    );

    let out = mariadb(addr, &[&["-usha2", &pw, "--ssl"][..], &query].concat()).await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "1\n");

    let out = mariadb(addr, &[&["-usha2", &pw, "--skip-ssl"][..], &query].concat()).await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "0\n");

    let root = format!("-p{ROOT_PASSWORD}");
    let out = mariadb(
        addr,
        &[&["-uroot", &root, "--skip-ssl"][..], &query].concat(),
    )
    .await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
}

/// With max_connections = 1, a second client gets ERR 1040 "Too many connections" while
/// the first is connected, and can connect once the first has left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_refuses_excess_clients() {
    if !have_program("mariadb", &["--version"]) {
        println!("SKIPPED: `mariadb` client not found (apt-get install -y mariadb-client)");
        return;
    }
    let addr = start_server(ServerConfig {
        max_connections: 1,
        ..test_config()
    })
    .await;
    let pw = format!("-p{ROOT_PASSWORD}");
    let first = Conn::new(opts(addr)).await.unwrap();
    let out = mariadb(addr, &["-uroot", &pw, "-e", "SELECT 1"]).await;
    assert!(
        text(&out.stderr).contains("1040") && text(&out.stderr).contains("Too many connections"),
        "stderr: {}",
        text(&out.stderr)
    );
    first.disconnect().await.unwrap();
    // The slot is released when the server notices the quit; allow it a moment.
    let mut ok = false;
    for _ in 0..50 {
        if mariadb(addr, &["-uroot", &pw, "-e", "SELECT 1"])
            .await
            .status
            .success()
        {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(ok, "slot was not released after the first client quit");
}

const PYMYSQL_SCRIPT: &str = r#"
import sys, pymysql
port = int(sys.argv[1]); pw = sys.argv[2]
c = pymysql.connect(host="127.0.0.1", port=port, user="root", password=pw, database="test")
cur = c.cursor()
cur.execute("SELECT * FROM t")
for r in cur.fetchall():
    print(repr(r))
cur.execute("INSERT INTO x VALUES (%s, %s)", (1, "naïve"))
print("insert", cur.rowcount, cur.lastrowid)
try:
    cur.execute("SELECT ERROR")
except pymysql.err.MySQLError as e:
    print("error", e.args[0], e.args[1])
c.ping(reconnect=False)
c.select_db("other")
cur.execute("SELECT DATABASE()")
print("db", cur.fetchone()[0])
c.begin()
print("in_trans", bool(c.server_status & 1))
c.commit()
print("server", c.get_server_info())
c.close()
try:
    pymysql.connect(host="127.0.0.1", port=port, user="root", password="bad")
except pymysql.err.MySQLError as e:
    print("error", e.args[0], e.args[1])
"#;

/// PyMySQL (text protocol, pure Python): every column type converts to the expected
/// Python value (Decimal, date, datetime with micros, negative timedelta, unsigned
/// 64-bit, bytes with NUL and 0xFF), OK packet fields, error codes, COM_PING,
/// COM_INIT_DB, the IN_TRANS status flag, and a wrong password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymysql_text_protocol() {
    if !have_program("python3", &["-c", "import pymysql"]) {
        println!("SKIPPED: python3 with pymysql not found (pip install pymysql)");
        return;
    }
    let addr = start_server(test_config()).await;
    let out = tokio::process::Command::new("python3")
        .args([
            "-c",
            PYMYSQL_SCRIPT,
            &addr.port().to_string(),
            ROOT_PASSWORD,
        ])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let expected = r#"(1, -128, -32768, -8388608, -2147483648, 18446744073709551615, 1.5, -2.25e-10, Decimal('-12345.67'), 'héllo wörld ✓ 😀', b"\x00\x01\x02\xff\xfe'\\", datetime.date(2024, 2, 29), datetime.datetime(1999, 12, 31, 23, 59, 58, 123456), datetime.datetime(2038, 1, 19, 3, 14, 7), datetime.timedelta(days=-35, seconds=3601), 2155)
(2, 127, 32767, 8388607, 2147483647, 0, 0.0, 1e+300, Decimal('0.00'), '', b'', datetime.date(1, 1, 1), datetime.datetime(2000, 1, 1, 0, 0), datetime.datetime(1970, 1, 1, 0, 0, 1), datetime.timedelta(seconds=3723), 1901)
(3, None, None, None, None, None, None, None, None, None, None, None, None, None, None, None)
insert 1 42
error 1146 Table 'test.nope' doesn't exist
db other
in_trans True
server 8.0.36-quorate
error 1045 Access denied for user 'root'@'127.0.0.1' (using password: YES)
"#;
    assert_eq!(text(&out.stdout), expected);
}

fn opts(addr: SocketAddr) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(addr.port())
        .user(Some("root"))
        .pass(Some(ROOT_PASSWORD))
        .db_name(Some("test"))
        .prefer_socket(false)
}

/// mysql_async, binary protocol: parameters of every kind (signed, unsigned, float,
/// double, unicode text, bytes with NUL, NULL, date, datetime with micros, negative time)
/// come back unchanged through COM_STMT_EXECUTE and a binary result row; the fixed table
/// decodes to the right typed values; statement close, re-prepare, ping and
/// COM_RESET_CONNECTION work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_async_binary_protocol() {
    let addr = start_server(test_config()).await;
    let mut conn = Conn::new(opts(addr)).await.unwrap();

    let params = vec![
        MyValue::Int(-9_000_000_000),
        MyValue::UInt(u64::MAX),
        MyValue::Float(1.25),
        MyValue::Double(-0.1),
        MyValue::Bytes("unicode ✓ 日本語 😀".as_bytes().to_vec()),
        MyValue::Bytes(vec![0, 0xFF, 0, b'x']),
        MyValue::NULL,
        MyValue::Date(2024, 2, 29, 0, 0, 0, 0),
        MyValue::Date(1999, 12, 31, 23, 59, 58, 123_456),
        MyValue::Time(true, 3, 4, 5, 6, 7),
        MyValue::Time(false, 0, 0, 0, 1, 0),
        MyValue::Int(0),
    ];
    let sql = format!("SELECT {}", vec!["?"; params.len()].join(", "));
    let row: Row = conn
        .exec_first(&sql, params.clone())
        .await
        .unwrap()
        .unwrap();
    let mut want = params.clone();
    want[2] = MyValue::Double(1.25); // FLOAT parameters are widened to f64
    assert_eq!(row.unwrap(), want);

    // Same statement again (types now come from the client's cache or are resent).
    let row: Row = conn
        .exec_first(&sql, params.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.unwrap(), want);

    let rows: Vec<Row> = conn
        .exec("SELECT * FROM t WHERE id > ?", (0,))
        .await
        .unwrap();
    let rows: Vec<Vec<MyValue>> = rows.into_iter().map(Row::unwrap).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0],
        vec![
            MyValue::Int(1),
            MyValue::Int(-128),
            MyValue::Int(-32768),
            MyValue::Int(-8388608),
            MyValue::Int(-2147483648),
            MyValue::UInt(u64::MAX),
            MyValue::Float(1.5),
            MyValue::Double(-2.25e-10),
            MyValue::Bytes(b"-12345.67".to_vec()),
            MyValue::Bytes("héllo wörld ✓ 😀".as_bytes().to_vec()),
            MyValue::Bytes(vec![0, 1, 2, 0xFF, 0xFE, b'\'', b'\\']),
            MyValue::Date(2024, 2, 29, 0, 0, 0, 0),
            MyValue::Date(1999, 12, 31, 23, 59, 58, 123456),
            MyValue::Date(2038, 1, 19, 3, 14, 7, 0),
            MyValue::Time(true, 34, 22, 59, 59, 0),
            MyValue::Int(2155), // mysql_common reads YEAR as a signed integer
        ]
    );
    assert_eq!(rows[1][7], MyValue::Double(1e300));
    assert_eq!(rows[1][11], MyValue::Date(1, 1, 1, 0, 0, 0, 0));
    assert!(rows[2][1..].iter().all(|v| *v == MyValue::NULL));

    // Explicit prepare / close / prepare again.
    let stmt = conn.prep("SELECT ?").await.unwrap();
    let v: Option<String> = conn.exec_first(&stmt, ("x",)).await.unwrap();
    assert_eq!(v.as_deref(), Some("x"));
    conn.close(stmt).await.unwrap();
    let v: Option<i64> = conn.exec_first("SELECT ?", (5,)).await.unwrap();
    assert_eq!(v, Some(5));

    // Writes through the binary protocol report affected rows and the insert id.
    conn.exec_drop("INSERT INTO x VALUES (?, ?)", (1, "a"))
        .await
        .unwrap();
    assert_eq!(conn.affected_rows(), 2);
    assert_eq!(conn.last_insert_id(), Some(42));

    conn.ping().await.unwrap();
    assert!(
        conn.reset().await.unwrap(),
        "COM_RESET_CONNECTION was not used"
    );
    let resets: Option<i64> = conn.query_first("SELECT RESETS").await.unwrap();
    assert_eq!(resets, Some(1));
    conn.disconnect().await.unwrap();
}

/// mysql_async: a 20 MiB blob goes to the server (as COM_STMT_SEND_LONG_DATA chunks or
/// a multi-packet execute) and comes back in one binary row larger than 16 MiB; a text
/// result larger than 16 MiB is reassembled by the client too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_async_20_mib_blob_round_trip() {
    let addr = start_server(test_config()).await;
    let mut conn = Conn::new(opts(addr)).await.unwrap();
    let blob: Vec<u8> = (0..20 * 1024 * 1024).map(|i| (i * 7 % 256) as u8).collect();
    let back: Option<Vec<u8>> = conn.exec_first("SELECT ?", (blob.clone(),)).await.unwrap();
    assert!(
        back.as_deref() == Some(&blob[..]),
        "blob differs after round trip"
    );

    let n = 17 * 1024 * 1024 + 3;
    let big: Option<Vec<u8>> = conn.query_first(format!("SELECT BLOB {n}")).await.unwrap();
    let big = big.unwrap();
    assert_eq!(big.len(), n);
    assert!(big.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    conn.disconnect().await.unwrap();
}

/// mysql_async: server errors surface with their code, SQLSTATE and message, from a text
/// query, from COM_STMT_PREPARE, and as the second result of a multi-statement query
/// (after a first result that carried SERVER_MORE_RESULTS_EXISTS); the connection stays
/// usable after each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_async_errors_and_multi_results() {
    let addr = start_server(test_config()).await;
    let mut conn = Conn::new(opts(addr)).await.unwrap();

    let server_error = |e: mysql_async::Error| match e {
        mysql_async::Error::Server(s) => (s.code, s.state, s.message),
        other => panic!("expected a server error, got {other:?}"),
    };
    let e = conn.query_drop("SELECT ERROR").await.unwrap_err();
    assert_eq!(
        server_error(e),
        (
            1146,
            "42S02".to_string(),
            "Table 'test.nope' doesn't exist".to_string()
        )
    );
    let e = conn.prep("SELECT ERROR").await.unwrap_err();
    assert_eq!(server_error(e).0, 1064);

    let mut result = conn
        .query_iter("SELECT one; SELECT two; SELECT ERROR")
        .await
        .unwrap();
    let first: Vec<String> = result.collect().await.unwrap();
    let second: Vec<String> = result.collect().await.unwrap();
    assert_eq!(first, vec!["SELECT one".to_string()]);
    assert_eq!(second, vec!["SELECT two".to_string()]);
    let third = result.collect::<String>().await;
    assert_eq!(server_error(third.unwrap_err()).0, 1146);
    drop(result);

    let v: Option<String> = conn.query_first("SELECT still alive").await.unwrap();
    assert_eq!(v.as_deref(), Some("SELECT still alive"));

    let wrong = OptsBuilder::from_opts(opts(addr)).pass(Some("nope"));
    let e = Conn::new(wrong).await.unwrap_err();
    let (code, state, message) = server_error(e);
    assert_eq!((code, state.as_str()), (1045, "28000"));
    assert_eq!(
        message,
        "Access denied for user 'root'@'127.0.0.1' (using password: YES)"
    );
    conn.disconnect().await.unwrap();
}

/// `follow_client_cpu`, with a pin function that records instead of pinning: a loopback
/// client's connection thread is left alone for its first 64 commands, then pinned to a
/// CPU its packets arrived on (one the machine has); a command that writes frees it
/// (`None`), and the next few reads do not pin it again.
#[tokio::test(flavor = "current_thread")]
async fn a_reading_local_clients_thread_follows_its_cpu_and_a_write_frees_it() {
    use quorate_mysql_wire::{FollowClientCpu, PinThread};
    let calls: Arc<std::sync::Mutex<Vec<Option<usize>>>> = Arc::default();
    let record = calls.clone();
    let pin: PinThread = Arc::new(move |cpu| {
        record.lock().unwrap().push(cpu);
        Ok(())
    });
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let listed: Vec<usize> = (0..cpus.max(2)).collect();
    let config = ServerConfig {
        thread_per_connection: true,
        follow_client_cpu: FollowClientCpu::new(&listed, pin),
        ..test_config()
    };
    let addr = start_server(config).await;
    let mut conn = Conn::new(opts(addr)).await.unwrap();
    let calls_now = || calls.lock().unwrap().clone();

    for i in 0..40 {
        let _: Vec<String> = conn.query(format!("SELECT {i}")).await.unwrap();
    }
    assert_eq!(calls_now(), vec![], "no move within the first 64 commands");

    for i in 0..100 {
        let _: Vec<String> = conn.query(format!("SELECT {i}")).await.unwrap();
    }
    let pinned = calls_now();
    assert!(!pinned.is_empty(), "pinned after 64 reads");
    assert!(
        pinned.iter().all(|c| c.is_some_and(|cpu| cpu < cpus)),
        "only pinned to CPUs the machine has: {pinned:?}"
    );

    conn.query_drop("INSERT INTO t VALUES (1)").await.unwrap();
    let freed = calls_now();
    assert_eq!(freed.len(), pinned.len() + 1);
    assert_eq!(freed.last(), Some(&None), "a write frees the thread");

    for i in 0..20 {
        let _: Vec<String> = conn.query(format!("SELECT {i}")).await.unwrap();
    }
    assert_eq!(calls_now(), freed, "not pinned again right after a write");
    conn.disconnect().await.unwrap();
}
