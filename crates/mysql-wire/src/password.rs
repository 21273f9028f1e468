//! Stored passwords and how logins are checked against them.
//!
//! Two authentication plugins, chosen per account:
//! - `mysql_native_password` stores SHA1(SHA1(password)): unsalted, and what the challenge
//!   of that plugin needs. Every MySQL and MariaDB client speaks it.
//! - `caching_sha2_password` stores a salted SHA-256 crypt, in MySQL 8's own format
//!   (`$A$005$` + 20 salt characters + 43 hash characters, 5,000 rounds). A client's first
//!   login on a node sends the password itself, which is only accepted over TLS (quorate
//!   has no RSA key exchange); the node then keeps SHA256(SHA256(password)) in memory
//!   ([`PasswordCache`]) so later logins, TLS or not, answer a scramble instead.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// An authentication plugin quorate implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthPlugin {
    /// `mysql_native_password`.
    Native,
    /// `caching_sha2_password`.
    CachingSha2,
}

impl AuthPlugin {
    /// The plugin's name on the wire and in SQL.
    pub fn name(self) -> &'static str {
        match self {
            AuthPlugin::Native => "mysql_native_password",
            AuthPlugin::CachingSha2 => "caching_sha2_password",
        }
    }

    /// The plugin called `name` (case-insensitive), if quorate implements it.
    pub fn parse(name: &str) -> Option<AuthPlugin> {
        [AuthPlugin::Native, AuthPlugin::CachingSha2]
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }
}

/// What an account's password is stored as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// No password: only an empty answer logs in.
    Empty,
    /// `mysql_native_password`: SHA1(SHA1(password)).
    Native([u8; 20]),
    /// `caching_sha2_password`: `$A$005$<salt><hash>` (ASCII).
    CachingSha2(String),
}

/// Prefix of a caching_sha2_password hash with the rounds quorate uses (5 x 1000).
const SHA2_PREFIX: &str = "$A$005$";
const SHA2_SALT_BYTES: usize = 20;
const SHA2_HASH_CHARS: usize = 43;
const SHA2_ROUNDS_PER_UNIT: u32 = 1000;
/// The crypt alphabet: the digest's base-64 encoding and the salt characters.
const CRYPT_ALPHABET: &[u8; 64] =
    b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl Credential {
    /// The credential for `password` under `plugin` (a fresh random salt for
    /// caching_sha2_password); [`Credential::Empty`] for an empty password.
    pub fn new(plugin: AuthPlugin, password: &str) -> Credential {
        if password.is_empty() {
            return Credential::Empty;
        }
        match plugin {
            AuthPlugin::Native => {
                Credential::Native(crate::handshake::native_password_hash(password))
            }
            AuthPlugin::CachingSha2 => {
                use rand::Rng;
                let mut rng = rand::thread_rng();
                let salt: Vec<u8> = (0..SHA2_SALT_BYTES)
                    .map(|_| CRYPT_ALPHABET[rng.gen_range(0..64)])
                    .collect();
                Credential::CachingSha2(sha2_stored(password.as_bytes(), &salt, 5))
            }
        }
    }

    /// A credential no password matches, checked like a real one of `plugin` (for users
    /// that do not exist).
    pub(crate) fn unknown_user(plugin: AuthPlugin) -> Credential {
        match plugin {
            // SHA1(SHA1(x)) of no known x: all ones.
            AuthPlugin::Native => Credential::Native([0xff; 20]),
            // Well formed, so checking it costs the full hash; the hash part cannot be the
            // output of any password (it ends in a character the 43rd position never has).
            AuthPlugin::CachingSha2 => Credential::CachingSha2(format!(
                "{SHA2_PREFIX}{}{}",
                "unknownuserunknownus",
                "z".repeat(SHA2_HASH_CHARS)
            )),
        }
    }

    /// Decodes what [`Credential::to_stored`] wrote (`None`: not a credential).
    pub fn from_stored(stored: Option<&[u8]>) -> Option<Credential> {
        match stored {
            None => Some(Credential::Empty),
            Some([]) => Some(Credential::Empty),
            Some(b) if b.len() == 20 => {
                let mut h = [0u8; 20];
                h.copy_from_slice(b);
                Some(Credential::Native(h))
            }
            Some(b) => {
                let s = std::str::from_utf8(b).ok()?;
                parse_sha2(s)?;
                Some(Credential::CachingSha2(s.to_string()))
            }
        }
    }

    /// The bytes to store (`None` for no password).
    pub fn to_stored(&self) -> Option<Vec<u8>> {
        match self {
            Credential::Empty => None,
            Credential::Native(h) => Some(h.to_vec()),
            Credential::CachingSha2(s) => Some(s.as_bytes().to_vec()),
        }
    }

    /// The plugin that checks this credential (`None` for no password: any plugin).
    pub fn plugin(&self) -> Option<AuthPlugin> {
        match self {
            Credential::Empty => None,
            Credential::Native(_) => Some(AuthPlugin::Native),
            Credential::CachingSha2(_) => Some(AuthPlugin::CachingSha2),
        }
    }

    /// Whether `password` (in clear, as HTTP basic authentication or a caching_sha2
    /// full authentication gives it) is this credential's password. A caching_sha2 match
    /// is remembered in `cache`, and a remembered one is checked without the slow hash.
    pub fn verify_cleartext(&self, password: &str, cache: &PasswordCache) -> bool {
        match self {
            Credential::Empty => password.is_empty(),
            Credential::Native(h) => {
                constant_time_eq(&crate::handshake::native_password_hash(password), h)
            }
            Credential::CachingSha2(stored) => {
                let digest = double_sha256(password.as_bytes());
                if let Some(cached) = cache.get(stored) {
                    return constant_time_eq(&cached, &digest);
                }
                let Some((rounds_units, salt, _)) = parse_sha2(stored) else {
                    return false;
                };
                let ok = constant_time_eq(
                    sha2_stored(password.as_bytes(), salt, rounds_units).as_bytes(),
                    stored.as_bytes(),
                );
                if ok {
                    cache.insert(stored, digest);
                }
                ok
            }
        }
    }
}

