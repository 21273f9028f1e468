//! One client connection: handshake and authentication, then the command loop.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;

use crate::admission::{Admission, LoggingIn};
use crate::backend::{Backend, IdleEvent};
use crate::command::Command;
use crate::config::{
    MAX_PARAMS_PER_STATEMENT, MAX_PREPARED_STATEMENTS_PER_CONNECTION, ServerConfig,
};
use crate::consts::{cap, codes, status};
use crate::encode;
use crate::error::WireError;
use crate::handshake::{self, HandshakeResponse, SCRAMBLE_BYTES};
use crate::packet::PacketStream;
use crate::password::{AuthPlugin, Credential};
use crate::placement::ClientCpu;
use crate::stmt::{self, Statement};
use crate::types::{ConnectInfo, ErrInfo, OkInfo, QueryResult, ResultSet};

/// Longest time spent sending the error a connection is closed with when the client did
/// not ask for an answer (pushed out, no session slot, closed by the backend).
const UNSOLICITED_ERROR_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// COM_SET_OPTION argument values.
const OPTION_MULTI_STATEMENTS_ON: u16 = 0;
const OPTION_MULTI_STATEMENTS_OFF: u16 = 1;

/// Serves one client connection until it quits, fails or times out.
///
/// Sends the greeting, authenticates with the account's plugin (switching clients that
/// answered with another one), upgrades to TLS when the client asks and `config.tls` is set,
/// calls `backend.on_connect`, then answers commands. Returns `Ok(())` when the client
/// sends COM_QUIT or closes the connection between commands. `backend.on_disconnect` is
/// called before returning whenever `on_connect` succeeded.
pub async fn serve_connection<S, B>(
    stream: S,
    backend: B,
    config: Arc<ServerConfig>,
    connection_id: u32,
    peer: Option<SocketAddr>,
) -> Result<(), WireError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    B: Backend,
{
    serve_connection_placed(stream, backend, config, connection_id, peer, None, None).await
}

