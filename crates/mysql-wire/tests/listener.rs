//! serve_listener over real TCP sockets, without any external client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};

use quorate_mysql_wire::{ServerConfig, serve_listener};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

#[path = "support/echo_backend.rs"]
mod echo_backend;

async fn read_packet(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 4];
    s.read_exact(&mut h).await.unwrap();
    let mut p = vec![0u8; u32::from_le_bytes([h[0], h[1], h[2], 0]) as usize];
    s.read_exact(&mut p).await.unwrap();
    (h[3], p)
}

/// A client logging in while every session slot is taken gets ERR 1040 "Too many
/// connections" (after authentication, in the 4.1 form) and is closed, except that one
/// more session is kept for an administrator; a slot freed by a client that leaves is
/// taken by the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_beyond_the_limit_get_1040_except_one_administrator() {
    limit_sessions(false).await;
}

/// The same with every connection served on a thread of its own: the thread holds the
/// slot, and its end releases it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_beyond_the_limit_get_1040_thread_per_connection() {
    limit_sessions(true).await;
}

fn login(addr: SocketAddr, user: &str) -> Opts {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(addr.port())
        .user(Some(user))
        .pass(Some(echo_backend::ROOT_PASSWORD))
        .prefer_socket(false)
        .into()
}

fn start(max_connections: usize, thread_per_connection: bool) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ServerConfig {
        max_connections,
        thread_per_connection,
        ..ServerConfig::default()
    };
    tokio::spawn(serve_listener(
        tokio::net::TcpListener::from_std(listener).unwrap(),
        Arc::new(config),
        echo_backend::EchoBackend::default,
    ));
    addr
}

fn assert_too_many(r: Result<Conn, mysql_async::Error>) {
    match r {
        Err(mysql_async::Error::Server(e)) => {
            assert_eq!(e.code, 1040, "{e}");
            assert_eq!(e.message, "Too many connections");
        }
        Err(e) => panic!("expected ERR 1040, got {e}"),
        Ok(_) => panic!("expected ERR 1040, the client logged in"),
    }
}

async fn limit_sessions(thread_per_connection: bool) {
    let addr = start(1, thread_per_connection);
    let mut first = Conn::new(login(addr, "root")).await.unwrap();
    assert_too_many(Conn::new(login(addr, "root")).await);
    // The kept session: one administrator, not two.
    let mut admin = Conn::new(login(addr, "admin")).await.unwrap();
    let one: Option<String> = admin.query_first("SELECT 1").await.unwrap();
    assert_eq!(one.as_deref(), Some("SELECT 1"));
    assert_too_many(Conn::new(login(addr, "admin")).await);
    let _: Option<String> = first.query_first("SELECT 2").await.unwrap();
    first.disconnect().await.unwrap();
    // The slot is released when the server notices the quit; allow it a moment.
    let mut next = None;
    for _ in 0..100 {
        if let Ok(c) = Conn::new(login(addr, "root")).await {
            next = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(next.is_some(), "the slot was not released");
    admin.disconnect().await.unwrap();
}

/// Sockets that connect and say nothing cannot keep a client out: with max_connections =
/// 2, each client past two still logging in closes the one logging in longest (after its
/// greeting), and a client that then logs in is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_cannot_keep_clients_out() {
    silent_sockets(false).await;
}

/// The same with every connection served on a thread of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_cannot_keep_clients_out_thread_per_connection() {
    silent_sockets(true).await;
}

async fn silent_sockets(thread_per_connection: bool) {
    let addr = start(2, thread_per_connection);
    let mut silent = Vec::new();
    for i in 0..6 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let (seq, greeting) = read_packet(&mut s).await;
        assert_eq!((seq, greeting[0]), (0, 10), "socket {i} is greeted");
        silent.push(s);
    }
    // The first four were pushed out by the ones after them: each is told 1040 and closed.
    for (i, s) in silent.iter_mut().take(4).enumerate() {
        assert_pushed_out(s, i).await;
    }
    // A real client still logs in (pushing out one more silent socket) and is served.
    let mut c = Conn::new(login(addr, "root")).await.unwrap();
    let v: Option<String> = c.query_first("SELECT served").await.unwrap();
    assert_eq!(v.as_deref(), Some("SELECT served"));
    assert_pushed_out(&mut silent[4], 4).await;
    c.disconnect().await.unwrap();
}

/// The socket, greeted earlier, receives ERR 1040 (4.1 form, sequence 1) and is closed.
async fn assert_pushed_out(s: &mut TcpStream, i: usize) {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(_))),
        "silent socket {i} was not closed: {read:?}"
    );
    assert!(rest.len() > 7, "socket {i}: no error sent: {rest:?}");
    assert_eq!((rest[3], rest[4]), (1, 0xFF), "socket {i}: {rest:?}");
    assert_eq!(u16::from_le_bytes([rest[5], rest[6]]), 1040, "socket {i}");
}
