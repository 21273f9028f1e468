//! A MySQL-protocol server over a trivial in-memory backend, for trying clients by hand.
//!
//! ```text
//! cargo run -p quorate-mysql-wire --example echo_server -- 3307
//! mariadb -h127.0.0.1 -P3307 -uroot -ps3cret-pw -e 'SELECT * FROM t'
//! ```
//!
//! Users: `root` (password `s3cret-pw`) and `nopw` (empty password). See
//! `tests/support/echo_backend.rs` for the statements it understands.

use std::sync::Arc;

use quorate_mysql_wire::{ServerConfig, serve_listener};

#[path = "../tests/support/echo_backend.rs"]
mod echo_backend;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p
            .parse()
            .map_err(|_| std::io::Error::other(format!("bad port {p:?}")))?,
        None => 3307,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {}", listener.local_addr()?);
    let config = Arc::new(ServerConfig {
        max_allowed_packet: echo_backend::MAX_ALLOWED_PACKET,
        ..ServerConfig::default()
    });
    serve_listener(listener, config, echo_backend::EchoBackend::default).await
}
