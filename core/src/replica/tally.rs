//! The arithmetic of a majority vote: successes and failures in, a verdict out.

use super::Verdict;

/// Counts outcomes of a vote among `n` replicas and decides as soon as the counts allow:
/// success at `n / 2 + 1` successes, failure once fewer replicas than that are left to
/// succeed. The first decision is final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    n: usize,
    successes: usize,
    failures: usize,
    verdict: Verdict,
}

impl Tally {
    /// A vote among `n` replicas; with none it has already failed.
    pub(crate) fn new(n: usize) -> Self {
        let mut tally = Tally {
            n,
            successes: 0,
            failures: 0,
            verdict: Verdict::Pending,
        };
        tally.decide();
        tally
    }

    /// Counts one replica's outcome: `ok` only for a success.
    pub(crate) fn add(&mut self, ok: bool) {
        #[cfg(feature = "mutants")]
        let ok = ok || crate::mutants::on(crate::mutants::Mutant::QuorumOnFailures);
        if ok {
            self.successes = self.successes.saturating_add(1);
        } else {
            self.failures = self.failures.saturating_add(1);
        }
        self.decide();
    }

    pub(crate) fn majority(&self) -> usize {
        self.n / 2 + 1
    }

    pub(crate) fn successes(&self) -> usize {
        self.successes
    }

    pub(crate) fn failures(&self) -> usize {
        self.failures
    }

    pub(crate) fn verdict(&self) -> Verdict {
        self.verdict
    }

    fn decide(&mut self) {
        if self.verdict.is_decided() {
            return;
        }
        if self.successes >= self.majority() {
            self.verdict = Verdict::Succeeded;
        } else if self.failures.saturating_add(self.majority()) > self.n {
            // Even if every replica still out succeeded, they would not be a majority.
            self.verdict = Verdict::Failed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majorities_of_small_sets() {
        let majorities: Vec<usize> = (0..=7).map(|n| Tally::new(n).majority()).collect();
        assert_eq!(majorities, [1, 1, 2, 2, 3, 3, 4, 4]);
        assert_eq!(Tally::new(0).verdict(), Verdict::Failed);
    }

    #[test]
    fn every_mix_of_oks_and_failures_decides_as_soon_as_it_can_and_never_flips() {
        for n in 1..=7usize {
            let majority = n / 2 + 1;
            for mask in 0..(1u32 << n) {
                let mut tally = Tally::new(n);
                let (mut ok, mut failed) = (0, 0);
                let mut decided = None;
                for i in 0..n {
                    let success = mask & (1 << i) != 0;
                    if success {
                        ok += 1;
                    } else {
                        failed += 1;
                    }
                    tally.add(success);
                    let expected = match decided {
                        Some(verdict) => verdict,
                        None if ok >= majority => Verdict::Succeeded,
                        None if failed > n - majority => Verdict::Failed,
                        None => Verdict::Pending,
                    };
                    assert_eq!(tally.verdict(), expected, "n {n} mask {mask:b} after {i}");
                    decided = Some(expected).filter(|v| v.is_decided());
                }
                assert!(tally.verdict().is_decided(), "n {n} mask {mask:b}");
            }
        }
    }

    #[test]
    fn failures_fail_fast_and_never_count_as_successes() {
        let mut tally = Tally::new(5);
        tally.add(false);
        tally.add(false);
        assert_eq!(tally.verdict(), Verdict::Pending);
        tally.add(false);
        assert_eq!(tally.verdict(), Verdict::Failed);
        tally.add(true);
        tally.add(true);
        assert_eq!((tally.successes(), tally.failures()), (2, 3));
        assert_eq!(tally.verdict(), Verdict::Failed);
    }
}