/// [`serve_connection`], moving the serving thread to the client's CPU after each command
/// when `placement` is given (`ServerConfig::follow_client_cpu`), and within the listener's
/// limits when `admission` is given: the client is closed if newer ones push it out while
/// it logs in, and takes a session slot once logged in (ERR 1040 if none is free).
pub(crate) async fn serve_connection_placed<S, B>(
    stream: S,
    mut backend: B,
    config: Arc<ServerConfig>,
    connection_id: u32,
    peer: Option<SocketAddr>,
    placement: Option<ClientCpu>,
    admission: Option<(Arc<Admission>, LoggingIn)>,
) -> Result<(), WireError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    B: Backend,
{
    backend.on_accept(connection_id, peer);
    let mut io = PacketStream::new(stream, config.max_allowed_packet, config.idle_timeout);
    let (admission, logging_in) = match admission {
        Some((a, l)) => (Some(a), Some(l)),
        None => (None, None),
    };
    let pushed_out = async {
        match &logging_in {
            Some(l) => l.pushed_out().await,
            None => std::future::pending().await,
        }
    };
    let login = tokio::time::timeout(config.handshake_timeout, async {
        tokio::select! {
            // A login that finished counts, whatever else is ready.
            biased;
            login = authenticate(&mut io, &mut backend, &config, connection_id, peer) => Some(login),
            () = pushed_out => None,
        }
    })
    .await;
    let login = match login {
        Ok(Some(Ok(login))) => login,
        Ok(Some(Err(e))) => {
            io.shutdown().await;
            return Err(e);
        }
        Ok(None) => {
            tracing::debug!(
                connection_id,
                "pushed out by newer clients while logging in"
            );
            // Best effort: the client may be anywhere in its handshake (even in TLS's).
            let e = ErrInfo::new(codes::ER_CON_COUNT_ERROR, b"08004", "Too many connections");
            io.packet(|out| encode::err(out, &e, true));
            let _ = tokio::time::timeout(UNSOLICITED_ERROR_WAIT, io.flush()).await;
            io.shutdown().await;
            return Err(WireError::PushedOut);
        }
        Err(_) => {
            tracing::debug!(connection_id, "handshake timed out");
            io.shutdown().await;
            return Err(WireError::HandshakeTimeout(config.handshake_timeout));
        }
    };
    drop(logging_in);
    // Held until the connection ends.
    let _session = match &admission {
        None => None,
        Some(a) => {
            let session = a
                .session(false)
                .or_else(|| backend.administrator().then(|| a.session(true))?);
            if session.is_none() {
                let e = ErrInfo::new(codes::ER_CON_COUNT_ERROR, b"08004", "Too many connections");
                io.packet(|out| encode::err(out, &e, true));
                let _ = tokio::time::timeout(UNSOLICITED_ERROR_WAIT, io.flush()).await;
                io.shutdown().await;
                return Err(WireError::Refused {
                    code: e.code,
                    message: e.message,
                });
            }
            session
        }
    };

    let info = ConnectInfo {
        connection_id,
        user: login.user,
        database: login.database,
        peer,
        secure: io.is_secure(),
        reset: false,
        found_rows: login.capabilities & cap::FOUND_ROWS != 0,
    };
    if let Err(e) = backend.on_connect(&info).await {
        io.packet(|out| encode::err(out, &e, true));
        let _ = io.flush().await;
        io.shutdown().await;
        return Err(WireError::Refused {
            code: e.code,
            message: e.message,
        });
    }

    let mut session = Session {
        multi_statements: login.capabilities & cap::MULTI_STATEMENTS != 0,
        capabilities: login.capabilities,
        io,
        backend,
        config,
        info,
        statements: HashMap::new(),
        next_stmt_id: 1,
        long_data_bytes: 0,
        started: Instant::now(),
        commands: 0,
        placement,
    };
    let result = session.start().await;
    session.backend.on_disconnect().await;
    session.io.shutdown().await;
    result
}

/// What authentication established.
struct Login {
    capabilities: u32,
    user: String,
    database: Option<String>,
}

fn handshake_error(message: &str) -> ErrInfo {
    ErrInfo::new(
        codes::ER_HANDSHAKE_ERROR,
        b"08S01",
        format!("Bad handshake: {message}"),
    )
}

