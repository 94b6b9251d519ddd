//! The requests a server's handlers are running: how many, their size, their deadlines.
//!
//! A [`Channel`](super::Channel) hands requests out ([`Event::Request`](super::Event::Request),
//! [`Event::Notification`](super::Event::Notification)) and forgets them until they are
//! answered. Whoever runs their handlers keeps them here while they run: the count bounds
//! how many run at once, the bytes go into the connection's budget (as `handling`, see
//! [`crate::budget`]), and each has a deadline. A handler past its deadline is taken out
//! by [`Serving::expire`]: its owner cancels it and answers the caller with
//! [`ErrorObject::handler_timed_out`](super::ErrorObject::handler_timed_out); a late answer finds nothing to answer and is dropped.

use std::time::{Duration, Instant};

use super::pending::{Deadline, Pending};
use super::ReplyTo;

/// A handler's ticket: what it hands back to [`Serving::finish`]. Never reused within one
/// [`Serving`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(u64);

/// One running handler.
#[derive(Debug)]
struct Job {
    deadline: Option<Instant>,
    size: usize,
    reply: Option<ReplyTo>,
}

impl Deadline for Job {
    fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

/// A handler that ran out of time, taken out by [`Serving::expire`].
#[derive(Debug)]
pub struct Expired {
    /// The handler to cancel.
    pub job: JobId,
    /// Where the error goes (`None` for a notification: nobody waits for it).
    pub reply: Option<ReplyTo>,
}

/// The handlers running on one connection; see the module docs.
///
/// ```
/// use std::time::{Duration, Instant};
/// use tether_core::rpc::Serving;
///
/// let now = Instant::now();
/// let mut serving = Serving::new(Some(Duration::from_secs(30)));
/// let job = serving.start(now, None, 100);
/// assert_eq!((serving.len(), serving.bytes()), (1, 100));
/// assert_eq!(serving.poll_timeout(), Some(now + Duration::from_secs(30)));
/// // The handler ran past its deadline: it is taken out, to be cancelled.
/// let expired = serving.expire(now + Duration::from_secs(30)).unwrap();
/// assert_eq!(expired.job, job);
/// assert!(serving.finish(job).is_none(), "a late answer has nowhere to go");
/// ```
#[derive(Debug)]
pub struct Serving {
    timeout: Option<Duration>,
    jobs: Pending<u64, Job>,
    next: u64,
    bytes: usize,
}

impl Serving {
    /// An empty table whose handlers may run for `timeout` each (`None`: for ever).
    pub fn new(timeout: Option<Duration>) -> Serving {
        Serving {
            timeout,
            jobs: Pending::default(),
            next: 0,
            bytes: 0,
        }
    }

    /// A handler starts at `now` for a request (`reply`) or a notification (`None`) of
    /// `size` bytes (its method and params: what the peer made us hold).
    pub fn start(&mut self, now: Instant, reply: Option<ReplyTo>, size: usize) -> JobId {
        let id = self.next;
        self.next += 1;
        let deadline = self.timeout.and_then(|t| now.checked_add(t));
        self.jobs.insert(
            id,
            Job {
                deadline,
                size,
                reply,
            },
        );
        self.bytes += size;
        JobId(id)
    }

    /// The handler `job` ended: `Some` with where its answer goes (`None` inside for a
    /// notification), or `None` if it had already expired (its caller got the timeout
    /// error; the answer is dropped).
    pub fn finish(&mut self, job: JobId) -> Option<Option<ReplyTo>> {
        let done = self.jobs.remove(&job.0)?;
        self.bytes -= done.size;
        Some(done.reply)
    }

    /// The next handler past its deadline at `now`, taken out; call until `None`.
    pub fn expire(&mut self, now: Instant) -> Option<Expired> {
        let (id, done) = self.jobs.pop_expired(now)?;
        self.bytes -= done.size;
        Some(Expired {
            job: JobId(id),
            reply: done.reply,
        })
    }

    /// The soonest deadline of a running handler.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.jobs.next_deadline()
    }

    /// Handlers running.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// No handler runs.
    pub fn is_empty(&self) -> bool {
        self.jobs.len() == 0
    }

    /// The bytes of the requests whose handlers run.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // one real instant as the origin of virtual time
    fn origin() -> Instant {
        Instant::now()
    }

    #[test]
    fn bytes_follow_the_handlers_that_run_and_deadlines_expire_in_order() {
        let t0 = origin();
        let s = Duration::from_secs;
        let mut serving = Serving::new(Some(s(10)));
        let a = serving.start(t0, None, 5);
        let b = serving.start(t0 + s(1), None, 7);
        let c = serving.start(t0 + s(2), None, 11);
        assert_eq!((serving.len(), serving.bytes()), (3, 23));
        assert!(serving.finish(b).is_some());
        assert!(serving.finish(b).is_none(), "finished once");
        assert_eq!(serving.bytes(), 16);
        assert!(serving.expire(t0 + s(9)).is_none());
        assert_eq!(serving.expire(t0 + s(12)).map(|e| e.job), Some(a));
        assert_eq!(serving.expire(t0 + s(12)).map(|e| e.job), Some(c));
        assert!(serving.is_empty());
        assert_eq!(serving.bytes(), 0);
        assert_eq!(serving.poll_timeout(), None);
    }

    #[test]
    fn without_a_timeout_nothing_expires() {
        let t0 = origin();
        let mut serving = Serving::new(None);
        let job = serving.start(t0, None, 1);
        assert_eq!(serving.poll_timeout(), None);
        assert!(serving.expire(t0 + Duration::from_secs(1 << 40)).is_none());
        assert!(serving.finish(job).is_some());
    }
}
