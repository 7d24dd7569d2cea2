//! Passwords: the rules a new one must meet ([`check_password`]), and hashing on a small fixed
//! pool of threads, each with one reusable Argon2 memory block.
//!
//! Argon2id works in ~19 MiB of memory per hash. Hashed on tokio's blocking pool, every new
//! blocking thread allocated that block in its own allocator arena and kept it, so a few dozen
//! logins (right or wrong passwords alike) grew a node by hundreds of MB. Here [`WORKERS`]
//! threads each own one block, allocated on first use and reused for every later hash; at most
//! [`QUEUE`] requests wait for a worker, and one beyond that is answered at once with
//! [`HashError::Busy`] (503) instead of queueing without bound.
//!
//! Stored hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), the same
//! strings the `argon2` crate's own hasher writes, so hashes stored before this pool still verify.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, LazyLock, Mutex};

use actix_web::http::StatusCode;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

use super::error::ApiError;
use super::limits::{MAX_PASSWORD_CHARS, MIN_PASSWORD_LEN};

/// Hashing threads: Argon2 is CPU-bound, so more than two would only add memory on small nodes.
pub const WORKERS: usize = 2;

/// Requests that may wait for a free worker (~a second of work at two workers).
pub const QUEUE: usize = 32;

/// The most memory a stored hash may ask for, in KiB; a larger `m=` is refused, not allocated.
const MAX_MEMORY_KIB: u32 = 256 * 1024;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every worker is busy and the queue is full.
    #[error("too many password checks at once")]
    Busy,
    /// The pool's threads are gone.
    #[error("the password hashing threads stopped")]
    Stopped,
    /// Argon2 refused the input or a stored hash cannot be read.
    #[error("argon2: {0}")]
    Argon2(#[from] argon2::password_hash::Error),
    /// A stored hash asks for more memory than [`MAX_MEMORY_KIB`].
    #[error("a stored password hash asks for {0} KiB of memory")]
    TooCostly(u32),
}

impl From<HashError> for ApiError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many logins or password changes at once; try again in a moment",
            ),
            other => {
                tracing::error!(error = %other, "password hashing failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "cannot check the password",
                )
            }
        }
    }
}

/// Hashes a password with Argon2id on the process's hashing pool.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    Ok(PasswordPool::global()?.hash(password).await?)
}

/// Checks a password against a stored hash on the process's hashing pool.
pub async fn verify_password(password: String, hash: String) -> Result<bool, ApiError> {
    Ok(PasswordPool::global()?.verify(password, hash).await?)
}

/// Checks a new password against the rules, naming `field`.
pub fn check_password(field: &str, password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::invalid(
            field,
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ApiError::invalid(
            field,
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

enum Task {
    Hash(String),
    Verify { password: String, stored: String },
}

enum Done {
    Hashed(String),
    Verified(bool),
}

struct Job {
    task: Task,
    reply: oneshot::Sender<Result<Done, HashError>>,
}

/// A fixed set of hashing threads fed through a bounded queue.
pub struct PasswordPool {
    jobs: SyncSender<Job>,
}

impl PasswordPool {
    /// Starts `workers` threads (at least one) behind a queue of `queue` waiting requests.
    pub fn new(workers: usize, queue: usize) -> std::io::Result<Self> {
        let (jobs, receiver) = mpsc::sync_channel(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..workers.max(1) {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("password-{index}"))
                .spawn(move || work(&receiver))?;
        }
        Ok(Self { jobs })
    }

    /// The process's pool: [`WORKERS`] threads (fewer on a one-core machine), started on first
    /// use.
    pub fn global() -> Result<&'static PasswordPool, HashError> {
        static POOL: LazyLock<Option<PasswordPool>> = LazyLock::new(|| {
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            PasswordPool::new(WORKERS.min(cores), QUEUE)
                .inspect_err(|error| tracing::error!(%error, "cannot start password hashing"))
                .ok()
        });
        POOL.as_ref().ok_or(HashError::Stopped)
    }

    /// Hashes a new password with Argon2id's default parameters into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        match self.run(Task::Hash(password)).await? {
            Done::Hashed(hash) => Ok(hash),
            Done::Verified(_) => Err(HashError::Stopped),
        }
    }

    /// Whether `password` matches the `stored` PHC string.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, HashError> {
        match self.run(Task::Verify { password, stored }).await? {
            Done::Verified(matches) => Ok(matches),
            Done::Hashed(_) => Err(HashError::Stopped),
        }
    }

    async fn run(&self, task: Task) -> Result<Done, HashError> {
        let (reply, done) = oneshot::channel();
        self.jobs
            .try_send(Job { task, reply })
            .map_err(|error| match error {
                TrySendError::Full(_) => HashError::Busy,
                TrySendError::Disconnected(_) => HashError::Stopped,
            })?;
        done.await.map_err(|_| HashError::Stopped)?
    }
}

