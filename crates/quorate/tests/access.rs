//! Client access control (issue: let no one in): the HTTP API and MySQL refuse clients
//! without valid credentials, permissions are separate, and both ports speak TLS.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{ADMIN_PASSWORD, ADMIN_USER, BIN, Cluster, Opts, agent_as};
use mysql_async::prelude::Queryable;
use serde_json::{Value, json};

/// Status code and JSON body of a call, whatever the status.
fn call(r: Result<ureq::Response, ureq::Error>) -> (u16, Value, Option<String>) {
    match r {
        Ok(r) => {
            let auth = r.header("www-authenticate").map(str::to_string);
            (r.status(), r.into_json().unwrap_or(Value::Null), auth)
        }
        Err(ureq::Error::Status(code, r)) => {
            let auth = r.header("www-authenticate").map(str::to_string);
            (code, r.into_json().unwrap_or(Value::Null), auth)
        }
        Err(e) => panic!("transport error: {e}"),
    }
}

fn mysql_port(c: &Cluster, id: u64) -> u16 {
    c.node(id)
        .mysql
        .rsplit_once(':')
        .unwrap()
        .1
        .parse()
        .unwrap()
}

fn mysql_opts(c: &Cluster, id: u64, user: &str, password: &str) -> mysql_async::OptsBuilder {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(mysql_port(c, id))
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false)
}

