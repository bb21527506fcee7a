//! The runtime budget of policy evaluation.
//!
//! The `cel` crate has no cost accounting and no cancellation: once a
//! program runs, it runs to the end. Compile-time limits (source length and
//! nesting, at most two nested loops, literal `lists.range` bounds; see
//! `expr`) keep the work polynomial in the input, but a square of a large
//! list is still slow. So evaluations run on a worker thread and the request
//! waits for each at most `deadline`; past that the evaluation is a
//! [`BudgetError`], handled by the policy's failurePolicy.
//!
//! One hand-off per phase, not per policy: the request hands the worker one
//! job (every policy of the phase, in order), and the job marks where each
//! bounded unit (one policy, one param) begins ([`Progress::unit`]). The
//! deadline runs from that mark, taken on the worker: time the job spent
//! queued, or the worker waited for a CPU before starting, does not count
//! against a policy (on a loaded machine a trivial policy must not be denied
//! for the scheduler's delay). A worker that does not even start within
//! [`START_WAIT`] is given up on like an overrun. Results are handed back
//! through shared state without waking the request; the request wakes once,
//! when the job ends, or when the current unit's deadline passes. After an
//! overrun the job's results so far are returned with the unit that ran
//! over, and the caller resumes the rest on another worker
//! ([`Budget::run_units`]).
//!
//! A thread cannot be killed: a runaway evaluation keeps its worker until it
//! ends by itself (the job then stops at its next mark, its results
//! dropped). At most `max_stuck` such workers exist at a time; beyond that,
//! evaluations fail at once instead of piling up threads. Workers are kept
//! and reused, so the common case costs one channel round trip, not a thread
//! spawn.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// Why an evaluation was cut short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    #[error("evaluation exceeded its time budget of {0:?}")]
    Deadline(Duration),
    #[error("too many runaway evaluations are still running; try again later")]
    Exhausted,
    #[error("the evaluation worker failed")]
    WorkerFailed,
    #[error("the evaluation worker did not start within {0:?}: the instance is overloaded")]
    NotStarted(Duration),
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A pool of evaluation workers with a deadline per unit of a job. Cheap to
/// share (`Arc`); one per process is enough.
pub struct Budget {
    deadline: Duration,
    max_stuck: usize,
    start_wait: Duration,
    idle: Mutex<Vec<Sender<Job>>>,
    stuck: Arc<AtomicUsize>,
    handoffs: AtomicUsize,
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
/// How long a request waits for a worker to start its job. The deadline
/// only runs once it has started; a worker that has not been scheduled for
/// this long means an instance overloaded far past any request's budget,
/// and waiting on would only hang the request.
pub const START_WAIT: Duration = Duration::from_secs(2);

impl Default for Budget {
    fn default() -> Self {
        Budget::new(DEFAULT_DEADLINE, DEFAULT_MAX_STUCK)
    }
}

/// What a job hands back: its results in the order it pushed them, and,
/// when it was cut short, the tag of the unit that was running and why.
#[derive(Debug)]
pub struct Run<T> {
    pub values: Vec<T>,
    pub cut: Option<(usize, BudgetError)>,
}

/// A job's side of the budget: where units begin, and its results.
pub struct Progress<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Progress<T> {
    /// The unit `tag` begins: its deadline runs from now. `false` when the
    /// request has given up on this job (a unit ran over): return.
    pub fn unit(&self, tag: usize) -> bool {
        let mut state = self.shared.lock();
        if state.abandoned {
            return false;
        }
        state.unit = Some((tag, Instant::now()));
        true
    }

    /// A result for the request. `false` when it has given up on this job.
    pub fn push(&self, value: T) -> bool {
        let mut state = self.shared.lock();
        if state.abandoned {
            return false;
        }
        state.values.push(value);
        true
    }
}

/// What a job and the request waiting for it share.
struct Shared<T> {
    state: Mutex<State<T>>,
    /// Signalled once, when the job ends (or dies).
    ended: Condvar,
}

struct State<T> {
    /// The running unit's tag and when it began; `None` until the worker
    /// starts the job.
    unit: Option<(usize, Instant)>,
    values: Vec<T>,
    end: Option<End>,
    /// The request gave up: the job stops at its next mark.
    abandoned: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Finished,
    /// The job panicked (its worker thread is gone).
    Died,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while holding the lock, and the state stays
        // consistent if something did: a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Ends the job when dropped: normally, or while its worker unwinds from a
/// panic, so the request never waits for a job that is gone.
struct EndGuard<T>(Arc<Shared<T>>);

impl<T> Drop for EndGuard<T> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.end = Some(if thread::panicking() {
            End::Died
        } else {
            End::Finished
        });
        drop(state);
        self.0.ended.notify_all();
    }
}

