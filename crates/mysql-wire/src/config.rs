//! Server configuration: every limit and timeout that shapes the protocol layer.

use std::sync::Arc;
use std::time::Duration;

use crate::password::{AuthPlugin, PasswordCache};
use crate::placement::FollowClientCpu;

/// Default `max_allowed_packet`: 64 MiB, the MySQL 8.0 default.
pub const DEFAULT_MAX_ALLOWED_PACKET_BYTES: usize = 64 * 1024 * 1024;
/// Default time a new client has to finish the handshake (greeting to OK).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a client may stay silent between commands: MySQL's `wait_timeout` default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(8 * 60 * 60);
/// Default number of concurrent client connections `serve_listener` accepts.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1000;
/// Default server version string sent in the greeting. Clients parse the leading
/// `major.minor.patch` to decide which features to use, so keep it MySQL 8.0 shaped.
pub const DEFAULT_SERVER_VERSION: &str = "8.0.36-quorate";

/// Prepared statements one connection may hold open at once (MySQL's
/// `max_prepared_stmt_count` default is 16382 for the whole server).
pub const MAX_PREPARED_STATEMENTS_PER_CONNECTION: usize = 16_382;

/// Placeholders one prepared statement may have: the prepare-OK packet counts them in
/// 16 bits.
pub const MAX_PARAMS_PER_STATEMENT: usize = u16::MAX as usize;

/// Configuration shared by all connections of one server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Version string sent in the greeting, e.g. "8.0.36-quorate".
    pub server_version: String,
    /// Largest payload accepted from a client, counting all 16 MiB chunks of a
    /// multi-packet payload together; also bounds the COM_STMT_SEND_LONG_DATA bytes one
    /// connection may accumulate. Larger packets get ERR 1153 and the connection is
    /// closed. Responses are not bounded by it (they come from the backend).
    pub max_allowed_packet: usize,
    /// Time a client has from TCP accept to the end of authentication.
    pub handshake_timeout: Duration,
    /// Time a client may stay silent between commands; also the longest time the server
    /// waits for a client that stopped reading a response.
    pub idle_timeout: Duration,
    /// TLS configuration. When set, CLIENT_SSL is advertised and clients may upgrade.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// Refuse logins over plaintext (ERR 3159). Only meaningful with `tls` set; without
    /// TLS every login is refused.
    pub require_secure_transport: bool,
    /// Connections `serve_listener` serves at once; more get ERR 1040 and are closed.
    pub max_connections: usize,
    /// The plugin named in the greeting (clients answer with it first; an account stored
    /// under the other one costs a round trip to switch).
    pub default_auth_plugin: AuthPlugin,
    /// caching_sha2_password's fast-path cache, shared by all connections (and by
    /// whatever else checks passwords, such as HTTP basic authentication).
    pub password_cache: Arc<PasswordCache>,
    /// Serve each connection on a thread of its own (with a single-threaded tokio runtime)
    /// instead of as a task of the runtime that accepted it. A client and the thread that
    /// answers it then wake each other like two ends of a pipe, and the kernel tends to
    /// keep them on one CPU: reads and interactive transactions cost less CPU per statement
    /// (docs/BENCHMARKS.md, "A thread per connection"). The backend's futures then run on
    /// a current-thread runtime: they must not call `tokio::task::block_in_place` (it
    /// panics there), and tasks they spawn on the current runtime end with the connection.
    pub thread_per_connection: bool,
    /// With `thread_per_connection`: once a connection from this machine has been reading
    /// for a while, move its thread to the CPU the client's packets arrive on
    /// (`SO_INCOMING_CPU`), so that the client and the thread answering it share a CPU (see
    /// [`FollowClientCpu`]). Each such connection holds a duplicate of its socket. `None`
    /// leaves placement to the scheduler.
    pub follow_client_cpu: Option<FollowClientCpu>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            server_version: DEFAULT_SERVER_VERSION.to_string(),
            max_allowed_packet: DEFAULT_MAX_ALLOWED_PACKET_BYTES,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            tls: None,
            require_secure_transport: false,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            default_auth_plugin: AuthPlugin::Native,
            password_cache: Arc::default(),
            thread_per_connection: false,
            follow_client_cpu: None,
        }
    }
}
