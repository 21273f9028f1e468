//! The accepting side: one listener per configured path address.

use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};

use crate::frame::{self, Assembler, Frame, Kind, read_frame, write_frames};
use crate::{BoxStream, Handler, RemoteError, Transport, TransportError, handshake};

pub(crate) async fn listen(
    transport: Arc<Transport>,
    addrs: &[String],
    handler: Arc<dyn Handler>,
) -> Result<Vec<std::net::SocketAddr>, TransportError> {
    let limit = Arc::new(Semaphore::new(transport.config.max_inbound_connections));
    let mut bound = Vec::new();
    for addr in addrs {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            TransportError::Io(std::io::Error::new(
                e.kind(),
                format!("cannot listen on peer address {addr}: {e}"),
            ))
        })?;
        bound.push(listener.local_addr()?);
        let transport = transport.clone();
        let handler = handler.clone();
        let limit = limit.clone();
        tokio::spawn(async move {
            loop {
                let (stream, remote) = match listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "peer accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = limit.clone().try_acquire_owned() else {
                    // Too many connections: drop this one rather than exhaust the node.
                    drop(stream);
                    continue;
                };
                let transport = transport.clone();
                let handler = handler.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Err(e) = serve(stream, transport, handler).await {
                        tracing::debug!(%remote, error = %e, "peer connection ended");
                    }
                });
            }
        });
    }
    Ok(bound)
}

/// Logs refused peer connections without flooding: the first from an address, then one
/// summary per minute with the count (a misconfigured or fenced node retries every second).
fn refused_log(remote: &str, e: &TransportError) {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};
    static SEEN: OnceLock<Mutex<HashMap<String, (Instant, u64)>>> = OnceLock::new();
    let seen = SEEN.get_or_init(|| Mutex::new(HashMap::new()));
    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    match seen.get_mut(remote) {
        None => {
            seen.insert(remote.to_string(), (Instant::now(), 0));
            tracing::warn!(%remote, error = %e, "refused a peer connection");
        }
        Some((since, n)) => {
            *n += 1;
            if since.elapsed() >= Duration::from_secs(60) {
                tracing::warn!(%remote, error = %e, repeats = *n, "still refusing peer connections from this address");
                *since = Instant::now();
                *n = 0;
            }
        }
    }
}

async fn serve(
    tcp: TcpStream,
    transport: Arc<Transport>,
    handler: Arc<dyn Handler>,
) -> Result<(), TransportError> {
    tcp.set_nodelay(true)?;
    frame::limit_unsent(&tcp);
    let remote_ip = tcp
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let cfg = transport.config.clone();
    // With TLS, the peer must present a certificate of the cluster CA before anything else;
    // its node name must then match the node id it claims in the handshake.
    let (mut stream, cert): (
        BoxStream,
        Option<tokio_rustls::rustls::pki_types::CertificateDer<'static>>,
    ) = match &cfg.tls {
        None => (Box::new(tcp), None),
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.server.clone());
            let accepted = tokio::time::timeout(cfg.handshake_timeout, acceptor.accept(tcp)).await;
            match accepted {
                Ok(Ok(s)) => {
                    let cert = s
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first().cloned());
                    (Box::new(s), cert)
                }
                Ok(Err(e)) => {
                    let e = TransportError::Refused(format!("TLS handshake failed: {e}"));
                    refused_log(&remote_ip, &e);
                    return Err(e);
                }
                Err(_) => return Err(TransportError::Handshake("TLS handshake timed out".into())),
            }
        }
    };
    let peer =
        match handshake::server(&mut stream, &transport.identity, cfg.handshake_timeout).await {
            Ok(p) => p,
            Err(e) => {
                refused_log(&remote_ip, &e);
                return Err(e);
            }
        };
    if cfg.tls.is_some()
        && !cert
            .as_ref()
            .map(|c| quorate_tls::cert_is_node(c, peer.node_id))
            .unwrap_or(false)
    {
        let e = TransportError::Refused(format!(
            "the certificate presented is not node {}'s",
            peer.node_id
        ));
        refused_log(&remote_ip, &e);
        return Err(e);
    }
    handler.on_peer(&peer);
    let from = peer.node_id;
    let (mut rd, wr) = tokio::io::split(stream);
    let (tx, rx) = mpsc::channel::<Frame>(1024);
    let writer = tokio::spawn(write_frames(wr, rx));
    let mut pieces = Assembler::new(cfg.max_frame_bytes);
    let result = loop {
        let frame =
            match tokio::time::timeout(cfg.idle_timeout, read_frame(&mut rd, cfg.max_frame_bytes))
                .await
            {
                Err(_) => break Ok(()),
                Ok(Ok(None)) => break Ok(()),
                Ok(Err(e)) => break Err(TransportError::Io(e)),
                Ok(Ok(Some(f))) => f,
            };
        let frame = match pieces.push(frame) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(e) => break Err(TransportError::Io(e)),
        };
        match frame.kind {
            Kind::Ping => {
                let _ = tx
                    .send(Frame::new(Kind::Pong, frame.id, 0, Vec::new()))
                    .await;
            }
            Kind::Request => {
                let handler = handler.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let reply = match handler.handle(from, frame.method, frame.body.into()).await {
                        Ok(body) => Frame::new(Kind::ResponseOk, frame.id, frame.method, body),
                        Err(e) => Frame::new(
                            Kind::ResponseErr,
                            frame.id,
                            frame.method,
                            rmp_serde::to_vec(&e).unwrap_or_default(),
                        ),
                    };
                    let _ = tx.send(reply).await;
                });
            }
            other => {
                let e = RemoteError::new("protocol", format!("unexpected frame {other:?}"));
                break Err(TransportError::Handshake(e.to_string()));
            }
        }
    };
    drop(tx);
    writer.abort();
    result
}
