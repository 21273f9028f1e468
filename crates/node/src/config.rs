//! The node configuration file (TOML) and its validation.
//!
//! Every setting that shapes behaviour has a name, a documented default and a check; a bad
//! or inconsistent file is refused at start with a message that names the field.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use quorate_consensus::Role;
use serde::{Deserialize, Serialize};

/// A peer as listed in the config file: its id and one address per network path.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    pub id: u64,
    /// Peer-transport addresses, one per network path.
    pub addrs: Vec<String>,
}

/// Timeouts. Defaults give fail-over in about a second on loopback and on a LAN.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// Leader heartbeat interval.
    pub heartbeat_ms: u64,
    /// A follower grants no vote while it heard from the leader within
    /// election_timeout_max_ms (the leader's lease), so a failed leader is replaced about
    /// election_timeout_max_ms after its last heartbeat; a candidate that lost a round
    /// retries after a random time in [election_timeout_min_ms, election_timeout_max_ms].
    /// The leader stops accepting writes once a majority has not acknowledged it for
    /// election_timeout_max_ms.
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Keepalive interval on every network path.
    pub path_keepalive_ms: u64,
    /// Silence after which a path is down.
    pub path_timeout_ms: u64,
    /// While a path is down, how often it sends an ARP request for its peer's address, so
    /// that a returning cable is usable at once instead of after the kernel's next ARP
    /// retransmission (up to 1 s). Needs CAP_NET_RAW (root has it); 0 turns it off.
    pub arp_probe_ms: u64,
    /// How long a COMMIT waits before reporting "outcome unknown".
    pub commit_timeout_ms: u64,
    /// How long a transaction waits for the writer (MySQL error 1205 after that).
    pub lock_wait_timeout_ms: u64,
    /// A transaction idle this long (its client sends nothing) is rolled back, so it cannot
    /// hold the writer forever: SQLite has one writer, so an idle open transaction delays
    /// every other write.
    pub idle_in_transaction_ms: u64,
    /// How long a write or linearizable read waits for a leader before failing with
    /// "no quorum" (kept under a second, so clients never hang).
    pub no_quorum_fail_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            heartbeat_ms: 100,
            election_timeout_min_ms: 250,
            election_timeout_max_ms: 500,
            path_keepalive_ms: 100,
            path_timeout_ms: 400,
            arp_probe_ms: 100,
            commit_timeout_ms: 5000,
            lock_wait_timeout_ms: 10_000,
            idle_in_transaction_ms: 30_000,
            no_quorum_fail_ms: 900,
        }
    }
}

/// Snapshot and log compaction settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotConfig {
    /// Build a snapshot after this many log entries since the last one.
    pub logs_since_last: u64,
    /// Log entries kept after a snapshot (so a briefly lagging follower catches up from
    /// the log rather than a snapshot).
    pub keep_logs: u64,
    /// Upper bound of snapshot transfer speed, in MiB/s (so client traffic is not starved).
    pub send_mib_per_s: u64,
    /// Size of one snapshot chunk on the wire.
    pub chunk_kib: u64,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        Self {
            logs_since_last: 20_000,
            keep_logs: 2_000,
            send_mib_per_s: 200,
            chunk_kib: 1024,
        }
    }
}

/// Limits protecting the node from large or hostile requests.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest HTTP request body.
    pub max_request_bytes: usize,
    /// Largest result of one statement.
    pub max_result_bytes: usize,
    /// Largest replicated transaction.
    pub max_tx_bytes: usize,
    /// Read connections per node.
    pub read_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: 32 << 20,
            max_result_bytes: 256 << 20,
            max_tx_bytes: 64 << 20,
            read_connections: 4,
        }
    }
}

