//! Users, grants and databases: the replicated catalog tables of the MySQL front end,
//! password checks and privileges, and the slowdown of failed logins.
//!
//! ```text
//! _quorate_databases(name TEXT PRIMARY KEY)                       MySQL databases
//! _quorate_users(user, host, native_hash BLOB, PRIMARY KEY (user, host))  the password hash
//! _quorate_grants(user, host, db, privs INTEGER, grant_option INTEGER,
//!                 PRIMARY KEY (user, host, db))                    db '*' = every database
//! ```
//!
//! Only a hash of each password is stored (column `native_hash`, named before there was a
//! second plugin): for caching_sha2_password the salted SHA-256 crypt `$A$005$...`, for
//! mysql_native_password the 20 bytes of SHA1(SHA1(password)) that its challenge needs
//! (see [`quorate_mysql_wire::Credential`]). It is computed on the node that received the
//! statement, so a clear-text password never reaches the Raft log. Every change goes through Raft like user data
//! ([`quorate_node::Node::execute_internal`]); lookups read the local replica.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use quorate_mysql_wire::{AuthPlugin, Credential};
use quorate_node::InternalStatement;
use quorate_node::api::SqlValue;
use quorate_sql::like_match;
use quorate_store::Store;
use quorate_store::rusqlite::types::Value;

pub(crate) const USERS: &str = "_quorate_users";
pub(crate) const GRANTS: &str = "_quorate_grants";
pub(crate) const DATABASES: &str = quorate_sql::names::DATABASES_TABLE;

/// First delay after a failed login of a (user, peer) pair; it doubles with every further
/// failure up to [`LOGIN_DELAY_MAX`].
const LOGIN_DELAY_FIRST: Duration = Duration::from_millis(100);
/// Longest delay of a failed login.
pub(crate) const LOGIN_DELAY_MAX: Duration = Duration::from_secs(5);
/// Failures are forgotten after this long without another one.
const LOGIN_FAILURES_FORGOTTEN_AFTER: Duration = Duration::from_secs(15 * 60);
/// (user, peer) pairs remembered at most; the oldest are dropped beyond it.
const LOGIN_FAILURES_TRACKED_MAX: usize = 10_000;

/// The statements that create the catalog tables (idempotent).
pub(crate) fn schema_statements() -> Vec<InternalStatement> {
    [
        format!("CREATE TABLE IF NOT EXISTS {DATABASES} (name TEXT PRIMARY KEY)"),
        format!(
            "CREATE TABLE IF NOT EXISTS {USERS} (user TEXT NOT NULL, host TEXT NOT NULL, \
             native_hash BLOB, PRIMARY KEY (user, host))"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {GRANTS} (user TEXT NOT NULL, host TEXT NOT NULL, \
             db TEXT NOT NULL, privs INTEGER NOT NULL, grant_option INTEGER NOT NULL DEFAULT 0, \
             PRIMARY KEY (user, host, db))"
        ),
    ]
    .into_iter()
    .map(|sql| internal(sql, vec![]))
    .collect()
}

/// Statements that create the first administrator (all privileges, with grant option),
/// only if there is no user at all. Decided on the leader, inside the transaction, so a
/// dropped administrator is not re-created by a restart while other users exist.
pub(crate) fn admin_statements(user: &str, credential: &Credential) -> Vec<InternalStatement> {
    let hash = stored_value(credential);
    vec![
        internal(
            format!(
                "INSERT INTO {GRANTS} (user, host, db, privs, grant_option) \
                 SELECT ?1, '%', '*', ?2, 1 WHERE NOT EXISTS (SELECT 1 FROM {USERS})"
            ),
            vec![SqlValue::Text(user.into()), SqlValue::Integer(ALL as i64)],
        ),
        internal(
            format!(
                "INSERT INTO {USERS} (user, host, native_hash) \
                 SELECT ?1, '%', ?2 WHERE NOT EXISTS (SELECT 1 FROM {USERS})"
            ),
            vec![SqlValue::Text(user.into()), hash],
        ),
    ]
}

