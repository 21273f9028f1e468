//! Transport: authentication and fail-over between paths, on loopback.
//!
//! A "cable pull" is simulated by a proxy that silently stops forwarding (no FIN, no RST),
//! which is what a pulled cable looks like to TCP.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use quorate_transport::{
    Handler, Identity, RemoteError, Transport, TransportConfig, TransportError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Echo;

impl Handler for Echo {
    fn handle(
        &self,
        from: u64,
        method: u16,
        body: Vec<u8>,
    ) -> BoxFuture<'static, Result<Vec<u8>, RemoteError>> {
        Box::pin(async move {
            if method == 99 {
                return Err(RemoteError::new("nope", "method 99 always fails"));
            }
            let mut out = format!("from {from} method {method}: ").into_bytes();
            out.extend(body);
            Ok(out)
        })
    }
}

fn identity(node: u64, secret: &[u8], cluster: Option<&str>, epoch: u64) -> Arc<Identity> {
    Arc::new(Identity::new(
        node,
        "test".into(),
        secret.to_vec(),
        cluster.map(str::to_string),
        epoch,
    ))
}

async fn server(id: Arc<Identity>, n_paths: usize) -> (Arc<Transport>, Vec<String>) {
    let t = Transport::new(id, TransportConfig::default());
    let addrs: Vec<String> = (0..n_paths).map(|_| "127.0.0.1:0".to_string()).collect();
    let bound = t.listen(&addrs, Arc::new(Echo)).await.unwrap();
    (t, bound.iter().map(|a| a.to_string()).collect())
}

/// A TCP proxy that can freeze: while frozen it forwards nothing and closes nothing.
async fn freezable_proxy(target: String) -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let frozen = Arc::new(AtomicBool::new(false));
    let f = frozen.clone();
    tokio::spawn(async move {
        loop {
            let (inbound, _) = listener.accept().await.unwrap();
            let outbound = TcpStream::connect(&target).await.unwrap();
            let (mut ri, mut wi) = inbound.into_split();
            let (mut ro, mut wo) = outbound.into_split();
            let f1 = f.clone();
            let f2 = f.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = match ri.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    while f1.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    if wo.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = match ro.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    while f2.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    if wi.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, frozen)
}

/// A TCP proxy that forwards at most `bytes_per_s` in each direction: a slow link. Its
/// sockets' receive buffers are small, as a switch's queue is: what the sender has in
/// flight stays bounded, instead of piling up in loopback's megabytes of buffer.
async fn slow_proxy(target: String, bytes_per_s: u64) -> String {
    let small = |s: &tokio::net::TcpSocket| s.set_recv_buffer_size(32 << 10).unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    small(&socket);
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(16).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let (inbound, _) = listener.accept().await.unwrap();
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            small(&socket);
            let outbound = socket.connect(target.parse().unwrap()).await.unwrap();
            let (ri, wi) = inbound.into_split();
            let (ro, wo) = outbound.into_split();
            for (mut from, mut to) in [
                (
                    Box::new(ri) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                    Box::new(wo) as Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
                ),
                (Box::new(ro), Box::new(wi)),
            ] {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 << 10];
                    loop {
                        let n = match from.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if to.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                        let pause = Duration::from_secs_f64(n as f64 / bytes_per_s as f64);
                        tokio::time::sleep(pause).await;
                    }
                });
            }
        }
    });
    addr
}

/// A message that takes seconds on a slow link (12 MiB each way at 6 MiB/s, where a
/// path is declared down after 400 ms of silence) neither takes its only path down nor
/// holds back small calls (heartbeats) sent while it is on the wire: large messages go in
/// pieces, and keepalives and small calls go between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_message_on_a_slow_link_keeps_the_path_and_lets_small_calls_through() {
    // Built before any connection exists: in a debug build, under load, making 12 MiB
    // took long enough to stall a single-threaded test runtime past the 400 ms path
    // timeout, so the path looked silent for reasons of the test's own (CI, once).
    let big: Vec<u8> = (0..12 << 20).map(|i| (i % 251) as u8).collect();
    let mut expected = b"from 1 method 2: ".to_vec();
    expected.extend_from_slice(&big);
    let (_s, addrs) = server(identity(2, b"secret", Some("c1"), 0), 1).await;
    let proxy = slow_proxy(addrs[0].clone(), 6 << 20).await;
    let client = Transport::new(
        identity(1, b"secret", Some("c1"), 0),
        TransportConfig::default(),
    );
    let peer = client.peer(2, &[proxy]);
    peer.call(1, b"warm".to_vec(), Duration::from_secs(2), true)
        .await
        .unwrap();
    let up_since = peer.status().paths[0].since;

    let large = {
        let peer = peer.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            let out = peer.call(2, big, Duration::from_secs(30), false).await;
            (out, t.elapsed())
        })
    };
    let mut small_calls = 0;
    let mut slowest = Duration::ZERO;
    while !large.is_finished() {
        let t = Instant::now();
        peer.call(3, b"beat".to_vec(), Duration::from_secs(5), false)
            .await
            .expect("a small call while the large one is on the wire");
        slowest = slowest.max(t.elapsed());
        small_calls += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (out, took) = large.await.unwrap();
    let out = out.expect("the large call");
    assert!(
        took > Duration::from_secs(2),
        "the link was not slow ({took:?}): the test proves nothing"
    );
    assert!(out == expected, "the large reply came back different");
    assert!(
        small_calls >= 5,
        "only {small_calls} small calls in {took:?}"
    );
    assert!(
        slowest < Duration::from_millis(1500),
        "a small call waited {slowest:?} behind the large one"
    );
    let status = peer.status();
    assert!(
        status.paths[0].up && status.paths[0].since == up_since,
        "the path went down during the transfer: {status:?}"
    );
}

