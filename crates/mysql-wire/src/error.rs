//! The one error type of this crate: why a connection ended abnormally.

use std::time::Duration;

/// Why [`serve_connection`](crate::serve_connection) stopped serving a client.
///
/// A client that sends COM_QUIT or closes its socket between commands is a normal end and
/// yields `Ok(())`. Every variant here is something worth counting or logging; where the
/// client could still be told, it was sent an ERR packet before the connection was closed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Reading from or writing to the socket failed (reset by peer, broken pipe, ...).
    #[error("connection I/O failed: {0}")]
    Io(#[from] std::io::Error),

    /// The client closed the connection in the middle of a packet or of the handshake.
    #[error("client closed the connection mid-{during}")]
    UnexpectedEof {
        /// What the server was waiting for ("packet", "handshake").
        during: &'static str,
    },

    /// A packet (all of its 16 MiB chunks together) would exceed `max_allowed_packet`.
    /// Detected from the packet headers, before the payload is buffered.
    #[error(
        "client packet of at least {size_bytes} bytes exceeds max_allowed_packet \
         ({max_bytes} bytes); raise ServerConfig::max_allowed_packet if this is legitimate"
    )]
    PacketTooLarge {
        /// Payload size announced so far by the headers.
        size_bytes: usize,
        /// The configured bound.
        max_bytes: usize,
    },

    /// A packet carried the wrong sequence id: the client and server disagree on where
    /// they are in the conversation, so nothing after it can be trusted.
    #[error("packet out of order: expected sequence id {expected}, got {got}")]
    PacketOutOfOrder {
        /// The sequence id the server expected.
        expected: u8,
        /// The sequence id the client sent.
        got: u8,
    },

    /// A packet could not be decoded: a field was missing, too short, or had a value the
    /// protocol does not allow. During the command phase the client gets ERR 1835 and the
    /// connection stays open; during the handshake the connection is closed.
    #[error("malformed packet: {what}")]
    Malformed {
        /// The field or structure that did not decode.
        what: &'static str,
    },

    /// The client does not speak the 4.1 protocol (CLIENT_PROTOCOL_41), which this server
    /// requires.
    #[error("client does not support the MySQL 4.1 protocol (CLIENT_PROTOCOL_41)")]
    ProtocolTooOld,

    /// The handshake (greeting to OK) did not finish within `handshake_timeout`.
    #[error("handshake did not complete within {0:?}")]
    HandshakeTimeout(Duration),

    /// Newer clients pushed this one out while it was still logging in (more than
    /// `max_connections` clients were logging in at once; see `serve_listener`).
    #[error("closed while logging in: more than max_connections clients were logging in")]
    PushedOut,

    /// The client sent no command for `idle_timeout` (it was sent ERR 4031), or stopped
    /// reading a response for that long.
    #[error("client idle for {0:?}; disconnected")]
    IdleTimeout(Duration),

    /// The TLS handshake after the client's SslRequest failed.
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),

    /// A plaintext login was refused because `require_secure_transport` is set (ERR 3159).
    #[error("plaintext login refused: require_secure_transport is on")]
    InsecureTransport,

    /// Authentication failed (wrong password, unknown user, or an auth exchange the server
    /// does not support); the client got ERR 1045.
    #[error("access denied for user '{user}'")]
    AccessDenied {
        /// The user name the client presented.
        user: String,
    },

    /// The backend refused the connection in `on_connect` (for example an unknown default
    /// database); the client got the backend's ERR packet.
    #[error("backend refused the connection: {code} {message}")]
    Refused {
        /// MySQL error code the backend returned.
        code: u16,
        /// The backend's message.
        message: String,
    },
}
