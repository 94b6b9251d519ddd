//! [`LogStore`]: the Raft log and vote, in memory.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::type_config::alias::{LogIdOf, VoteOf};
use openraft::{LogState, OptionalSend, RaftLogReader, RaftTypeConfig};

/// The Raft log, the vote and the committed index, in memory: gone with the process, as
/// befits a demo. Cheap to clone; clones share the log.
///
/// Its lock is a plain mutex held for a map operation at a time, never across an await.
#[derive(Debug)]
pub struct LogStore<C: RaftTypeConfig> {
    inner: Arc<Mutex<Log<C>>>,
}

#[derive(Debug)]
struct Log<C: RaftTypeConfig> {
    last_purged: Option<LogIdOf<C>>,
    entries: BTreeMap<u64, C::Entry>,
    committed: Option<LogIdOf<C>>,
    vote: Option<VoteOf<C>>,
}

impl<C: RaftTypeConfig> Clone for LogStore<C> {
    fn clone(&self) -> Self {
        LogStore {
            inner: self.inner.clone(),
        }
    }
}

impl<C: RaftTypeConfig> Default for LogStore<C> {
    fn default() -> Self {
        LogStore {
            inner: Arc::new(Mutex::new(Log {
                last_purged: None,
                entries: BTreeMap::new(),
                committed: None,
                vote: None,
            })),
        }
    }
}

impl<C: RaftTypeConfig> LogStore<C> {
    fn lock(&self) -> io::Result<MutexGuard<'_, Log<C>>> {
        self.inner
            .lock()
            .map_err(|_| io::Error::other("log store poisoned"))
    }

    /// How many entries the log holds now (purged ones are gone).
    pub fn len(&self) -> usize {
        self.lock().map_or(0, |log| log.entries.len())
    }

    /// Whether the log holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<C: RaftTypeConfig> RaftLogReader<C> for LogStore<C>
where
    C::Entry: Clone,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, io::Error> {
        let log = self.lock()?;
        Ok(log.entries.range(range).map(|(_, e)| e.clone()).collect())
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<C>>, io::Error> {
        Ok(self.lock()?.vote.clone())
    }
}

impl<C: RaftTypeConfig> RaftLogStorage<C> for LogStore<C>
where
    C::Entry: Clone,
{
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>, io::Error> {
        let log = self.lock()?;
        let last = log.entries.values().next_back().map(|e| e.log_id());
        Ok(LogState {
            last_purged_log_id: log.last_purged.clone(),
            last_log_id: last.or_else(|| log.last_purged.clone()),
        })
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        self.lock()?.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<C>>, io::Error> {
        Ok(self.lock()?.committed.clone())
    }

    async fn save_vote(&mut self, vote: &VoteOf<C>) -> Result<(), io::Error> {
        self.lock()?.vote = Some(vote.clone());
        Ok(())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        {
            let mut log = self.lock()?;
            for entry in entries {
                log.entries.insert(entry.index(), entry);
            }
        }
        // In memory, written is flushed.
        callback.io_completed(Ok(()));
        Ok(())
    }

    async fn truncate_after(&mut self, last: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        let from = last.map_or(0, |id| id.index() + 1);
        let mut log = self.lock()?;
        log.entries.split_off(&from);
        Ok(())
    }

    async fn purge(&mut self, upto: LogIdOf<C>) -> Result<(), io::Error> {
        let mut log = self.lock()?;
        let kept = log.entries.split_off(&(upto.index() + 1));
        log.entries = kept;
        if log.last_purged.as_ref() < Some(&upto) {
            log.last_purged = Some(upto);
        }
        Ok(())
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }
}