/// Greeting, optional TLS upgrade, HandshakeResponse, optional auth switch, verification.
/// Every refusal is reported to the client before the error is returned.
async fn authenticate<S, B>(
    io: &mut PacketStream<S>,
    backend: &mut B,
    config: &ServerConfig,
    connection_id: u32,
    peer: Option<SocketAddr>,
) -> Result<Login, WireError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    B: Backend,
{
    let scramble = handshake::new_scramble();
    let mut server_caps = cap::SERVER_DEFAULT;
    if config.tls.is_some() {
        server_caps |= cap::SSL;
    }
    io.packet(|out| {
        handshake::encode_greeting(
            out,
            &config.server_version,
            connection_id,
            &scramble,
            server_caps,
            config.default_auth_plugin.name(),
        )
    });
    io.flush().await?;

    let mut payload = read_handshake_packet(io).await?;
    let client_caps = match handshake::client_capabilities(&payload) {
        Ok(c) => c,
        Err(e) => return Err(refuse(io, handshake_error(&e.to_string()), e).await),
    };
    if client_caps & server_caps & cap::SSL != 0 {
        if let Err(e) = handshake::check_ssl_request(&payload) {
            return Err(refuse(io, handshake_error(&e.to_string()), e).await);
        }
        let tls = config
            .tls
            .clone()
            .ok_or(WireError::Malformed { what: "SslRequest" })?;
        io.upgrade_tls(TlsAcceptor::from(tls)).await?;
        payload = read_handshake_packet(io).await?;
    }
    let response = match HandshakeResponse::parse(&payload, server_caps) {
        Ok(r) => r,
        Err(e) => return Err(refuse(io, handshake_error(&e.to_string()), e).await),
    };
    if config.require_secure_transport && !io.is_secure() {
        let e = ErrInfo::new(
            codes::ER_SECURE_TRANSPORT_REQUIRED,
            b"HY000",
            "Connections using insecure transport are prohibited while \
             --require_secure_transport=ON.",
        );
        return Err(refuse(io, e, WireError::InsecureTransport).await);
    }

    let caps = response.capabilities;
    let credential = match backend.auth_lookup(&response.user).await {
        Ok(c) => c,
        Err(e) => {
            let cause = WireError::Refused {
                code: e.code,
                message: e.message.clone(),
            };
            return Err(refuse(io, e, cause).await);
        }
    };
    let client_plugin = response.auth_plugin.as_deref().and_then(AuthPlugin::parse);
    // The plugin that checks this account; an account without a password takes the
    // client's (an empty answer is empty in both), an unknown user the default.
    let plugin = match &credential {
        Some(c) => c.plugin().or(client_plugin),
        None => None,
    }
    .unwrap_or(config.default_auth_plugin);
    let token = if client_plugin == Some(plugin) {
        Some(response.auth_response)
    } else if caps & cap::PLUGIN_AUTH != 0 {
        // The client answered with another plugin: ask again with this one, same scramble.
        io.packet(|out| handshake::encode_auth_switch(out, plugin.name(), &scramble));
        io.flush().await?;
        Some(read_handshake_packet(io).await?)
    } else if plugin == AuthPlugin::Native && response.auth_plugin.is_none() {
        // A pre-plugin 4.1 client, whose scheme is the native one.
        Some(response.auth_response)
    } else {
        None
    };
    let using_password = token.as_ref().is_some_and(|t| !t.is_empty());
    // An unknown user goes through the same steps as a known one of the same plugin, so
    // the answers (and their cost) do not tell which user names exist.
    let credential = credential.unwrap_or_else(|| Credential::unknown_user(plugin));
    let verified = match &token {
        Some(token) => {
            check_password(io, config, &credential, &scramble, token, &response.user).await?
        }
        None => false,
    };
    if !verified {
        backend.on_auth_failed(&response.user).await;
        let host = peer.map_or_else(|| "localhost".to_string(), |p| p.ip().to_string());
        let e = ErrInfo::new(
            codes::ER_ACCESS_DENIED_ERROR,
            b"28000",
            format!(
                "Access denied for user '{}'@'{}' (using password: {})",
                response.user,
                host,
                if using_password { "YES" } else { "NO" }
            ),
        );
        let user = response.user.clone();
        return Err(refuse(io, e, WireError::AccessDenied { user }).await);
    }
    Ok(Login {
        capabilities: caps,
        user: response.user,
        database: response.database,
    })
}