/// The column value that stores `credential`.
pub(crate) fn stored_value(credential: &Credential) -> SqlValue {
    credential
        .to_stored()
        .map_or(SqlValue::Null, SqlValue::Blob)
}

pub(crate) fn internal(sql: String, params: Vec<SqlValue>) -> InternalStatement {
    InternalStatement { sql, params }
}

/// Whether this replica has the catalog tables, and whether it has at least one user.
pub(crate) fn catalog_state(store: &Store) -> (bool, bool) {
    let scalar = |sql: &str| {
        store
            .query_internal(sql, &[])
            .ok()
            .and_then(|o| o.rows.into_iter().next())
            .and_then(|r| r.into_iter().next())
    };
    let tables = scalar(&format!(
        "SELECT count(*) FROM sqlite_schema WHERE name IN ('{DATABASES}', '{USERS}', '{GRANTS}')"
    )) == Some(Value::Integer(3));
    let users = tables
        && scalar(&format!("SELECT EXISTS (SELECT 1 FROM {USERS})")) == Some(Value::Integer(1));
    (tables, users)
}

/// A stored account that matched a login.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub user: String,
    /// The host pattern of the account row (`%`, an address, `localhost`, ...).
    pub host: String,
    pub credential: Credential,
}

/// Whether `pattern` (an account's host) admits a client from `ip`.
pub(crate) fn host_matches(pattern: &str, ip: Option<IpAddr>) -> bool {
    if pattern == "%" {
        return true;
    }
    let Some(ip) = ip else {
        return pattern.eq_ignore_ascii_case("localhost");
    };
    if pattern.eq_ignore_ascii_case("localhost") {
        return ip.is_loopback();
    }
    let text = match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
        IpAddr::V4(v4) => v4.to_string(),
    };
    like_match(pattern, &text)
}

/// How specific a host pattern is: exact hosts win over patterns, `%` comes last (the
/// order MySQL uses to pick the account row for a login).
fn specificity(pattern: &str) -> (u8, usize) {
    if pattern == "%" {
        (0, 0)
    } else if pattern.contains('%') || pattern.contains('_') {
        (1, pattern.len())
    } else {
        (2, pattern.len())
    }
}

/// The account `user` logs in as from `ip`, read from this replica.
pub(crate) fn find_account(store: &Store, user: &str, ip: Option<IpAddr>) -> Option<Account> {
    let out = store
        .query_internal(
            &format!("SELECT host, native_hash FROM {USERS} WHERE user = ?1"),
            &[Value::Text(user.to_string())],
        )
        .ok()?;
    out.rows
        .into_iter()
        .filter_map(|r| {
            let mut it = r.into_iter();
            let host = match it.next()? {
                Value::Text(h) => h,
                _ => return None,
            };
            let credential = match it.next()? {
                Value::Null => Credential::Empty,
                Value::Blob(b) => Credential::from_stored(Some(&b))?,
                Value::Text(t) => Credential::from_stored(Some(t.as_bytes()))?,
                _ => return None,
            };
            Some(Account {
                user: user.to_string(),
                host,
                credential,
            })
        })
        .filter(|a| host_matches(&a.host, ip))
        .max_by_key(|a| specificity(&a.host))
}

/// The plugin account `user`@`host` has its password stored for, read from this replica
/// (`None`: no such account, or no password).
pub(crate) fn stored_plugin(store: &Store, user: &str, host: &str) -> Option<AuthPlugin> {
    let out = store
        .query_internal(
            &format!("SELECT native_hash FROM {USERS} WHERE user = ?1 AND host = ?2"),
            &[Value::Text(user.into()), Value::Text(host.into())],
        )
        .ok()?;
    match out.rows.into_iter().next()?.into_iter().next()? {
        Value::Blob(b) => Credential::from_stored(Some(&b))?.plugin(),
        _ => None,
    }
}

