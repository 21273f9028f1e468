//! A quorate node: Raft over the peer transport, the SQLite store, and the client-facing
//! operations every front end (HTTP, MySQL, CLI) uses: execute, query at a consistency
//! level, status, health, membership, formation.

pub mod api;
mod catalog;
mod client_socket;
mod clients;
pub mod config;
pub mod error;
mod interrupt;
pub mod maintenance;
mod members;
mod network;
mod node;
mod persist;
mod read;
pub mod recover;
mod rpc;
mod session;
mod status;
mod write;

pub use catalog::InternalStatement;
pub use client_socket::ClientSocket;
pub use clients::{ClientView, FrontEnd};
pub use interrupt::timers;
pub use members::{InitOutcome, MembershipOp};
pub use node::{Node, StartError};
pub use persist::Persisted;
pub use session::{Session, SessionOptions, StatementKind};
pub use status::{MemberStatus, PathView, Status};

/// Fuzzing entry point: decodes `data` as every message a peer can send (Raft RPCs,
/// snapshot chunks, forwarded requests, sessions, maintenance, recovery). The first byte
/// picks the message type. Must never panic.
pub fn fuzz_decode_peer_message(data: &[u8]) {
    rpc::fuzz_decode(data)
}