/// Checks the client's answer against the account's credential. caching_sha2_password
/// answers from the node's cache when it can (fast path), else asks for the password
/// itself, which it only accepts over TLS.
async fn check_password<S>(
    io: &mut PacketStream<S>,
    config: &ServerConfig,
    credential: &Credential,
    scramble: &[u8; SCRAMBLE_BYTES],
    token: &[u8],
    user: &str,
) -> Result<bool, WireError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// caching_sha2_password's AuthMoreData statuses.
    const FAST_AUTH_SUCCESS: u8 = 3;
    const PERFORM_FULL_AUTHENTICATION: u8 = 4;
    let stored = match credential {
        Credential::Empty => return Ok(token.is_empty()),
        Credential::Native(hash) => {
            return Ok(handshake::verify_native_password(scramble, token, hash));
        }
        Credential::CachingSha2(stored) => stored,
    };
    if token.is_empty() {
        return Ok(false);
    }
    let cache = &config.password_cache;
    if cache.fast_check(stored, scramble, token) {
        io.packet(|out| out.extend_from_slice(&[0x01, FAST_AUTH_SUCCESS]));
        return Ok(true);
    }
    if !io.is_secure() && cache.knows(stored) {
        // The cache has the right answer and this is not it: a wrong password.
        return Ok(false);
    }
    if !io.is_secure() {
        // Full authentication would send the password itself, which a client only does
        // over TLS (or RSA-encrypted with a server key quorate does not have). Say so now:
        // clients report an error that follows their request for an RSA key as "could not
        // read the key", and the reason would be lost.
        let e = ErrInfo::new(
            codes::ER_SECURE_TRANSPORT_REQUIRED,
            b"HY000",
            format!(
                "User '{user}' uses caching_sha2_password and has not logged in over TLS on \
                 this node since it started: connect once with TLS (mysql --ssl), after \
                 which plaintext logins work; quorate has no RSA key exchange"
            ),
        );
        return Err(refuse(io, e, WireError::InsecureTransport).await);
    }
    io.packet(|out| out.extend_from_slice(&[0x01, PERFORM_FULL_AUTHENTICATION]));
    io.flush().await?;
    let answer = read_handshake_packet(io).await?;
    // The password, NUL-terminated.
    let password = answer.strip_suffix(&[0]).unwrap_or(&answer);
    let Ok(password) = std::str::from_utf8(password) else {
        return Ok(false);
    };
    // A match is remembered in the cache, so the next login takes the fast path.
    Ok(credential.verify_cleartext(password, cache))
}

/// Reads a packet during the handshake; EOF is an error here.
async fn read_handshake_packet<S>(io: &mut PacketStream<S>) -> Result<Vec<u8>, WireError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    io.read_payload().await?.ok_or(WireError::UnexpectedEof {
        during: "handshake",
    })
}

/// Sends `e` to the client (best effort) and returns `cause` for the caller to return.
async fn refuse<S>(io: &mut PacketStream<S>, e: ErrInfo, cause: WireError) -> WireError
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    tracing::debug!(code = e.code, message = %e.message, "refusing connection");
    io.packet(|out| encode::err(out, &e, true));
    let _ = io.flush().await;
    cause
}

/// Whether to keep serving after a command.
enum Flow {
    Continue,
    Quit,
}

/// Result sets in COM_QUERY (text) or COM_STMT_EXECUTE (binary) form.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RowFormat {
    Text,
    Binary,
}

/// State of an authenticated connection.
struct Session<S, B> {
    io: PacketStream<S>,
    backend: B,
    config: Arc<ServerConfig>,
    info: ConnectInfo,
    capabilities: u32,
    /// Multi-statement COM_QUERY allowed (CLIENT_MULTI_STATEMENTS, or COM_SET_OPTION).
    multi_statements: bool,
    statements: HashMap<u32, Statement>,
    next_stmt_id: u32,
    /// COM_STMT_SEND_LONG_DATA bytes held across all statements.
    long_data_bytes: usize,
    started: Instant,
    commands: u64,
    /// Where this connection's thread follows its client's CPU, if it does.
    placement: Option<ClientCpu>,
}

impl<S, B> Session<S, B>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    B: Backend,
{
    /// Sends the login OK, then serves commands.
    async fn start(&mut self) -> Result<(), WireError> {
        self.send_ok(&OkInfo::default(), 0);
        self.io.flush().await?;
        self.command_loop().await
    }

