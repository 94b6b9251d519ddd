//! Incoming batches whose answers are still being collected.
//!
//! A batch is answered by one array once every request in it is answered, in whatever order
//! the application replies; each answer waits in the slot of its request.

use std::collections::BTreeMap;

use super::RespondError;

#[derive(Debug)]
struct Batch {
    replies: Vec<Option<String>>,
    missing: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Batches {
    next: u64,
    open: BTreeMap<u64, Batch>,
    /// Bytes of the answers filed and not yet sent (their batch is not complete).
    filed: usize,
}

impl Batches {
    /// Starts collecting a batch with `slots` answers to wait for; returns its number.
    pub(crate) fn open(&mut self, slots: usize) -> u64 {
        let number = self.next;
        self.next += 1;
        self.open.insert(
            number,
            Batch {
                replies: vec![None; slots],
                missing: slots,
            },
        );
        number
    }

    /// Files the answer for `slot` of `batch`; returns the whole array once it is complete.
    pub(crate) fn fill(
        &mut self,
        batch: u64,
        slot: usize,
        reply: String,
    ) -> Result<Option<String>, RespondError> {
        let open = self
            .open
            .get_mut(&batch)
            .ok_or(RespondError::UnknownRequest)?;
        let place = open
            .replies
            .get_mut(slot)
            .ok_or(RespondError::UnknownRequest)?;
        if place.is_some() {
            // Only a forged handle can answer twice: `ReplyTo` is not `Clone`.
            return Err(RespondError::UnknownRequest);
        }
        self.filed += reply.len();
        *place = Some(reply);
        open.missing -= 1;
        if open.missing > 0 {
            return Ok(None);
        }
        let done = self.open.remove(&batch).map(|b| b.replies);
        let replies: Vec<String> = done.into_iter().flatten().flatten().collect();
        let filed: usize = replies.iter().map(String::len).sum();
        self.filed -= filed;
        Ok(Some(format!("[{}]", replies.join(","))))
    }

    /// Bytes of the answers waiting for the rest of their batch.
    pub(crate) fn held(&self) -> usize {
        self.filed
    }

    /// Forgets every batch (the connection is gone).
    pub(crate) fn clear(&mut self) {
        self.open.clear();
        self.filed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_in_any_order_come_out_in_request_order() {
        let mut batches = Batches::default();
        let b = batches.open(3);
        assert_eq!(batches.fill(b, 2, "c".into()), Ok(None));
        assert_eq!(batches.held(), 1);
        assert_eq!(
            batches.fill(b, 2, "x".into()),
            Err(RespondError::UnknownRequest)
        );
        assert_eq!(batches.fill(b, 0, "a".into()), Ok(None));
        assert_eq!(
            batches.fill(b, 9, "x".into()),
            Err(RespondError::UnknownRequest)
        );
        assert_eq!(batches.held(), 2);
        assert_eq!(batches.fill(b, 1, "b".into()), Ok(Some("[a,b,c]".into())));
        assert_eq!(batches.held(), 0);
        assert_eq!(
            batches.fill(b, 1, "b".into()),
            Err(RespondError::UnknownRequest)
        );
    }
}