/// Whether account `user`@`host` exists on this replica.
pub(crate) fn account_exists(store: &Store, user: &str, host: &str) -> bool {
    store
        .query_internal(
            &format!("SELECT 1 FROM {USERS} WHERE user = ?1 AND host = ?2"),
            &[Value::Text(user.into()), Value::Text(host.into())],
        )
        .map(|o| !o.rows.is_empty())
        .unwrap_or(false)
}

// Privileges, one bit each. The ones quorate enforces are SELECT, INSERT, UPDATE, DELETE,
// CREATE, DROP, ALTER, INDEX, CREATE VIEW, CREATE USER, PROCESS and SUPER; the others are
// stored and shown so that grants copied from MySQL are accepted.
pub(crate) const SELECT: u32 = 1;
pub(crate) const INSERT: u32 = 1 << 1;
pub(crate) const UPDATE: u32 = 1 << 2;
pub(crate) const DELETE: u32 = 1 << 3;
pub(crate) const CREATE: u32 = 1 << 4;
pub(crate) const DROP: u32 = 1 << 5;
pub(crate) const ALTER: u32 = 1 << 6;
pub(crate) const INDEX: u32 = 1 << 7;
pub(crate) const CREATE_VIEW: u32 = 1 << 8;
pub(crate) const CREATE_USER: u32 = 1 << 9;
pub(crate) const PROCESS: u32 = 1 << 10;
pub(crate) const SUPER: u32 = 1 << 11;

/// Privilege names in the order SHOW GRANTS prints them, with their bits.
const NAMES: &[(&str, u32)] = &[
    ("SELECT", SELECT),
    ("INSERT", INSERT),
    ("UPDATE", UPDATE),
    ("DELETE", DELETE),
    ("CREATE", CREATE),
    ("DROP", DROP),
    ("RELOAD", 1 << 12),
    ("SHUTDOWN", 1 << 13),
    ("PROCESS", PROCESS),
    ("FILE", 1 << 14),
    ("REFERENCES", 1 << 15),
    ("INDEX", INDEX),
    ("ALTER", ALTER),
    ("SHOW DATABASES", 1 << 16),
    ("SUPER", SUPER),
    ("CREATE TEMPORARY TABLES", 1 << 17),
    ("LOCK TABLES", 1 << 18),
    ("EXECUTE", 1 << 19),
    ("REPLICATION SLAVE", 1 << 20),
    ("REPLICATION CLIENT", 1 << 21),
    ("CREATE VIEW", CREATE_VIEW),
    ("SHOW VIEW", 1 << 22),
    ("CREATE ROUTINE", 1 << 23),
    ("ALTER ROUTINE", 1 << 24),
    ("CREATE USER", CREATE_USER),
    ("EVENT", 1 << 25),
    ("TRIGGER", 1 << 26),
    ("CREATE TABLESPACE", 1 << 27),
];

/// Every privilege.
pub(crate) const ALL: u32 = (1 << 28) - 1;

/// The bits of privilege names as GRANT / REVOKE list them (`USAGE` is none); `Err` names
/// an unknown one.
pub(crate) fn bits_of(names: &[String]) -> Result<u32, String> {
    let mut bits = 0;
    for n in names {
        let n = n.trim();
        if n.eq_ignore_ascii_case("USAGE") {
            continue;
        }
        if n.eq_ignore_ascii_case("GRANT OPTION") {
            continue;
        }
        match NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(n)) {
            Some((_, b)) => bits |= b,
            None => return Err(n.to_string()),
        }
    }
    Ok(bits)
}

/// The privilege list of a grant, as SHOW GRANTS prints it.
pub(crate) fn names_of(bits: u32) -> String {
    if bits & ALL == ALL {
        return "ALL PRIVILEGES".into();
    }
    let v: Vec<&str> = NAMES
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(n, _)| *n)
        .collect();
    if v.is_empty() {
        "USAGE".into()
    } else {
        v.join(", ")
    }
}

