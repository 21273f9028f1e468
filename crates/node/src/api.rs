//! Requests and answers of the client API, shared by HTTP, forwarding between nodes and
//! the CLI. One vocabulary everywhere: the consistency levels, the error codes.

use std::fmt;

use base64::Engine;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use quorate_store::Value;

/// A SQL value. In JSON: `null`, a number, a string, or `{"blob": "<base64>"}`.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<Value> for SqlValue {
    fn from(v: Value) -> Self {
        match v {
            Value::Null => SqlValue::Null,
            Value::Integer(i) => SqlValue::Integer(i),
            Value::Real(r) => SqlValue::Real(r),
            Value::Text(t) => SqlValue::Text(t),
            Value::Blob(b) => SqlValue::Blob(b),
        }
    }
}

impl From<SqlValue> for Value {
    fn from(v: SqlValue) -> Self {
        match v {
            SqlValue::Null => Value::Null,
            SqlValue::Integer(i) => Value::Integer(i),
            SqlValue::Real(r) => Value::Real(r),
            SqlValue::Text(t) => Value::Text(t),
            SqlValue::Blob(b) => Value::Blob(b),
        }
    }
}

impl Serialize for SqlValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            SqlValue::Null => s.serialize_none(),
            SqlValue::Integer(i) => s.serialize_i64(*i),
            SqlValue::Real(r) => s.serialize_f64(*r),
            SqlValue::Text(t) => s.serialize_str(t),
            SqlValue::Blob(b) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("blob", &base64::engine::general_purpose::STANDARD.encode(b))?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for SqlValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SqlValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("null, a number, a string, or {\"blob\": \"<base64>\"}")
            }
            fn visit_unit<E: de::Error>(self) -> Result<SqlValue, E> {
                Ok(SqlValue::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<SqlValue, E> {
                Ok(SqlValue::Null)
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<SqlValue, E> {
                Ok(SqlValue::Integer(i64::from(b)))
            }
            fn visit_i64<E: de::Error>(self, i: i64) -> Result<SqlValue, E> {
                Ok(SqlValue::Integer(i))
            }
            fn visit_u64<E: de::Error>(self, u: u64) -> Result<SqlValue, E> {
                i64::try_from(u)
                    .map(SqlValue::Integer)
                    .map_err(|_| E::custom("integer larger than 2^63-1"))
            }
            fn visit_f64<E: de::Error>(self, f: f64) -> Result<SqlValue, E> {
                Ok(SqlValue::Real(f))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<SqlValue, E> {
                Ok(SqlValue::Text(s.to_string()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<SqlValue, E> {
                Ok(SqlValue::Text(s))
            }
            fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<SqlValue, E> {
                Ok(SqlValue::Blob(b.to_vec()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SqlValue, A::Error> {
                let mut blob = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "blob" {
                        let s: String = map.next_value()?;
                        blob = Some(
                            base64::engine::general_purpose::STANDARD
                                .decode(s.as_bytes())
                                .map_err(|e| {
                                    de::Error::custom(format!("blob is not base64: {e}"))
                                })?,
                        );
                    } else {
                        return Err(de::Error::custom(format!(
                            "unknown key `{key}` in a value (only `blob`)"
                        )));
                    }
                }
                blob.map(SqlValue::Blob)
                    .ok_or_else(|| de::Error::custom("object value without `blob`"))
            }
        }
        d.deserialize_any(V)
    }
}

/// One SQL statement with its positional parameters (`?` or `?NNN`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    pub sql: String,
    #[serde(default)]
    pub params: Vec<SqlValue>,
    /// Opaque context for the front end's connection hook (the MySQL session's variables);
    /// empty from HTTP clients.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "serde_bytes")]
    pub context: Vec<u8>,
}

/// Statements executed as one atomic transaction.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct StatementResult {
    pub rows_affected: u64,
    pub last_insert_id: i64,
    /// The value the statement gave `LAST_INSERT_ID(expr)`, if it called it: the MySQL
    /// session keeps it for its next statements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_insert_id_set: Option<i64>,
    /// What the statement did to rows, row by row: `inserted`, `updated` (given another
    /// value), `unchanged` (matched, every value set to what it was) and `deleted`, not
    /// counting rows changed by triggers or foreign key actions. Absent when unknown (from
    /// an older leader).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<quorate_store::RowCounts>,
    /// Only for statements that return rows (`... RETURNING`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<Vec<SqlValue>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ExecuteResponse {
    pub results: Vec<StatementResult>,
    /// Raft log index the transaction committed at (none when it changed nothing).
    pub log_index: Option<u64>,
    /// Node that executed it (the leader).
    pub executed_by: u64,
}

/// How fresh a read must be. The same names in every API.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// Sees every write acknowledged before the read began (served by the leader).
    #[default]
    Linearizable,
    /// Any node, at most `max_staleness_ms` behind the leader.
    Bounded,
    /// Any node, even without quorum; the answer says how stale it may be.
    Stale,
}

impl fmt::Display for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Consistency::Linearizable => "linearizable",
            Consistency::Bounded => "bounded",
            Consistency::Stale => "stale",
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    pub sql: String,
    #[serde(default)]
    pub params: Vec<SqlValue>,
    #[serde(default)]
    pub consistency: Consistency,
    /// Required with `bounded`.
    #[serde(default)]
    pub max_staleness_ms: Option<u64>,
    /// Opaque context for the front end's connection hook; empty from HTTP clients.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "serde_bytes")]
    pub context: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ColumnDesc {
    pub name: String,
    /// Declared type of the column it comes from, if any.
    pub decl_type: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueryResponse {
    pub columns: Vec<ColumnDesc>,
    pub rows: Vec<Vec<SqlValue>>,
    pub consistency: Consistency,
    pub served_by: u64,
    /// Log index of the state the answer reflects.
    pub applied_index: u64,
    /// For `bounded` and `stale`: how far behind the leader this answer may be, in ms
    /// (None: unknown, e.g. no contact with any leader since start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staleness_ms: Option<u64>,
    /// The value the statement gave `LAST_INSERT_ID(expr)`, if it called it: the MySQL
    /// session keeps it for its next statements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_insert_id_set: Option<i64>,
}

/// Adding a member: its id, its peer addresses and its role.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    pub id: u64,
    pub peer_addrs: Vec<String>,
    #[serde(default)]
    pub role: quorate_consensus::Role,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InitRequest {
    /// Members to form the cluster with (ids); default: this node and every configured peer.
    #[serde(default)]
    pub members: Option<Vec<u64>>,
}
