//! Interactive transactions opened on behalf of other nodes' clients (a MySQL client
//! connected to a follower runs its transaction on the leader).

use std::collections::HashMap;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, NodeError};
use crate::node::Node;

/// A step of a remote transaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SessionRequest {
    Close { session: u64 },
}

/// Open remote transactions on the leader, by (calling node, session id).
#[derive(Default)]
pub struct RemoteSessions {
    open: Mutex<HashMap<(u64, u64), quorate_store::WriteTx>>,
}

impl RemoteSessions {
    /// Rolls back every open remote transaction (leadership moved).
    pub(crate) fn abort_all(&self) {
        self.open.lock().clear();
    }
}

impl Node {
    pub(crate) async fn serve_remote_session(&self, from: u64, req: SessionRequest) -> Result<(), NodeError> {
        match req {
            SessionRequest::Close { session } => {
                self.inner.sessions.open.lock().remove(&(from, session));
                Ok(())
            }
        }
    }
}

#[allow(dead_code)]
fn unused() -> NodeError {
    NodeError::new(ErrorCode::Internal, "")
}
