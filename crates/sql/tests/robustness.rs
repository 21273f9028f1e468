//! Hostile input: deeply nested or very long expressions must produce an error or a
//! translation, never a crash, on a thread with a 2 MiB stack (tokio's default) in an
//! optimised build. Unoptimised builds use several times more stack per frame, so under
//! `cargo test` (debug) the threads get 16 MiB; `cargo test --release` checks 2 MiB.

use quorate_sql::{Context, translate};

fn on_small_stack<F: FnOnce() + Send + 'static>(f: F) {
    let stack = if cfg!(debug_assertions) {
        16 << 20
    } else {
        2 << 20
    };
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

/// 100,000 nested parentheses: the parser's depth limit answers with an error.
#[test]
fn deep_nesting_is_an_error() {
    on_small_stack(|| {
        let sql = format!("SELECT {}1{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(translate(&sql, &Context::default()).is_err());
    });
}

/// A long operator chain builds a deep tree without parser recursion; translation refuses
/// it beyond the documented limit instead of overflowing the stack while rewriting.
#[test]
fn long_operator_chains_are_bounded() {
    on_small_stack(|| {
        let ok = format!(
            "SELECT {}",
            vec!["1"; quorate_sql::EXPRESSION_CHAIN_MAX].join(" + ")
        );
        assert!(translate(&ok, &Context::default()).is_ok());
        let huge = format!("SELECT {}", vec!["1"; 200_000].join(" + "));
        let e = translate(&huge, &Context::default()).unwrap_err();
        assert!(e.to_string().contains("too complex"), "{e}");
        let ors = format!(
            "SELECT * FROM d.t WHERE {}",
            vec!["a = 1"; 200_000].join(" OR ")
        );
        assert!(translate(&ors, &Context::default()).is_err());
        // Nested parentheses count with the chains around them.
        let nested = format!("SELECT {}1{}", "(1 + ".repeat(300), ")".repeat(300));
        assert!(translate(&nested, &Context::default()).is_err());
        // An IN list is flat.
        let list: Vec<String> = (0..50_000).map(|i| i.to_string()).collect();
        let inlist = format!("SELECT * FROM d.t WHERE a IN ({})", list.join(", "));
        assert!(translate(&inlist, &Context::default()).is_ok());
    });
}

/// Many rows in one INSERT are flat, not deep: a 10,000-row INSERT translates.
#[test]
fn wide_inserts_are_fine() {
    on_small_stack(|| {
        let rows: Vec<String> = (0..10_000).map(|i| format!("({i}, 'v{i}')")).collect();
        let sql = format!("INSERT INTO d.t VALUES {}", rows.join(","));
        assert!(translate(&sql, &Context::default()).is_ok());
    });
}

/// Garbage bytes never panic.
#[test]
fn garbage_does_not_panic() {
    let mut seed = 0x1234_5678u64;
    for _ in 0..2000 {
        let len = (seed % 64) as usize;
        let mut bytes = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let alphabet = b"SELECT * FROM t WHERE ('`\"?;,.@)/*!-#\n0123 x";
            bytes.push(alphabet[(seed % alphabet.len() as u64) as usize]);
        }
        let _ = quorate_sql::translate_bytes(&bytes, &Context::with_db(Some("d")));
    }
}
