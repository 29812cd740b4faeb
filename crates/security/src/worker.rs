//! The password hashing worker: a process of its own that computes Argon2id hashes and
//! verifications for the service, so that the kernel can weigh them apart from everything else.
//!
//! Why a process: on Linux with `sched_autogroup_enabled` (the default of most distributions)
//! and under cgroups, the CPU is shared between scheduling groups first, and a thread's nice
//! value or policy ranks it only within its own group. Hashing threads inside the service
//! compete, as the service's whole group, with PostgreSQL's backends, and the cheap requests
//! that wait for the database waited behind them (`docs/benchmarks.md`). The worker puts
//! itself in a session (hence an autogroup) of its own at nice 19 and runs its threads under
//! `SCHED_IDLE`: any other task that wakes up takes a core from it at once, and when nothing
//! else runs, it has the whole machine.
//!
//! - **The child** ([`serve`]): started by the service as `user-management hash-worker`, reads
//!   jobs from its standard input and writes outcomes to its standard output, one thread per
//!   core. It dies with the service (`PR_SET_PDEATHSIG`) and exits when its input closes.
//! - **The parent** ([`WorkerProcess`]): starts the child, lets at most two jobs per child
//!   thread be in flight (the others wait in the service, as cheap futures: a flood of logins
//!   queues instead of piling up in the child), matches outcomes to jobs by number,
//!   and starts a new child when the old one is gone (a job in flight then is tried once more).
//!
//! The frames, both ways: a little-endian `u32` length, then the body. A job's body: `u64`
//! number, `u8` kind (1 hash: `u32` m, t, p then the password; 2 verify: `u32` length of the
//! stored hash, the stored hash, then the candidate). An outcome's body: `u64` number, `u8`
//! kind (1 hashed: the PHC string; 2 verified: `u8` 0 or 1; 3 failed: a message).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use anyhow::{Context as _, anyhow, bail};
use secrecy::zeroize::Zeroizing;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::{Semaphore, oneshot};
use um_cpu_pool::Priority;

/// The largest frame either side accepts: far above any password the domain lets through.
const MAX_FRAME: usize = 64 * 1024;

/// After this long without a job, the worker hands the memory of its last hashes back to the
/// system (see [`serve`]).
const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_secs(1);

/// What the worker is asked to do.
pub(crate) enum Job {
    /// A new Argon2id hash of `password` with these parameters and a random salt.
    Hash {
        m_kib: u32,
        t: u32,
        p: u32,
        password: Zeroizing<Vec<u8>>,
    },
    /// Whether `candidate` matches `stored` (Argon2 PHC string or bcrypt).
    Verify {
        stored: String,
        candidate: Zeroizing<Vec<u8>>,
    },
}

/// What came of a [`Job`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Hashed(String),
    Verified(bool),
    Failed(String),
}

impl Job {
    /// Does the work, on the calling thread.
    pub(crate) fn perform(&self) -> Outcome {
        match self {
            Self::Hash {
                m_kib,
                t,
                p,
                password,
            } => match argon2::Params::new(*m_kib, *t, *p, None)
                .map_err(|e| anyhow!("invalid Argon2 parameters: {e}"))
                .and_then(|params| crate::password::hash_argon2id(params, password))
            {
                Ok(phc) => Outcome::Hashed(phc),
                Err(e) => Outcome::Failed(e.to_string()),
            },
            Self::Verify { stored, candidate } => {
                Outcome::Verified(crate::password::verify_stored(stored, candidate))
            }
        }
    }

    fn encode(&self, id: u64) -> Zeroizing<Vec<u8>> {
        let mut body = Zeroizing::new(Vec::with_capacity(64));
        body.extend_from_slice(&id.to_le_bytes());
        match self {
            Self::Hash {
                m_kib,
                t,
                p,
                password,
            } => {
                body.push(1);
                for n in [m_kib, t, p] {
                    body.extend_from_slice(&n.to_le_bytes());
                }
                body.extend_from_slice(password);
            }
            Self::Verify { stored, candidate } => {
                body.push(2);
                body.extend_from_slice(&frame_len(stored.len()).to_le_bytes());
                body.extend_from_slice(stored.as_bytes());
                body.extend_from_slice(candidate);
            }
        }
        framed(&body)
    }

