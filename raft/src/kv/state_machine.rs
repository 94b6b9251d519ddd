//! [`StateMachine`]: the key-value map the log is applied to, and its snapshots.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_lite::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::type_config::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::{AsyncRuntime, EntryPayload, OptionalSend, RaftSnapshotBuilder};

use super::{Kv, KvTokio, Request, Response};

/// Where the map is in the log: the last entry applied, and the membership in force.
type LogId = LogIdOf<KvTokio>;
type Membership = StoredMembershipOf<KvTokio>;
type Meta = SnapshotMetaOf<KvTokio>;

/// The store's state machine: a `BTreeMap` of strings, in memory. Snapshots are the map as
/// JSON. Cheap to clone; clones share the map, so the node reads from the one the Raft
/// applies to.
#[derive(Debug, Clone, Default)]
pub struct StateMachine {
    inner: Arc<Mutex<Machine>>,
}

#[derive(Debug, Default)]
struct Machine {
    last_applied: Option<LogId>,
    membership: Membership,
    data: BTreeMap<String, String>,
    /// The last snapshot built or installed, and its bytes.
    snapshot: Option<(Meta, Vec<u8>)>,
    /// The last index of the last snapshot a leader sent and this node installed.
    installed: Option<u64>,
}

impl StateMachine {
    fn lock(&self) -> io::Result<MutexGuard<'_, Machine>> {
        self.inner
            .lock()
            .map_err(|_| io::Error::other("state machine poisoned"))
    }

    /// The value of `key` as applied here so far (not linearizable by itself: see
    /// `kv/read`).
    pub fn get(&self, key: &str) -> Option<String> {
        self.lock().ok()?.data.get(key).cloned()
    }

    /// How many keys the map holds.
    pub fn len(&self) -> usize {
        self.lock().map_or(0, |m| m.data.len())
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The index of the last entry applied.
    pub fn last_applied(&self) -> Option<u64> {
        self.lock().ok()?.last_applied.as_ref().map(|id| id.index)
    }

    /// The last index of the last snapshot installed from a leader (not one built here):
    /// `Some` once this node caught up by snapshot rather than by the log.
    pub fn installed_snapshot(&self) -> Option<u64> {
        self.lock().ok()?.installed
    }
}

impl Machine {
    fn apply(&mut self, request: &Request) -> Response {
        let previous = match request {
            Request::Set { key, value } => self.data.insert(key.clone(), value.clone()),
            Request::Delete { key } => self.data.remove(key),
        };
        Response { previous }
    }
}

impl<Rt: AsyncRuntime> RaftSnapshotBuilder<Kv<Rt>> for StateMachine {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<Kv<Rt>, Vec<u8>>, io::Error> {
        // A copy of the map, taken under the lock with the log id it is at: the lock is
        // released before encoding, so entries keep being applied meanwhile.
        let (data, meta) = {
            let machine = self.lock()?;
            let meta = Meta {
                last_log_id: machine.last_applied,
                last_membership: machine.membership.clone(),
            };
            (machine.data.clone(), meta)
        };
        let bytes = off_executor(move || serde_json::to_vec(&data))
            .await?
            .map_err(io::Error::other)?;
        let mut machine = self.lock()?;
        // An installed snapshot may have overtaken this one while it was encoded.
        if machine
            .snapshot
            .as_ref()
            .is_none_or(|(kept, _)| kept.last_log_id <= meta.last_log_id)
        {
            machine.snapshot = Some((meta.clone(), bytes.clone()));
        }
        Ok(SnapshotOf::<Kv<Rt>, Vec<u8>> {
            meta,
            snapshot: bytes,
        })
    }
}

/// Runs `work` on a thread of its own, and waits for it without holding up the executor.
///
/// Encoding or decoding a snapshot takes time in proportion to the map (a second or more for
/// 64 MiB in a debug build); spent on an executor thread, it stalls every task queued there,
/// the Raft's heartbeats and the pool's links among them, and followers that hear nothing
/// for an election timeout elect another leader.
async fn off_executor<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("kv-snapshot".into())
        .spawn(move || {
            let _ = done.send(work());
        })?;
    result
        .await
        .map_err(|_| io::Error::other("the snapshot thread panicked"))
}

impl<Rt: AsyncRuntime> RaftStateMachine<Kv<Rt>> for StateMachine {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), io::Error> {
        let machine = self.lock()?;
        Ok((machine.last_applied, machine.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<Kv<Rt>>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let response = {
                let mut machine = self.lock()?;
                machine.last_applied = Some(entry.log_id);
                match &entry.payload {
                    EntryPayload::Blank => Response::default(),
                    EntryPayload::Normal(request) => machine.apply(request),
                    EntryPayload::Membership(membership) => {
                        machine.membership =
                            Membership::new(Some(entry.log_id), membership.clone());
                        Response::default()
                    }
                }
            };
            if let Some(responder) = responder {
                responder.send(response);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self {
        self.clone()
    }

    async fn install_snapshot(&mut self, meta: &Meta, snapshot: Vec<u8>) -> Result<(), io::Error> {
        // Decoded off the executor, and without the lock: see `off_executor`.
        let (data, snapshot) = off_executor(move || {
            serde_json::from_slice::<BTreeMap<String, String>>(&snapshot)
                .map(|data| (data, snapshot))
        })
        .await?
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mut machine = self.lock()?;
        machine.last_applied = meta.last_log_id;
        machine.membership = meta.last_membership.clone();
        machine.data = data;
        machine.snapshot = Some((meta.clone(), snapshot));
        machine.installed = meta.last_log_id.as_ref().map(|id| id.index);
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<Kv<Rt>, Vec<u8>>>, io::Error> {
        let machine = self.lock()?;
        Ok(machine
            .snapshot
            .as_ref()
            .map(|(meta, bytes)| SnapshotOf::<Kv<Rt>, Vec<u8>> {
                meta: meta.clone(),
                snapshot: bytes.clone(),
            }))
    }
}
