//! Password checks for the node's other front doors (the HTTP API), against the same
//! accounts and grants as MySQL logins.
//!
//! Once this replica holds the account catalog, it alone decides. Before that (a node not
//! yet part of a formed cluster, or a witness, which holds no data) the administrator from
//! the node's configuration (`[mysql] admin_user` / `admin_password`) is the only account.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quorate_mysql_wire::{AuthPlugin, Credential, PasswordCache};
use quorate_node::Node;
use quorate_node::config::NodeConfig;
use sha2::{Digest, Sha256};

use crate::accounts::{self, LoginThrottle, Privileges};

/// How long a successful check is remembered (a revoked grant takes effect after this).
const CACHE_TTL: Duration = Duration::from_secs(1);
const CACHE_MAX: usize = 4096;

/// A remembered successful check: user, SHA-256 of the password, client address.
type CacheKey = (String, [u8; 32], Option<IpAddr>);

/// What an account may do outside MySQL. HTTP has no notion of the current database:
/// only global grants (`ON *.*`) count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginAccess {
    /// Global SELECT.
    pub read: bool,
    /// Global INSERT, UPDATE and DELETE.
    pub write: bool,
    /// Global SUPER (membership, maintenance, recovery).
    pub admin: bool,
}

/// The result of [`LoginChecker::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginCheck {
    /// The password is right.
    Granted(LoginAccess),
    /// Unknown user or wrong password: answer after this delay (it grows with repeated
    /// failures of the same user from the same address).
    Denied(Duration),
    /// No account exists on this node and no administrator is configured: nobody can
    /// log in until the configuration names one.
    NoAccounts(String),
    /// This node cannot check the login now: it holds no accounts (not yet received, or a
    /// witness) and the user is not the configured administrator. Another node, or this
    /// one later, can.
    NotReady(String),
}

/// Checks user names and passwords against this node's replica of the accounts.
pub struct LoginChecker {
    node: Node,
    /// The configured first administrator: name and credential (in memory only).
    admin: Option<(String, Credential)>,
    passwords: Arc<PasswordCache>,
    throttle: LoginThrottle,
    cache: Mutex<HashMap<CacheKey, (LoginAccess, Instant)>>,
}

impl LoginChecker {
    /// A checker for `node`, with the administrator from `cfg` (an error if its password
    /// file cannot be read).
    pub fn new(node: Node, cfg: &NodeConfig) -> Result<LoginChecker, String> {
        let admin = cfg
            .admin_password()
            .map_err(|e| e.to_string())?
            .filter(|pw| !pw.is_empty())
            .map(|pw| {
                (
                    cfg.mysql.admin_user.clone(),
                    Credential::new(AuthPlugin::Native, &pw),
                )
            });
        Ok(LoginChecker {
            node,
            admin,
            passwords: crate::password_cache(),
            throttle: LoginThrottle::default(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Checks `user` / `password` for a client at `ip`. Never logs the password.
    pub fn check(&self, user: &str, password: &str, ip: Option<IpAddr>) -> LoginCheck {
        let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        let key = (user.to_string(), digest, ip);
        if let Some((access, at)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            && at.elapsed() < CACHE_TTL
        {
            return LoginCheck::Granted(*access);
        }
        let store = self.node.store();
        let catalog = !store.is_witness() && accounts::catalog_state(store).1;
        let granted = if catalog {
            accounts::find_account(store, user, ip)
                .filter(|a| a.credential.verify_cleartext(password, &self.passwords))
                .map(|a| {
                    let p = Privileges::load(store, &a.user, &a.host);
                    LoginAccess {
                        read: p.allows_global(accounts::SELECT),
                        write: p
                            .allows_global(accounts::INSERT | accounts::UPDATE | accounts::DELETE),
                        admin: p.allows_global(accounts::SUPER),
                    }
                })
        } else {
            match &self.admin {
                None => {
                    return LoginCheck::NoAccounts(
                        "no account exists on this node yet and no administrator is configured \
                         ([mysql] admin_password or admin_password_file)"
                            .into(),
                    );
                }
                Some((name, _)) if name != user => {
                    return LoginCheck::NotReady(if store.is_witness() {
                        "this node is a witness: it holds no accounts, only the configured \
                         administrator can log in here"
                            .into()
                    } else {
                        "this node has not received the cluster's accounts yet (it is joining \
                         or catching up): only the configured administrator can log in here \
                         until then"
                            .into()
                    });
                }
                Some((_, credential)) => credential
                    .verify_cleartext(password, &self.passwords)
                    .then_some(LoginAccess {
                        read: true,
                        write: true,
                        admin: true,
                    }),
            }
        };
        match granted {
            Some(access) => {
                self.throttle.succeeded(user, ip);
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
                cache.insert(key, (access, Instant::now()));
                LoginCheck::Granted(access)
            }
            None => {
                tracing::info!(user, peer = ?ip, "HTTP login failed");
                LoginCheck::Denied(self.throttle.failed(user, ip))
            }
        }
    }
}
