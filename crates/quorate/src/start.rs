//! `quorate start`: one node process.
//!
//! Two tokio runtimes: a small *control* runtime runs Raft and the peer transport; a
//! *client* runtime runs HTTP and MySQL. A flood of client work therefore cannot delay
//! heartbeats into a spurious election.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use quorate_node::Node;
use quorate_node::config::NodeConfig;

/// Exit status after a fatal consensus error (EX_SOFTWARE-like; the supervisor restarts).
const FATAL_EXIT: i32 = 70;

#[derive(Args)]
pub struct StartArgs {
    /// The node's TOML config file.
    #[arg(long, short)]
    config: PathBuf,
    /// Override `data_dir`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Override `bootstrap_expect`: form the cluster once this many members can talk.
    #[arg(long)]
    bootstrap_expect: Option<usize>,
    /// Override `http_addr`.
    #[arg(long)]
    http_addr: Option<String>,
    /// Override `mysql_addr`.
    #[arg(long)]
    mysql_addr: Option<String>,
}

/// What is logged when `QUORATE_LOG` is not set: quorate's own messages from `info` up;
/// the Raft library's errors only (its `info` and `warn` narrate every election); the log
/// store's warnings and errors only, because raft-log reports at `info` each time a log file
/// it has finished becomes evictable from its cache, which after the first 64 MiB file is
/// closed happens on every fsync: hundreds of lines a second under write load, written
/// from the thread that acknowledges each fsync.
pub(crate) const DEFAULT_LOG_FILTER: &str = "info,openraft=error,raft_log=warn";

pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("QUORATE_LOG")
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    // Colours only on a terminal: a log file or a journal gets plain text.
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_ansi(std::io::stdout().is_terminal())
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

pub fn run(args: StartArgs) -> anyhow::Result<()> {
    init_logging();
    let mut cfg = NodeConfig::load(&args.config)?;
    if let Some(d) = args.data_dir {
        cfg.data_dir = d;
    }
    if let Some(n) = args.bootstrap_expect {
        cfg.bootstrap_expect = Some(n);
    }
    if let Some(a) = args.http_addr {
        cfg.http_addr = a;
    }
    if let Some(a) = args.mysql_addr {
        cfg.mysql_addr = a;
    }
    cfg.validate()?;
    raise_open_files_limit(&cfg);
    let control = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.runtime.control_threads)
        .thread_name("quorate-control")
        .enable_all()
        .build()?;
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.runtime.client_threads)
        .thread_name("quorate-client")
        .enable_all()
        .build()?;
    // The MySQL front end's hook gives every SQLite connection the MySQL functions.
    let hook = Some(quorate_mysql::connection_hook());
    let node = control
        .block_on(Node::start_with_hook(cfg.clone(), hook))
        .context("starting the node")?;
    // Peers' statements run beside local clients', away from Raft and the keepalives.
    node.run_peer_statements_on(client.handle().clone());
    keep_polling_io(client.handle().clone());
    let counters = Arc::new(quorate_http::Counters::default());
    let accounts =
        quorate_mysql::LoginChecker::new(node.clone(), &cfg).map_err(anyhow::Error::msg)?;
    let https = match &cfg.tls {
        Some(t) if t.http => Some(t.identity()?.client_facing_server()?),
        _ => None,
    };
    let secure = https.is_some();
    let http = client.block_on(quorate_http::serve(
        node.clone(),
        &cfg.http_addr,
        counters,
        Arc::new(HttpAccounts(accounts)),
        https,
    ))?;
    tracing::info!(http = %http.local_addr(), tls = secure, "HTTP API listening");
    let mysql = if cfg.mysql_addr.is_empty() {
        None
    } else {
        let mysql = client.block_on(quorate_mysql::serve(node.clone(), &cfg.mysql_addr))?;
        tracing::info!(mysql = %mysql.local_addr(), "MySQL protocol listening");
        Some(mysql)
    };
    let mut restart = node.restart_requested();
    let mut fatal = node.fatal_error();
    let restart_wanted = client.block_on(async {
        tokio::select! {
            _ = wait_for_shutdown_signal() => false,
            r = restart.wait_for(|r| *r) => r.is_ok(),
            f = fatal.wait_for(|f| f.is_some()) => {
                let why = f.map(|f| f.clone().unwrap_or_default()).unwrap_or_default();
                // Staying up would leave a process that answers but never catches up
                // again; exiting lets the supervisor restart it once the cause (a full
                // disk, ...) is gone. Everything acknowledged is in the log already.
                tracing::error!(error = %why, "consensus stopped on a fatal error; exiting (status {FATAL_EXIT}) so that the supervisor restarts this node");
                std::process::exit(FATAL_EXIT);
            }
        }
    });
    tracing::info!(restart = restart_wanted, "shutting down");
    if restart_wanted {
        // Give the HTTP answer that requested the restart a moment to leave.
        std::thread::sleep(std::time::Duration::from_millis(300));
    } else {
        client.block_on(async {
            tokio::select! {
                () = finish_clients_and_hand_over(&node, &http, mysql.as_ref()) => {}
                _ = wait_for_shutdown_signal() => {
                    tracing::warn!("a second signal: stopping without waiting for clients");
                }
                f = fatal.wait_for(|f| f.is_some()) => {
                    let why = f.map(|f| f.clone().unwrap_or_default()).unwrap_or_default();
                    tracing::error!(error = %why, "consensus stopped on a fatal error while shutting down; exiting (status {FATAL_EXIT})");
                    std::process::exit(FATAL_EXIT);
                }
            }
        });
    }
    control.block_on(node.shutdown());
    client.shutdown_timeout(std::time::Duration::from_secs(2));
    control.shutdown_timeout(std::time::Duration::from_secs(2));
    if restart_wanted {
        // Same binary, same arguments, same pid: the staged recovery is applied at start.
        use std::os::unix::process::CommandExt;
        let exe = std::env::current_exe()?;
        let err = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .exec();
        anyhow::bail!("cannot restart: {err}");
    }
    Ok(())
}