    fn decode(body: &[u8]) -> anyhow::Result<(u64, Self)> {
        let mut r = Cursor(body);
        let id = r.u64()?;
        let job = match r.u8()? {
            1 => Self::Hash {
                m_kib: r.u32()?,
                t: r.u32()?,
                p: r.u32()?,
                password: Zeroizing::new(r.rest().to_vec()),
            },
            2 => {
                let len = r.u32()? as usize;
                let stored = String::from_utf8(r.take(len)?.to_vec())
                    .context("the stored hash is not UTF-8")?;
                Self::Verify {
                    stored,
                    candidate: Zeroizing::new(r.rest().to_vec()),
                }
            }
            kind => bail!("unknown job kind {kind}"),
        };
        Ok((id, job))
    }
}

impl Outcome {
    fn encode(&self, id: u64) -> Zeroizing<Vec<u8>> {
        let mut body = Vec::with_capacity(128);
        body.extend_from_slice(&id.to_le_bytes());
        match self {
            Self::Hashed(phc) => {
                body.push(1);
                body.extend_from_slice(phc.as_bytes());
            }
            Self::Verified(matches) => {
                body.push(2);
                body.push(u8::from(*matches));
            }
            Self::Failed(message) => {
                body.push(3);
                body.extend_from_slice(message.as_bytes());
            }
        }
        framed(&body)
    }

    fn decode(body: &[u8]) -> anyhow::Result<(u64, Self)> {
        let mut r = Cursor(body);
        let id = r.u64()?;
        let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).context("not UTF-8");
        let outcome = match r.u8()? {
            1 => Self::Hashed(text(r.rest())?),
            2 => Self::Verified(r.u8()? == 1),
            3 => Self::Failed(text(r.rest())?),
            kind => bail!("unknown outcome kind {kind}"),
        };
        Ok((id, outcome))
    }
}

fn frame_len(len: usize) -> u32 {
    u32::try_from(len.min(MAX_FRAME)).unwrap_or(u32::MAX)
}

/// The length prefix and the body, in one buffer (one write, so frames never interleave).
fn framed(body: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut frame = Zeroizing::new(Vec::with_capacity(4 + body.len()));
    frame.extend_from_slice(&frame_len(body.len()).to_le_bytes());
    frame.extend_from_slice(body);
    frame
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        if self.0.len() < n {
            bail!("the frame ends early");
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> anyhow::Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> anyhow::Result<u32> {
        let mut bytes = [0; 4];
        bytes.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(bytes))
    }
    fn u64(&mut self) -> anyhow::Result<u64> {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(bytes))
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

/// Reads one frame's body; `None` at a clean end of input.
fn read_frame(input: &mut impl Read) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
    let mut len = [0; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes"),
        ));
    }
    let mut body = Zeroizing::new(vec![0; len]);
    input.read_exact(&mut body)?;
    Ok(Some(body))
}

// ---------------------------------------------------------------------------------------------
// The child.

/// Runs the worker on standard input and output until the input closes (the service is gone),
/// with `threads` (at least one) hashing threads. Call it before anything else in the process:
/// it moves the process into a session of its own.
///
/// The allocator keeps the blocks of the last hashes for the next ones (each is as large as the
/// hash's memory cost); once no job has come for a second, `release_memory` is called to give
/// them back to the system (the binary passes its allocator's collect function).
///
/// # Errors
/// A broken pipe or a malformed frame; the service then starts a new worker.
pub fn serve(threads: usize, release_memory: fn()) -> anyhow::Result<()> {
    detach_and_lower_priority();
    serve_on(io::stdin().lock(), io::stdout(), threads, release_memory)
}

/// Die with the service, and sit apart from it for the scheduler: a session of its own (hence
/// an autogroup of its own, where the kernel groups by session) at nice 19. Each step is best
/// effort: where one is refused, the worker still works, only with less separation.
fn detach_and_lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{Signal, set_parent_process_death_signal};
        let _ = set_parent_process_death_signal(Some(Signal::KILL));
        // The service may have died before the line above: then the parent is someone else.
        if rustix::process::getppid().is_none() {
            std::process::exit(0);
        }
        let _ = rustix::process::setsid();
        // Lowers (never raises) the weight of the new group; any process may do that.
        let _ = std::fs::write("/proc/self/autogroup", "19");
    }
}

