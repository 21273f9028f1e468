//! Instruction counts per translation (development aid), for use under
//! `valgrind --tool=callgrind`: `instr <what> <n>` translates n statements of one kind.
use quorate_sql::{Context, ShapeCache, translate};

fn main() {
    let what = std::env::args().nth(1).unwrap_or_default();
    let n: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let ctx = Context::with_db(Some("sbtest"));
    let mut cache = ShapeCache::default();
    let c = "83868641912-28773972837-60736120486-75162659906-27563526494-20381887404-41576422241-93426793964-56405065102-33518432330";
    let pad = "67847967377-48000963322-62604785301-91415491898-96926520291";
    let mut total = 0;
    for i in 0..n {
        let sql = match what.as_str() {
            "point" | "point-cached" => format!("SELECT c FROM sbtest1 WHERE id={i}"),
            _ => format!(
                "INSERT INTO sbtest1 (id, k, c, pad) VALUES ({i}, {}, '{c}', '{pad}')",
                i * 3
            ),
        };
        let v = if what.ends_with("cached") {
            cache.translate(&sql, &ctx)
        } else {
            translate(&sql, &ctx)
        };
        total += v.unwrap().len();
    }
    println!("{total}");
}