/// The name of one privilege (for "... command denied" messages).
pub(crate) fn name_of(bit: u32) -> &'static str {
    NAMES
        .iter()
        .find(|(_, b)| *b == bit)
        .map_or("ALL", |(n, _)| n)
}

/// What one account may do: global privileges and per-database privileges.
#[derive(Debug, Clone, Default)]
pub(crate) struct Privileges {
    pub global: u32,
    pub global_grant: bool,
    pub dbs: HashMap<String, (u32, bool)>,
}

impl Privileges {
    /// Privileges `user`@`host` holds, read from this replica.
    pub(crate) fn load(store: &Store, user: &str, host: &str) -> Privileges {
        let mut p = Privileges::default();
        let Ok(out) = store.query_internal(
            &format!("SELECT db, privs, grant_option FROM {GRANTS} WHERE user = ?1 AND host = ?2"),
            &[Value::Text(user.into()), Value::Text(host.into())],
        ) else {
            return p;
        };
        for r in out.rows {
            let (Some(Value::Text(db)), Some(Value::Integer(bits)), Some(Value::Integer(g))) =
                (r.first(), r.get(1), r.get(2))
            else {
                continue;
            };
            let bits = *bits as u32;
            if db == "*" {
                p.global |= bits;
                p.global_grant |= *g != 0;
            } else {
                let e = p.dbs.entry(db.clone()).or_default();
                e.0 |= bits;
                e.1 |= *g != 0;
            }
        }
        p
    }

    /// Whether every bit of `need` is held on database `db` (globally or for that db).
    pub(crate) fn allows(&self, db: &str, need: u32) -> bool {
        let held = self.global | self.dbs.get(db).map_or(0, |d| d.0);
        held & need == need
    }

    /// Whether every bit of `need` is held globally.
    pub(crate) fn allows_global(&self, need: u32) -> bool {
        self.global & need == need
    }

    /// Whether any privilege at all applies to `db` (what USE and SHOW TABLES need).
    pub(crate) fn any_on(&self, db: &str) -> bool {
        self.global != 0 || self.dbs.get(db).is_some_and(|d| d.0 != 0)
    }

    /// The databases [`Privileges::any_on`] allows, sorted; `None`: every one (a global
    /// privilege).
    pub(crate) fn visible_databases(&self) -> Option<Vec<String>> {
        if self.global != 0 {
            return None;
        }
        let mut v: Vec<String> = self
            .dbs
            .iter()
            .filter(|(_, p)| p.0 != 0)
            .map(|(d, _)| d.clone())
            .collect();
        v.sort();
        Some(v)
    }

    /// Whether the account may grant on `db` (`None`: on `*.*`).
    pub(crate) fn may_grant(&self, db: Option<&str>) -> bool {
        self.global_grant || db.is_some_and(|d| self.dbs.get(d).is_some_and(|e| e.1))
    }
}

/// The rows of SHOW GRANTS for `user`@`host`.
pub(crate) fn show_grants(store: &Store, user: &str, host: &str) -> Vec<String> {
    let p = Privileges::load(store, user, host);
    let who = format!(
        "`{}`@`{}`",
        user.replace('`', "``"),
        host.replace('`', "``")
    );
    let with = |g: bool| if g { " WITH GRANT OPTION" } else { "" };
    let mut rows = vec![format!(
        "GRANT {} ON *.* TO {who}{}",
        names_of(p.global),
        with(p.global_grant)
    )];
    let mut dbs: Vec<_> = p.dbs.iter().collect();
    dbs.sort_by(|a, b| a.0.cmp(b.0));
    for (db, (bits, g)) in dbs {
        rows.push(format!(
            "GRANT {} ON `{}`.* TO {who}{}",
            names_of(*bits),
            db.replace('`', "``"),
            with(*g)
        ));
    }
    rows
}