fn serve_on(
    mut input: impl Read,
    output: impl Write + Send + 'static,
    threads: usize,
    release_memory: fn(),
) -> anyhow::Result<()> {
    let output = Arc::new(Mutex::new(output));
    let (queue, jobs) = mpsc::channel::<(u64, Job)>();
    let jobs = Arc::new(Mutex::new(jobs));
    // Whether a job ran since the memory was last released.
    let worked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut handles = Vec::new();
    for n in 0..threads.max(1) {
        let (jobs, output, worked) = (Arc::clone(&jobs), Arc::clone(&output), Arc::clone(&worked));
        let handle = std::thread::Builder::new()
            .name(format!("argon2-{n}"))
            .spawn(move || {
                // Best effort, as in `detach_and_lower_priority`.
                let _ = um_cpu_pool::set_current_thread_priority(Priority::Idle);
                loop {
                    let next = match jobs.lock() {
                        Ok(receiver) => receiver.recv_timeout(IDLE_RELEASE),
                        Err(_) => return Ok(()),
                    };
                    let (id, job) = match next {
                        Ok(next) => next,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            if worked.swap(false, Ordering::Relaxed) {
                                crate::password::release_memory();
                                release_memory();
                            }
                            continue;
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()), // input closed
                    };
                    let frame = job.perform().encode(id);
                    drop(job);
                    worked.store(true, Ordering::Relaxed);
                    let mut out = output.lock().map_err(|_| anyhow!("output lock poisoned"))?;
                    out.write_all(&frame)?;
                    out.flush()?;
                }
            })
            .context("cannot start a hashing thread")?;
        handles.push(handle);
    }
    let read = (|| -> anyhow::Result<()> {
        while let Some(body) = read_frame(&mut input)? {
            queue
                .send(Job::decode(&body)?)
                .map_err(|_| anyhow!("every hashing thread has stopped"))?;
        }
        Ok(())
    })();
    drop(queue);
    for handle in handles {
        let outcome: anyhow::Result<()> = handle
            .join()
            .map_err(|_| anyhow!("a hashing thread panicked"))?;
        outcome?;
    }
    read
}

// ---------------------------------------------------------------------------------------------
// The parent.

/// Makes the command that starts a worker (`user-management hash-worker --threads N`).
pub type WorkerCommand = Arc<dyn Fn() -> std::process::Command + Send + Sync>;

/// The service's side of the worker; see the module's documentation.
pub struct WorkerProcess {
    command: WorkerCommand,
    /// One per job the child may hold at once: twice its thread count, so that a thread that
    /// finishes a hash finds the next job already waiting in the pipe instead of waiting for
    /// the round trip through the service (the child still hashes only `threads` at once).
    permits: Semaphore,
    threads: usize,
    live: tokio::sync::Mutex<Option<Arc<Connection>>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for WorkerProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerProcess")
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

type Pending = Arc<Mutex<Option<HashMap<u64, oneshot::Sender<Outcome>>>>>;

/// One running child.
struct Connection {
    pid: Option<u32>,
    stdin: tokio::sync::Mutex<ChildStdin>,
    /// The jobs sent and not answered yet; `None` once the child is gone.
    pending: Pending,
}

impl WorkerProcess {
    /// Starts a worker with `command` (which must run [`serve`] with `threads` threads) and
    /// checks that it answers.
    ///
    /// # Errors
    /// When the worker cannot be started or does not answer.
    pub async fn start(command: WorkerCommand, threads: usize) -> anyhow::Result<Self> {
        let threads = threads.max(1);
        let worker = Self {
            command,
            permits: Semaphore::new(threads * 2),
            threads,
            live: tokio::sync::Mutex::new(None),
            next_id: AtomicU64::new(0),
        };
        worker.connection().await?;
        Ok(worker)
    }

    /// The process id of the running worker, if one runs.
    pub async fn pid(&self) -> Option<u32> {
        let live = self.live.lock().await;
        live.as_ref().filter(|c| c.is_alive()).and_then(|c| c.pid)
    }

