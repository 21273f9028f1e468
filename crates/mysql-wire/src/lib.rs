//! quorate-mysql-wire: the server side of the MySQL client/server protocol.
//!
//! It knows nothing about the database behind it. A [`Backend`] (one per connection)
//! answers queries, prepared statements and password look-ups; this crate does the rest:
//! framing (16 MiB chunks, `max_allowed_packet`), the v10 handshake, capability
//! negotiation, TLS upgrade, authentication (mysql_native_password and
//! caching_sha2_password, each account with its own, see [`Credential`]), the command loop,
//! text and binary result sets, timeouts and the connection limit.
//!
//! Everything is generic over `AsyncRead + AsyncWrite` streams, so the protocol is tested
//! over in-memory pipes and fuzzed on its own ([`fuzz_decode`]). Every decoder returns an
//! error on hostile input instead of panicking.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # async fn run<B: quorate_mysql_wire::Backend + 'static>(
//! #     backend: fn() -> B,
//! # ) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3306").await?;
//! let config = Arc::new(quorate_mysql_wire::ServerConfig::default());
//! quorate_mysql_wire::serve_listener(listener, config, backend).await
//! # }
//! ```
//!
//! Not implemented (each is refused cleanly or not advertised): the compressed protocol,
//! LOAD DATA LOCAL, COM_CHANGE_USER, cursors (COM_STMT_FETCH), session-state tracking,
//! query attributes, caching_sha2_password's RSA key exchange (its full authentication
//! needs TLS).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admission;
mod backend;
mod buf;
mod command;
mod config;
mod conn;
mod consts;
mod encode;
mod error;
mod fuzz;
mod handshake;
mod listener;
mod packet;
mod password;
mod placement;
mod stmt;
mod types;

pub use backend::{Backend, IdleEvent};
pub use config::{
    DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_ALLOWED_PACKET_BYTES,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_SERVER_VERSION, MAX_PARAMS_PER_STATEMENT,
    MAX_PREPARED_STATEMENTS_PER_CONNECTION, ServerConfig,
};
pub use conn::serve_connection;
pub use consts::codes;
pub use encode::column_holds;
pub use error::WireError;
pub use fuzz::fuzz_decode;
pub use handshake::native_password_hash;
pub use listener::{CONNECTION_ID_MAX, serve_listener};
pub use password::{AuthPlugin, Credential, PasswordCache};
pub use placement::{FollowClientCpu, PinThread};
pub use types::{
    Column, ColumnType, ConnectInfo, ErrInfo, OkInfo, PrepareInfo, QueryResult, ResultSet,
    SessionStatus, Value,
};

/// The rustls version this crate's [`ServerConfig::tls`] expects.
pub use tokio_rustls::rustls;