/// At a clean shutdown, how long MySQL sessions and HTTP requests may take to finish the
/// statements they run.
const SHUTDOWN_DRAIN: std::time::Duration = std::time::Duration::from_secs(6);
/// At a clean shutdown, how long a leader may take to hand leadership over.
const SHUTDOWN_HAND_OVER: std::time::Duration = std::time::Duration::from_secs(3);

/// A clean shutdown (SIGTERM, Ctrl-C): MySQL clients finish their statements and are then
/// closed with 1053, HTTP requests in progress are answered and their connections closed
/// (both at once, at most [`SHUTDOWN_DRAIN`]), and a leader hands leadership to another
/// data voter (at most [`SHUTDOWN_HAND_OVER`]), so that a rolling restart costs the cluster
/// no election timeout and this node's clients no statement in flight. Both bounds
/// together stay under the 10 s that supervisors and our own tools wait before `kill -9`;
/// a second signal skips what is left.
async fn finish_clients_and_hand_over(
    node: &Node,
    http: &quorate_http::HttpServer,
    mysql: Option<&quorate_mysql::MysqlServer>,
) {
    let mysql_drained = async {
        match mysql {
            Some(m) => m.drain(SHUTDOWN_DRAIN).await,
            None => 0,
        }
    };
    let (sessions, connections) = tokio::join!(mysql_drained, http.drain(SHUTDOWN_DRAIN));
    if sessions > 0 {
        tracing::warn!(
            sessions,
            "MySQL statements still running at shutdown; their clients lose the connection"
        );
    }
    if connections > 0 {
        tracing::warn!(
            connections,
            "HTTP requests still running at shutdown; their clients lose the connection"
        );
    }
    match tokio::time::timeout(SHUTDOWN_HAND_OVER, node.hand_over_leadership()).await {
        Ok(Ok(Some(to))) => tracing::info!(to, "handed leadership over before shutting down"),
        Ok(Ok(None)) => {}
        // A single data voter has nobody to hand over to.
        Ok(Err(e)) if e.code == quorate_node::error::ErrorCode::Refused => {
            tracing::info!(reason = %e, "leadership not handed over")
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not hand leadership over; the others elect a leader after this node stops")
        }
        Err(_) => tracing::warn!(
            "leadership hand-over did not finish in time; the others elect a leader after this node stops"
        ),
    }
}

/// How often the client runtime is nudged (see [`keep_polling_io`]).
const IO_NUDGE_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Keeps the client runtime's sockets polled while statements hold its workers. A statement
/// (HTTP, or one a peer sent) runs synchronously on the worker that picked it up. When that
/// worker was the one polling the runtime's sockets, and the runtime's other workers sleep
/// for want of tasks, nobody polls them until the statement ends: a long statement left
/// the node's whole HTTP API, health checks included, unanswered (docs/VERIFICATION.md
/// finding 29). A task spawned from outside wakes a sleeping worker, which takes over the
/// polling when it sleeps again; an empty one every 100 ms costs ten wake-ups a second.
fn keep_polling_io(client: tokio::runtime::Handle) {
    quorate_node::timers().spawn(async move {
        let mut tick = tokio::time::interval(IO_NUDGE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            drop(client.spawn(async {}));
        }
    });
}

