//! Peer security (issue: let no one in): a process without the cluster's credentials
//! cannot join, vote, or disturb a running cluster.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Cluster, Opts, free_port};
use serde_json::json;

/// Starts a lone node that tries to be n4 of the cluster, with the given secret and
/// certificates; returns its child and its peer address.
fn intruder(
    c: &Cluster,
    secret: &str,
    certs: &quorate_tls::CertDir,
) -> (std::process::Child, String) {
    let dir = c.path().join("intruder");
    std::fs::create_dir_all(&dir).unwrap();
    certs.issue_node(4, &[]).unwrap();
    let peer = format!("127.0.0.1:{}", free_port());
    let peers: String = c
        .nodes
        .iter()
        .map(|n| format!("[[peers]]\nid = {}\naddrs = [\"{}\"]\n", n.id, n.peer))
        .collect();
    let cfg = format!(
        "node_id = 4\ndata_dir = {:?}\npeer_addrs = [\"{peer}\"]\nhttp_addr = \"127.0.0.1:{}\"\ncluster_secret = \"{secret}\"\n\
         [tls]\nca_file = {:?}\ncert_file = {:?}\nkey_file = {:?}\n\n{peers}",
        dir.join("data").display().to_string(),
        free_port(),
        certs.ca_cert().display().to_string(),
        certs.node_cert(4).display().to_string(),
        certs.node_key(4).display().to_string(),
    );
    let path = dir.join(format!("n4-{}.toml", rand_tag()));
    std::fs::write(&path, cfg).unwrap();
    let log = std::fs::File::create(dir.join("log")).unwrap();
    let child = Command::new(BIN)
        .args(["start", "--config"])
        .arg(&path)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    (child, peer)
}

fn rand_tag() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Security: a node with certificates from another CA, or with the right certificates but
/// the wrong cluster secret, cannot be added as a member and cannot disturb the cluster:
/// writes keep succeeding with no election, and membership is unchanged.
#[test]
fn wrong_ca_or_secret_cannot_join_or_disturb() {
    let c = Cluster::start(Opts::default());
    let l = c.wait_writable(Duration::from_secs(10));
    c.execute(l, "CREATE TABLE t (id INTEGER PRIMARY KEY)", json!([]))
        .unwrap();
    let term = c.status(l).unwrap()["term"].as_u64().unwrap();

    // Another CA (right secret).
    let other = tempfile::tempdir().unwrap();
    let rogue_ca = quorate_tls::CertDir::new(other.path());
    rogue_ca.init_ca("rogue").unwrap();
    let secret = std::fs::read_to_string(c.path().join("secret")).unwrap();
    let (mut a, peer_a) = intruder(&c, secret.trim(), &rogue_ca);
    // The cluster's own CA, wrong secret.
    let own_ca = quorate_tls::CertDir::new(&c.path().join("certs"));
    let (mut b, peer_b) = intruder(&c, "not-the-cluster-secret-at-all", &own_ca);

    let started = Instant::now();
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(4) {
        c.execute(l, "INSERT INTO t VALUES (?)", json!([i]))
            .expect("writes continue");
        i += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    for peer in [&peer_a, &peer_b] {
        let e = c
            .post(
                l,
                "/v1/members",
                &json!({"id": 4, "peer_addrs": [peer], "role": "voter"}),
            )
            .unwrap_err();
        assert_eq!(e["error"]["code"], "unknown_node", "{e}");
    }
    let s = c.status(l).unwrap();
    assert_eq!(
        s["members"].as_array().unwrap().len(),
        3,
        "membership unchanged"
    );
    assert_eq!(s["term"].as_u64().unwrap(), term, "no election was caused");
    assert_eq!(s["leader"].as_u64().unwrap(), l);
    let _ = a.kill();
    let _ = b.kill();
    let _ = a.wait();
    let _ = b.wait();
}

/// Security: slow clients (slowloris: headers trickled byte by byte, or a SQL request's body
/// never finished) and a flood of idle connections do not stop the node from serving other
/// clients; the slow connections are closed once the header timeout passes, and a body that
/// has not arrived by `request_timeout_ms` is answered with a clear error.
#[test]
fn slowloris_and_connection_flood_are_bounded() {
    use std::io::{Read, Write};
    let c = Cluster::start(Opts {
        extra:
            "[http]\nheader_timeout_ms = 2000\nrequest_timeout_ms = 3000\nmax_connections = 400\n"
                .into(),
        ..Opts::default()
    });
    let l = c.wait_writable(Duration::from_secs(10));
    c.execute(l, "CREATE TABLE t (id INTEGER PRIMARY KEY)", json!([]))
        .unwrap();
    let http = c.node(l).http.clone();
    // 300 idle connections and 50 slow ones.
    let mut idle: Vec<std::net::TcpStream> = (0..300)
        .map(|_| std::net::TcpStream::connect(&http).unwrap())
        .collect();
    let mut slow: Vec<std::net::TcpStream> = (0..50)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&http).unwrap();
            s.write_all(b"POST /v1/execute HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    // Complete headers, then a body that stops half-way.
    let auth = common::basic_auth(common::ADMIN_USER, common::ADMIN_PASSWORD);
    let mut slow_bodies: Vec<std::net::TcpStream> = (0..5)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&http).unwrap();
            s.write_all(
                format!(
                    "POST /v1/execute HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\
                     Content-Length: 100\r\n\r\n{{\"statements\": "
                )
                .as_bytes(),
            )
            .unwrap();
            s
        })
        .collect();
    // Normal clients keep being served meanwhile.
    for i in 0..20 {
        for s in &mut slow {
            let _ = s.write_all(b"X");
        }
        c.execute(l, "INSERT INTO t VALUES (?)", json!([i]))
            .expect("served despite slow clients");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The slow connections are closed by the server after the header timeout.
    std::thread::sleep(Duration::from_millis(2500));
    let mut closed = 0;
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(0) => closed += 1,
            Ok(_) => closed += 1, // an error answer, then the close
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            Err(_) => {}
        }
    }
    assert!(
        closed >= 45,
        "only {closed} of 50 slow connections were closed"
    );
    for s in &mut slow_bodies {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(
            answer.starts_with("HTTP/1.1 400") && answer.contains("body not received in time"),
            "a body that never finishes: {answer}"
        );
    }
    idle.clear();
    assert_eq!(c.scalar(l, "SELECT count(*) FROM t"), 20);
}
