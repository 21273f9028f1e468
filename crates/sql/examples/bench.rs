//! Measures translation time of sysbench's hot statements (run with --release):
//! `cargo run --release -p quorate-sql --example bench`.

use std::time::Instant;

use quorate_sql::{Context, ShapeCache, translate};

fn c(n: u64) -> String {
    (0..10)
        .map(|g| format!("{:011}", (n * 7919 + g) % 100_000_000_000))
        .collect::<Vec<_>>()
        .join("-")
}

fn measure(name: &str, sqls: &[String], ctx: &Context) {
    measure_with(name, sqls, ctx, false);
    measure_with(name, sqls, ctx, true);
}

fn measure_with(name: &str, sqls: &[String], ctx: &Context, cached: bool) {
    let mut cache = ShapeCache::default();
    let mut run = |s: &str| {
        if cached {
            cache.translate(s, ctx)
        } else {
            translate(s, ctx)
        }
    };
    let iterations = 200_000 / sqls.len().max(1);
    // Warm up.
    for s in sqls.iter().take(1000) {
        run(s).unwrap();
    }
    let start = Instant::now();
    let mut n = 0u64;
    for _ in 0..iterations {
        for s in sqls {
            let v = run(s).unwrap();
            n += v.len() as u64;
        }
    }
    let per_us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    let how = if cached { "ShapeCache" } else { "translate" };
    println!("{name:<36} {how:<10} {per_us:8.2} µs per statement ({n} translated)");
}

fn main() {
    let ctx = Context::with_db(Some("sbtest"));
    let points: Vec<String> = (1..=1000)
        .map(|i| format!("SELECT c FROM sbtest1 WHERE id={i}"))
        .collect();
    measure("point select (text)", &points, &ctx);
    let ps = vec!["SELECT c FROM sbtest1 WHERE id=?".to_string()];
    measure("point select (prepared, once)", &ps, &ctx);
    let inserts: Vec<String> = (1..=1000u64)
        .map(|i| {
            format!(
                "INSERT INTO sbtest1 (id, k, c, pad) VALUES ({i}, {}, '{}', '{}')",
                i * 3,
                c(i),
                &c(i + 1)[..59]
            )
        })
        .collect();
    measure("insert 1 row (oltp_insert, text)", &inserts, &ctx);
    let multi: Vec<String> = (1..=250u64)
        .map(|i| {
            let rows: Vec<String> = (0..4)
                .map(|j| format!("({}, '{}', '{}')", i + j, c(i + j), &c(i)[..59]))
                .collect();
            format!("INSERT INTO sbtest1(k, c, pad) VALUES{}", rows.join(","))
        })
        .collect();
    measure("insert 4 rows (prepare bulk, text)", &multi, &ctx);
    let upd: Vec<String> = (1..=1000)
        .map(|i| format!("UPDATE sbtest1 SET k=k+1 WHERE id={i}"))
        .collect();
    measure("update index (text)", &upd, &ctx);
    let range: Vec<String> = (1..=1000)
        .map(|i| {
            format!(
                "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN {i} AND {} ORDER BY c",
                i + 99
            )
        })
        .collect();
    measure("distinct range (text)", &range, &ctx);
}