    async fn command_loop(&mut self) -> Result<(), WireError> {
        let idle = self.config.idle_timeout;
        loop {
            self.io.reset_seq();
            // Wait for the next command; meanwhile let the backend react to its own events.
            let next = {
                let read = tokio::time::timeout(idle, self.io.read_payload());
                tokio::pin!(read);
                loop {
                    tokio::select! {
                        biased;
                        r = &mut read => break Ok(r),
                        event = self.backend.idle_event() => match event {
                            IdleEvent::Continue => {}
                            IdleEvent::Close(e) => break Err(e),
                        },
                    }
                }
            };
            let next = match next {
                Ok(r) => r,
                Err(e) => {
                    if let Some(e) = e {
                        self.io.reset_seq();
                        self.io.packet(|out| encode::err(out, &e, true));
                        // A client that does not read must not hold the close (a shutdown
                        // waits for it) for the idle timeout.
                        let _ = tokio::time::timeout(UNSOLICITED_ERROR_WAIT, self.io.flush()).await;
                    }
                    return Ok(());
                }
            };
            let payload = match next {
                Err(_) => {
                    let e = ErrInfo::new(
                        codes::ER_CLIENT_INTERACTION_TIMEOUT,
                        b"HY000",
                        "The client was disconnected by the server because of inactivity.",
                    );
                    self.io.reset_seq();
                    self.io.packet(|out| encode::err(out, &e, true));
                    let _ = self.io.flush().await;
                    return Err(WireError::IdleTimeout(idle));
                }
                Ok(Ok(None)) => return Ok(()),
                Ok(Ok(Some(payload))) => payload,
                Ok(Err(e @ WireError::PacketTooLarge { .. })) => {
                    let err = ErrInfo::new(
                        codes::ER_NET_PACKET_TOO_LARGE,
                        b"08S01",
                        "Got a packet bigger than 'max_allowed_packet' bytes",
                    );
                    self.io.packet(|out| encode::err(out, &err, true));
                    let _ = self.io.flush().await;
                    return Err(e);
                }
                Ok(Err(e)) => return Err(e),
            };
            self.commands += 1;
            if let Some(placement) = &mut self.placement {
                placement.follow();
            }
            if let Flow::Quit = self.dispatch(&payload).await? {
                return Ok(());
            }
            self.io.flush().await?;
        }
    }

    async fn dispatch(&mut self, payload: &[u8]) -> Result<Flow, WireError> {
        let command = match Command::parse(payload) {
            Ok(c) => c,
            Err(e) => {
                self.send_err(&malformed_packet(&e));
                return Ok(Flow::Continue);
            }
        };
        match command {
            Command::Quit => return Ok(Flow::Quit),
            Command::Ping => self.send_ok(&OkInfo::default(), 0),
            Command::InitDb(name) => match text(name, "database name") {
                Err(e) => self.send_err(&e),
                Ok(db) => match self.backend.init_db(db).await {
                    Ok(()) => {
                        self.info.database = Some(db.to_string());
                        self.send_ok(&OkInfo::default(), 0);
                    }
                    Err(e) => self.send_err(&e),
                },
            },
            Command::Query(sql) => {
                let results = self.backend.query_bytes(sql, self.multi_statements).await;
                self.send_results(results, RowFormat::Text).await?;
            }
            Command::FieldList { table } => match text(table, "table name") {
                Err(e) => self.send_err(&e),
                Ok(table) => match self.backend.field_list(table).await {
                    Ok(columns) => {
                        for c in &columns {
                            self.io
                                .packet(|out| encode::column_definition(out, c, true));
                        }
                        self.send_end_of_rows(0);
                    }
                    Err(e) => self.send_err(&e),
                },
            },
            Command::Statistics => {
                let uptime_s = self.started.elapsed().as_secs();
                let line = format!(
                    "Uptime: {uptime_s}  Threads: 1  Questions: {}  Slow queries: 0  \
                     Opens: 0  Open tables: 0  Queries per second avg: {:.3}",
                    self.commands,
                    self.commands as f64 / uptime_s.max(1) as f64
                );
                self.io.packet(|out| out.extend_from_slice(line.as_bytes()));
            }
            Command::StmtPrepare(sql) => match text(sql, "statement") {
                Err(e) => self.send_err(&e),
                Ok(sql) => self.prepare(sql).await,
            },
            Command::StmtExecute {
                stmt_id,
                flags: _,
                params,
            } => {
                // Cursor flags are ignored: the whole result is always sent at once, and
                // SERVER_STATUS_CURSOR_EXISTS is never set, so clients read it directly.
                self.execute(stmt_id, params).await?;
            }
            Command::StmtSendLongData {
                stmt_id,
                param,
                data,
            } => {
                self.send_long_data(stmt_id, param, data);
            }
            Command::StmtClose(stmt_id) => {
                if let Some(st) = self.statements.remove(&stmt_id) {
                    self.long_data_bytes -= st.long_data_bytes();
                    self.backend.close(stmt_id).await;
                }
            }
            Command::StmtReset(stmt_id) => match self.statements.get_mut(&stmt_id) {
                Some(st) => {
                    self.long_data_bytes -= st.long_data_bytes();
                    st.clear_long_data();
                    self.send_ok(&OkInfo::default(), 0);
                }
                None => self.send_err(&unknown_statement(stmt_id, "mysqld_stmt_reset")),
            },
            Command::SetOption(option) => match option {
                OPTION_MULTI_STATEMENTS_ON | OPTION_MULTI_STATEMENTS_OFF => {
                    self.multi_statements = option == OPTION_MULTI_STATEMENTS_ON;
                    // MySQL answers COM_SET_OPTION with EOF (an OK under DEPRECATE_EOF).
                    self.send_end_of_rows(0);
                }
                _ => self.send_err(&unknown_command()),
            },
            Command::StmtFetch(stmt_id) => {
                let e = ErrInfo::new(
                    codes::ER_STMT_HAS_NO_OPEN_CURSOR,
                    b"HY000",
                    format!("The statement ({stmt_id}) has no open cursor."),
                );
                self.send_err(&e);
            }
            Command::ResetConnection => self.reset_connection().await,
            Command::Unsupported(code) => {
                tracing::debug!(command = code, "unsupported command");
                self.send_err(&unknown_command());
            }
        }
        Ok(Flow::Continue)
    }