fn have(program: &str, probe: &[&str]) -> bool {
    Command::new(program)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Access control: without credentials every endpoint but the health check answers 401
/// (with a `WWW-Authenticate` challenge); wrong passwords are refused and slowed down; an
/// account with only SELECT can read but not write or run admin calls (403), one with
/// SELECT/INSERT/UPDATE/DELETE can write but not run admin calls, one with grants on a single
/// database has no HTTP access; a dropped account is refused within seconds; MySQL refuses
/// a wrong password with 1045.
#[test]
fn http_refuses_the_unauthenticated_and_separates_read_write_admin() {
    let c = Cluster::start(Opts::default());
    let l = c.wait_writable(Duration::from_secs(10));
    c.execute(l, "CREATE TABLE t (id INTEGER PRIMARY KEY)", json!([]))
        .unwrap();
    let url = |path: &str| c.url(2, path);
    let anon = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build();

    // No credentials.
    let execute = json!({"statements": [{"sql": "INSERT INTO t VALUES (1)"}]});
    let query = json!({"sql": "SELECT count(*) FROM t"});
    for (method, path, body) in [
        ("POST", "/v1/execute", Some(&execute)),
        ("POST", "/v1/query", Some(&query)),
        ("GET", "/v1/status", None),
        ("GET", "/v1/checksum", None),
        ("GET", "/metrics", None),
        ("GET", "/", None),
        ("POST", "/v1/leader", Some(&json!({}))),
        ("DELETE", "/v1/members/3", None),
    ] {
        let req = anon.request(method, &url(path));
        let r = match body {
            Some(b) => req.send_json(b.clone()),
            None => req.call(),
        };
        let (code, body, challenge) = call(r);
        assert_eq!(code, 401, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "unauthenticated", "{method} {path}");
        assert!(
            challenge.is_some_and(|c| c.starts_with("Basic")),
            "{method} {path}: no WWW-Authenticate challenge"
        );
    }
    let (code, _, _) = call(anon.get(&url("/v1/health")).call());
    assert_eq!(code, 200, "the health check stays open");
    assert_eq!(
        c.scalar(l, "SELECT count(*) FROM t"),
        0,
        "nothing was written"
    );

    // Wrong password: refused, and a repeated failure is answered later than the first
    // (the delay doubles from 100 ms).
    let wrong = agent_as(ADMIN_USER, "not-the-password", Duration::from_secs(10));
    let (code, body, _) = call(wrong.get(&url("/v1/status")).call());
    assert_eq!(code, 401, "{body}");
    let t = Instant::now();
    let (code, _, _) = call(wrong.get(&url("/v1/status")).call());
    assert_eq!(code, 401);
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "the second failed login was answered after {:?}",
        t.elapsed()
    );

    // Accounts with different grants, created over MySQL.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut m = mysql_async::Conn::new(mysql_opts(&c, l, ADMIN_USER, ADMIN_PASSWORD))
            .await
            .unwrap();
        for sql in [
            "CREATE USER 'reader'@'%' IDENTIFIED BY 'reader-pw'",
            "GRANT SELECT ON *.* TO 'reader'@'%'",
            "CREATE USER 'writer'@'%' IDENTIFIED BY 'writer-pw'",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON *.* TO 'writer'@'%'",
            "CREATE DATABASE app",
            "CREATE USER 'appuser'@'%' IDENTIFIED BY 'app-pw'",
            "GRANT ALL ON app.* TO 'appuser'@'%'",
        ] {
            m.query_drop(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        // MySQL refuses a wrong password.
        let e = mysql_async::Conn::new(mysql_opts(&c, 2, "reader", "wrong"))
            .await
            .expect_err("a wrong password is refused");
        match e {
            mysql_async::Error::Server(s) => assert_eq!(s.code, 1045, "{s:?}"),
            other => panic!("expected ERR 1045, got {other:?}"),
        }
        m.disconnect().await.unwrap();
    });
    // The accounts reach node 2 by replication; wait until it has them.
    let reader = agent_as("reader", "reader-pw", Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, _, _) = call(reader.post(&url("/v1/query")).send_json(query.clone()));
        if code == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "reader never accepted ({code})");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, body, _) = call(reader.post(&url("/v1/execute")).send_json(execute.clone()));
    assert_eq!(
        (code, &body["error"]["code"]),
        (403, &json!("forbidden")),
        "{body}"
    );
    let (code, body, _) = call(reader.post(&url("/v1/leader")).send_json(json!({})));
    assert_eq!(code, 403, "{body}");
    let (code, body, _) = call(
        reader
            .post(&url("/v1/members"))
            .send_json(json!({"id": 9, "peer_addrs": ["127.0.0.1:1"], "role": "learner"})),
    );
    assert_eq!(code, 403, "{body}");
    let (code, _, _) = call(reader.get(&url("/v1/status")).call());
    assert_eq!(code, 200, "status is a read");

    let writer = agent_as("writer", "writer-pw", Duration::from_secs(10));
    let (code, body, _) = call(writer.post(&url("/v1/execute")).send_json(execute.clone()));
    assert_eq!(code, 200, "{body}");
    let (code, body, _) = call(writer.post(&url("/v1/leader")).send_json(json!({})));
    assert_eq!(code, 403, "{body}");
    let (code, body, _) = call(writer.post(&url("/v1/init")).send_json(json!({})));
    assert_eq!(code, 403, "{body}");

    // Grants on one database only do not reach the HTTP API (it has no current database).
    let app = agent_as("appuser", "app-pw", Duration::from_secs(10));
    let (code, body, _) = call(app.post(&url("/v1/query")).send_json(query.clone()));
    assert_eq!(code, 403, "{body}");

    // A dropped account is refused within seconds.
    rt.block_on(async {
        let mut m = mysql_async::Conn::new(mysql_opts(&c, l, ADMIN_USER, ADMIN_PASSWORD))
            .await
            .unwrap();
        m.query_drop("DROP USER 'reader'@'%'").await.unwrap();
        m.disconnect().await.unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, _, _) = call(reader.post(&url("/v1/query")).send_json(query.clone()));
        if code == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a dropped account still gets {code}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        c.scalar(l, "SELECT count(*) FROM t"),
        1,
        "only the writer wrote"
    );

    // The CLI: refused without a password, served with it.
    let out = Command::new(BIN)
        .args(["status", "--addr", &c.node(2).http])
        .env_remove("QUORATE_PASSWORD")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unauthenticated"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(BIN)
        .args(["status", "--addr", &c.node(2).http])
        .env("QUORATE_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// TLS: with `[tls] http = true` the HTTP API answers HTTPS only (the CLI speaks it with
/// `--ca`); with `mysql_require = true` the MySQL port refuses plaintext logins (3159) and
/// serves TLS clients that verify the node's certificate against the cluster CA: the
/// `mariadb` CLI (`--ssl --ssl-verify-server-cert`) and PyMySQL.
#[test]
fn https_api_and_mysql_tls_with_verified_certificates() {
    let c = Cluster::start(Opts {
        https: true,
        tls_extra: "mysql_require = true".into(),
        ..Opts::default()
    });
    let l = c.wait_writable(Duration::from_secs(10));
    c.execute(l, "CREATE TABLE t (id INTEGER PRIMARY KEY)", json!([]))
        .unwrap();
    let ca = c.path().join("certs").join("ca.pem");
    assert!(ca.exists(), "{}", ca.display());

    // Plain HTTP to an HTTPS listener gets no API answer.
    let plain = common::agent(Duration::from_secs(3));
    assert!(
        plain
            .get(&format!("http://{}/v1/health", c.node(2).http))
            .call()
            .is_err(),
        "plain HTTP was answered"
    );
    // The CLI over HTTPS, verifying the node against the CA.
    let out = Command::new(BIN)
        .args(["status", "--addr", &c.node(2).http])
        .env("QUORATE_PASSWORD", ADMIN_PASSWORD)
        .env("QUORATE_CA", &ca)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("serving writes"));

    let host = "127.0.0.1";
    let port = mysql_port(&c, 2).to_string();
    if have("mariadb", &["--version"]) {
        let run = |extra: &[&str]| {
            let mut cmd = Command::new("mariadb");
            cmd.args(["-h", host, "-P", &port, "-u", ADMIN_USER])
                .arg(format!("-p{ADMIN_PASSWORD}"))
                .args(extra)
                .args([
                    "-e",
                    "status; CREATE DATABASE IF NOT EXISTS tls; \
                     CREATE TABLE IF NOT EXISTS tls.t (id INT PRIMARY KEY); \
                     REPLACE INTO tls.t VALUES (7); SELECT count(*) FROM tls.t",
                ]);
            cmd.output().unwrap()
        };
        let out = run(&["--skip-ssl"]);
        assert!(!out.status.success(), "plaintext login accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("3159"), "{err}");
        let ca_arg = format!("--ssl-ca={}", ca.display());
        // The administrator account reaches node 2 by replication shortly after formation.
        let deadline = Instant::now() + Duration::from_secs(15);
        let out = loop {
            let out = run(&["--ssl", &ca_arg, "--ssl-verify-server-cert"]);
            if out.status.success() || Instant::now() > deadline {
                break out;
            }
            std::thread::sleep(Duration::from_millis(300));
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("Cipher in use is"), "{stdout}");
    } else {
        eprintln!(
            "SKIPPED (mariadb part): the mariadb CLI is not installed (apt-get install mariadb-client)"
        );
    }

    if Command::new("python3")
        .args(["-c", "import pymysql"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let script = format!(
            "import pymysql, ssl\n\
             ctx = ssl.create_default_context(cafile={ca:?})\n\
             con = pymysql.connect(host='127.0.0.1', port={port}, user={ADMIN_USER:?}, password={ADMIN_PASSWORD:?}, ssl=ctx)\n\
             cur = con.cursor()\n\
             cur.execute('CREATE DATABASE IF NOT EXISTS tls')\n\
             cur.execute('CREATE TABLE IF NOT EXISTS tls.t (id INT PRIMARY KEY)')\n\
             cur.execute('INSERT INTO tls.t VALUES (8)')\n\
             con.commit()\n\
             cur.execute('SELECT id FROM tls.t WHERE id = 8')\n\
             print('row', cur.fetchone()[0])\n",
            ca = ca.display().to_string(),
        );
        let out = Command::new("python3")
            .args(["-c", &script])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("row 8"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("SKIPPED (PyMySQL part): python3-pymysql is not installed");
    }
}