/// One worker: takes jobs until the pool is dropped, reusing one memory block throughout.
fn work(jobs: &Mutex<Receiver<Job>>) {
    let mut memory = Vec::new();
    loop {
        let next = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = next else { return };
        // The caller is gone (its client hung up): skip the work.
        if job.reply.is_closed() {
            continue;
        }
        let outcome = match job.task {
            Task::Hash(password) => hash(&mut memory, password.as_bytes()).map(Done::Hashed),
            Task::Verify { password, stored } => {
                verify(&mut memory, password.as_bytes(), &stored).map(Done::Verified)
            }
        };
        let _ = job.reply.send(outcome);
    }
}

/// Runs Argon2 in `memory`, growing it to the parameters' size once and keeping it.
fn argon2_into(
    memory: &mut Vec<Block>,
    argon2: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), HashError> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    argon2
        .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        .map_err(|error| HashError::Argon2(error.into()))
}

fn hash(memory: &mut Vec<Block>, password: &[u8]) -> Result<String, HashError> {
    let params = Params::default();
    let (algorithm, version) = (Algorithm::Argon2id, Version::V0x13);
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    getrandom::fill(&mut salt)
        .map_err(|_| HashError::Argon2(argon2::password_hash::Error::Crypto))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(memory, &argon2, &params, password, &salt, &mut out)?;
    let phc = PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(Salt::new(&salt).map_err(argon2::password_hash::Error::from)?),
        hash: Some(Output::new(&out).map_err(argon2::password_hash::Error::from)?),
    };
    Ok(phc.to_string())
}

fn verify(memory: &mut Vec<Block>, password: &[u8], stored: &str) -> Result<bool, HashError> {
    let phc = PasswordHash::new(stored).map_err(argon2::password_hash::Error::from)?;
    let algorithm =
        Algorithm::new(phc.algorithm.as_str()).map_err(|error| HashError::Argon2(error.into()))?;
    let version = match phc.version {
        Some(version) => {
            Version::try_from(version).map_err(|error| HashError::Argon2(error.into()))?
        }
        None => Version::default(),
    };
    // Takes the output length from the stored hash.
    let params = Params::try_from(&phc)?;
    if params.m_cost() > MAX_MEMORY_KIB {
        return Err(HashError::TooCostly(params.m_cost()));
    }
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return Ok(false);
    };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    argon2_into(memory, &argon2, &params, password, salt, &mut out)?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(&out).map_err(argon2::password_hash::Error::from)? == *expected)
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::PasswordHasher;

    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let pool = PasswordPool::new(1, 4).unwrap();
        let stored = pool.hash("correct horse".into()).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(
            pool.verify("correct horse".into(), stored.clone())
                .await
                .unwrap()
        );
        assert!(!pool.verify("correct horsE".into(), stored).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_written_by_the_argon2_crate_still_verify() {
        let pool = PasswordPool::new(1, 4).unwrap();
        let stored = Argon2::default()
            .hash_password(b"old password")
            .unwrap()
            .to_string();
        assert!(
            pool.verify("old password".into(), stored.clone())
                .await
                .unwrap()
        );
        assert!(!pool.verify("new password".into(), stored).await.unwrap());
        // Other parameters than the defaults, as an older node may have stored.
        let small = Params::new(1024, 1, 1, Some(24)).unwrap();
        let stored = Argon2::new(Algorithm::Argon2i, Version::V0x10, small)
            .hash_password(b"tiny")
            .unwrap()
            .to_string();
        assert!(pool.verify("tiny".into(), stored).await.unwrap());
    }

    #[tokio::test]
    async fn a_stored_hash_asking_for_too_much_memory_is_refused() {
        let pool = PasswordPool::new(1, 4).unwrap();
        let stored = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(matches!(
            pool.verify("x".into(), stored.into()).await,
            Err(HashError::TooCostly(4194304))
        ));
        assert!(matches!(
            pool.verify("x".into(), "not a hash".into()).await,
            Err(HashError::Argon2(_))
        ));
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once() {
        // One worker and room for one waiting request: of four at once, one is refused.
        let pool = Arc::new(PasswordPool::new(1, 1).unwrap());
        let mut answers = Vec::new();
        let running: Vec<_> = (0..4)
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.hash(format!("password {i}")).await })
            })
            .collect();
        for task in running {
            answers.push(task.await.unwrap());
        }
        assert!(
            answers.iter().any(|a| matches!(a, Err(HashError::Busy))),
            "no request was refused"
        );
        assert!(
            answers.iter().any(Result::is_ok),
            "every request was refused"
        );
    }
}
