//! Argon2id password hashing, off the async executor: in a worker process of its own (the
//! service, see [`crate::worker`]) or on a small pool of low-priority threads (the operator's
//! commands, tests).

use std::sync::Arc;

use anyhow::anyhow;
use std::sync::Mutex;

use argon2::password_hash::{self, Output, ParamsString, PasswordHash as PhcString, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use rand::RngCore;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;
use um_cpu_pool::{CpuPool, Priority};

use crate::worker::{Job, Outcome, WorkerCommand, WorkerProcess};
use um_domain::model::PasswordHash;
use um_domain::ports::PasswordHasher;

// The production parameters: one of the five Argon2id configurations that OWASP's Password
// Storage Cheat Sheet lists as giving "an equal level of defense", trading memory for passes
// (m = 46 MiB t = 1, 19 MiB t = 2, 12 MiB t = 3, 9 MiB t = 4, 7 MiB t = 5; p = 1 for all).
// 9 MiB with 4 passes takes as long as 19 MiB with 2 on the same core, and holds half the
// memory while it runs: one hash per core runs at once, so on two cores a flood of logins holds
// 18 MiB instead of 38 MiB, which is what lets the service and its hashing worker stay within
// 64 MiB together (`docs/benchmarks.md`, issue #17). Hashes stored with other parameters
// (19 MiB, t = 2 until 2026-12) keep verifying and are replaced at the next successful login.

/// Memory cost of production hashes in KiB (OWASP: 9 MiB with 4 passes).
pub const PRODUCTION_M_KIB: u32 = 9 * 1024;
/// Iterations of production hashes (OWASP: 4 with 9 MiB).
pub const PRODUCTION_T: u32 = 4;
/// Lanes of production hashes (OWASP: 1).
pub const PRODUCTION_P: u32 = 1;

/// The production parameters as Argon2 takes them.
fn production_params() -> Params {
    Params::new(PRODUCTION_M_KIB, PRODUCTION_T, PRODUCTION_P, None)
        .unwrap_or_else(|_| unreachable!("the production parameters are valid"))
}

/// Prefixes of the bcrypt hashes that accounts imported from the FastAPI original carry.
const BCRYPT_PREFIXES: [&str; 3] = ["$2a$", "$2b$", "$2y$"];

/// What [`PasswordHasher::unusable_hash`] stores: not a PHC string, so no password matches it.
const UNUSABLE_HASH: &str = "!unusable: sign in through a password reset";

/// Argon2id hashes in PHC string form (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
///
/// Every hash and verification runs either in the hashing worker process
/// ([`Argon2Hasher::in_worker_process`], what the service does) or on a [`CpuPool`] of one
/// background-priority thread per core, never on an executor thread. Either way at most one
/// hash per core runs at once and a flood of logins queues (each hash holds 9 MiB while it
/// runs, so memory stays bounded).
/// Verification also accepts the bcrypt hashes (`$2a$`, `$2b$`, `$2y$`) of accounts imported
/// from the original service.
///
/// Cloning is cheap; clones share the workers and the dummy hash.
#[derive(Clone)]
pub struct Argon2Hasher {
    params: Params,
    runner: Runner,
    /// The hash that unknown accounts are checked against, computed on first use.
    dummy: Arc<OnceCell<String>>,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher")
            .field("m_kib", &self.params.m_cost())
            .field("t", &self.params.t_cost())
            .field("p", &self.params.p_cost())
            .field("runner", &self.runner)
            .finish_non_exhaustive()
    }
}

/// Where the work runs.
#[derive(Clone, Debug)]
enum Runner {
    Threads(CpuPool),
    Process(Arc<WorkerProcess>),
}

impl Default for Argon2Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl Argon2Hasher {
    /// A hasher with the production parameters (m = 9 MiB, t = 4, p = 1, one of the OWASP
    /// configurations for Argon2id; see [`PRODUCTION_M_KIB`]).
    #[must_use]
    pub fn new() -> Self {
        Self::from_params(production_params())
    }

    /// A hasher with other parameters: stronger ones in production, weaker ones in tests.
    ///
    /// # Errors
    /// When Argon2 refuses the parameters (e.g. `m_kib < 8 * p` or `t == 0`).
    pub fn with_params(m_kib: u32, t: u32, p: u32) -> anyhow::Result<Self> {
        let params = Params::new(m_kib, t, p, None)
            .map_err(|e| anyhow!("invalid Argon2 parameters m={m_kib} KiB, t={t}, p={p}: {e}"))?;
        Ok(Self::from_params(params))
    }

