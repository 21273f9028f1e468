//! A quorate node: Raft over the peer transport, the SQLite store, and the client-facing
//! operations every front end (HTTP, MySQL, CLI) uses: execute, query at a consistency
//! level, status, health, membership, formation.

pub mod api;
mod catalog;
pub mod config;
pub mod error;
mod members;
mod network;
mod node;
mod persist;
mod read;
mod rpc;
mod session;
mod status;
mod write;

pub use catalog::InternalStatement;
pub use members::{InitOutcome, MembershipOp};
pub use node::{Node, StartError};
pub use persist::Persisted;
pub use session::{Session, SessionOptions, StatementKind};
pub use status::{MemberStatus, PathView, Status};
