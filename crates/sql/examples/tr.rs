//! Prints the translation of each argument (a development aid).
fn main() {
    let db = std::env::var("DB").ok();
    let ctx = quorate_sql::Context::with_db(db.as_deref());
    for sql in std::env::args().skip(1) {
        match quorate_sql::translate(&sql, &ctx) {
            Ok(v) => {
                for s in v {
                    println!("{s:?}");
                }
            }
            Err(e) => println!("ERR {e} => {}", e.mysql_error()),
        }
    }
}