impl Budget {
    pub fn new(deadline: Duration, max_stuck: usize) -> Self {
        Budget {
            deadline,
            max_stuck,
            start_wait: START_WAIT,
            idle: Mutex::new(Vec::new()),
            stuck: Arc::new(AtomicUsize::new(0)),
            handoffs: AtomicUsize::new(0),
        }
    }

    /// The same budget waiting at most `wait` for a worker to start a job
    /// (default [`START_WAIT`]).
    pub fn with_start_wait(mut self, wait: Duration) -> Self {
        self.start_wait = wait;
        self
    }

    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// How many workers are still running evaluations that ran out of time
    /// (or were given up on before they started).
    pub fn stuck(&self) -> usize {
        self.stuck.load(Ordering::SeqCst)
    }

    /// How many jobs were handed to workers so far: what a request costs in
    /// thread hand-offs (one per admission phase, plus one per overrun).
    pub fn handoffs(&self) -> usize {
        self.handoffs.load(Ordering::Relaxed)
    }

    /// Runs `f` on a worker; its result, or an error once the deadline
    /// passes (counted from when the worker starts it).
    pub fn run<T, F>(&self, f: F) -> Result<T, BudgetError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let slot = Mutex::new(Some(f));
        let job = Arc::new(move |(), progress: &Progress<T>| {
            let f = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(f) = f {
                progress.push(f());
            }
        });
        let mut run = self.run_units(&job, 0, ());
        match (run.cut, run.values.pop()) {
            (Some((_, e)), _) => Err(e),
            (None, Some(value)) => Ok(value),
            (None, None) => Err(BudgetError::WorkerFailed),
        }
    }

    /// Runs `job(input, progress)` on one worker. The job calls
    /// `progress.unit(tag)` where each bounded unit begins (until the first
    /// call the unit is `tag`, from when the worker starts) and
    /// `progress.push` for its results. Returns the results once the job
    /// ends, or, as soon as a unit runs past the deadline, those pushed so
    /// far and the running unit's tag: the caller decides what to do about
    /// that unit and resumes the rest with another call (a fresh worker).
    pub fn run_units<T, R, J>(&self, job: &Arc<J>, tag: usize, input: R) -> Run<T>
    where
        T: Send + 'static,
        R: Send + 'static,
        J: Fn(R, &Progress<T>) + Send + Sync + 'static,
    {
        let cut = |e| Run {
            values: Vec::new(),
            cut: Some((tag, e)),
        };
        if self.stuck() >= self.max_stuck {
            return cut(BudgetError::Exhausted);
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                unit: None,
                values: Vec::new(),
                end: None,
                abandoned: false,
            }),
            ended: Condvar::new(),
        });
        let work: Job = {
            let (job, shared) = (Arc::clone(job), Arc::clone(&shared));
            Box::new(move || {
                let _end = EndGuard(Arc::clone(&shared));
                let progress = Progress { shared };
                // The worker starts now: the first unit's deadline too.
                if progress.unit(tag) {
                    job(input, &progress);
                }
            })
        };
        let submitted = Instant::now();
        let worker = match self.take_worker(work) {
            Ok(worker) => worker,
            Err(e) => return cut(e),
        };
        self.handoffs.fetch_add(1, Ordering::Relaxed);
        let mut state = shared.lock();
        loop {
            match state.end {
                Some(End::Finished) => {
                    let values = std::mem::take(&mut state.values);
                    drop(state);
                    self.give_back(worker);
                    return Run { values, cut: None };
                }
                Some(End::Died) => {
                    let at = state.unit.map_or(tag, |(at, _)| at);
                    return Run {
                        values: std::mem::take(&mut state.values),
                        cut: Some((at, BudgetError::WorkerFailed)),
                    };
                }
                None => {}
            }
            let (until, error) = match state.unit {
                Some((_, began)) => (began + self.deadline, BudgetError::Deadline(self.deadline)),
                None => (
                    submitted + self.start_wait,
                    BudgetError::NotStarted(self.start_wait),
                ),
            };
            let now = Instant::now();
            if now >= until {
                // Given up: the job stops at its next mark. The worker is
                // busy (or not yet started) for an unknown time: forget it
                // (dropping its sender ends it once its jobs are done) and
                // count it until then.
                state.abandoned = true;
                let at = state.unit.map_or(tag, |(at, _)| at);
                let values = std::mem::take(&mut state.values);
                drop(state);
                self.stuck.fetch_add(1, Ordering::SeqCst);
                let _ = worker.send(Box::new(mark_unstuck(Arc::clone(&self.stuck))));
                return Run {
                    values,
                    cut: Some((at, error)),
                };
            }
            state = shared
                .ended
                .wait_timeout(state, until - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
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
        assert_eq!(budget.handoffs(), 10);
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
        wait_unstuck(&budget);
        assert_eq!(budget.stuck(), 0);
        assert_eq!(budget.run(|| 1), Ok(1));
    }

    /// Waits (without a timed assertion: up to 30 s) until no worker is
    /// counted as stuck.
    fn wait_unstuck(budget: &Budget) {
        let waited = Instant::now();
        while budget.stuck() > 0 && waited.elapsed() < Duration::from_secs(30) {
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Queues a job that blocks until released on the budget's one idle
    /// worker: the next job handed to that worker waits behind it, as a
    /// job waits for a CPU on a loaded machine.
    fn block_idle_worker(budget: &Budget) -> mpsc::Sender<()> {
        let (release, blocked) = mpsc::channel::<()>();
        let idle = budget.idle.lock().unwrap();
        assert_eq!(idle.len(), 1);
        idle[0]
            .send(Box::new(move || {
                let _ = blocked.recv();
            }))
            .unwrap();
        release
    }

    #[test]
    fn the_deadline_runs_from_when_the_worker_starts_the_job() {
        let budget = Arc::new(
            Budget::new(Duration::from_millis(20), 2).with_start_wait(Duration::from_secs(60)),
        );
        assert_eq!(budget.run(|| ()), Ok(()));
        let release = block_idle_worker(&budget);
        let waiting = {
            let budget = Arc::clone(&budget);
            thread::spawn(move || budget.run(|| 7))
        };
        // Once the request has the worker, keep its job queued ten
        // deadlines long: counted from the hand-off it would have failed.
        while !budget.idle.lock().unwrap().is_empty() {
            thread::yield_now();
        }
        thread::sleep(Duration::from_millis(200));
        release.send(()).unwrap();
        assert_eq!(waiting.join().unwrap(), Ok(7));
        assert_eq!(budget.stuck(), 0);
    }

    #[test]
    fn a_worker_that_does_not_start_is_given_up_on_and_its_job_never_runs() {
        let budget =
            Budget::new(Duration::from_secs(60), 2).with_start_wait(Duration::from_millis(20));
        assert_eq!(budget.run(|| ()), Ok(()));
        let release = block_idle_worker(&budget);
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let result = budget.run(move || flag.store(true, Ordering::SeqCst));
        assert_eq!(
            result,
            Err(BudgetError::NotStarted(Duration::from_millis(20)))
        );
        assert_eq!(budget.stuck(), 1);
        release.send(()).unwrap();
        wait_unstuck(&budget);
        assert_eq!(budget.stuck(), 0);
        assert!(!ran.load(Ordering::SeqCst), "an abandoned job must not run");
    }

    #[test]
    fn a_job_of_units_is_one_hand_off_and_resumes_after_an_overrun() {
        let budget = Budget::new(Duration::from_millis(20), 2);
        let (release, blocked) = mpsc::channel::<()>();
        let blocked = Mutex::new(blocked);
        // Units 0..4; unit 2 blocks until released, so the deadline (not its
        // end) is what returns the call.
        let job = Arc::new(move |from: usize, progress: &Progress<usize>| {
            for unit in from..4 {
                if !progress.unit(unit) {
                    return;
                }
                if unit == 2 {
                    let _ = blocked.lock().unwrap().recv();
                }
                if !progress.push(unit * 10) {
                    return;
                }
            }
        });
        let run = budget.run_units(&job, 0, 0);
        assert_eq!(run.values, [0, 10]);
        assert_eq!(
            run.cut,
            Some((2, BudgetError::Deadline(Duration::from_millis(20))))
        );
        assert_eq!(budget.handoffs(), 1);
        assert_eq!(budget.stuck(), 1);
        // The caller resumes after the unit that ran over, on another
        // worker.
        let run = budget.run_units(&job, 3, 3);
        assert_eq!((run.values, run.cut), (vec![30], None));
        assert_eq!(budget.handoffs(), 2);
        // The runaway unit's worker stops at its next mark, pushing nothing.
        release.send(()).unwrap();
        wait_unstuck(&budget);
        assert_eq!(budget.stuck(), 0);
        // A run that needs no resuming is one hand-off.
        let run = budget.run_units(&job, 3, 3);
        assert_eq!((run.values, run.cut), (vec![30], None));
        assert_eq!(budget.handoffs(), 3);
    }
}