/// A path is not declared down because this process stopped running its tasks for a while
/// (a busy machine, a large message decoded on the same runtime): the peer kept answering,
/// so the path stays up and the next call goes through. The peer runs on a runtime of its
/// own, which the stall does not touch.
#[tokio::test(flavor = "current_thread")]
async fn a_stall_of_our_own_runtime_does_not_take_the_path_down() {
    let (addrs_tx, addrs_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let remote = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let (_s, addrs) = server(identity(2, b"secret", Some("c1"), 0), 1).await;
            addrs_tx.send(addrs).unwrap();
            let _ = stop_rx.await;
        });
    });
    let addrs = addrs_rx.recv().unwrap();
    let config = TransportConfig::default();
    let stall = config.path_timeout * 3;
    let client = Transport::new(identity(1, b"secret", Some("c1"), 0), config);
    let peer = client.peer(2, &addrs);
    peer.call(1, b"warm".to_vec(), Duration::from_secs(2), true)
        .await
        .unwrap();
    // Let a few keepalives go back and forth first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let up_since = peer.status().paths[0].since;

    // The whole runtime stalls: no task of this process runs, the keepalive check included.
    std::thread::sleep(stall);
    // Then it runs again, and the peer's answers are there to be read.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = peer.status();
    assert!(
        status.paths[0].up && status.paths[0].since == up_since,
        "the path went down over our own stall of {stall:?}: {status:?}"
    );
    peer.call(2, b"after".to_vec(), Duration::from_secs(2), false)
        .await
        .expect("a call after the stall");
    let _ = stop_tx.send(());
    remote.join().unwrap();
}

/// Two nodes sharing the secret talk; the callee sees the authenticated caller id; remote
/// errors come back as errors.
#[tokio::test]
async fn authenticated_call_round_trip() {
    let (_s, addrs) = server(identity(2, b"secret", Some("c1"), 0), 1).await;
    let client = Transport::new(
        identity(1, b"secret", Some("c1"), 0),
        TransportConfig::default(),
    );
    let peer = client.peer(2, &addrs);
    let out = peer
        .call(7, b"hi".to_vec(), Duration::from_secs(2), true)
        .await
        .unwrap();
    assert_eq!(out, b"from 1 method 7: hi");
    let err = peer
        .call(99, vec![], Duration::from_secs(2), true)
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Remote { .. }), "{err}");
}

/// A node with the wrong secret, the wrong cluster id, a wrong idea of who it dials, or an
/// epoch older than the server's (a fenced member) cannot talk to it.
#[tokio::test]
async fn wrong_credentials_are_refused() {
    let (_s, addrs) = server(identity(2, b"secret", Some("c1"), 5), 1).await;
    let cases: Vec<(&str, Arc<Identity>, u64)> = vec![
        ("wrong secret", identity(1, b"other", Some("c1"), 5), 2),
        ("wrong cluster", identity(1, b"secret", Some("c2"), 5), 2),
        ("wrong node", identity(1, b"secret", Some("c1"), 5), 3),
        ("fenced epoch", identity(1, b"secret", Some("c1"), 4), 2),
    ];
    for (what, id, target) in cases {
        let client = Transport::new(id, TransportConfig::default());
        let peer = client.peer(target, &addrs);
        let err = peer
            .call(1, vec![], Duration::from_millis(1500), true)
            .await
            .unwrap_err();
        assert!(
            matches!(err, TransportError::Unreachable { .. }),
            "{what}: {err}"
        );
        let status = peer.status();
        let last = status.paths[0].last_error.clone().unwrap_or_default();
        assert!(
            last.contains("refused") || last.contains("could not prove"),
            "{what}: {last}"
        );
    }
    // A node that has not adopted a cluster id yet (wiped) may connect with the secret.
    let client = Transport::new(identity(1, b"secret", None, 5), TransportConfig::default());
    client
        .peer(2, &addrs)
        .call(1, vec![], Duration::from_secs(2), true)
        .await
        .unwrap();
}