    async fn prepare(&mut self, sql: &str) {
        if self.statements.len() >= MAX_PREPARED_STATEMENTS_PER_CONNECTION {
            let e = ErrInfo::new(
                codes::ER_MAX_PREPARED_STMT_COUNT_REACHED,
                b"42000",
                format!(
                    "Can't create more than max_prepared_stmt_count statements (current value: \
                     {MAX_PREPARED_STATEMENTS_PER_CONNECTION}); close statements you no longer need"
                ),
            );
            self.send_err(&e);
            return;
        }
        let stmt_id = self.allocate_stmt_id();
        let prepared = match self.backend.prepare(stmt_id, sql).await {
            Ok(p) => p,
            Err(e) => {
                self.send_err(&e);
                return;
            }
        };
        if prepared.params.len() > MAX_PARAMS_PER_STATEMENT
            || prepared.columns.len() > usize::from(u16::MAX)
        {
            self.backend.close(stmt_id).await;
            let e = ErrInfo::new(
                codes::ER_PS_MANY_PARAM,
                b"42000",
                "Prepared statement contains too many placeholders or columns",
            );
            self.send_err(&e);
            return;
        }
        self.statements
            .insert(stmt_id, Statement::new(prepared.params.len()));
        self.io.packet(|out| {
            encode::prepare_ok(
                out,
                stmt_id,
                prepared.columns.len() as u16,
                prepared.params.len() as u16,
            )
        });
        for group in [&prepared.params, &prepared.columns] {
            if group.is_empty() {
                continue;
            }
            for c in group.iter() {
                self.io
                    .packet(|out| encode::column_definition(out, c, false));
            }
            if !self.deprecate_eof() {
                let flags = self.status_flags(0);
                self.io.packet(|out| encode::eof(out, 0, flags));
            }
        }
    }

