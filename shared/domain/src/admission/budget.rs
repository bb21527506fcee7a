//! The runtime budget of policy evaluation.
//!
//! The `cel` crate has no cost accounting and no cancellation: once a
//! program runs, it runs to the end. Compile-time limits (source length and
//! nesting, at most two nested loops, literal `lists.range` bounds; see
//! `expr`) keep the work polynomial in the input, but a square of a large
//! list is still slow. So each policy evaluation runs on a worker thread
//! and the request waits at most `deadline` for it; past that the
//! evaluation is a [`BudgetError`], handled by the policy's failurePolicy.
//!
//! A thread cannot be killed: a runaway evaluation keeps its worker until it
//! ends by itself (its result is then dropped). At most `max_stuck` such
//! workers exist at a time; beyond that, evaluations fail at once instead of
//! piling up threads. Workers are kept and reused, so the common case costs
//! a channel round trip, not a thread spawn.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Why an evaluation was cut short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    #[error("evaluation exceeded its time budget of {0:?}")]
    Deadline(Duration),
    #[error("too many runaway evaluations are still running; try again later")]
    Exhausted,
    #[error("the evaluation worker failed")]
    WorkerFailed,
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A pool of evaluation workers with a deadline per job. Cheap to share
/// (`Arc`); one per process is enough.
pub struct Budget {
    deadline: Duration,
    max_stuck: usize,
    idle: Mutex<Vec<Sender<Job>>>,
    stuck: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("deadline", &self.deadline)
            .field("max_stuck", &self.max_stuck)
            .field("stuck", &self.stuck.load(Ordering::Relaxed))
            .finish()
    }
}

/// Per policy evaluation. Generous next to the microseconds a sane policy
/// takes, short next to a request's timeout.
pub const DEFAULT_DEADLINE: Duration = Duration::from_millis(100);
pub const DEFAULT_MAX_STUCK: usize = 4;

impl Default for Budget {
    fn default() -> Self {
        Budget::new(DEFAULT_DEADLINE, DEFAULT_MAX_STUCK)
    }
}

impl Budget {
    pub fn new(deadline: Duration, max_stuck: usize) -> Self {
        Budget {
            deadline,
            max_stuck,
            idle: Mutex::new(Vec::new()),
            stuck: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// How many workers are still running evaluations that ran out of time.
    pub fn stuck(&self) -> usize {
        self.stuck.load(Ordering::SeqCst)
    }

    /// Runs `f` on a worker; its result, or an error once the deadline
    /// passes.
    pub fn run<T, F>(&self, f: F) -> Result<T, BudgetError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        if self.stuck() >= self.max_stuck {
            return Err(BudgetError::Exhausted);
        }
        let (reply_tx, reply_rx) = mpsc::channel();
        let job: Job = Box::new(move || {
            // The receiver is gone if the deadline passed: nothing to do.
            let _ = reply_tx.send(f());
        });
        let worker = self.take_worker(job)?;
        match reply_rx.recv_timeout(self.deadline) {
            Ok(value) => {
                self.give_back(worker);
                Ok(value)
            }
            Err(RecvTimeoutError::Timeout) => {
                // The worker is busy for good: forget it (dropping its
                // sender ends it once the job returns) and count it until
                // then.
                self.stuck.fetch_add(1, Ordering::SeqCst);
                let _ = worker.send(Box::new(mark_unstuck(Arc::clone(&self.stuck))));
                Err(BudgetError::Deadline(self.deadline))
            }
            Err(RecvTimeoutError::Disconnected) => Err(BudgetError::WorkerFailed),
        }
    }

    /// An idle worker with `job` sent to it, or a new one.
    fn take_worker(&self, job: Job) -> Result<Sender<Job>, BudgetError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let job = match idle {
            Some(worker) => match worker.send(job) {
                Ok(()) => return Ok(worker),
                // A worker that died (a panicking job): start another.
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = mpsc::channel::<Job>();
        tx.send(job).map_err(|_| BudgetError::WorkerFailed)?;
        thread::Builder::new()
            .name("policy-eval".to_string())
            .spawn(move || work(rx))
            .map_err(|_| BudgetError::WorkerFailed)?;
        Ok(tx)
    }

    fn give_back(&self, worker: Sender<Job>) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(worker);
        }
    }
}

/// The job a forgotten worker runs after its runaway one: uncount it.
fn mark_unstuck(stuck: Arc<AtomicUsize>) -> impl FnOnce() + Send + 'static {
    move || {
        stuck.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A worker's loop: jobs until its sender is dropped.
fn work(jobs: Receiver<Job>) {
    while let Ok(job) = jobs.recv() {
        job();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn returns_results_and_reuses_workers() {
        let budget = Budget::new(Duration::from_secs(5), 2);
        for i in 0..10 {
            assert_eq!(budget.run(move || i * 2), Ok(i * 2));
        }
        assert_eq!(budget.idle.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_slow_job_times_out_and_stuck_workers_are_bounded() {
        let budget = Budget::new(Duration::from_millis(20), 1);
        // The job blocks until the test releases it, so the deadline (not
        // the job's end) is what returned the call: no timing assumptions.
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let slow = budget.run(move || {
            let _ = blocked.recv();
        });
        assert_eq!(slow, Err(BudgetError::Deadline(Duration::from_millis(20))));
        assert_eq!(budget.stuck(), 1);
        // The one allowed stuck worker is taken: fail fast.
        assert_eq!(budget.run(|| 1), Err(BudgetError::Exhausted));
        // Once it finishes, it is uncounted.
        release.send(()).unwrap();
        let waited = Instant::now();
        while budget.stuck() > 0 && waited.elapsed() < Duration::from_secs(30) {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(budget.stuck(), 0);
        assert_eq!(budget.run(|| 1), Ok(1));
    }
}
