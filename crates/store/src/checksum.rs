//! A checksum of a replica's data, to compare replicas.
//!
//! Covers every replicated table (user tables and quorate's replicated catalog), its schema
//! and its rows in key order; leaves out node-local bookkeeping. Two replicas at the same
//! applied log id with equal checksums hold the same data.

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::StoreError;
use crate::record::quote;
use crate::schema::is_local_table;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TableChecksum {
    pub table: String,
    pub rows: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Checksum {
    /// Log index the data was at (in memory; see `speculative_in_flight`).
    pub applied_index: u64,
    /// The leader's own transactions included that were not yet committed (compare
    /// checksums only when this is 0, i.e. when the cluster is idle).
    pub speculative_in_flight: usize,
    pub sha256: String,
    pub tables: Vec<TableChecksum>,
}

/// Checksums the database as `conn` sees it. `state` gives the applied index and the
/// number of speculative transactions; it is called once the read transaction holds its
/// snapshot, so the caller can sample them at the same instant.
pub(crate) fn compute(
    conn: &Connection,
    state: impl FnOnce() -> (u64, usize),
) -> Result<Checksum, StoreError> {
    conn.execute_batch("BEGIN")?;
    let result = (|| {
        // A read transaction takes its snapshot at its first read, not at BEGIN.
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
            r.get::<_, i64>(0)
        })?;
        let (applied_index, speculative) = state();
        compute_in_tx(conn, applied_index, speculative)
    })();
    let _ = conn.execute_batch("COMMIT");
    result
}

fn compute_in_tx(
    conn: &Connection,
    applied_index: u64,
    speculative: usize,
) -> Result<Checksum, StoreError> {
    let objects: Vec<(String, String, String)> = {
        let mut stmt = conn.prepare(
            "SELECT type, name, COALESCE(sql, '') FROM sqlite_schema
             WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type, name",
        )?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?
    };
    let mut all = Sha256::new();
    let mut tables = Vec::new();
    for (kind, name, sql) in &objects {
        if is_local_table(name.as_bytes()) {
            continue;
        }
        all.update(kind.as_bytes());
        all.update([0]);
        all.update(name.as_bytes());
        all.update([0]);
        all.update(sql.as_bytes());
        all.update([0]);
        if kind != "table" {
            continue;
        }
        let (rows, sha) = table_hash(conn, name)?;
        all.update(sha);
        tables.push(TableChecksum {
            table: name.clone(),
            rows,
            sha256: hex::encode(sha),
        });
    }
    Ok(Checksum {
        applied_index,
        speculative_in_flight: speculative,
        sha256: hex::encode(all.finalize()),
        tables,
    })
}

fn table_hash(conn: &Connection, table: &str) -> Result<(u64, [u8; 32]), StoreError> {
    // Rows in primary-key order. The rowid is hashed only where it is the primary key
    // (an INTEGER PRIMARY KEY, or no declared key): changesets identify rows by their
    // declared key, so a rowid table keyed otherwise (a composite or text key, as MySQL
    // tables often are) gets different hidden rowids on each replica.
    let without_rowid: bool = conn
        .query_row(
            "SELECT wr FROM pragma_table_list WHERE name = ?1",
            [table],
            |r| r.get::<_, i64>(0),
        )
        .map(|v| v != 0)
        .unwrap_or(false);
    let pk: Vec<(String, String)> = {
        let mut stmt =
            conn.prepare("SELECT name, type FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk")?;
        stmt.query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    let rowid_is_key = !without_rowid
        && (pk.is_empty() || (pk.len() == 1 && pk[0].1.eq_ignore_ascii_case("INTEGER")));
    let select = if rowid_is_key {
        format!("SELECT rowid, * FROM {} ORDER BY rowid", quote(table))
    } else {
        let order = pk
            .iter()
            .map(|(c, _)| quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        format!("SELECT * FROM {} ORDER BY {order}", quote(table))
    };
    let mut stmt = conn.prepare(&select)?;
    let n = stmt.column_count();
    let mut rows = stmt.query([])?;
    let mut hasher = Sha256::new();
    let mut count = 0u64;
    while let Some(row) = rows.next()? {
        count += 1;
        for i in 0..n {
            match row.get_ref(i)? {
                ValueRef::Null => hasher.update([0u8]),
                ValueRef::Integer(v) => {
                    hasher.update([1u8]);
                    hasher.update(v.to_be_bytes());
                }
                ValueRef::Real(v) => {
                    hasher.update([2u8]);
                    hasher.update(v.to_bits().to_be_bytes());
                }
                ValueRef::Text(t) => {
                    hasher.update([3u8]);
                    hasher.update((t.len() as u64).to_be_bytes());
                    hasher.update(t);
                }
                ValueRef::Blob(b) => {
                    hasher.update([4u8]);
                    hasher.update((b.len() as u64).to_be_bytes());
                    hasher.update(b);
                }
            }
        }
    }
    Ok((count, hasher.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two replicas holding the same rows of a table keyed by a composite key have the same
    /// checksum even though the rows were inserted in another order (so their hidden rowids
    /// differ, as they do after changeset apply).
    #[test]
    fn hidden_rowids_do_not_change_the_checksum() {
        let a = Connection::open_in_memory().unwrap();
        let b = Connection::open_in_memory().unwrap();
        for c in [&a, &b] {
            c.execute_batch("CREATE TABLE t (x INT, y TEXT, v REAL, PRIMARY KEY (x, y)); CREATE TABLE k (id INTEGER PRIMARY KEY, v TEXT)")
                .unwrap();
        }
        a.execute_batch(
            "INSERT INTO t VALUES (1, 'a', 0.5), (2, 'b', 1.5); INSERT INTO k VALUES (7, 'x')",
        )
        .unwrap();
        b.execute_batch(
            "INSERT INTO t VALUES (2, 'b', 1.5), (1, 'a', 0.5); INSERT INTO k VALUES (7, 'x')",
        )
        .unwrap();
        assert_eq!(
            compute(&a, || (1, 0)).unwrap().sha256,
            compute(&b, || (1, 0)).unwrap().sha256
        );
        b.execute_batch("UPDATE t SET v = 2.5 WHERE x = 2").unwrap();
        assert_ne!(
            compute(&a, || (1, 0)).unwrap().sha256,
            compute(&b, || (1, 0)).unwrap().sha256
        );
    }
}
