//! The mutual, HMAC-based peer handshake.
//!
//! Both sides prove they know the cluster secret without sending it, over a transcript that
//! includes fresh random nonces from both (so a recorded handshake cannot be replayed), and
//! check the other's identity: cluster name, cluster id, node id and epoch. A node refuses a
//! peer from another cluster, a peer that dialed the wrong node id, and a peer whose epoch is
//! older than its own (a member fenced off by `quorate recover`).
//!
//! The handshake authenticates; it does not encrypt the frames that follow (see
//! docs/SECURITY.md for what that means and what TLS adds).

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::frame::{Frame, Kind, read_frame, write_frame};
use crate::{Identity, TransportError};

const PROTOCOL_VERSION: u32 = 1;
const HANDSHAKE_FRAME_MAX: usize = 4096;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Hello {
    version: u32,
    cluster_name: String,
    cluster_id: Option<String>,
    from: u64,
    to: u64,
    epoch: u64,
    nonce: [u8; 32],
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Challenge {
    node: u64,
    cluster_id: Option<String>,
    epoch: u64,
    nonce: [u8; 32],
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChallengeMsg {
    challenge: Challenge,
    mac: Vec<u8>,
}

/// What the other side proved about itself.
#[derive(Debug, Clone)]
pub struct PeerIdentity {
    pub node_id: u64,
    pub cluster_id: Option<String>,
    pub epoch: u64,
}

fn mac(secret: &[u8], role: &[u8], hello: &[u8], challenge: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    m.update(role);
    m.update(&(hello.len() as u64).to_be_bytes());
    m.update(hello);
    m.update(challenge);
    m.finalize().into_bytes().to_vec()
}

fn verify(secret: &[u8], role: &[u8], hello: &[u8], challenge: &[u8], tag: &[u8]) -> bool {
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    m.update(role);
    m.update(&(hello.len() as u64).to_be_bytes());
    m.update(hello);
    m.update(challenge);
    m.verify_slice(tag).is_ok()
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    rmp_serde::to_vec(v).expect("handshake messages always encode")
}

fn decode<T: for<'de> Deserialize<'de>>(b: &[u8]) -> Result<T, TransportError> {
    rmp_serde::from_slice(b)
        .map_err(|e| TransportError::Handshake(format!("malformed handshake message: {e}")))
}

fn cluster_ids_compatible(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

async fn expect<S: AsyncRead + Unpin>(s: &mut S, kind: Kind) -> Result<Frame, TransportError> {
    let frame = read_frame(s, HANDSHAKE_FRAME_MAX)
        .await?
        .ok_or_else(|| TransportError::Handshake("connection closed during handshake".into()))?;
    if frame.kind == Kind::Reject {
        return Err(TransportError::Refused(
            String::from_utf8_lossy(&frame.body).to_string(),
        ));
    }
    if frame.kind != kind {
        return Err(TransportError::Handshake(format!(
            "expected {kind:?}, got {:?}",
            frame.kind
        )));
    }
    Ok(frame)
}

async fn reject<S: AsyncWrite + Unpin>(s: &mut S, reason: &str) -> TransportError {
    let _ = write_frame(
        s,
        &Frame::new(Kind::Reject, 0, 0, reason.as_bytes().to_vec()),
    )
    .await;
    TransportError::Refused(reason.to_string())
}

/// Dialing side: prove ourselves to node `to` and check it is who we dialed.
pub(crate) async fn client<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    me: &Identity,
    to: u64,
    timeout: Duration,
) -> Result<PeerIdentity, TransportError> {
    tokio::time::timeout(timeout, async {
        let hello = Hello {
            version: PROTOCOL_VERSION,
            cluster_name: me.cluster_name.clone(),
            cluster_id: me.cluster_id(),
            from: me.node_id,
            to,
            epoch: me.epoch(),
            nonce: rand::random(),
        };
        let hello_bytes = encode(&hello);
        write_frame(s, &Frame::new(Kind::Hello, 0, 0, hello_bytes.clone())).await?;
        let frame = expect(s, Kind::Challenge).await?;
        let msg: ChallengeMsg = decode(&frame.body)?;
        let challenge_bytes = encode(&msg.challenge);
        if !verify(me.secret(), b"quorate-server", &hello_bytes, &challenge_bytes, &msg.mac) {
            return Err(TransportError::Refused(format!(
                "node at this address could not prove it knows the cluster secret (dialed node {to})"
            )));
        }
        if msg.challenge.node != to {
            return Err(TransportError::Refused(format!(
                "dialed node {to} but the address belongs to node {}",
                msg.challenge.node
            )));
        }
        if !cluster_ids_compatible(&me.cluster_id(), &msg.challenge.cluster_id) {
            return Err(TransportError::Refused(format!(
                "node {to} belongs to another cluster ({:?})",
                msg.challenge.cluster_id
            )));
        }
        let proof = mac(me.secret(), b"quorate-client", &hello_bytes, &challenge_bytes);
        write_frame(s, &Frame::new(Kind::Proof, 0, 0, proof)).await?;
        expect(s, Kind::Welcome).await?;
        Ok(PeerIdentity { node_id: to, cluster_id: msg.challenge.cluster_id, epoch: msg.challenge.epoch })
    })
    .await
    .map_err(|_| TransportError::Handshake("handshake timed out".into()))?
}

/// Accepting side: check the dialer and make it prove itself.
pub(crate) async fn server<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    me: &Identity,
    timeout: Duration,
) -> Result<PeerIdentity, TransportError> {
    tokio::time::timeout(timeout, async {
        let frame = expect(s, Kind::Hello).await?;
        let hello_bytes = frame.body;
        let hello: Hello = decode(&hello_bytes)?;
        if hello.version != PROTOCOL_VERSION {
            return Err(reject(s, &format!("protocol version {} not supported", hello.version)).await);
        }
        if hello.cluster_name != me.cluster_name {
            return Err(reject(s, "cluster name mismatch").await);
        }
        if hello.to != me.node_id {
            return Err(reject(s, &format!("this is node {}, not node {}", me.node_id, hello.to)).await);
        }
        if !cluster_ids_compatible(&me.cluster_id(), &hello.cluster_id) {
            return Err(reject(s, "cluster id mismatch").await);
        }
        // A node that never joined a cluster (no cluster id) has no epoch to be fenced by.
        if hello.cluster_id.is_some() && hello.epoch < me.epoch() {
            return Err(reject(
                s,
                &format!(
                    "node {} is fenced: its cluster epoch {} is older than {} (it was removed by a recovery)",
                    hello.from,
                    hello.epoch,
                    me.epoch()
                ),
            )
            .await);
        }
        let challenge = Challenge { node: me.node_id, cluster_id: me.cluster_id(), epoch: me.epoch(), nonce: rand::random() };
        let challenge_bytes = encode(&challenge);
        let tag = mac(me.secret(), b"quorate-server", &hello_bytes, &challenge_bytes);
        write_frame(s, &Frame::new(Kind::Challenge, 0, 0, encode(&ChallengeMsg { challenge, mac: tag }))).await?;
        let proof = expect(s, Kind::Proof).await?;
        if !verify(me.secret(), b"quorate-client", &hello_bytes, &challenge_bytes, &proof.body) {
            return Err(reject(s, "authentication failed").await);
        }
        write_frame(s, &Frame::new(Kind::Welcome, 0, 0, Vec::new())).await?;
        Ok(PeerIdentity { node_id: hello.from, cluster_id: hello.cluster_id, epoch: hello.epoch })
    })
    .await
    .map_err(|_| TransportError::Handshake("handshake timed out".into()))?
}

/// Decodes `bytes` as each handshake message (fuzzing).
pub(crate) fn fuzz_messages(bytes: &[u8]) {
    let _ = decode::<Hello>(bytes);
    let _ = decode::<ChallengeMsg>(bytes);
}