/// Threads of the node's two async runtimes (see docs/ARCHITECTURE.md, Processes and
/// threads).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Workers of the control runtime: Raft, the peer transport, timers. One by default:
    /// each commit crosses several of its tasks, and on one thread they hand work to each
    /// other without waking another (less CPU per write, see docs/BENCHMARKS.md). A large
    /// message then holds that thread for a while (tens of ms per 20 MiB); a node reports
    /// each stall over 100 ms, and a keepalive check that ran late because of such a stall
    /// does not declare its path down. More workers help only when many large transactions
    /// arrive at once.
    pub control_threads: usize,
    /// Workers of the client runtime: HTTP, statements that peers forward, and MySQL
    /// connections when `mysql_thread_per_connection` is off, with the SQLite work of
    /// their requests (reads run in parallel on them). Default: the number of CPUs, at
    /// least 2 (a statement holds its worker while it runs; with one worker a long one
    /// leaves the HTTP API, health checks included, unanswered).
    pub client_threads: usize,
    /// Serve each MySQL connection on a thread of its own, as MySQL and MariaDB do, instead
    /// of on the client runtime's workers. On by default: a client and the thread that
    /// answers it tend to stay on one CPU, and reads and interactive transactions cost less CPU
    /// per statement (sysbench `oltp_read_only` +30%, `oltp_write_only` +48%); single-row
    /// autocommit writes cost more (-2% to -24%), see docs/BENCHMARKS.md.
    pub mysql_thread_per_connection: bool,
    /// With `mysql_thread_per_connection`: once a MySQL connection from this machine has
    /// read for 64 commands without writing, its thread moves to the CPU its client's
    /// packets arrive on, so that the two do not wake each other across CPUs (sysbench over
    /// loopback: `oltp_point_select` +35%, `oltp_read_only` +15%; writes unchanged, see
    /// docs/BENCHMARKS.md). A write frees the thread; no CPU takes more than one such
    /// thread above an even share; connections from other machines are left to the
    /// scheduler. On by default.
    pub mysql_follow_client_cpu: bool,
}

/// Most worker threads a runtime may be given.
pub const RUNTIME_THREADS_MAX: usize = 256;

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            control_threads: 1,
            // At least two: a statement holds its worker while it runs, and with one worker
            // a long one would leave the HTTP API, health checks included, unanswered.
            client_threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .clamp(2, RUNTIME_THREADS_MAX),
            mysql_thread_per_connection: true,
            mysql_follow_client_cpu: true,
        }
    }
}

/// The MySQL authentication plugins quorate implements.
pub const AUTH_PLUGINS: [&str; 2] = ["mysql_native_password", "caching_sha2_password"];

/// MySQL front end settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MysqlConfig {
    /// Name of the first administrator (created at cluster formation).
    pub admin_user: String,
    /// Its password; prefer `admin_password_file`.
    pub admin_password: Option<String>,
    pub admin_password_file: Option<PathBuf>,
    pub max_connections: usize,
    /// How new passwords are stored, and the plugin the greeting names:
    /// `caching_sha2_password` (salted SHA-256 crypt; a client's first login on each node
    /// must use TLS) or `mysql_native_password` (unsalted SHA1(SHA1), any client, any
    /// transport). Not set: caching_sha2_password when the MySQL port offers TLS, else
    /// mysql_native_password.
    pub default_auth_plugin: Option<String>,
}

impl Default for MysqlConfig {
    fn default() -> Self {
        Self {
            admin_user: "root".into(),
            admin_password: None,
            admin_password_file: None,
            max_connections: 512,
            default_auth_plugin: None,
        }
    }
}

/// One node's configuration file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// This node's id, a positive integer unique in the cluster.
    pub node_id: u64,
    /// A name shared by every member; nodes of differently named clusters refuse each other.
    #[serde(default = "default_cluster_name")]
    pub cluster_name: String,
    /// Where this node keeps its Raft log, database and snapshots.
    pub data_dir: PathBuf,
    /// voter (default), learner or witness.
    #[serde(default)]
    pub role: Role,
    /// This node's peer-transport addresses, one per network path; it listens on them and
    /// peers dial them.
    pub peer_addrs: Vec<String>,
    /// HTTP API address.
    pub http_addr: String,
    /// MySQL protocol address (empty: no MySQL listener).
    #[serde(default)]
    pub mysql_addr: String,
    /// The other members known at formation (later members are learned from the log).
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
    /// Form the cluster automatically once this many members (this one included) can talk.
    #[serde(default)]
    pub bootstrap_expect: Option<usize>,
    /// The cluster secret peers use to authenticate each other (prefer the file).
    #[serde(default)]
    pub cluster_secret: Option<String>,
    #[serde(default)]
    pub cluster_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub timeouts: Timeouts,
    #[serde(default)]
    pub snapshot: SnapshotConfig,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    #[serde(default)]
    pub mysql: MysqlConfig,
    #[serde(default)]
    pub maintenance: MaintenanceConfig,
    #[serde(default)]
    pub http: HttpConfig,
    /// TLS: mutual TLS between peers with the cluster CA (and the certificate offered to
    /// MySQL clients). Create the files with `quorate certs init` / `quorate certs issue`.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// HTTP front-end limits (slow or flooding clients cannot take the node down).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Most HTTP connections served at once; more are closed at once.
    pub max_connections: usize,
    /// A client must send a request's headers within this time (slowloris).
    pub header_timeout_ms: u64,
    /// A whole request (body included) must be handled within this time.
    pub request_timeout_ms: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_timeout_ms: 10_000,
            request_timeout_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The cluster CA certificate (PEM).
    pub ca_file: PathBuf,
    /// This node's certificate (PEM), issued by the cluster CA for `quorate-node-<id>`.
    pub cert_file: PathBuf,
    /// Its private key (PEM).
    pub key_file: PathBuf,
    /// Offer TLS on the MySQL port with this certificate.
    #[serde(default = "yes")]
    pub mysql: bool,
    /// Refuse MySQL logins over plaintext (`require_secure_transport`).
    #[serde(default)]
    pub mysql_require: bool,
    /// Serve the HTTP API over HTTPS only, with this certificate (clients then need the
    /// CA: `quorate --ca ca.pem ...`, `curl --cacert ca.pem https://...`).
    #[serde(default)]
    pub http: bool,
}

