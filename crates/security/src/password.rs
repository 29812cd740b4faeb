//! Argon2id password hashing, on a small pool of low-priority threads off the async executor.

use std::sync::Arc;

use anyhow::anyhow;
use argon2::password_hash::{
    self, PasswordHash as PhcString, PasswordHasher as _, PasswordVerifier as _, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;
use um_cpu_pool::{CpuPool, Priority};
use um_domain::model::PasswordHash;
use um_domain::ports::PasswordHasher;

/// Memory cost of production hashes in KiB (OWASP: 19 MiB).
pub const PRODUCTION_M_KIB: u32 = 19 * 1024;
/// Iterations of production hashes (OWASP: 2).
pub const PRODUCTION_T: u32 = 2;
/// Lanes of production hashes (OWASP: 1).
pub const PRODUCTION_P: u32 = 1;

// `Argon2Hasher::new` uses the crate's defaults; make sure they are the OWASP values above.
const _: () = assert!(
    Params::DEFAULT_M_COST == PRODUCTION_M_KIB
        && Params::DEFAULT_T_COST == PRODUCTION_T
        && Params::DEFAULT_P_COST == PRODUCTION_P
);

/// Prefixes of the bcrypt hashes that accounts imported from the FastAPI original carry.
const BCRYPT_PREFIXES: [&str; 3] = ["$2a$", "$2b$", "$2y$"];

/// What [`PasswordHasher::unusable_hash`] stores: not a PHC string, so no password matches it.
const UNUSABLE_HASH: &str = "!unusable: sign in through a password reset";

/// Argon2id hashes in PHC string form (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
///
/// Every hash and verification runs on a [`CpuPool`] of one background-priority thread per core,
/// never on an executor thread: a flood of logins queues (each hash holds 19 MiB while it runs,
/// so memory stays bounded) and never delays the requests that only read the database.
/// Verification also accepts the bcrypt hashes (`$2a$`, `$2b$`, `$2y$`) of accounts imported
/// from the original service.
///
/// Cloning is cheap; clones share the workers and the dummy hash.
#[derive(Clone)]
pub struct Argon2Hasher {
    params: Params,
    workers: CpuPool,
    /// The hash that unknown accounts are checked against, computed on first use.
    dummy: Arc<OnceCell<String>>,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher")
            .field("m_kib", &self.params.m_cost())
            .field("t", &self.params.t_cost())
            .field("p", &self.params.p_cost())
            .field("threads", &self.workers.threads())
            .finish_non_exhaustive()
    }
}

impl Default for Argon2Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl Argon2Hasher {
    /// A hasher with the production parameters (m = 19 MiB, t = 2, p = 1, the OWASP
    /// recommendation for Argon2id).
    #[must_use]
    pub fn new() -> Self {
        Self::from_params(Params::DEFAULT)
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

    /// Lets at most `n` (at least 1) hashes or verifications run at once; the others wait.
    #[must_use]
    pub fn with_max_concurrency(mut self, n: usize) -> Self {
        self.workers = CpuPool::new("argon2", n, Priority::Background);
        self
    }

    fn from_params(params: Params) -> Self {
        Self {
            params,
            workers: CpuPool::new("argon2", um_cpu_pool::cores(), Priority::Background),
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
                let params = self.params.clone();
                // A random password nobody knows: the dummy hash never matches anything anyway.
                let mut secret = [0u8; 32];
                rand::rng().fill_bytes(&mut secret);
                self.run_blocking(move || hash_argon2id(params, &secret))
                    .await?
            })
            .await?;
        Ok(hash.as_str())
    }

    /// Runs `work` on a worker once one is free; it runs to its end even if the caller gives
    /// up waiting.
    async fn run_blocking<T, F>(&self, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        Ok(self.workers.run(work).await?)
    }
}

fn argon2id(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_argon2id(params: Params, password: &[u8]) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow!("cannot encode salt: {e}"))?;
    let hash = argon2id(params)
        .hash_password(password, &salt)
        .map_err(|e| anyhow!("Argon2 hashing failed: {e}"))?;
    Ok(hash.to_string())
}

/// Checks `candidate` against a stored hash; a malformed hash is a warning and `false`.
/// Log lines name the problem only, never the hash.
fn verify_stored(stored: &str, candidate: &[u8]) -> bool {
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
    match Argon2::default().verify_password(candidate, &phc) {
        Ok(()) => true,
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
        let params = self.params.clone();
        let phc = self
            .run_blocking(move || hash_argon2id(params, password.expose_secret().as_bytes()))
            .await??;
        Ok(PasswordHash::new(phc))
    }

    async fn verify(
        &self,
        candidate: SecretString,
        hash: Option<PasswordHash>,
    ) -> anyhow::Result<bool> {
        match hash {
            Some(hash) if hash.expose() != UNUSABLE_HASH => {
                self.run_blocking(move || {
                    verify_stored(hash.expose(), candidate.expose_secret().as_bytes())
                })
                .await
            }
            // No account, or one without a usable password: same work, always no.
            _ => {
                let dummy = self.dummy_hash().await?.to_owned();
                // Same work as a real verification; the answer is no whatever it says.
                self.run_blocking(move || {
                    verify_stored(&dummy, candidate.expose_secret().as_bytes())
                })
                .await?;
                Ok(false)
            }
        }
    }

    /// bcrypt hashes (imported from the original) and Argon2 hashes with weaker parameters than
    /// this hasher's are replaced at the next successful login.
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
        param("m") < self.params.m_cost()
            || param("t") < self.params.t_cost()
            || param("p") < self.params.p_cost()
    }

    fn unusable_hash(&self) -> PasswordHash {
        PasswordHash::new(UNUSABLE_HASH.to_owned())
    }
}

#[cfg(test)]
mod rehash_tests {
    use super::*;

    #[tokio::test]
    async fn bcrypt_and_weaker_argon2_need_a_rehash_and_todays_do_not() {
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
            hash.expose().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
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
        assert!(dummy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
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