    /// A statement id not in use (ids wrap after 2^32 prepares; 0 is never used).
    fn allocate_stmt_id(&mut self) -> u32 {
        loop {
            let id = self.next_stmt_id;
            self.next_stmt_id = self.next_stmt_id.wrapping_add(1).max(1);
            if !self.statements.contains_key(&id) {
                return id;
            }
        }
    }

    async fn execute(&mut self, stmt_id: u32, block: &[u8]) -> Result<(), WireError> {
        let Some(st) = self.statements.get_mut(&stmt_id) else {
            self.send_err(&unknown_statement(stmt_id, "mysqld_stmt_execute"));
            return Ok(());
        };
        let held = st.long_data_bytes();
        let decoded = match st.long_data_error.take() {
            Some(e) => Err(e),
            None => stmt::decode_params(block, st),
        };
        // Long data is used by one execute only, whether it succeeded or not.
        st.clear_long_data();
        self.long_data_bytes -= held;
        match decoded {
            Ok(params) => {
                let result = self.backend.execute(stmt_id, params).await;
                self.send_results(vec![result], RowFormat::Binary).await
            }
            Err(e) => {
                self.send_err(&e);
                Ok(())
            }
        }
    }

    /// Accumulates long data; there is no response. Errors surface at the next execute.
    fn send_long_data(&mut self, stmt_id: u32, param: u16, data: &[u8]) {
        let max = self.config.max_allowed_packet;
        let Some(st) = self.statements.get_mut(&stmt_id) else {
            return;
        };
        if st.long_data_error.is_some() {
            return;
        }
        let index = usize::from(param);
        if index >= st.param_count {
            st.long_data_error = Some(ErrInfo::new(
                codes::ER_WRONG_ARGUMENTS,
                b"HY000",
                format!("Incorrect arguments to mysqld_stmt_send_long_data: no parameter {param}"),
            ));
            return;
        }
        if self.long_data_bytes + data.len() > max {
            self.long_data_bytes -= st.long_data_bytes();
            st.clear_long_data();
            st.long_data_error = Some(ErrInfo::new(
                codes::ER_NET_PACKET_TOO_LARGE,
                b"08S01",
                format!(
                    "Parameter data sent with mysql_stmt_send_long_data() exceeds \
                     max_allowed_packet ({max} bytes)"
                ),
            ));
            return;
        }
        if st.long_data.len() < st.param_count {
            st.long_data.resize(st.param_count, None);
        }
        st.long_data[index]
            .get_or_insert_with(Vec::new)
            .extend_from_slice(data);
        self.long_data_bytes += data.len();
    }

    async fn reset_connection(&mut self) {
        let ids: Vec<u32> = self.statements.keys().copied().collect();
        for id in ids {
            self.backend.close(id).await;
        }
        self.statements.clear();
        self.long_data_bytes = 0;
        self.info.reset = true;
        let result = self.backend.on_connect(&self.info).await;
        self.info.reset = false;
        match result {
            Ok(()) => self.send_ok(&OkInfo::default(), 0),
            Err(e) => self.send_err(&e),
        }
    }

    /// Sends the results of one command: each but the last carries MORE_RESULTS_EXISTS;
    /// an error ends the sequence.
    async fn send_results(
        &mut self,
        results: Vec<QueryResult>,
        format: RowFormat,
    ) -> Result<(), WireError> {
        if results.is_empty() {
            self.send_ok(&OkInfo::default(), 0);
            return Ok(());
        }
        // A client without CLIENT_MULTI_RESULTS can only read one result.
        let count = if self.capabilities & cap::MULTI_RESULTS != 0 {
            results.len()
        } else {
            1
        };
        for (i, result) in results.into_iter().take(count).enumerate() {
            let more = if i + 1 < count {
                status::MORE_RESULTS_EXISTS
            } else {
                0
            };
            match result {
                QueryResult::Ok(ok) => {
                    if ok.affected_rows > 0
                        && let Some(placement) = &mut self.placement
                    {
                        placement.wrote();
                    }
                    self.send_ok(&ok, more)
                }
                QueryResult::Err(e) => {
                    self.send_err(&e);
                    break;
                }
                QueryResult::Rows(rs) => self.send_result_set(&rs, format, more).await?,
            }
        }
        Ok(())
    }