/// Failures of one (user, peer address): how many, and the last one.
type Failures = HashMap<(String, Option<IpAddr>), (u32, Instant)>;

/// Failed logins per (user, peer address), for the growing delay.
#[derive(Default)]
pub(crate) struct LoginThrottle {
    failures: Mutex<Failures>,
}

impl LoginThrottle {
    /// Records a failed login and returns how long to wait before answering it: 100 ms,
    /// doubling with each further failure of the same user from the same address, at most
    /// [`LOGIN_DELAY_MAX`].
    pub(crate) fn failed(&self, user: &str, ip: Option<IpAddr>) -> Duration {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if f.len() >= LOGIN_FAILURES_TRACKED_MAX {
            f.retain(|_, (_, last)| now.duration_since(*last) < LOGIN_FAILURES_FORGOTTEN_AFTER);
            if f.len() >= LOGIN_FAILURES_TRACKED_MAX {
                f.clear();
            }
        }
        let e = f.entry((user.to_string(), ip)).or_insert((0, now));
        if now.duration_since(e.1) >= LOGIN_FAILURES_FORGOTTEN_AFTER {
            e.0 = 0;
        }
        e.0 = e.0.saturating_add(1);
        e.1 = now;
        let doublings = e.0.saturating_sub(1).min(16);
        LOGIN_DELAY_FIRST
            .saturating_mul(1u32 << doublings)
            .min(LOGIN_DELAY_MAX)
    }

    /// Forgets the failures of a pair after a successful login.
    pub(crate) fn succeeded(&self, user: &str, ip: Option<IpAddr>) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        f.remove(&(user.to_string(), ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Host patterns admit the addresses MySQL would admit; `localhost` means loopback.
    #[test]
    fn host_patterns() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let lan: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(host_matches("%", Some(lan)));
        assert!(host_matches("localhost", Some(lo)));
        assert!(!host_matches("localhost", Some(lan)));
        assert!(host_matches("10.1.%", Some(lan)));
        assert!(!host_matches("10.2.%", Some(lan)));
        assert!(specificity("10.1.2.3") > specificity("10.1.%"));
        assert!(specificity("10.1.%") > specificity("%"));
    }

    /// Privilege lists round-trip; ALL shows as ALL PRIVILEGES; unknown names are named.
    #[test]
    fn privilege_names() {
        let b = bits_of(&["select".into(), "INSERT".into()]).unwrap();
        assert_eq!(b, SELECT | INSERT);
        assert_eq!(names_of(b), "SELECT, INSERT");
        assert_eq!(names_of(ALL), "ALL PRIVILEGES");
        assert_eq!(names_of(0), "USAGE");
        assert_eq!(bits_of(&["FLY".into()]), Err("FLY".into()));
        let p = Privileges {
            global: 0,
            global_grant: false,
            dbs: HashMap::from([("d".to_string(), (SELECT, false))]),
        };
        assert!(p.allows("d", SELECT));
        assert!(!p.allows("d", INSERT));
        assert!(!p.allows("e", SELECT));
        assert!(p.any_on("d") && !p.any_on("e"));
    }

    /// Failed logins wait longer each time, up to the bound; success forgets them.
    #[test]
    fn failed_logins_are_slowed_down_boundedly() {
        let t = LoginThrottle::default();
        let ip = Some("10.0.0.9".parse().unwrap());
        let d: Vec<Duration> = (0..10).map(|_| t.failed("u", ip)).collect();
        assert_eq!(d[0], Duration::from_millis(100));
        assert_eq!(d[1], Duration::from_millis(200));
        assert!(d.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(*d.last().unwrap(), LOGIN_DELAY_MAX);
        assert_eq!(t.failed("v", ip), Duration::from_millis(100));
        t.succeeded("u", ip);
        assert_eq!(t.failed("u", ip), Duration::from_millis(100));
    }
}