    /// Runs `job` in the worker once one of its threads is free. A job that was in flight when
    /// the worker died is tried once more on a new worker.
    pub(crate) async fn run(&self, job: &Job) -> anyhow::Result<Outcome> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| anyhow!("the hashing worker is shut down"))?;
        match self.try_run(job).await {
            Ok(outcome) => Ok(outcome),
            Err(first) => {
                tracing::warn!(error = %first, "the password hashing worker failed a job; trying once more");
                self.try_run(job).await
            }
        }
    }

    async fn try_run(&self, job: &Job) -> anyhow::Result<Outcome> {
        let connection = self.connection().await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (done, outcome) = oneshot::channel();
        {
            let mut pending = lock(&connection.pending);
            let Some(pending) = pending.as_mut() else {
                bail!("the hashing worker is gone");
            };
            pending.insert(id, done);
        }
        let frame = job.encode(id);
        let written = {
            let mut stdin = connection.stdin.lock().await;
            match stdin.write_all(&frame).await {
                Ok(()) => stdin.flush().await,
                Err(e) => Err(e),
            }
        };
        if let Err(e) = written {
            connection.close();
            return Err(e).context("cannot write to the hashing worker");
        }
        outcome
            .await
            .map_err(|_| anyhow!("the hashing worker exited before answering"))
    }

    /// The running child, or a new one when there is none or it is gone.
    async fn connection(&self) -> anyhow::Result<Arc<Connection>> {
        let mut live = self.live.lock().await;
        if let Some(connection) = live.as_ref().filter(|c| c.is_alive()) {
            return Ok(Arc::clone(connection));
        }
        let restart = live.is_some();
        let mut command = tokio::process::Command::from((self.command)());
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .context("cannot start the password hashing worker")?;
        let pid = child.id();
        if restart {
            tracing::warn!(
                pid,
                "the password hashing worker had exited; started a new one"
            );
        } else {
            tracing::debug!(
                pid,
                threads = self.threads,
                "password hashing worker started"
            );
        }
        let stdin = child.stdin.take().context("the worker's stdin")?;
        let stdout = child.stdout.take().context("the worker's stdout")?;
        let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
        tokio::spawn(read_outcomes(child, stdout, Arc::clone(&pending)));
        let connection = Arc::new(Connection {
            pid,
            stdin: tokio::sync::Mutex::new(stdin),
            pending,
        });
        *live = Some(Arc::clone(&connection));
        Ok(connection)
    }
}

impl Connection {
    fn is_alive(&self) -> bool {
        lock(&self.pending).is_some()
    }