    async fn send_result_set(
        &mut self,
        rs: &ResultSet,
        format: RowFormat,
        more: u16,
    ) -> Result<(), WireError> {
        if rs.columns.is_empty() {
            // A result set needs at least one column; report an empty success instead.
            self.send_ok(&OkInfo::default(), more);
            return Ok(());
        }
        self.io
            .packet(|out| crate::buf::put_lenenc_int(out, rs.columns.len() as u64));
        for c in &rs.columns {
            self.io
                .packet(|out| encode::column_definition(out, c, false));
        }
        if !self.deprecate_eof() {
            let flags = self.status_flags(0);
            self.io.packet(|out| encode::eof(out, 0, flags));
        }
        for row in &rs.rows {
            match format {
                RowFormat::Text => self
                    .io
                    .packet(|out| encode::text_row(out, &rs.columns, row)),
                RowFormat::Binary => self
                    .io
                    .packet(|out| encode::binary_row(out, &rs.columns, row)),
            }
            self.io.flush_if_large().await?;
        }
        self.send_end_of_rows(more);
        Ok(())
    }

    /// EOF, or the 0xFE-headed OK that replaces it under CLIENT_DEPRECATE_EOF.
    fn send_end_of_rows(&mut self, more: u16) {
        let flags = self.status_flags(more);
        if self.deprecate_eof() {
            self.io
                .packet(|out| encode::ok(out, encode::EOF_HEADER, &OkInfo::default(), flags));
        } else {
            self.io.packet(|out| encode::eof(out, 0, flags));
        }
    }

    fn send_ok(&mut self, ok: &OkInfo, more: u16) {
        let flags = self.status_flags(more);
        self.io
            .packet(|out| encode::ok(out, encode::OK_HEADER, ok, flags));
    }

    fn send_err(&mut self, e: &ErrInfo) {
        self.io.packet(|out| encode::err(out, e, true));
    }

    fn deprecate_eof(&self) -> bool {
        self.capabilities & cap::DEPRECATE_EOF != 0
    }

    fn status_flags(&self, more: u16) -> u16 {
        let s = self.backend.status();
        let mut flags = more;
        if s.in_transaction {
            flags |= status::IN_TRANS;
        }
        if s.autocommit {
            flags |= status::AUTOCOMMIT;
        }
        flags
    }
}

/// Decodes text sent by the client. The connection charset is utf8mb4; invalid UTF-8 is
/// refused rather than silently altered (binary data belongs in X'..' literals or in
/// prepared statement parameters).
fn text<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, ErrInfo> {
    std::str::from_utf8(bytes).map_err(|e| {
        ErrInfo::new(
            codes::ER_INVALID_CHARACTER_STRING,
            b"HY000",
            format!(
                "Invalid utf8mb4 character string in {what} at byte {}; send binary data as \
                 X'..' literals or as prepared statement parameters",
                e.valid_up_to()
            ),
        )
    })
}

fn unknown_command() -> ErrInfo {
    ErrInfo::new(codes::ER_UNKNOWN_COM_ERROR, b"08S01", "Unknown command")
}

fn unknown_statement(stmt_id: u32, during: &str) -> ErrInfo {
    ErrInfo::new(
        codes::ER_UNKNOWN_STMT_HANDLER,
        b"HY000",
        format!("Unknown prepared statement handler ({stmt_id}) given to {during}"),
    )
}

fn malformed_packet(e: &WireError) -> ErrInfo {
    ErrInfo::new(
        codes::ER_MALFORMED_PACKET,
        b"HY000",
        format!("Malformed communication packet: {e}"),
    )
}
