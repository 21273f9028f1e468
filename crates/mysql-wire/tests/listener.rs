//! serve_listener over real TCP sockets, without any external client.

use std::sync::Arc;
use std::time::Duration;

use quorate_mysql_wire::{ServerConfig, serve_listener};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

/// With max_connections = 2, the third client gets ERR 1040 "Too many connections" (in
/// the pre-handshake form: sequence id 0, no SQLSTATE) in place of the greeting and is
/// closed; connection ids count up from 1; after one of the first two leaves, a new
/// client gets a greeting again.
#[tokio::test]
async fn excess_clients_get_1040_until_a_slot_frees() {
    limit_connections(false).await;
}

/// The same with every connection served on a thread of its own: the thread holds the
/// slot, and its end releases it.
#[tokio::test]
async fn excess_clients_get_1040_until_a_slot_frees_thread_per_connection() {
    limit_connections(true).await;
}

async fn limit_connections(thread_per_connection: bool) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ServerConfig {
        max_connections: 2,
        thread_per_connection,
        ..ServerConfig::default()
    };
    tokio::spawn(serve_listener(
        listener,
        Arc::new(config),
        echo_backend::EchoBackend::default,
    ));

    let mut a = TcpStream::connect(addr).await.unwrap();
    let mut b = TcpStream::connect(addr).await.unwrap();
    let connection_id = |greeting: &[u8]| {
        assert_eq!(greeting[0], 10, "greeting");
        let nul = greeting.iter().position(|&b| b == 0).unwrap();
        u32::from_le_bytes(greeting[nul + 1..nul + 5].try_into().unwrap())
    };
    assert_eq!(connection_id(&read_packet(&mut a).await.1), 1);
    assert_eq!(connection_id(&read_packet(&mut b).await.1), 2);

    let mut c = TcpStream::connect(addr).await.unwrap();
    let (seq, p) = read_packet(&mut c).await;
    assert_eq!(seq, 0);
    assert_eq!(p[0], 0xFF);
    assert_eq!(u16::from_le_bytes([p[1], p[2]]), 1040);
    assert_eq!(&p[3..], b"Too many connections");
    let mut rest = Vec::new();
    assert_eq!(
        c.read_to_end(&mut rest).await.unwrap(),
        0,
        "closed after the error"
    );

    // Client a leaves (closing the socket mid-handshake ends its connection).
    a.shutdown().await.unwrap();
    drop(a);
    let mut greeted = false;
    for _ in 0..100 {
        let mut d = TcpStream::connect(addr).await.unwrap();
        if read_packet(&mut d).await.1[0] == 10 {
            greeted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(greeted, "slot was not released");
}
