//! Operator commands: init, status, health, sql, members, checksum.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::{self, DEFAULT_ADDR};

pub fn init(addr: &str, members: Option<Vec<u64>>) -> anyhow::Result<()> {
    let agent = client::agent(Duration::from_secs(30));
    let r = client::post(&agent, addr, "/v1/init", &json!({ "members": members }))?;
    let list: Vec<String> = r["members"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|v| format!("n{v}"))
        .collect();
    if r["formed_now"].as_bool() == Some(true) {
        println!(
            "cluster formed with {} (cluster id {})",
            list.join(", "),
            r["cluster_id"].as_str().unwrap_or("?")
        );
    } else {
        println!("already formed with {}; nothing to do", list.join(", "));
    }
    Ok(())
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn clock(ms: u64) -> String {
    let day = (ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, (day % 3600) / 60, day % 60)
}

pub fn status(addr: &str, json_out: bool) -> anyhow::Result<()> {
    let agent = client::agent(Duration::from_secs(2));
    let me = client::get(&agent, addr, "/v1/status")?;
    let members = me["members"].as_array().cloned().unwrap_or_default();
    let mut all = Vec::new();
    for m in &members {
        let http = m["http_addr"].as_str().unwrap_or("");
        let st = if m["id"] == me["node_id"] {
            Ok(me.clone())
        } else {
            client::get(&agent, http, "/v1/status")
        };
        all.push((m.clone(), st));
    }
    if json_out {
        let list: Vec<Value> = all
            .iter()
            .map(|(m, st)| json!({"member": m, "status": st.as_ref().cloned().unwrap_or_else(|e| json!({"error": e.to_string()}))}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    let leader = me["leader"].as_u64();
    println!(
        "cluster {}  epoch {}  leader {}  term {}  this node n{}: {}",
        s(&me["cluster_id"]),
        s(&me["epoch"]),
        leader
            .map(|l| format!("n{l}"))
            .unwrap_or_else(|| "NONE".into()),
        s(&me["term"]),
        s(&me["node_id"]),
        if me["writable"].as_bool() == Some(true) {
            "serving writes".to_string()
        } else {
            format!("NOT serving writes: {}", s(&me["reason"]))
        }
    );
    println!(
        "{:<6} {:<8} {:<10} {:<10} {:<28} {:>8} {:>8} {:>6}  {:<22} MYSQL",
        "MEMBER",
        "ROLE",
        "STATE",
        "REACHABLE",
        "PATHS (from this node)",
        "COMMIT",
        "APPLIED",
        "LAG",
        "HTTP"
    );
    for (m, st) in &all {
        let paths = m["paths"].as_array().cloned().unwrap_or_default();
        let paths_desc = if m["id"] == me["node_id"] {
            "(this node)".to_string()
        } else if paths.is_empty() {
            "none yet".to_string()
        } else {
            let up = paths
                .iter()
                .filter(|p| p["up"].as_bool() == Some(true))
                .count();
            if up == paths.len() {
                format!("{up}/{} up", paths.len())
            } else {
                let since = paths
                    .iter()
                    .filter(|p| p["up"].as_bool() != Some(true))
                    .filter_map(|p| p["since_ms"].as_u64())
                    .min()
                    .unwrap_or(0);
                format!("{up}/{} up, down since {}", paths.len(), clock(since))
            }
        };
        let (state, commit, applied) = match st {
            Ok(v) => (
                s(&v["state"]),
                s(&v["commit_index"]),
                s(&v["applied_index"]),
            ),
            Err(_) => ("unreachable".to_string(), "-".into(), "-".into()),
        };
        println!(
            "n{:<5} {:<8} {:<10} {:<10} {:<28} {:>8} {:>8} {:>6}  {:<22} {}",
            s(&m["id"]),
            s(&m["role"]),
            state,
            if m["reachable"].as_bool() == Some(true) {
                "yes"
            } else {
                "NO"
            },
            paths_desc,
            commit,
            applied,
            s(&m["lag"]),
            s(&m["http_addr"]),
            s(&m["mysql_addr"]),
        );
    }
    for w in me["warnings"].as_array().cloned().unwrap_or_default() {
        println!("warning: {}", s(&w));
    }
    Ok(())
}

pub fn health(addr: &str) -> anyhow::Result<()> {
    let agent = client::agent(Duration::from_secs(2));
    match agent.get(&client::url(addr, "/v1/health")).call() {
        Ok(r) => {
            let v: Value = r.into_json()?;
            println!("ok: n{} can serve writes", s(&v["node_id"]));
            for w in v["warnings"].as_array().cloned().unwrap_or_default() {
                println!("warning: {}", s(&w));
            }
            Ok(())
        }
        Err(ureq::Error::Status(_, r)) => {
            let v: Value = r.into_json().unwrap_or(Value::Null);
            bail!(
                "n{} cannot serve writes: {}",
                s(&v["node_id"]),
                s(&v["reason"])
            )
        }
        Err(e) => bail!("cannot reach {addr}: {e}"),
    }
}

#[derive(Args)]
pub struct SqlArgs {
    #[arg(long, env = "QUORATE_ADDR", default_value = DEFAULT_ADDR)]
    addr: String,
    /// linearizable (default), bounded or stale (reads only).
    #[arg(long, default_value = "linearizable")]
    consistency: String,
    /// With `bounded`: how stale the answer may be.
    #[arg(long)]
    max_staleness_ms: Option<u64>,
    /// Interrupt the statement if it runs longer than this (the node's
    /// `http.request_timeout_ms`, 60 s by default, always applies). Ctrl-C interrupts it too.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Print the raw JSON answer.
    #[arg(long)]
    json: bool,
    /// The statement (SQLite dialect; use the MySQL port for MySQL syntax).
    sql: String,
    /// Positional parameters, as JSON values (e.g. 42, '"text"', null).
    params: Vec<String>,
}

fn is_read(sql: &str) -> bool {
    let first = sql
        .trim_start()
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(
        first.as_str(),
        "select" | "with" | "explain" | "values" | "pragma"
    )
}

pub fn sql(a: SqlArgs) -> anyhow::Result<()> {
    // The node answers once the statement ended or was interrupted, and a write's commit
    // ended (bounded by its own timeouts): wait for that answer rather than give up first.
    let limit_ms = a.timeout_ms.unwrap_or(60_000);
    let agent = client::agent(Duration::from_millis(limit_ms.saturating_add(30_000)));
    let query = a
        .timeout_ms
        .map(|ms| format!("?timeout_ms={ms}"))
        .unwrap_or_default();
    let params: Vec<Value> = a
        .params
        .iter()
        .map(|p| serde_json::from_str(p).unwrap_or_else(|_| Value::String(p.clone())))
        .collect();
    let r = if is_read(&a.sql) {
        client::post(
            &agent,
            &a.addr,
            &format!("/v1/query{query}"),
            &json!({"sql": a.sql, "params": params, "consistency": a.consistency, "max_staleness_ms": a.max_staleness_ms}),
        )?
    } else {
        client::post(
            &agent,
            &a.addr,
            &format!("/v1/execute{query}"),
            &json!({"statements": [{"sql": a.sql, "params": params}]}),
        )?
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    if let Some(cols) = r["columns"].as_array() {
        let names: Vec<String> = cols.iter().map(|c| s(&c["name"])).collect();
        println!("{}", names.join("\t"));
        for row in r["rows"].as_array().cloned().unwrap_or_default() {
            let vals: Vec<String> = row
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(s)
                .collect();
            println!("{}", vals.join("\t"));
        }
        if let Some(st) = r["staleness_ms"].as_u64() {
            eprintln!(
                "({} rows from n{}, at most {st} ms stale)",
                r["rows"].as_array().map(|x| x.len()).unwrap_or(0),
                s(&r["served_by"])
            );
        }
    } else {
        let res = &r["results"][0];
        println!(
            "ok: {} row(s) affected, last insert id {}, log index {}",
            s(&res["rows_affected"]),
            s(&res["last_insert_id"]),
            s(&r["log_index"])
        );
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum MembersAction {
    /// List members as this node sees them.
    List,
    /// Add a member (it must be running and reachable at its peer addresses).
    Add {
        id: u64,
        /// Its peer addresses, one per network path.
        #[arg(long, value_delimiter = ',', required = true)]
        peer: Vec<String>,
        /// voter (default), learner or witness.
        #[arg(long, default_value = "voter")]
        role: String,
    },
    /// Make a learner a voter.
    Promote { id: u64 },
    /// Remove a member.
    Remove { id: u64 },
}

pub fn members(addr: &str, action: MembersAction) -> anyhow::Result<()> {
    let agent = client::agent(Duration::from_secs(90));
    let r = match action {
        MembersAction::List => {
            let list = client::get(&agent, addr, "/v1/members")?;
            for m in list.as_array().cloned().unwrap_or_default() {
                println!(
                    "n{}\t{}\tpeer {}\thttp {}\tmysql {}",
                    s(&m["id"]),
                    s(&m["role"]),
                    s(&m["peer_addrs"]),
                    s(&m["http_addr"]),
                    s(&m["mysql_addr"])
                );
            }
            return Ok(());
        }
        MembersAction::Add { id, peer, role } => client::post(
            &agent,
            addr,
            "/v1/members",
            &json!({"id": id, "peer_addrs": peer, "role": role}),
        )?,
        MembersAction::Promote { id } => client::post(
            &agent,
            addr,
            &format!("/v1/members/{id}/promote"),
            &json!({}),
        )?,
        MembersAction::Remove { id } => client::delete(&agent, addr, &format!("/v1/members/{id}"))?,
    };
    println!("members now: {}", s(&r["members"]));
    Ok(())
}

/// Fetches every data member's checksum; waits until all report the same applied index
/// with no speculative transaction in flight, then compares.
pub fn checksum(addr: &str, wait_s: u64) -> anyhow::Result<()> {
    let agent = client::agent(Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(wait_s);
    let members = client::get(&agent, addr, "/v1/members")?;
    let data_members: Vec<(u64, String)> = members
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|m| m["role"] != "witness")
        .map(|m| {
            (
                m["id"].as_u64().unwrap_or(0),
                m["http_addr"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    loop {
        let mut sums = Vec::new();
        for (id, http) in &data_members {
            let c = client::get(&agent, http, "/v1/checksum")
                .with_context(|| format!("checksum of n{id}"))?;
            sums.push((*id, c));
        }
        let indexes: Vec<u64> = sums
            .iter()
            .map(|(_, c)| c["applied_index"].as_u64().unwrap_or(0))
            .collect();
        let quiet = sums
            .iter()
            .all(|(_, c)| c["speculative_in_flight"].as_u64() == Some(0));
        let same_index = indexes.windows(2).all(|w| w[0] == w[1]);
        if (same_index && quiet) || Instant::now() >= deadline {
            for (id, c) in &sums {
                println!(
                    "n{id}\tapplied {}\t{}",
                    s(&c["applied_index"]),
                    s(&c["sha256"])
                );
            }
            if !same_index {
                bail!(
                    "replicas did not reach the same applied index within {wait_s}s: {indexes:?}"
                );
            }
            let first = &sums[0].1["sha256"];
            if sums.iter().all(|(_, c)| &c["sha256"] == first) {
                println!("all {} replicas are identical", sums.len());
                return Ok(());
            }
            return Err(anyhow!("replicas differ"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[derive(Subcommand)]
pub enum MaintenanceAction {
    /// Run the preflight checks and show what the maintenance would do.
    Plan { node: u64 },
    /// Start maintenance of NODE (after the checks pass; asks for confirmation).
    Begin {
        node: u64,
        /// Proceed although one more failure would lose quorum (recorded in the audit log).
        #[arg(long)]
        accept_risk: bool,
        /// Do not ask for confirmation (also outside the maintenance windows).
        #[arg(long)]
        yes: bool,
    },
    /// Acknowledge the current step: perform and verify the next one.
    Ack { node: u64 },
    /// The node is back: wait until it caught up, restore its vote.
    End { node: u64 },
    /// Undo the maintenance's membership changes.
    Abort { node: u64 },
    /// Maintenance procedures and their steps.
    Status,
    /// The replicated audit log (maintenance steps, membership changes, recoveries).
    Log {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

fn operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    if host.is_empty() {
        user
    } else {
        format!("{user}@{host}")
    }
}

fn print_state(v: &Value) {
    println!(
        "n{}: step {}{}; next: {}",
        s(&v["node"]),
        s(&v["step"]),
        if v["ready_for_shutdown"] == true {
            " (safe to stop now)"
        } else {
            ""
        },
        s(&v["next"])
    );
}

fn print_plan(p: &Value) {
    println!("maintenance plan for n{}:", s(&p["node"]));
    for c in p["checks"].as_array().cloned().unwrap_or_default() {
        println!(
            "  [{}] {}: {}",
            if c["ok"] == true { " ok " } else { "FAIL" },
            s(&c["name"]),
            s(&c["detail"])
        );
    }
    println!(
        "  voters now {} (tolerates {} failure(s)); during maintenance {} (tolerates {})",
        s(&p["voters_now"]),
        s(&p["fault_tolerance_now"]),
        s(&p["voters_during"]),
        s(&p["fault_tolerance_during"])
    );
    println!("  steps:");
    for (i, st) in p["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        println!("    {}. {}", i + 1, s(st));
    }
    if let Some(w) = p["outside_window"].as_str() {
        println!("  warning: {w}");
    }
    if let Some(r) = p["refusal"].as_str() {
        println!("  NOT SAFE: {r}");
    }
}

/// Asks for the maintenance plan of `node` and prints it.
fn fetch_plan(agent: &ureq::Agent, addr: &str, node: u64) -> anyhow::Result<Value> {
    let plan = client::post(
        agent,
        addr,
        &format!("/v1/maintenance/{node}/plan"),
        &json!({}),
    )?;
    print_plan(&plan);
    Ok(plan)
}

fn confirm(question: &str) -> bool {
    use std::io::Write;
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).is_ok() && matches!(line.trim(), "y" | "Y" | "yes")
}

pub fn maintenance(addr: &str, action: MaintenanceAction) -> anyhow::Result<()> {
    let agent = client::agent(Duration::from_secs(120));
    let who = operator();
    match action {
        MaintenanceAction::Plan { node } => {
            let plan = fetch_plan(&agent, addr, node)?;
            // A script runs `plan N && begin N`: an unsafe plan fails.
            if plan["safe"] != true {
                bail!("the plan is not safe (see NOT SAFE above)");
            }
        }
        MaintenanceAction::Begin {
            node,
            accept_risk,
            yes,
        } => {
            let plan = fetch_plan(&agent, addr, node)?;
            if plan["safe"] != true && !accept_risk {
                bail!(
                    "refusing: the plan is not safe (pass --accept-risk to proceed anyway; it is recorded)"
                );
            }
            if !yes {
                let q = if plan["outside_window"].is_string() {
                    "Begin maintenance OUTSIDE the maintenance windows?"
                } else {
                    "Begin maintenance?"
                };
                if !confirm(q) {
                    bail!("not started");
                }
            }
            let st = client::post(
                &agent,
                addr,
                &format!("/v1/maintenance/{node}/begin"),
                &json!({"operator": who, "accept_risk": accept_risk, "yes": true}),
            )?;
            print_state(&st);
            println!("acknowledge each step with: quorate maintenance ack {node}");
        }
        MaintenanceAction::Ack { node } => print_state(&client::post(
            &agent,
            addr,
            &format!("/v1/maintenance/{node}/ack"),
            &json!({"operator": who}),
        )?),
        MaintenanceAction::End { node } => print_state(&client::post(
            &agent,
            addr,
            &format!("/v1/maintenance/{node}/end"),
            &json!({"operator": who}),
        )?),
        MaintenanceAction::Abort { node } => print_state(&client::post(
            &agent,
            addr,
            &format!("/v1/maintenance/{node}/abort"),
            &json!({"operator": who}),
        )?),
        MaintenanceAction::Status => {
            let list = client::get(&agent, addr, "/v1/maintenance")?;
            let list = list.as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("no maintenance recorded");
            }
            for v in list {
                print_state(&v);
            }
        }
        MaintenanceAction::Log { limit } => {
            let log = client::get(&agent, addr, &format!("/v1/maintenance/log?limit={limit}"))?;
            for e in log.as_array().cloned().unwrap_or_default() {
                let ms = e["at_ms"].as_u64().unwrap_or(0);
                println!(
                    "{} UTC  {:<20} {:<24} {}  {}",
                    clock(ms),
                    s(&e["operator"]),
                    s(&e["action"]),
                    e["node"]
                        .as_u64()
                        .map(|n| format!("n{n}"))
                        .unwrap_or_default(),
                    s(&e["detail"])
                );
            }
        }
    }
    Ok(())
}

pub fn leader(addr: &str, to: Option<u64>) -> anyhow::Result<()> {
    let agent = client::agent(Duration::from_secs(30));
    let r = client::post(&agent, addr, "/v1/leader", &json!({"to": to}))?;
    let leader = r["leader"].as_u64();
    match (to, leader) {
        // Another node was elected instead (the target did not campaign in time, or
        // could not be reached): the move asked for did not happen.
        (Some(want), Some(got)) if want != got => anyhow::bail!(
            "leadership did not move to n{want}: n{got} leads now (is n{want} running and \
             reachable? `quorate status` shows its paths)"
        ),
        _ => println!("leader is now n{}", s(&r["leader"])),
    }
    Ok(())
}

/// `quorate requests`: lists the statements the node's clients run (HTTP requests and MySQL
/// connections), or cancels one.
pub fn requests(addr: &str, cancel: Option<u64>) -> anyhow::Result<()> {
    let agent = client::agent(Duration::from_secs(10));
    if let Some(id) = cancel {
        client::post(
            &agent,
            addr,
            &format!("/v1/requests/{id}/cancel"),
            &json!({}),
        )?;
        println!("{id} cancelled: its statements are being interrupted");
        return Ok(());
    }
    let list = client::get(&agent, addr, "/v1/requests")?;
    let list = list.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no SQL statement in progress on {addr}");
        return Ok(());
    }
    println!("id\trunning_ms\tuser\tclient\tvia\tstatements\tstopping\tsql");
    for r in list {
        let stopping = r["stopping"].as_str().unwrap_or("-");
        // An HTTP request's path, `mysql` and the connection's database, or the node that
        // sent another node's client's statement here.
        let via = match (r["path"].as_str(), r["node"].as_u64(), r["db"].as_str()) {
            (Some(path), _, _) => path.to_string(),
            (None, Some(node), _) => format!("node {node}"),
            (None, None, Some(db)) => format!("mysql ({db})"),
            (None, None, None) => "mysql".to_string(),
        };
        let statements = r["statements"].as_u64().unwrap_or(1);
        println!(
            "{}\t{}\t{}\t{}\t{via}\t{statements}\t{stopping}\t{}",
            s(&r["id"]),
            s(&r["running_ms"]),
            s(&r["user"]),
            s(&r["client"]),
            s(&r["sql"]).replace(['\n', '\t'], " "),
        );
    }
    Ok(())
}

/// `quorate recover`: see crates/node/src/recover.rs for what happens on the nodes.
pub fn recover(addr: &str, survivors: Vec<u64>, yes: bool) -> anyhow::Result<()> {
    let agent = client::agent(Duration::from_secs(5));
    let me = client::get(&agent, addr, "/v1/status")?;
    let members = me["members"].as_array().cloned().unwrap_or_default();
    let http_of = |id: u64| -> Option<String> {
        members
            .iter()
            .find(|m| m["id"].as_u64() == Some(id))
            .and_then(|m| m["http_addr"].as_str().map(str::to_string))
    };
    let mut survivor_status = Vec::new();
    for id in &survivors {
        let http = http_of(*id).ok_or_else(|| anyhow!("n{id} is not a member"))?;
        let st = client::get(&agent, &http, "/v1/status")
            .with_context(|| format!("survivor n{id} must be running"))?;
        if st["writable"] == true {
            bail!(
                "n{id} can serve writes: the cluster has a quorum; recovery is only for a majority permanently gone (use `quorate members` instead)"
            );
        }
        survivor_status.push((*id, http, st));
    }
    let lost: Vec<u64> = members
        .iter()
        .filter_map(|m| m["id"].as_u64())
        .filter(|id| !survivors.contains(id))
        .collect();
    let quick = client::agent(Duration::from_millis(800));
    for id in &lost {
        if let Some(http) = http_of(*id)
            && client::get(&quick, &http, "/v1/status").is_ok()
        {
            bail!(
                "n{id} is reachable: recovery is only for members that are permanently gone; bring the cluster back by reconnecting them instead"
            );
        }
    }
    let source = survivor_status
        .iter()
        .filter(|(_, _, st)| st["role"] != "witness")
        .max_by_key(|(_, _, st)| {
            (
                st["applied_index"].as_u64().unwrap_or(0),
                st["last_log_index"].as_u64().unwrap_or(0),
            )
        })
        .ok_or_else(|| anyhow!("no survivor holds data"))?
        .clone();
    let epoch = survivor_status
        .iter()
        .map(|(_, _, st)| st["epoch"].as_u64().unwrap_or(0))
        .max()
        .unwrap_or(0)
        + 1;
    let start_index = source.2["applied_index"].as_u64().unwrap_or(0);
    let max_log = survivor_status
        .iter()
        .map(|(_, _, st)| st["last_log_index"].as_u64().unwrap_or(0))
        .max()
        .unwrap_or(0);
    println!("UNSAFE RECOVERY");
    for (id, _, st) in &survivor_status {
        println!(
            "  survivor n{id}: applied {}, log up to {}, epoch {}",
            s(&st["applied_index"]),
            s(&st["last_log_index"]),
            s(&st["epoch"])
        );
    }
    println!(
        "  lost (will be fenced off): {}",
        lost.iter()
            .map(|l| format!("n{l}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  the new cluster starts from n{}'s data at log index {start_index}, epoch {epoch}",
        source.0
    );
    println!(
        "  MAY BE LOST: anything the lost members committed after index {start_index} that no survivor applied;"
    );
    if max_log > start_index {
        println!(
            "  entries {}..={max_log} present in a survivor's log were never confirmed committed and are discarded",
            start_index + 1
        );
    }
    println!(
        "  if a lost member comes back it is refused (older epoch) and stops serving; wipe it to rejoin as a new member"
    );
    if !yes {
        use std::io::Write;
        print!("Type `recover` to proceed: ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        if line.trim() != "recover" {
            bail!("not recovered");
        }
    }
    let slow = client::agent(Duration::from_secs(600));
    let prepared = client::post(
        &slow,
        &source.1,
        "/v1/recover/prepare",
        &json!({"survivors": survivors, "epoch": epoch}),
    )?;
    let mut order: Vec<&(u64, String, Value)> = survivor_status
        .iter()
        .filter(|(id, _, _)| *id != source.0)
        .collect();
    order.push(&source);
    for (id, http, _) in order {
        client::post(
            &slow,
            http,
            "/v1/recover/install",
            &json!({"source": source.0, "epoch": epoch, "size": prepared["size"], "sha256": prepared["sha256"], "last_applied": prepared["last_applied"]}),
        )
        .with_context(|| format!("staging the recovery on n{id}"))?;
        println!("  n{id}: recovery staged, restarting");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let leader = loop {
        if let Some(l) = survivor_status.iter().find_map(|(_, http, _)| {
            client::get(&quick, http, "/v1/status")
                .ok()
                .filter(|st| st["writable"] == true && st["epoch"].as_u64() == Some(epoch))
                .map(|_| http.clone())
        }) {
            break l;
        }
        if Instant::now() > deadline {
            bail!("the survivors did not form the new cluster within 60 s; see their logs");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let detail = format!(
        "unsafe recovery: survivors {survivors:?}, lost {lost:?} fenced; new epoch {epoch}; started from n{} at index {start_index}; log entries up to {max_log} existed",
        source.0
    );
    client::post(
        &agent,
        &leader,
        "/v1/audit",
        &json!({"operator": operator(), "action": "recover", "detail": detail}),
    )?;
    println!("recovered: the survivors serve again (epoch {epoch}); recorded in the audit log");
    Ok(())
}