/// SHA256(SHA256(password)) of caching_sha2_password accounts that logged in on this node,
/// keyed by the stored hash (so a changed password no longer matches its old entry).
/// In memory only, as in MySQL; bounded.
#[derive(Debug, Default)]
pub struct PasswordCache {
    map: Mutex<HashMap<String, [u8; 32]>>,
}

/// Entries kept at most; the cache is emptied when it would grow beyond (every account
/// then needs one more TLS login per node).
const CACHE_ENTRIES_MAX: usize = 10_000;

impl PasswordCache {
    fn get(&self, stored: &str) -> Option<[u8; 32]> {
        self.lock().get(stored).copied()
    }

    fn insert(&self, stored: &str, digest: [u8; 32]) {
        let mut map = self.lock();
        if map.len() >= CACHE_ENTRIES_MAX && !map.contains_key(stored) {
            map.clear();
        }
        map.insert(stored.to_string(), digest);
    }

    /// Whether the password of `stored` is cached (a login on this node checked it).
    pub(crate) fn knows(&self, stored: &str) -> bool {
        self.lock().contains_key(stored)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, [u8; 32]>> {
        // The map holds no invariant a panic could break half-way.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// caching_sha2_password's fast path: whether `token` answers `scramble` for the
    /// password cached under `stored`. The client sends
    /// `SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble)`.
    pub(crate) fn fast_check(&self, stored: &str, scramble: &[u8], token: &[u8]) -> bool {
        let Some(digest2) = self.get(stored) else {
            return false;
        };
        if token.len() != 32 {
            return false;
        }
        let mut h = Sha256::new();
        h.update(digest2);
        h.update(scramble);
        let mask: [u8; 32] = h.finalize().into();
        let mut stage1 = [0u8; 32];
        for i in 0..32 {
            stage1[i] = token[i] ^ mask[i];
        }
        let candidate: [u8; 32] = Sha256::digest(stage1).into();
        constant_time_eq(&candidate, &digest2)
    }
}

fn double_sha256(password: &[u8]) -> [u8; 32] {
    Sha256::digest(Sha256::digest(password)).into()
}

/// Compares without stopping at the first differing byte.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Splits `$A$<rounds/1000, 3 hex digits>$<20-byte salt><43-char hash>`.
fn parse_sha2(s: &str) -> Option<(u32, &[u8], &[u8])> {
    let b = s.as_bytes();
    if b.len() != 7 + SHA2_SALT_BYTES + SHA2_HASH_CHARS || !s.starts_with("$A$") || b[6] != b'$' {
        return None;
    }
    let units = u32::from_str_radix(std::str::from_utf8(&b[3..6]).ok()?, 16).ok()?;
    if units == 0 {
        return None;
    }
    Some((units, &b[7..7 + SHA2_SALT_BYTES], &b[7 + SHA2_SALT_BYTES..]))
}

/// The stored form of `password` with `salt` and `units` thousand rounds.
fn sha2_stored(password: &[u8], salt: &[u8], units: u32) -> String {
    let digest = sha256_crypt(password, salt, units * SHA2_ROUNDS_PER_UNIT);
    let mut out = if units == 5 {
        SHA2_PREFIX.to_string()
    } else {
        format!("$A${units:03X}$")
    };
    out.push_str(&String::from_utf8_lossy(salt));
    out.push_str(&crypt_base64(&digest));
    out
}

/// Ulrich Drepper's SHA-256 crypt (the algorithm behind `$5$` hashes), with the salt used
/// whole (MySQL's 20 bytes; the `$5$` format cuts salts at 16).
fn sha256_crypt(key: &[u8], salt: &[u8], rounds: u32) -> [u8; 32] {
    let alternate: [u8; 32] = {
        let mut h = Sha256::new();
        h.update(key);
        h.update(salt);
        h.update(key);
        h.finalize().into()
    };
    let mut a = Sha256::new();
    a.update(key);
    a.update(salt);
    let mut n = key.len();
    while n > 32 {
        a.update(alternate);
        n -= 32;
    }
    a.update(&alternate[..n]);
    let mut bits = key.len();
    while bits > 0 {
        if bits & 1 != 0 {
            a.update(alternate);
        } else {
            a.update(key);
        }
        bits >>= 1;
    }
    let mut c: [u8; 32] = a.finalize().into();

    let dp: [u8; 32] = {
        let mut h = Sha256::new();
        for _ in 0..key.len() {
            h.update(key);
        }
        h.finalize().into()
    };
    let p = repeat_to(&dp, key.len());
    let ds: [u8; 32] = {
        let mut h = Sha256::new();
        for _ in 0..16 + usize::from(c[0]) {
            h.update(salt);
        }
        h.finalize().into()
    };
    let s = repeat_to(&ds, salt.len());

    for i in 0..rounds {
        let mut h = Sha256::new();
        if i & 1 != 0 {
            h.update(&p);
        } else {
            h.update(c);
        }
        if i % 3 != 0 {
            h.update(&s);
        }
        if i % 7 != 0 {
            h.update(&p);
        }
        if i & 1 != 0 {
            h.update(c);
        } else {
            h.update(&p);
        }
        c = h.finalize().into();
    }
    c
}

fn repeat_to(block: &[u8; 32], len: usize) -> Vec<u8> {
    block.iter().copied().cycle().take(len).collect()
}

/// The crypt-specific base-64 of a SHA-256 crypt digest (byte order of the `$5$` format).
fn crypt_base64(d: &[u8; 32]) -> String {
    const GROUPS: [(usize, usize, usize); 10] = [
        (0, 10, 20),
        (21, 1, 11),
        (12, 22, 2),
        (3, 13, 23),
        (24, 4, 14),
        (15, 25, 5),
        (6, 16, 26),
        (27, 7, 17),
        (18, 28, 8),
        (9, 19, 29),
    ];
    let mut out = String::with_capacity(SHA2_HASH_CHARS);
    let mut push = |b2: u8, b1: u8, b0: u8, n: usize| {
        let mut w = (u32::from(b2) << 16) | (u32::from(b1) << 8) | u32::from(b0);
        for _ in 0..n {
            out.push(CRYPT_ALPHABET[(w & 0x3f) as usize] as char);
            w >>= 6;
        }
    };
    for (x, y, z) in GROUPS {
        push(d[x], d[y], d[z], 4);
    }
    push(0, d[31], d[30], 3);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SHA-256 crypt core reproduces the reference vectors of Drepper's specification
    /// ("Unix crypt using SHA-256 and SHA-512"), with the default 5,000 rounds and 10,000.
    #[test]
    fn sha256_crypt_matches_the_specification() {
        assert_eq!(
            crypt_base64(&sha256_crypt(b"Hello world!", b"saltstring", 5000)),
            "5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"
        );
        assert_eq!(
            crypt_base64(&sha256_crypt(b"Hello world!", b"saltstringsaltst", 10_000)),
            "3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"
        );
    }

    /// A caching_sha2 credential is salted (the same password twice gives two different
    /// stored strings), survives a store/load round trip, accepts its password and only it,
    /// and once cached answers the fast-path scramble a client computes.
    #[test]
    fn caching_sha2_credential_is_salted_and_checks_passwords() {
        let cache = PasswordCache::default();
        let a = Credential::new(AuthPlugin::CachingSha2, "s3cret");
        let b = Credential::new(AuthPlugin::CachingSha2, "s3cret");
        assert_ne!(a, b);
        let Credential::CachingSha2(stored) = &a else {
            panic!("{a:?}")
        };
        assert!(
            stored.starts_with("$A$005$") && stored.len() == 70,
            "{stored}"
        );
        assert_eq!(
            Credential::from_stored(a.to_stored().as_deref()),
            Some(a.clone())
        );

        let scramble = [7u8; 20];
        let token = client_sha2_token(&scramble, "s3cret");
        assert!(
            !cache.fast_check(stored, &scramble, &token),
            "nothing cached yet"
        );
        assert!(!a.verify_cleartext("s3creT", &cache));
        assert!(!cache.fast_check(stored, &scramble, &token));
        assert!(a.verify_cleartext("s3cret", &cache));
        assert!(cache.fast_check(stored, &scramble, &token));
        assert!(!cache.fast_check(stored, &scramble, &client_sha2_token(&scramble, "x")));
        assert!(!b.verify_cleartext("other", &cache));
    }

    /// Native credentials keep MySQL's 20-byte form; garbage is not a credential.
    #[test]
    fn stored_forms_round_trip() {
        let cache = PasswordCache::default();
        let n = Credential::new(AuthPlugin::Native, "pw");
        assert_eq!(n.to_stored().unwrap().len(), 20);
        assert_eq!(
            Credential::from_stored(n.to_stored().as_deref()),
            Some(n.clone())
        );
        assert!(n.verify_cleartext("pw", &cache) && !n.verify_cleartext("pW", &cache));
        assert_eq!(
            Credential::new(AuthPlugin::CachingSha2, ""),
            Credential::Empty
        );
        assert_eq!(Credential::from_stored(None), Some(Credential::Empty));
        assert_eq!(Credential::from_stored(Some(b"$A$005$short")), None);
        assert_eq!(Credential::from_stored(Some(&[0xff; 70])), None);
        assert_eq!(
            AuthPlugin::parse("CACHING_SHA2_PASSWORD"),
            Some(AuthPlugin::CachingSha2)
        );
        assert_eq!(AuthPlugin::parse("sha256_password"), None);
    }

    /// What a client sends on caching_sha2_password's fast path.
    fn client_sha2_token(scramble: &[u8], password: &str) -> Vec<u8> {
        let stage1 = Sha256::digest(password.as_bytes());
        let stage2 = Sha256::digest(stage1);
        let mut h = Sha256::new();
        h.update(stage2);
        h.update(scramble);
        let mask = h.finalize();
        stage1.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect()
    }
}