    /// A hasher with the production parameters whose work runs in a worker process started by
    /// `command` (the same executable's hidden `hash-worker` subcommand, which runs
    /// [`crate::worker::serve`] with `threads` threads; one per core is right). The worker is
    /// started now and again whenever it has died.
    ///
    /// # Errors
    /// When the worker cannot be started or does not answer.
    pub async fn in_worker_process(command: WorkerCommand, threads: usize) -> anyhow::Result<Self> {
        let worker = WorkerProcess::start(command, threads).await?;
        let hasher = Self {
            params: production_params(),
            runner: Runner::Process(Arc::new(worker)),
            dummy: Arc::new(OnceCell::new()),
        };
        // The first job checks that the worker answers (and computes the dummy hash early, so
        // that the first unknown-email login is as fast as the others).
        hasher.warm_up().await?;
        Ok(hasher)
    }

    /// The process id of the hashing worker, when the work runs in one.
    pub async fn worker_pid(&self) -> Option<u32> {
        match &self.runner {
            Runner::Process(worker) => worker.pid().await,
            Runner::Threads(_) => None,
        }
    }

    fn from_params(params: Params) -> Self {
        Self {
            params,
            runner: Runner::Threads(CpuPool::new(
                "argon2",
                um_cpu_pool::cores(),
                Priority::Background,
            )),
            dummy: Arc::new(OnceCell::new()),
        }
    }

    /// Computes the dummy hash now rather than on the first login attempt for an unknown email.
    /// Optional; call it at start-up to keep that first attempt as fast as the others.
    ///
    /// # Errors
    /// Only on a failure of the hashing machinery.
    pub async fn warm_up(&self) -> anyhow::Result<()> {
        self.dummy_hash().await.map(|_| ())
    }

    async fn dummy_hash(&self) -> anyhow::Result<&str> {
        let hash = self
            .dummy
            .get_or_try_init(|| async {
                // A random password nobody knows: the dummy hash never matches anything anyway.
                let mut secret = Zeroizing::new(vec![0u8; 32]);
                rand::rng().fill_bytes(&mut secret);
                self.hash_bytes(secret).await
            })
            .await?;
        Ok(hash.as_str())
    }

    async fn hash_bytes(&self, password: Zeroizing<Vec<u8>>) -> anyhow::Result<String> {
        let job = Job::Hash {
            m_kib: self.params.m_cost(),
            t: self.params.t_cost(),
            p: self.params.p_cost(),
            password,
        };
        match self.run(job).await? {
            Outcome::Hashed(phc) => Ok(phc),
            other => Err(anyhow!("the hashing worker answered {other:?} to a hash")),
        }
    }

    async fn verify_bytes(&self, stored: String, candidate: &SecretString) -> anyhow::Result<bool> {
        let candidate = Zeroizing::new(candidate.expose_secret().as_bytes().to_vec());
        match self.run(Job::Verify { stored, candidate }).await? {
            Outcome::Verified(matches) => Ok(matches),
            Outcome::Failed(e) => Err(anyhow!("verification failed: {e}")),
            Outcome::Hashed(_) => Err(anyhow!("the hashing worker answered a hash to a check")),
        }
    }

    /// Runs `job` once a worker thread is free; on the threads it runs to its end even if the
    /// caller gives up waiting.
    async fn run(&self, job: Job) -> anyhow::Result<Outcome> {
        let outcome = match &self.runner {
            Runner::Threads(pool) => pool.run(move || job.perform()).await?,
            Runner::Process(worker) => worker.run(&job).await?,
        };
        match outcome {
            Outcome::Failed(e) => Err(anyhow!("{e}")),
            outcome => Ok(outcome),
        }
    }
}

