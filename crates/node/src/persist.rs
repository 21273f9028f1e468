//! `DATA/node.json`: which node this data directory belongs to, the cluster it joined and
//! the cluster epoch. Written atomically (temp file, fsync, rename).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Persisted {
    pub node_id: u64,
    /// Set when the cluster is formed (or adopted from the first authenticated peer).
    pub cluster_id: Option<String>,
    /// Raised by `quorate recover`; members with an older epoch are refused.
    #[serde(default)]
    pub epoch: u64,
    /// Set when this node's files were found corrupt and set aside: until it has caught up
    /// from a formed cluster it must neither vote nor form a cluster of its own.
    #[serde(default)]
    pub resync: bool,
}

pub(crate) struct PersistFile {
    path: PathBuf,
}

impl PersistFile {
    pub(crate) fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("node.json"),
        }
    }

    /// Loads the file, or creates it for `node_id`. Refuses a data dir of another node.
    pub(crate) fn load_or_create(&self, node_id: u64) -> Result<Persisted, String> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                let p: Persisted = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("{} is unreadable: {e}", self.path.display()))?;
                if p.node_id != node_id {
                    return Err(format!(
                        "data_dir {} belongs to node {}, but this config is node {} (wrong data_dir or node_id?)",
                        self.path
                            .parent()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                        p.node_id,
                        node_id
                    ));
                }
                Ok(p)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let p = Persisted {
                    node_id,
                    cluster_id: None,
                    epoch: 0,
                    resync: false,
                };
                self.save(&p)?;
                Ok(p)
            }
            Err(e) => Err(format!("cannot read {}: {e}", self.path.display())),
        }
    }

    pub(crate) fn save(&self, p: &Persisted) -> Result<(), String> {
        let tmp = self.path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec_pretty(p).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
}
