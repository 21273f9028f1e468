//! Probe (development aid): how long an operator chain translates on a 2 MiB stack.
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let kind = std::env::args().nth(2).unwrap_or_default();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let sql = if kind == "nest" {
                format!("SELECT {}1{}", "(1 + ".repeat(n), ")".repeat(n))
            } else {
                format!("SELECT {}", vec!["1"; n].join(" + "))
            };
            let r = quorate_sql::translate(&sql, &quorate_sql::Context::default());
            println!("{n}: {}", r.is_ok());
        })
        .unwrap()
        .join()
        .unwrap();
}