fn argon2id(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The memory of finished Argon2 hashes, kept for the next ones: a hash writes every block
/// before it reads it, so a buffer can be reused as it is. Reuse spares the page faults of a
/// fresh 9 MiB block per hash and keeps the memory at one buffer per hashing thread (freed
/// blocks handed back to the allocator lingered beside new ones: the worker held 39 MiB
/// during a flood of logins instead of 18). [`release_memory`] drops them once idle.
static KEPT_BLOCKS: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

fn kept_blocks() -> std::sync::MutexGuard<'static, Vec<Vec<Block>>> {
    KEPT_BLOCKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `hash` on `count` blocks of memory, taken from [`KEPT_BLOCKS`] (or allocated) and put
/// back afterwards.
fn with_blocks<T>(count: usize, hash: impl FnOnce(&mut [Block]) -> T) -> T {
    let mut blocks = kept_blocks().pop().unwrap_or_default();
    if blocks.len() < count {
        blocks.resize(count, Block::default());
    }
    let result = hash(&mut blocks[..count]);
    kept_blocks().push(blocks);
    result
}

/// Zeroes and frees the memory kept from earlier hashes (the next hash allocates it again).
pub(crate) fn release_memory() {
    let kept = std::mem::take(&mut *kept_blocks());
    for mut blocks in kept {
        blocks.fill(Block::default());
    }
}

pub(crate) fn hash_argon2id(params: Params, password: &[u8]) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt_string =
        SaltString::encode_b64(&salt).map_err(|e| anyhow!("cannot encode salt: {e}"))?;
    let mut output = Zeroizing::new(vec![
        0u8;
        params
            .output_len()
            .unwrap_or(Params::DEFAULT_OUTPUT_LEN)
    ]);
    let argon2 = argon2id(params.clone());
    with_blocks(params.block_count(), |blocks| {
        argon2.hash_password_into_with_memory(password, &salt, &mut output, blocks)
    })
    .map_err(|e| anyhow!("Argon2 hashing failed: {e}"))?;
    let phc = PhcString {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)
            .map_err(|e| anyhow!("cannot encode the parameters: {e}"))?,
        salt: Some(salt_string.as_salt()),
        hash: Some(Output::new(&output).map_err(|e| anyhow!("cannot encode the hash: {e}"))?),
    };
    Ok(phc.to_string())
}

/// Whether `candidate` gives `phc`'s hash, with the algorithm, version, parameters and salt
/// that `phc` names (what `argon2`'s `verify_password` does, on kept memory).
fn verify_argon2(phc: &PhcString<'_>, candidate: &[u8]) -> password_hash::Result<bool> {
    let (Some(salt), Some(expected)) = (phc.salt, phc.hash) else {
        return Err(password_hash::Error::Password);
    };
    let algorithm = Algorithm::try_from(phc.algorithm)?;
    let version = phc
        .version
        .map(Version::try_from)
        .transpose()?
        .unwrap_or_default();
    let params = Params::try_from(phc)?;
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes)?;
    let mut output = Zeroizing::new(vec![0u8; expected.len()]);
    let argon2 = Argon2::new(algorithm, version, params.clone());
    with_blocks(params.block_count(), |blocks| {
        argon2.hash_password_into_with_memory(candidate, salt, &mut output, blocks)
    })?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(&output)? == expected)
}

/// Checks `candidate` against a stored hash; a malformed hash is a warning and `false`.
/// Log lines name the problem only, never the hash.
pub(crate) fn verify_stored(stored: &str, candidate: &[u8]) -> bool {
    if BCRYPT_PREFIXES.iter().any(|p| stored.starts_with(p)) {
        return match bcrypt::verify(candidate, stored) {
            Ok(matches) => matches,
            Err(e) => {
                tracing::warn!(error = %e, "stored bcrypt password hash is malformed");
                false
            }
        };
    }
    let phc = match PhcString::new(stored) {
        Ok(phc) => phc,
        Err(e) => {
            tracing::warn!(error = %e, "stored password hash is not a PHC string");
            return false;
        }
    };
    // The algorithm, version and parameters come from the stored hash itself.
    match verify_argon2(&phc, candidate) {
        Ok(matches) => matches,
        Err(password_hash::Error::Password) => false,
        Err(e) => {
            tracing::warn!(error = %e, "stored password hash cannot be verified");
            false
        }
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: SecretString) -> anyhow::Result<PasswordHash> {
        let password = Zeroizing::new(password.expose_secret().as_bytes().to_vec());
        Ok(PasswordHash::new(self.hash_bytes(password).await?))
    }

    async fn verify(
        &self,
        candidate: SecretString,
        hash: Option<PasswordHash>,
    ) -> anyhow::Result<bool> {
        match hash {
            Some(hash) if hash.expose() != UNUSABLE_HASH => {
                self.verify_bytes(hash.expose().to_owned(), &candidate)
                    .await
            }
            // No account, or one without a usable password: same work, always no.
            _ => {
                let dummy = self.dummy_hash().await?.to_owned();
                // Same work as a real verification; the answer is no whatever it says.
                self.verify_bytes(dummy, &candidate).await?;
                Ok(false)
            }
        }
    }

    /// bcrypt hashes (imported from the original) and Argon2 hashes with other parameters than
    /// this hasher's are replaced at the next successful login: weaker ones for strength,
    /// costlier ones (the former 19 MiB production hashes among them) because every login
    /// would pay their memory.
    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        let stored = hash.expose();
        if BCRYPT_PREFIXES.iter().any(|p| stored.starts_with(p)) {
            return true;
        }
        let Ok(phc) = PhcString::new(stored) else {
            return false;
        };
        if phc.algorithm.as_str() != "argon2id" {
            return true;
        }
        let param = |name: &str| phc.params.get_decimal(name).unwrap_or(0);
        param("m") != self.params.m_cost()
            || param("t") != self.params.t_cost()
            || param("p") != self.params.p_cost()
    }

    fn unusable_hash(&self) -> PasswordHash {
        PasswordHash::new(UNUSABLE_HASH.to_owned())
    }
}

