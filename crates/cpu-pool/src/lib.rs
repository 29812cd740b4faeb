//! A fixed pool of threads for CPU-heavy work (password hashing, picture processing), so that it
//! never runs on the async executor and never delays the requests that are cheap to answer.
//!
//! - As many threads as asked for (one per core, typically) and no more: the work queues instead
//!   of fanning out over hundreds of blocking threads, which bounds the memory it holds at once
//!   (Argon2id needs 19 MiB per hash, a decoded photo tens of MiB).
//! - [`Priority::Background`] threads run under `SCHED_BATCH` at nice 19 (Linux): when a core
//!   is wanted by a request that only reads the database, the kernel gives it that core first,
//!   and the hashing gets everything that is left. Without this, a burst of logins makes every
//!   other request wait behind Argon2id (measured in `bench/`). Where the scheduling cannot be
//!   changed, the threads run at normal priority and say so once in the log.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Arc, Mutex, mpsc},
    thread,
};

use thread_priority::{
    NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
    set_thread_priority_and_policy, thread_native_id,
};
use tokio::sync::oneshot;

/// How the pool's threads are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Like every other thread.
    Normal,
    /// Behind every normal thread: `SCHED_BATCH`, nice 19.
    Background,
    /// Only when nothing else wants the core: `SCHED_IDLE` (Linux), so that any other thread
    /// that wakes up takes the core at once. Falls back to [`Priority::Background`].
    Idle,
}

/// The work panicked, or the pool is gone; either way no result will come.
#[derive(Debug, thiserror::Error)]
#[error("the {0} worker did not finish the job (it panicked)")]
pub struct JobFailed(String);

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of worker threads taking jobs from one queue. Cloning is cheap; the threads end
/// when the last clone is dropped.
#[derive(Clone)]
pub struct CpuPool {
    name: Arc<str>,
    threads: usize,
    queue: mpsc::Sender<Job>,
}

impl std::fmt::Debug for CpuPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuPool")
            .field("name", &self.name)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

/// The number of cores this process may use.
#[must_use]
pub fn cores() -> usize {
    thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

impl CpuPool {
    /// Starts `threads` (at least one) workers named `name-N`.
    ///
    /// # Panics
    /// When the operating system refuses to start a thread.
    #[must_use]
    pub fn new(name: &str, threads: usize, priority: Priority) -> Self {
        let threads = threads.max(1);
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..threads {
            let jobs = Arc::clone(&jobs);
            thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || {
                    if let Err(error) = set_current_thread_priority(priority)
                        && n == 0
                    {
                        tracing::warn!(%error, "could not lower the priority of the CPU workers; they run at normal priority");
                    }
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match jobs.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // every sender is gone
                        }
                    }
                })
                .expect("a worker thread starts");
        }
        Self {
            name: name.into(),
            threads,
            queue,
        }
    }

    /// Runs `work` on a worker once one is free and waits for its result. If the caller stops
    /// waiting, the job still runs to its end (its result is dropped).
    ///
    /// # Errors
    /// [`JobFailed`] when `work` panicked.
    pub async fn run<T, F>(&self, work: F) -> Result<T, JobFailed>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let outcome = catch_unwind(AssertUnwindSafe(work));
            let _ = done.send(outcome.ok());
        });
        self.queue
            .send(job)
            .map_err(|_| JobFailed(self.name.to_string()))?;
        result
            .await
            .ok()
            .flatten()
            .ok_or_else(|| JobFailed(self.name.to_string()))
    }
}

/// Schedules the calling thread as `priority` says. [`Priority::Idle`] falls back to
/// [`Priority::Background`] where `SCHED_IDLE` is refused.
///
/// # Errors
/// What the operating system said when it refused; the thread keeps its scheduling.
pub fn set_current_thread_priority(priority: Priority) -> Result<(), String> {
    let policy = match priority {
        Priority::Normal => return Ok(()),
        Priority::Background => NormalThreadSchedulePolicy::Batch,
        Priority::Idle => NormalThreadSchedulePolicy::Idle,
    };
    let set = |policy| {
        // Under SCHED_IDLE the only priority is 0 (nice plays no part); under SCHED_BATCH the
        // lowest is nice 19.
        let priority = if policy == NormalThreadSchedulePolicy::Idle {
            Ok(ThreadPriority::Min)
        } else {
            ThreadPriorityValue::try_from(0_u8)
                .map(ThreadPriority::Crossplatform)
                .map_err(|e| e.to_string())
        };
        priority.and_then(|priority| {
            set_thread_priority_and_policy(
                thread_native_id(),
                priority,
                ThreadSchedulePolicy::Normal(policy),
            )
            .map_err(|e| format!("{e:?}"))
        })
    };
    set(policy).or_else(|error| {
        if policy == NormalThreadSchedulePolicy::Idle {
            set(NormalThreadSchedulePolicy::Batch)
        } else {
            Err(error)
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_workers_and_return_their_results() {
        let pool = CpuPool::new("test", 2, Priority::Background);
        let name = pool
            .run(|| thread::current().name().map(str::to_owned))
            .await
            .expect("a result");
        assert!(name.is_some_and(|n| n.starts_with("test-")));
        let doubled = run_in_turn(&pool, 8).await;
        assert_eq!(doubled, (0..8).map(|i| i * 2).collect::<Vec<_>>());
    }

    /// Runs `n` jobs one after the other, each doubling its number.
    async fn run_in_turn(pool: &CpuPool, n: usize) -> Vec<usize> {
        let mut out = Vec::new();
        for i in 0..n {
            out.push(pool.run(move || i * 2).await.expect("a result"));
        }
        out
    }

    #[tokio::test]
    async fn no_more_jobs_run_at_once_than_there_are_threads() {
        let pool = CpuPool::new("bounded", 2, Priority::Normal);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..8)
            .map(|_| {
                let pool = pool.clone();
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(async move {
                    pool.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        thread::sleep(std::time::Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for job in jobs {
            job.await.expect("joined").expect("ran");
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_worker_carries_on() {
        let pool = CpuPool::new("panics", 1, Priority::Normal);
        assert!(pool.run(|| panic!("boom")).await.is_err());
        assert_eq!(pool.run(|| 7).await.expect("the worker survived"), 7);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod policy_tests {
    use super::*;

    /// The calling thread's scheduling policy (field 41 of `/proc/thread-self/stat`).
    fn policy() -> u32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        let after = &stat[stat.rfind(')').expect("a name") + 2..];
        after
            .split_whitespace()
            .nth(38)
            .expect("a policy")
            .parse()
            .expect("a number")
    }

    #[test]
    fn idle_and_background_threads_get_their_policies() {
        let idle = thread::spawn(|| set_current_thread_priority(Priority::Idle).map(|()| policy()));
        assert_eq!(idle.join().expect("joined"), Ok(5), "SCHED_IDLE");
        let batch =
            thread::spawn(|| set_current_thread_priority(Priority::Background).map(|()| policy()));
        assert_eq!(batch.join().expect("joined"), Ok(3), "SCHED_BATCH");
    }
}