fn yes() -> bool {
    true
}

impl TlsConfig {
    /// Loads the certificate files.
    pub fn identity(&self) -> Result<quorate_tls::Identity, ConfigError> {
        quorate_tls::Identity::load(&self.ca_file, &self.cert_file, &self.key_file)
            .map_err(|e| invalid("tls", e.to_string()))
    }
}

/// Guarded maintenance settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MaintenanceConfig {
    /// Windows (UTC) in which maintenance is expected, e.g. `["Sat 02:00-06:00", "* 03:00-04:00"]`.
    /// Outside them `maintenance begin` asks for an explicit confirmation. Empty: no windows.
    pub windows: Vec<String>,
}

fn default_cluster_name() -> String {
    "quorate".to_string()
}

/// A configuration problem, naming the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: String, message: String },
    #[error("config field `{field}`: {message}")]
    Invalid { field: String, message: String },
}

fn invalid(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

fn check_addr(field: &str, addr: &str) -> Result<(), ConfigError> {
    if addr.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    // host:port with a name is allowed too
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(invalid(field, format!("`{addr}` is not host:port"))),
    }
}

impl NodeConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let cfg: NodeConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every field and their consistency.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(p) = &self.mysql.default_auth_plugin
            && !AUTH_PLUGINS.contains(&p.as_str())
        {
            return Err(invalid(
                "mysql.default_auth_plugin",
                format!("unknown plugin {p:?}; one of {}", AUTH_PLUGINS.join(", ")),
            ));
        }
        if self.node_id == 0 {
            return Err(invalid("node_id", "must be a positive integer"));
        }
        if self.cluster_name.is_empty() {
            return Err(invalid("cluster_name", "must not be empty"));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must be set"));
        }
        if self.peer_addrs.is_empty() {
            return Err(invalid(
                "peer_addrs",
                "needs at least one address (one per network path)",
            ));
        }
        for a in &self.peer_addrs {
            check_addr("peer_addrs", a)?;
        }
        check_addr("http_addr", &self.http_addr)?;
        if !self.mysql_addr.is_empty() {
            check_addr("mysql_addr", &self.mysql_addr)?;
        }
        let mut ids = HashSet::new();
        ids.insert(self.node_id);
        for (i, p) in self.peers.iter().enumerate() {
            let field = format!("peers[{i}]");
            if p.id == 0 {
                return Err(invalid(
                    &format!("{field}.id"),
                    "must be a positive integer",
                ));
            }
            if !ids.insert(p.id) {
                return Err(invalid(
                    &format!("{field}.id"),
                    format!("node id {} appears twice", p.id),
                ));
            }
            if p.addrs.is_empty() {
                return Err(invalid(
                    &format!("{field}.addrs"),
                    "needs at least one address",
                ));
            }
            for a in &p.addrs {
                check_addr(&format!("{field}.addrs"), a)?;
            }
        }
        if let Some(n) = self.bootstrap_expect {
            if n == 0 {
                return Err(invalid("bootstrap_expect", "must be at least 1"));
            }
            if n > self.peers.len() + 1 {
                return Err(invalid(
                    "bootstrap_expect",
                    format!(
                        "expects {n} members but only {} are configured (this node + peers)",
                        self.peers.len() + 1
                    ),
                ));
            }
            if self.role != Role::Voter {
                return Err(invalid(
                    "bootstrap_expect",
                    "only a voter can form the cluster",
                ));
            }
        }
        if self.cluster_secret.is_some() && self.cluster_secret_file.is_some() {
            return Err(invalid(
                "cluster_secret",
                "set either cluster_secret or cluster_secret_file, not both",
            ));
        }
        if self.cluster_secret.is_none() && self.cluster_secret_file.is_none() {
            return Err(invalid(
                "cluster_secret_file",
                "a cluster secret is required (peers authenticate with it)",
            ));
        }
        if let Some(s) = &self.cluster_secret
            && s.len() < 16
        {
            return Err(invalid("cluster_secret", "must be at least 16 characters"));
        }
        let t = &self.timeouts;
        if t.heartbeat_ms == 0 || t.election_timeout_min_ms == 0 {
            return Err(invalid(
                "timeouts",
                "heartbeat_ms and election_timeout_min_ms must be positive",
            ));
        }
        if t.election_timeout_min_ms >= t.election_timeout_max_ms {
            return Err(invalid(
                "timeouts.election_timeout_max_ms",
                "must be larger than election_timeout_min_ms",
            ));
        }
        if t.heartbeat_ms * 4 > t.election_timeout_max_ms {
            return Err(invalid(
                "timeouts.heartbeat_ms",
                "must be at most a quarter of election_timeout_max_ms (or followers start elections during normal operation)",
            ));
        }
        if t.path_keepalive_ms == 0 || t.path_timeout_ms <= t.path_keepalive_ms {
            return Err(invalid(
                "timeouts.path_timeout_ms",
                "must be larger than path_keepalive_ms",
            ));
        }
        if self.snapshot.chunk_kib == 0 || self.snapshot.send_mib_per_s == 0 {
            return Err(invalid(
                "snapshot",
                "chunk_kib and send_mib_per_s must be positive",
            ));
        }
        if let Some(t) = &self.tls {
            t.identity()?;
        }
        for w in &self.maintenance.windows {
            crate::maintenance::parse_window(w).map_err(|e| invalid("maintenance.windows", e))?;
        }
        for (field, n) in [
            ("runtime.control_threads", self.runtime.control_threads),
            ("runtime.client_threads", self.runtime.client_threads),
        ] {
            if n == 0 || n > RUNTIME_THREADS_MAX {
                return Err(invalid(
                    field,
                    format!("must be between 1 and {RUNTIME_THREADS_MAX}"),
                ));
            }
        }
        if self.limits.read_connections == 0 {
            return Err(invalid("limits.read_connections", "must be at least 1"));
        }
        Ok(())
    }

    /// The cluster secret, read from the file if configured.
    pub fn secret(&self) -> Result<Vec<u8>, ConfigError> {
        if let Some(s) = &self.cluster_secret {
            return Ok(s.as_bytes().to_vec());
        }
        let path = self
            .cluster_secret_file
            .as_ref()
            .ok_or_else(|| invalid("cluster_secret_file", "not set"))?;
        let s = std::fs::read_to_string(path).map_err(|e| {
            invalid(
                "cluster_secret_file",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let s = s.trim();
        if s.len() < 16 {
            return Err(invalid(
                "cluster_secret_file",
                "the secret must be at least 16 characters",
            ));
        }
        Ok(s.as_bytes().to_vec())
    }

    /// The MySQL authentication plugin for new passwords (see
    /// [`MysqlConfig::default_auth_plugin`]).
    pub fn mysql_auth_plugin(&self) -> &str {
        match &self.mysql.default_auth_plugin {
            Some(p) => p,
            None if self.tls.as_ref().is_some_and(|t| t.mysql) => AUTH_PLUGINS[1],
            None => AUTH_PLUGINS[0],
        }
    }

    /// The first administrator's password, if configured.
    pub fn admin_password(&self) -> Result<Option<String>, ConfigError> {
        if let Some(p) = &self.mysql.admin_password {
            return Ok(Some(p.clone()));
        }
        match &self.mysql.admin_password_file {
            None => Ok(None),
            Some(path) => std::fs::read_to_string(path)
                .map(|s| Some(s.trim().to_string()))
                .map_err(|e| {
                    invalid(
                        "mysql.admin_password_file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                }),
        }
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.timeouts.heartbeat_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> String {
        r#"
node_id = 1
data_dir = "/tmp/q1"
peer_addrs = ["127.0.0.1:7101", "127.0.0.2:7101"]
http_addr = "127.0.0.1:8101"
mysql_addr = "127.0.0.1:3307"
cluster_secret = "0123456789abcdef0123"
bootstrap_expect = 3
[[peers]]
id = 2
addrs = ["127.0.0.1:7102"]
[[peers]]
id = 3
addrs = ["127.0.0.1:7103"]
"#
        .to_string()
    }

    fn parse(s: &str) -> Result<NodeConfig, String> {
        let cfg: NodeConfig = toml::from_str(s).map_err(|e| e.to_string())?;
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(cfg)
    }

    /// New MySQL passwords are salted (caching_sha2_password) when the MySQL port offers
    /// TLS, unsalted native hashes without TLS, and an explicit setting wins.
    #[test]
    fn default_auth_plugin_follows_mysql_tls() {
        // Parsed only: validate() would look for the certificate files.
        let unchecked = |s: &str| toml::from_str::<NodeConfig>(s).unwrap();
        let tls = "\n[tls]\nca_file = \"ca.pem\"\ncert_file = \"n.pem\"\nkey_file = \"n.key\"\n";
        assert_eq!(
            parse(&base()).unwrap().mysql_auth_plugin(),
            "mysql_native_password"
        );
        assert_eq!(
            unchecked(&(base() + tls)).mysql_auth_plugin(),
            "caching_sha2_password"
        );
        assert_eq!(
            unchecked(&(base() + tls + "mysql = false\n")).mysql_auth_plugin(),
            "mysql_native_password"
        );
        let explicit =
            base() + "\n[mysql]\ndefault_auth_plugin = \"mysql_native_password\"\n" + tls;
        assert_eq!(
            unchecked(&explicit).mysql_auth_plugin(),
            "mysql_native_password"
        );
    }

    /// A complete config parses; each kind of mistake is refused with the field named.
    #[test]
    fn config_errors_name_the_field() {
        let cfg = parse(&base()).unwrap();
        assert_eq!(cfg.peer_addrs.len(), 2);
        assert_eq!(cfg.timeouts, Timeouts::default());
        assert_eq!(cfg.runtime.control_threads, 1);
        assert!(
            cfg.runtime.client_threads >= 2,
            "one worker can be held by a statement"
        );
        let tuned =
            parse(&(base() + "\n[runtime]\ncontrol_threads = 2\nclient_threads = 3\n")).unwrap();
        assert_eq!(
            (tuned.runtime.control_threads, tuned.runtime.client_threads),
            (2, 3)
        );
        assert!(cfg.runtime.mysql_thread_per_connection);
        let shared = parse(&(base() + "\n[runtime]\nmysql_thread_per_connection = false\n"));
        assert!(!shared.unwrap().runtime.mysql_thread_per_connection);
        assert!(cfg.runtime.mysql_follow_client_cpu);
        let free = parse(&(base() + "\n[runtime]\nmysql_follow_client_cpu = false\n"));
        assert!(!free.unwrap().runtime.mysql_follow_client_cpu);
        let cases = [
            (base().replace("node_id = 1", "node_id = 0"), "node_id"),
            (base().replace("id = 3", "id = 2"), "peers[1].id"),
            (
                base().replace("\"127.0.0.1:7103\"", "\"nonsense\""),
                "peers[1].addrs",
            ),
            (
                base().replace("bootstrap_expect = 3", "bootstrap_expect = 5"),
                "bootstrap_expect",
            ),
            (
                base().replace("cluster_secret = \"0123456789abcdef0123\"", ""),
                "cluster_secret_file",
            ),
            (
                base() + "\n[timeouts]\nelection_timeout_min_ms = 900\n",
                "timeouts.election_timeout_max_ms",
            ),
            (base() + "\nunknown_field = 1\n", "unknown field"),
            (
                base().replace("node_id = 1", "node_id = 1\nrole = \"boss\""),
                "role",
            ),
            (
                base() + "\n[mysql]\ndefault_auth_plugin = \"sha256_password\"\n",
                "mysql.default_auth_plugin",
            ),
            (
                base() + "\n[runtime]\ncontrol_threads = 0\n",
                "runtime.control_threads",
            ),
            (
                base() + "\n[runtime]\nclient_threads = 100000\n",
                "runtime.client_threads",
            ),
        ];
        for (text, field) in cases {
            let err = parse(&text).unwrap_err();
            assert!(err.contains(field), "expected `{field}` in: {err}");
        }
    }
}