/// File descriptors a node needs besides its clients': the Raft log, SQLite, peers' paths,
/// HTTP, snapshots, with room to spare.
const BASE_OPEN_FILES: u64 = 1024;

/// File descriptors one MySQL client may hold: its socket and the copy that notices it
/// hanging up; with a thread per connection the epoll and wake-up descriptors of that
/// thread's runtime, and with `mysql_follow_client_cpu` another copy of the socket (clients
/// on this machine).
const OPEN_FILES_PER_MYSQL_CLIENT: u64 = 5;

/// Raises the soft limit on open files to the hard one, as the service manager allows.
/// systemd starts services with a soft limit of 1,024, which `max_connections` clients
/// served on threads of their own (up to five descriptors each) would exhaust; a client refused
/// for want of a descriptor is closed without an answer. Warns when even the hard limit is
/// below what the configuration can use.
fn raise_open_files_limit(cfg: &NodeConfig) {
    let per_client = if cfg.runtime.mysql_thread_per_connection {
        OPEN_FILES_PER_MYSQL_CLIENT
    } else {
        2
    };
    // Up to max_connections sessions, one more for an administrator, and as many clients
    // still logging in (quorate_mysql_wire's admission).
    let clients = 2 * cfg.mysql.max_connections as u64 + 1;
    let wanted = BASE_OPEN_FILES + per_client * clients;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed by reference,
    // which lives on this stack frame for the whole call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::debug!(
                from = limit.rlim_cur,
                to = raised.rlim_cur,
                "raised the open files limit"
            );
            limit = raised;
        }
    }
    if limit.rlim_cur < wanted {
        tracing::warn!(
            limit = limit.rlim_cur,
            wanted,
            max_connections = cfg.mysql.max_connections,
            "the open files limit is below what max_connections MySQL clients can use; \
             raise it (systemd: LimitNOFILE=) or lower [mysql] max_connections"
        );
    }
}

/// The HTTP API's logins: the MySQL front end's accounts and global grants.
struct HttpAccounts(quorate_mysql::LoginChecker);

impl quorate_http::Authenticator for HttpAccounts {
    fn authenticate(
        &self,
        user: &str,
        password: &str,
        peer: Option<std::net::IpAddr>,
    ) -> quorate_http::AuthOutcome {
        use quorate_mysql::LoginCheck;
        match self.0.check(user, password, peer) {
            LoginCheck::Granted(a) => quorate_http::AuthOutcome::Granted(quorate_http::Access {
                read: a.read,
                write: a.write,
                admin: a.admin,
            }),
            LoginCheck::Denied(delay) => quorate_http::AuthOutcome::Denied { delay },
            LoginCheck::NoAccounts(why) => quorate_http::AuthOutcome::Unavailable(why),
            LoginCheck::NotReady(why) => quorate_http::AuthOutcome::NotReady(why),
        }
    }
}

async fn wait_for_shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;

    /// Records the target of every event that reaches it.
    #[derive(Clone, Default)]
    struct Targets(Arc<Mutex<Vec<String>>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Targets {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            let target = event.metadata().target().to_string();
            self.0.lock().unwrap().push(target);
        }
    }

    /// The default filter keeps quorate's own `info` messages and every warning, and drops
    /// the Raft log store's per-fsync `info` line and openraft's `info` and `warn` chatter.
    #[test]
    fn the_default_filter_keeps_our_messages_and_drops_the_libraries_chatter() {
        let seen = Targets::default();
        let subscriber = tracing_subscriber::registry()
            .with(EnvFilter::new(super::DEFAULT_LOG_FILTER))
            .with(seen.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "quorate_node::node", "kept");
            tracing::info!(target: "raft_log::raft_log::state_machine::payload_cache", "dropped");
            tracing::warn!(target: "raft_log::raft_log", "kept");
            tracing::warn!(target: "openraft::core", "dropped");
            tracing::error!(target: "openraft::core", "kept");
        });
        assert_eq!(
            *seen.0.lock().unwrap(),
            ["quorate_node::node", "raft_log::raft_log", "openraft::core"]
        );
    }
}