#[cfg(test)]
mod rehash_tests {
    use super::*;

    #[tokio::test]
    async fn bcrypt_and_other_argon2_parameters_need_a_rehash_and_todays_do_not() {
        let hasher = Argon2Hasher::with_params(64, 1, 1).expect("params");
        let bcrypt = bcrypt::hash("Secur3*Pass", 4).expect("bcrypt");
        assert!(hasher.needs_rehash(&PasswordHash::new(bcrypt)));
        let today = hasher
            .hash(SecretString::from("Secur3*Pass"))
            .await
            .expect("hash");
        assert!(!hasher.needs_rehash(&today));
        let stronger = Argon2Hasher::with_params(128, 2, 1).expect("params");
        assert!(
            stronger.needs_rehash(&today),
            "weaker parameters than today's"
        );
        let costlier = stronger
            .hash(SecretString::from("Secur3*Pass"))
            .await
            .expect("hash");
        assert!(
            hasher.needs_rehash(&costlier),
            "costlier parameters than today's"
        );
        // The production hashes made before 2026-12 (19 MiB, 2 passes).
        let former = PasswordHash::new(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
                .to_owned(),
        );
        assert!(Argon2Hasher::new().needs_rehash(&former));
    }

    #[tokio::test]
    async fn no_password_matches_the_unusable_hash() {
        let hasher = Argon2Hasher::with_params(64, 1, 1).expect("params");
        let unusable = hasher.unusable_hash();
        for candidate in ["", "Secur3*Pass", UNUSABLE_HASH] {
            let ok = hasher
                .verify(SecretString::from(candidate), Some(unusable.clone()))
                .await
                .expect("verified");
            assert!(!ok, "{candidate:?} matched");
        }
        assert!(!hasher.needs_rehash(&unusable));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    /// Small parameters where only correctness matters, not cost.
    fn fast() -> Argon2Hasher {
        Argon2Hasher::with_params(256, 1, 1).expect("valid params")
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s)
    }

    /// Whether `hasher` takes `password` for `hash`.
    async fn verifies(hasher: &Argon2Hasher, password: &str, hash: &PasswordHash) -> bool {
        hasher
            .verify(secret(password), Some(hash.clone()))
            .await
            .expect("verify")
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hasher = fast();
        let hash = hasher.hash(secret("Secur3*Pass")).await.expect("hash");
        assert!(hash.expose().starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
        assert!(verifies(&hasher, "Secur3*Pass", &hash).await);
        assert!(!verifies(&hasher, "Secur3*Pas", &hash).await);
        assert!(!verifies(&hasher, "", &hash).await);
    }

    /// The hashes made on kept memory are the `argon2` crate's own: each side verifies the
    /// other's, and reused memory gives the same answers as fresh memory.
    #[test]
    fn hashes_agree_with_the_argon2_crates_own() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let params = Params::new(256, 2, 1, None).expect("params");
        let ours = hash_argon2id(params.clone(), b"Secur3*Pass").expect("hash");
        let phc = PhcString::new(&ours).expect("a PHC string");
        assert!(
            argon2id(params.clone())
                .verify_password(b"Secur3*Pass", &phc)
                .is_ok()
        );
        assert!(
            argon2id(params.clone())
                .verify_password(b"Secur3*Pas", &phc)
                .is_err()
        );
        let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
        let theirs = argon2id(params)
            .hash_password(b"Secur3*Pass", &salt)
            .expect("hash")
            .to_string();
        for _ in 0..3 {
            assert!(verify_stored(&theirs, b"Secur3*Pass"));
            assert!(!verify_stored(&theirs, b"Secur3*Pass "));
        }
        release_memory();
        assert!(kept_blocks().is_empty());
        assert!(
            verify_stored(&theirs, b"Secur3*Pass"),
            "after a release too"
        );
    }

    #[tokio::test]
    async fn the_same_password_hashes_differently_each_time() {
        let hasher = fast();
        let a = hasher.hash(secret("Secur3*Pass")).await.expect("hash");
        let b = hasher.hash(secret("Secur3*Pass")).await.expect("hash");
        assert_ne!(a, b, "salts must differ");
    }