/// With two paths, silencing the one in use (a pulled cable) moves calls to the other
/// within a fraction of a second, and status reports one path of two up.
#[tokio::test]
async fn calls_fail_over_when_a_path_goes_silent() {
    let (_s, addrs) = server(identity(2, b"secret", Some("c1"), 0), 2).await;
    let (proxy, frozen) = freezable_proxy(addrs[0].clone()).await;
    let client = Transport::new(
        identity(1, b"secret", Some("c1"), 0),
        TransportConfig::default(),
    );
    let peer = client.peer(2, &[proxy, addrs[1].clone()]);
    peer.call(1, b"warm".to_vec(), Duration::from_secs(2), true)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(peer.status().paths_up(), 2);

    frozen.store(true, Ordering::SeqCst);
    let start = Instant::now();
    let mut worst = Duration::ZERO;
    while start.elapsed() < Duration::from_secs(2) {
        let t = Instant::now();
        peer.call(1, b"x".to_vec(), Duration::from_secs(3), true)
            .await
            .unwrap();
        worst = worst.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The behaviour: no call failed; the slowest waited for one path timeout at most
    // (default 400 ms plus a keepalive interval), not for TCP's retransmission timeouts.
    assert!(
        worst < Duration::from_millis(1000),
        "slowest call {worst:?}"
    );
    let status = peer.status();
    assert_eq!(status.paths_up(), 1, "{status:?}");
    assert!(!status.paths[0].up);

    // Plug the cable back: the path comes back by itself.
    frozen.store(false, Ordering::SeqCst);
    let back = Instant::now();
    while peer.status().paths_up() < 2 && back.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(peer.status().paths_up(), 2);
}

/// A call that is not idempotent is not re-sent when its path dies mid-flight: the caller
/// learns that it may or may not have run.
#[tokio::test]
async fn non_idempotent_calls_are_not_resent() {
    let (_s, addrs) = server(identity(2, b"secret", Some("c1"), 0), 2).await;
    let (proxy, frozen) = freezable_proxy(addrs[0].clone()).await;
    let client = Transport::new(
        identity(1, b"secret", Some("c1"), 0),
        TransportConfig::default(),
    );
    let peer = client.peer(2, &[proxy, addrs[1].clone()]);
    peer.call(1, vec![], Duration::from_secs(2), true)
        .await
        .unwrap();
    while peer.status().paths_up() < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    frozen.store(true, Ordering::SeqCst);
    let err = peer
        .call(1, vec![], Duration::from_secs(3), false)
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Interrupted { .. }), "{err}");
}

fn tls_for(dir: &quorate_tls::CertDir, id: u64) -> quorate_transport::PeerTls {
    let ident =
        quorate_tls::Identity::load(&dir.ca_cert(), &dir.node_cert(id), &dir.node_key(id)).unwrap();
    quorate_transport::PeerTls {
        server: ident.peer_server().unwrap(),
        client: ident.peer_client().unwrap(),
    }
}

/// With mutual TLS, nodes with certificates of the cluster CA talk; a node with a
/// certificate from another CA is refused, and so is a node presenting another node's
/// certificate (its claimed node id must match its certificate).
#[tokio::test]
async fn mutual_tls_binds_node_ids_to_the_cluster_ca() {
    let d = tempfile::tempdir().unwrap();
    let ca = quorate_tls::CertDir::new(d.path());
    ca.init_ca("t").unwrap();
    for id in 1..=3 {
        ca.issue_node(id, &[]).unwrap();
    }
    let cfg = |id| TransportConfig {
        tls: Some(tls_for(&ca, id)),
        ..TransportConfig::default()
    };
    let server = Transport::new(identity(2, b"secret", Some("c1"), 0), cfg(2));
    let addrs: Vec<String> = server
        .listen(&["127.0.0.1:0".to_string()], Arc::new(Echo))
        .await
        .unwrap()
        .iter()
        .map(|a| a.to_string())
        .collect();
    let good = Transport::new(identity(1, b"secret", Some("c1"), 0), cfg(1));
    let out = good
        .peer(2, &addrs)
        .call(7, b"tls".to_vec(), Duration::from_secs(3), true)
        .await
        .unwrap();
    assert_eq!(out, b"from 1 method 7: tls");

    // Another CA.
    let d2 = tempfile::tempdir().unwrap();
    let other = quorate_tls::CertDir::new(d2.path());
    other.init_ca("x").unwrap();
    other.issue_node(1, &[]).unwrap();
    let rogue = Transport::new(
        identity(1, b"secret", Some("c1"), 0),
        TransportConfig {
            tls: Some(tls_for(&other, 1)),
            ..TransportConfig::default()
        },
    );
    assert!(
        rogue
            .peer(2, &addrs)
            .call(7, vec![], Duration::from_millis(1500), true)
            .await
            .is_err()
    );

    // Node 3's certificate, claiming to be node 1.
    let impostor = Transport::new(identity(1, b"secret", Some("c1"), 0), cfg(3));
    assert!(
        impostor
            .peer(2, &addrs)
            .call(7, vec![], Duration::from_millis(1500), true)
            .await
            .is_err()
    );

    // Plain TCP against a TLS server is refused too.
    let plain = Transport::new(
        identity(1, b"secret", Some("c1"), 0),
        TransportConfig::default(),
    );
    assert!(
        plain
            .peer(2, &addrs)
            .call(7, vec![], Duration::from_millis(1500), true)
            .await
            .is_err()
    );
}
