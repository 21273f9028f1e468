//! What the date collation costs SQLite, against plain text comparison of the same values:
//! an index built, rows inserted into an indexed table, point lookups through the index,
//! and a sort without one. The values are DATETIME(3) texts as quorate stores them.
//!
//! `cargo run --release -p quorate-collate --example bench [rows]` (default 200,000).
//! Numbers from one run go in docs/BENCHMARKS.md.

use std::time::Instant;

use rusqlite::{Connection, params};

fn stored(i: u64) -> String {
    // Spread over about 30 years, in a scrambled order.
    let x = i.wrapping_mul(2_654_435_761) % 1_000_000_000;
    let (y, rest) = (1995 + x % 30, x / 30);
    let (mo, d, h, mi, s, ms) = (
        1 + rest % 12,
        1 + rest / 12 % 28,
        rest / 7 % 24,
        rest / 11 % 60,
        rest / 13 % 60,
        rest % 1000,
    );
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{ms:03}")
}

fn run(collation: &str, rows: u64) -> rusqlite::Result<()> {
    let conn = Connection::open_in_memory()?;
    quorate_collate::register(&conn)?;
    conn.execute_batch(&format!(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, d DATETIME(3) COLLATE {collation});
         CREATE TABLE u (id INTEGER PRIMARY KEY, d DATETIME(3) COLLATE {collation});
         CREATE INDEX u_d ON u (d);"
    ))?;
    let values: Vec<String> = (0..rows).map(stored).collect();

    conn.execute_batch("BEGIN")?;
    {
        let mut ins = conn.prepare("INSERT INTO t (d) VALUES (?1)")?;
        for v in &values {
            ins.execute(params![v])?;
        }
    }
    conn.execute_batch("COMMIT")?;

    let t = Instant::now();
    conn.execute_batch("BEGIN")?;
    {
        let mut ins = conn.prepare("INSERT INTO u (d) VALUES (?1)")?;
        for v in &values {
            ins.execute(params![v])?;
        }
    }
    conn.execute_batch("COMMIT")?;
    let insert = t.elapsed();

    let t = Instant::now();
    conn.execute_batch("CREATE INDEX t_d ON t (d)")?;
    let build = t.elapsed();
    conn.execute_batch("DROP INDEX t_d")?;

    let t = Instant::now();
    let mut found = 0u64;
    {
        let mut get = conn.prepare("SELECT id FROM u WHERE d = ?1")?;
        for v in values.iter().step_by(2) {
            let mut r = get.query(params![v])?;
            while r.next()?.is_some() {
                found += 1;
            }
        }
    }
    let lookup = t.elapsed();

    let t = Instant::now();
    let mut sorted = 0u64;
    {
        let mut sort = conn.prepare("SELECT d FROM t ORDER BY d")?;
        let mut r = sort.query([])?;
        while r.next()?.is_some() {
            sorted += 1;
        }
    }
    let sort = t.elapsed();

    let per = |d: std::time::Duration, n: u64| d.as_nanos() as f64 / n as f64 / 1000.0;
    println!(
        "{collation:>14}: insert into indexed table {:.2} µs/row, index build {:.0} ms, \
         lookup {:.2} µs ({found} found), sort of {sorted} rows {:.0} ms",
        per(insert, rows),
        build.as_secs_f64() * 1000.0,
        per(lookup, rows / 2),
        sort.as_secs_f64() * 1000.0,
    );
    Ok(())
}

fn main() -> rusqlite::Result<()> {
    let rows = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    println!("{rows} DATETIME(3) values, in-memory SQLite, one run each, alternating");
    let values: Vec<String> = (0..rows).map(stored).collect();
    let t = Instant::now();
    let mut less = 0u64;
    for w in values.windows(2) {
        less += u64::from(quorate_collate::compare_datetime(&w[0], &w[1]).is_lt());
    }
    println!(
        "compare_datetime alone: {:.0} ns per comparison ({less} less)",
        t.elapsed().as_nanos() as f64 / (rows - 1) as f64
    );
    for _ in 0..2 {
        run("BINARY", rows)?;
        run(quorate_collate::DATETIME, rows)?;
    }
    Ok(())
}
