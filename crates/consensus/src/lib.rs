//! Consensus building blocks for quorate: the openraft type configuration, the format of
//! what is replicated ([`Command`]), and the durable Raft log ([`LogStore`]) on `raft-log`.
//!
//! Nothing here knows about SQLite or the network: the state machine lives in
//! `quorate-store`, the peer transport in `quorate-transport`, and `quorate-node` wires them.

mod command;
mod log_store;
mod types;

pub use command::{Command, Op, Origin, Response};
pub use log_store::{LogStore, LogStoreError, payload_bytes};
pub use types::*;