    #[tokio::test]
    async fn production_parameters_are_owasp_argon2id() {
        let hasher = Argon2Hasher::new();
        let hash = hasher.hash(secret("Secur3*Pass")).await.expect("hash");
        assert!(
            hash.expose().starts_with("$argon2id$v=19$m=9216,t=4,p=1$"),
            "unexpected parameters in the PHC string"
        );
        assert!(verifies(&hasher, "Secur3*Pass", &hash).await);
        assert!(!verifies(&hasher, "wrong", &hash).await);
    }

    #[tokio::test]
    async fn an_unknown_account_is_checked_against_a_dummy_hash_with_the_same_parameters() {
        let hasher = Argon2Hasher::new();
        assert!(
            hasher.dummy.get().is_none(),
            "the dummy hash is computed lazily"
        );
        assert!(
            !hasher
                .verify(secret("Secur3*Pass"), None)
                .await
                .expect("verify")
        );
        let dummy = hasher.dummy.get().expect("computed on first use").clone();
        assert!(dummy.starts_with("$argon2id$v=19$m=9216,t=4,p=1$"));
        // Computed once: a second unknown-account check reuses it.
        assert!(!hasher.verify(secret(""), None).await.expect("verify"));
        assert_eq!(hasher.dummy.get(), Some(&dummy));
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_is_no_match_rather_than_an_error() {
        let hasher = fast();
        for bad in [
            "",
            "not a hash",
            "$argon2id$garbage",
            "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$",
            "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
            "$2b$12$short",
            "$2b$99$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        ] {
            let verdict = hasher
                .verify(
                    secret("Secur3*Pass"),
                    Some(PasswordHash::new(bad.to_owned())),
                )
                .await;
            assert!(matches!(verdict, Ok(false)), "{bad:?} gave {verdict:?}");
        }
    }

    #[tokio::test]
    async fn bcrypt_hashes_of_imported_accounts_verify() {
        let hasher = fast();
        let parts = bcrypt::hash_with_result("Secur3*Pass", 4).expect("bcrypt");
        for (name, version) in [
            ("2a", bcrypt::Version::TwoA),
            ("2b", bcrypt::Version::TwoB),
            ("2y", bcrypt::Version::TwoY),
        ] {
            let stored = parts.format_for_version(version);
            assert!(stored.starts_with(&format!("${name}$")));
            let hash = PasswordHash::new(stored.clone());
            assert!(
                hasher
                    .verify(secret("Secur3*Pass"), Some(hash.clone()))
                    .await
                    .expect("verify"),
                "${name}$ hash rejected the right password"
            );
            assert!(
                !hasher
                    .verify(secret("Secur3*Pasz"), Some(hash))
                    .await
                    .expect("verify"),
                "${name}$ hash accepted a wrong password"
            );
        }
    }

    /// On a single-threaded runtime a hash computed on the executor thread would stop every other
    /// task until it ends. A ticker task must keep ticking while a slow hash is computed.
    #[tokio::test(flavor = "current_thread")]
    async fn hashing_and_verifying_leave_the_executor_free() {
        // About ten times the production cost so the hash outlasts several ticks.
        let hasher = Argon2Hasher::with_params(PRODUCTION_M_KIB, 20, 1).expect("params");
        let ticks = Arc::new(AtomicU32::new(0));
        let ticker = tokio::spawn({
            let ticks = Arc::clone(&ticks);
            async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        // Let the ticker start.
        tokio::task::yield_now().await;

        let before = ticks.load(Ordering::Relaxed);
        let hash = hasher.hash(secret("Secur3*Pass")).await.expect("hash");
        let during_hash = ticks.load(Ordering::Relaxed) - before;

        let before = ticks.load(Ordering::Relaxed);
        assert!(
            hasher
                .verify(secret("Secur3*Pass"), Some(hash))
                .await
                .expect("verify")
        );
        let during_verify = ticks.load(Ordering::Relaxed) - before;
        ticker.abort();

        assert!(
            during_hash >= 3,
            "executor blocked while hashing ({during_hash} ticks)"
        );
        assert!(
            during_verify >= 3,
            "executor blocked while verifying ({during_verify} ticks)"
        );
    }

    #[test]
    fn unusable_parameters_are_refused() {
        assert!(Argon2Hasher::with_params(19456, 0, 1).is_err());
        assert!(Argon2Hasher::with_params(4, 1, 1).is_err());
        assert!(Argon2Hasher::with_params(19456, 2, 0).is_err());
    }
}
