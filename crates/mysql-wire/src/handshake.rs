//! Connection phase: the v10 greeting, the client's HandshakeResponse41 / SslRequest, and
//! mysql_native_password verification.

use sha1::{Digest, Sha1};

use crate::buf::Reader;
use crate::consts::{cap, status};
use crate::error::WireError;

/// Length of the authentication challenge ("scramble") sent in the greeting.
pub(crate) const SCRAMBLE_BYTES: usize = 20;

/// Collation announced in the greeting: 45 = utf8mb4_general_ci, understood by MySQL and
/// MariaDB clients alike (MariaDB clients do not know MySQL 8's 255).
const GREETING_COLLATION: u8 = 45;

/// Size of an SslRequest payload: flags, max packet, collation, 23 reserved bytes.
const SSL_REQUEST_BYTES: usize = 32;

/// A fresh random challenge of printable ASCII (some clients treat it as a C string).
pub(crate) fn new_scramble() -> [u8; SCRAMBLE_BYTES] {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let mut s = [0u8; SCRAMBLE_BYTES];
    for b in &mut s {
        *b = rng.gen_range(0x21..=0x7e);
    }
    s
}

/// Encodes the Protocol::HandshakeV10 greeting.
pub(crate) fn encode_greeting(
    out: &mut Vec<u8>,
    server_version: &str,
    connection_id: u32,
    scramble: &[u8; SCRAMBLE_BYTES],
    capabilities: u32,
    plugin: &str,
) {
    out.push(10);
    // The version is a C string: drop anything from an embedded NUL on.
    let version = server_version.split('\0').next().unwrap_or_default();
    out.extend_from_slice(version.as_bytes());
    out.push(0);
    out.extend_from_slice(&connection_id.to_le_bytes());
    out.extend_from_slice(&scramble[..8]);
    out.push(0);
    out.extend_from_slice(&(capabilities as u16).to_le_bytes());
    out.push(GREETING_COLLATION);
    out.extend_from_slice(&status::AUTOCOMMIT.to_le_bytes());
    out.extend_from_slice(&((capabilities >> 16) as u16).to_le_bytes());
    out.push((SCRAMBLE_BYTES + 1) as u8);
    out.extend_from_slice(&[0; 10]);
    out.extend_from_slice(&scramble[8..]);
    out.push(0);
    out.extend_from_slice(plugin.as_bytes());
    out.push(0);
}

/// Encodes an AuthSwitchRequest asking the client to answer with `plugin`.
pub(crate) fn encode_auth_switch(out: &mut Vec<u8>, plugin: &str, scramble: &[u8; SCRAMBLE_BYTES]) {
    out.push(0xFE);
    out.extend_from_slice(plugin.as_bytes());
    out.push(0);
    out.extend_from_slice(scramble);
    out.push(0);
}

/// The capability flags at the start of a HandshakeResponse41 or SslRequest.
pub(crate) fn client_capabilities(payload: &[u8]) -> Result<u32, WireError> {
    let mut r = Reader::new(payload);
    // A pre-4.1 client sends 2 bytes of flags without CLIENT_PROTOCOL_41 in them.
    if payload.len() >= 2
        && u16::from_le_bytes([payload[0], payload[1]]) as u32 & cap::PROTOCOL_41 == 0
    {
        return Err(WireError::ProtocolTooOld);
    }
    r.u32("client capability flags")
}

/// Checks that a payload is a well-formed SslRequest.
pub(crate) fn check_ssl_request(payload: &[u8]) -> Result<(), WireError> {
    if payload.len() != SSL_REQUEST_BYTES {
        return Err(WireError::Malformed {
            what: "SslRequest (expected 32 bytes)",
        });
    }
    Ok(())
}

/// The fields of a HandshakeResponse41 this server uses.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct HandshakeResponse {
    /// The client's flags, intersected with what the server offered.
    pub capabilities: u32,
    pub user: String,
    pub auth_response: Vec<u8>,
    pub database: Option<String>,
    /// The plugin the auth response was computed with, if the client said.
    pub auth_plugin: Option<String>,
}

impl HandshakeResponse {
    /// Parses a HandshakeResponse41. Fields after the user name are optional: old clients
    /// end the packet early, and a missing field means "not sent".
    pub(crate) fn parse(payload: &[u8], server_capabilities: u32) -> Result<Self, WireError> {
        let mut r = Reader::new(payload);
        let client_flags = r.u32("client capability flags")?;
        if client_flags & cap::PROTOCOL_41 == 0 {
            return Err(WireError::ProtocolTooOld);
        }
        let caps = client_flags & server_capabilities;
        let _max_packet = r.u32("max packet size")?;
        let _collation = r.u8("collation")?;
        r.take(23, "reserved bytes")?;
        let user = utf8(r.nul_terminated("user name")?, "user name (not UTF-8)")?;

        let auth_response = if r.is_empty() {
            Vec::new()
        } else if caps & cap::PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
            r.lenenc_bytes("auth response")?.to_vec()
        } else if caps & cap::SECURE_CONNECTION != 0 {
            let n = r.u8("auth response length")?;
            r.take(usize::from(n), "auth response")?.to_vec()
        } else {
            r.nul_terminated("auth response")?.to_vec()
        };