    /// Marks the child gone; the jobs waiting on it get an error.
    fn close(&self) {
        lock(&self.pending).take();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Hands each outcome to the job that waits for it, until the child's output ends; then marks
/// the child gone and lets it be reaped.
async fn read_outcomes(mut child: Child, mut stdout: ChildStdout, pending: Pending) {
    let result: anyhow::Result<()> = async {
        loop {
            let mut len = [0; 4];
            if stdout.read_exact(&mut len).await.is_err() {
                return Ok(());
            }
            let len = u32::from_le_bytes(len) as usize;
            if len > MAX_FRAME {
                bail!("the worker sent a frame of {len} bytes");
            }
            let mut body = vec![0; len];
            stdout.read_exact(&mut body).await?;
            let (id, outcome) = Outcome::decode(&body)?;
            let waiting = lock(&pending).as_mut().and_then(|p| p.remove(&id));
            if let Some(waiting) = waiting {
                let _ = waiting.send(outcome);
            }
        }
    }
    .await;
    if let Err(error) = result {
        tracing::error!(%error, "the password hashing worker's answer is unreadable; stopping it");
    }
    lock(&pending).take();
    let _ = child.start_kill();
    let _ = child.wait().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify(stored: &str, candidate: &str) -> Job {
        Job::Verify {
            stored: stored.to_owned(),
            candidate: Zeroizing::new(candidate.as_bytes().to_vec()),
        }
    }

    #[test]
    fn jobs_and_outcomes_survive_their_frames() {
        let hash = Job::Hash {
            m_kib: 64,
            t: 1,
            p: 1,
            password: Zeroizing::new(b"Secur3*Pass".to_vec()),
        };
        let frame = hash.encode(7);
        let (id, back) = Job::decode(&frame[4..]).expect("decodes");
        assert_eq!(id, 7);
        assert!(
            matches!(back, Job::Hash { m_kib: 64, t: 1, p: 1, ref password } if password.as_slice() == b"Secur3*Pass")
        );

        let frame = verify("$argon2id$x", "pässword").encode(u64::MAX);
        let (id, back) = Job::decode(&frame[4..]).expect("decodes");
        assert_eq!(id, u64::MAX);
        assert!(
            matches!(back, Job::Verify { ref stored, ref candidate } if stored == "$argon2id$x" && candidate.as_slice() == "pässword".as_bytes())
        );

        for outcome in [
            Outcome::Hashed("$argon2id$v=19$…".into()),
            Outcome::Verified(true),
            Outcome::Verified(false),
            Outcome::Failed("no".into()),
        ] {
            let frame = outcome.encode(3);
            assert_eq!(Outcome::decode(&frame[4..]).expect("decodes"), (3, outcome));
        }
        assert!(Job::decode(&[0; 8]).is_err(), "no kind");
        assert!(
            Job::decode(&[0, 0, 0, 0, 0, 0, 0, 0, 9]).is_err(),
            "unknown kind"
        );
    }

    /// The child's loop over in-memory pipes: every job answered under its own number, out of
    /// order as the threads finish.
    #[test]
    fn the_worker_loop_answers_every_job() {
        let hash = {
            let params = argon2::Params::new(64, 1, 1, None).expect("params");
            crate::password::hash_argon2id(params, b"Secur3*Pass").expect("hash")
        };
        let mut input = Vec::new();
        for id in 0..6_u64 {
            let job = if id % 2 == 0 {
                verify(&hash, "Secur3*Pass")
            } else {
                verify(&hash, "wrong")
            };
            input.extend_from_slice(&job.encode(id));
        }
        let output = SharedBuffer::default();
        serve_on(input.as_slice(), output.clone(), 3, || {}).expect("served");
        let bytes = output.0.lock().expect("lock").clone();
        let mut reader = bytes.as_slice();
        let mut seen = HashMap::new();
        while let Some(body) = read_frame(&mut reader).expect("a frame") {
            let (id, outcome) = Outcome::decode(&body).expect("an outcome");
            seen.insert(id, outcome);
        }
        assert_eq!(seen.len(), 6);
        for (id, outcome) in seen {
            assert_eq!(outcome, Outcome::Verified(id % 2 == 0), "job {id}");
        }
    }

    #[test]
    fn a_malformed_frame_stops_the_worker_loop() {
        let mut input = vec![];
        input.extend_from_slice(&5_u32.to_le_bytes());
        input.extend_from_slice(&[1, 2, 3, 4, 5]);
        assert!(serve_on(input.as_slice(), SharedBuffer::default(), 1, || {}).is_err());
        let huge = u32::try_from(MAX_FRAME + 1).expect("fits").to_le_bytes();
        assert!(serve_on(huge.as_slice(), SharedBuffer::default(), 1, || {}).is_err());
    }

    /// Frames, then a pause longer than [`IDLE_RELEASE`], then the end of the input.
    struct SlowInput(Vec<u8>, bool);

    impl Read for SlowInput {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                if !self.1 {
                    self.1 = true;
                    std::thread::sleep(IDLE_RELEASE * 2);
                }
                return Ok(0);
            }
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
            Ok(n)
        }
    }

    static RELEASES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    #[test]
    fn an_idle_worker_releases_its_memory_once() {
        let hash = {
            let params = argon2::Params::new(64, 1, 1, None).expect("params");
            crate::password::hash_argon2id(params, b"Secur3*Pass").expect("hash")
        };
        let input = SlowInput(verify(&hash, "Secur3*Pass").encode(1).to_vec(), false);
        serve_on(input, SharedBuffer::default(), 2, || {
            RELEASES.fetch_add(1, Ordering::SeqCst);
        })
        .expect("served");
        assert_eq!(
            RELEASES.load(Ordering::SeqCst),
            1,
            "released once after the job"
        );
    }

    #[derive(Clone, Default)]
    struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

    impl Write for SharedBuffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}
