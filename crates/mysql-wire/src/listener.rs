//! The accept loop: one task (or thread) per client, at most `max_connections` sessions and
//! as many clients logging in (see `admission`).

use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::admission::{Admission, LoggingIn};
use crate::backend::Backend;
use crate::config::ServerConfig;
use crate::conn::serve_connection_placed;
use crate::placement::{ClientCpu, is_local_peer};

/// Pause after a failed accept (typically out of file descriptors) before trying again,
/// so the loop does not spin while the condition lasts.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Connection ids count from 1 to this and then start over. They stay below 2^31 so that
/// a server can give its other clients (quorate's HTTP requests) ids of the upper half
/// without ever naming a MySQL connection.
pub const CONNECTION_ID_MAX: u32 = (1 << 31) - 1;

/// Accept loop with the connection limit; `make_backend` builds one backend per connection.
///
/// Each accepted client is served by [`serve_connection`] on its own task, or on its own
/// thread with [`ServerConfig::thread_per_connection`]. A client takes one of
/// `config.max_connections` session slots once it has logged in; while all are taken, a
/// client that logs in receives ERR 1040 "Too many connections" and is closed, unless the
/// backend calls its account an administrator ([`Backend::administrator`]): one more
/// session is kept for one. At most `config.max_connections` clients may be logging in at
/// once; a newcomer beyond that closes the one logging in longest from the address with
/// the most clients logging in, with ERR 1040 (so sockets that connect and stay silent
/// from a few addresses cannot keep other clients out). Connection ids count up from 1.
/// Failed accepts (for example EMFILE) are logged and retried after a short pause; the
/// function returns only if the listener itself is unusable, and otherwise runs until
/// its future is dropped (connections already accepted keep running on their tasks or
/// threads).
pub async fn serve_listener<F, B>(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    make_backend: F,
) -> std::io::Result<()>
where
    F: Fn() -> B + Send + Sync + 'static,
    B: Backend + 'static,
{
    let admission = Admission::new(config.max_connections);
    let mut next_connection_id: u32 = 1;
    let mut pushed_out: u64 = 0;
    let mut failed_accepts: u64 = 0;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                if failed_accepts > 0 {
                    tracing::info!(failed_accepts, "accepting connections again");
                    failed_accepts = 0;
                }
                accepted
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => return Err(e),
            Err(e) => {
                if failed_accepts == 0 {
                    tracing::warn!(error = %e, "accept failed; retrying");
                }
                failed_accepts += 1;
                tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                continue;
            }
        };
        // Small request/response packets: do not let Nagle delay them.
        let _ = stream.set_nodelay(true);
        let connection_id = next_connection_id;
        next_connection_id = if next_connection_id >= CONNECTION_ID_MAX {
            1
        } else {
            next_connection_id + 1
        };

        let (logging_in, evicted) = admission.arrive(Some(peer.ip()));
        if evicted {
            pushed_out += 1;
            if pushed_out == 1 || pushed_out.is_power_of_two() {
                tracing::warn!(
                    max_connections = config.max_connections,
                    pushed_out_total = pushed_out,
                    "more clients logging in at once than max_connections; closing the \
                     oldest of the address with the most (clients that connect and say \
                     nothing?)"
                );
            }
        }
        let slot = (admission.clone(), logging_in);
        let mut backend = make_backend();
        // A copy of the socket for the backend to watch (skipped if the process is out of
        // file descriptors: the client is then served without it).
        if let Ok(copy) = stream.as_fd().try_clone_to_owned() {
            backend.on_socket(std::net::TcpStream::from(copy));
        }
        let config = config.clone();
        if config.thread_per_connection {
            serve_on_own_thread(stream, backend, config, connection_id, peer, slot);
            continue;
        }
        tokio::spawn(async move {
            let served = serve_connection_placed(
                stream,
                backend,
                config,
                connection_id,
                Some(peer),
                None,
                Some(slot),
            );
            log_end(served.await, connection_id, peer);
        });
    }
}

fn log_end(served: Result<(), crate::WireError>, connection_id: u32, peer: SocketAddr) {
    match served {
        Ok(()) => tracing::debug!(connection_id, %peer, "client disconnected"),
        Err(e) => tracing::debug!(connection_id, %peer, error = %e, "connection ended"),
    }
}

/// Serves one client on a new thread running a single-threaded runtime of its own
/// ([`ServerConfig::thread_per_connection`]). Its place among the clients logging in,
/// then its session slot, are released when the thread ends. If the thread or its runtime cannot be created (the process is out of
/// threads or file descriptors), the client is closed and a warning logged.
fn serve_on_own_thread<B: Backend + 'static>(
    stream: TcpStream,
    backend: B,
    config: Arc<ServerConfig>,
    connection_id: u32,
    peer: SocketAddr,
    slot: (Arc<Admission>, LoggingIn),
) {
    // Leave the accepting runtime's reactor; the new runtime registers the socket again.
    let stream = match stream.into_std() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(connection_id, %peer, error = %e, "cannot hand the client to a thread; closing it");
            return;
        }
    };
    // A client on this machine gets a duplicate of the socket, to ask where its packets
    // arrive; without one the thread is left where the scheduler puts it.
    let placement = config
        .follow_client_cpu
        .as_ref()
        .filter(|_| {
            stream
                .local_addr()
                .is_ok_and(|local| is_local_peer(peer, local))
        })
        .and_then(|follow| {
            let socket = stream.try_clone().ok()?;
            Some(ClientCpu::new(socket, follow))
        });
    let spawned = std::thread::Builder::new()
        .name("quorate-mysql".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(connection_id, %peer, error = %e, "cannot start a runtime for the client; closing it");
                    return;
                }
            };
            runtime.block_on(async move {
                match TcpStream::from_std(stream) {
                    Ok(stream) => {
                        let served = serve_connection_placed(
                            stream,
                            backend,
                            config,
                            connection_id,
                            Some(peer),
                            placement,
                            Some(slot),
                        );
                        log_end(served.await, connection_id, peer);
                    }
                    Err(e) => {
                        tracing::warn!(connection_id, %peer, error = %e, "cannot register the client's socket; closing it")
                    }
                }
            });
        });
    if let Err(e) = spawned {
        tracing::warn!(connection_id, %peer, error = %e, "cannot start a thread for the client; closing it");
    }
}