        let mut database = None;
        if caps & cap::CONNECT_WITH_DB != 0 && !r.is_empty() {
            let db = r.nul_terminated("database name")?;
            if !db.is_empty() {
                database = Some(utf8(db, "database name (not UTF-8)")?);
            }
        }

        let mut auth_plugin = None;
        if caps & cap::PLUGIN_AUTH != 0 && !r.is_empty() {
            // Some clients end the packet with the plugin name and no NUL.
            let name = match r.nul_terminated("auth plugin name") {
                Ok(name) => name,
                Err(_) => r.rest(),
            };
            auth_plugin = Some(utf8(name, "auth plugin name (not UTF-8)")?);
        }

        if caps & cap::CONNECT_ATTRS != 0 && !r.is_empty() {
            // Connection attributes (program name, client version, ...) are accepted and
            // ignored; only their framing is checked.
            let attrs = r.lenenc_bytes("connection attributes")?;
            let mut a = Reader::new(attrs);
            while !a.is_empty() {
                a.lenenc_bytes("connection attribute key")?;
                a.lenenc_bytes("connection attribute value")?;
            }
        }

        Ok(HandshakeResponse {
            capabilities: caps,
            user,
            auth_response,
            database,
            auth_plugin,
        })
    }
}

fn utf8(bytes: &[u8], what: &'static str) -> Result<String, WireError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| WireError::Malformed { what })
}

/// SHA1(SHA1(password)): what the user store keeps for mysql_native_password.
pub fn native_password_hash(password: &str) -> [u8; 20] {
    let stage1 = Sha1::digest(password.as_bytes());
    Sha1::digest(stage1).into()
}

/// Verifies a mysql_native_password token against the stored SHA1(SHA1(password)).
///
/// The client sends `token = SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password)))`.
/// XOR-ing the token with `SHA1(scramble + stored)` recovers SHA1(password), whose SHA1
/// must equal the stored hash. The comparison does not stop at the first differing byte.
pub(crate) fn verify_native_password(
    scramble: &[u8; SCRAMBLE_BYTES],
    token: &[u8],
    stored: &[u8; 20],
) -> bool {
    if token.len() != 20 {
        return false;
    }
    let mut h = Sha1::new();
    h.update(scramble);
    h.update(stored);
    let mask: [u8; 20] = h.finalize().into();
    let mut stage1 = [0u8; 20];
    for i in 0..20 {
        stage1[i] = token[i] ^ mask[i];
    }
    let candidate: [u8; 20] = Sha1::digest(stage1).into();
    crate::password::constant_time_eq(&candidate, stored)
}

/// What a client computes for mysql_native_password (used by tests and the fuzz driver).
#[cfg(test)]
pub(crate) fn client_native_token(scramble: &[u8], password: &str) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha1::digest(password.as_bytes());
    let stage2 = Sha1::digest(stage1);
    let mut h = Sha1::new();
    h.update(scramble);
    h.update(stage2);
    let mask = h.finalize();
    stage1.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server accepts exactly the token a client derives from the right password.
    #[test]
    fn native_password_accepts_right_and_rejects_wrong() {
        let scramble = new_scramble();
        let stored = native_password_hash("s3cret");
        assert!(verify_native_password(
            &scramble,
            &client_native_token(&scramble, "s3cret"),
            &stored
        ));
        assert!(!verify_native_password(
            &scramble,
            &client_native_token(&scramble, "s3creT"),
            &stored
        ));
        assert!(!verify_native_password(&scramble, &[], &stored));
        assert!(!verify_native_password(&scramble, &[0; 21], &stored));
    }

    /// The known SHA1(SHA1("password")) value that MySQL's PASSWORD() shows.
    #[test]
    fn native_password_hash_matches_mysql() {
        let h = native_password_hash("password");
        let hex: String = h.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(hex, "2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19");
    }

    /// A full response with every optional field parses; truncated ones are errors.
    #[test]
    fn handshake_response_parses_all_fields() {
        let mut p = Vec::new();
        let flags = cap::SERVER_DEFAULT;
        p.extend_from_slice(&flags.to_le_bytes());
        p.extend_from_slice(&(1u32 << 24).to_le_bytes());
        p.push(45);
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(b"root\0");
        p.push(20);
        p.extend_from_slice(&[7; 20]);
        p.extend_from_slice(b"db1\0");
        p.extend_from_slice(b"caching_sha2_password\0");
        p.extend_from_slice(&[6, 2, b'_', b'a', 2, b'v', b'1']);
        let r = HandshakeResponse::parse(&p, cap::SERVER_DEFAULT).unwrap();
        assert_eq!(r.user, "root");
        assert_eq!(r.auth_response, vec![7; 20]);
        assert_eq!(r.database.as_deref(), Some("db1"));
        assert_eq!(r.auth_plugin.as_deref(), Some("caching_sha2_password"));
        for cut in 0..p.len() - 1 {
            // Every prefix either parses (fields are optional) or errors; none panics.
            let _ = HandshakeResponse::parse(&p[..cut], cap::SERVER_DEFAULT);
        }
        assert!(HandshakeResponse::parse(&p[..20], cap::SERVER_DEFAULT).is_err());
    }
}
