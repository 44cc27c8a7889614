//! argon2id on a fixed pool of OS threads with a bounded queue.
//!
//! Hashing never runs on the async runtime, and a full queue is refused at once (`Busy`) rather
//! than letting latency grow without bound. Each worker keeps its argon2 memory between jobs,
//! which saves an allocation and ~19 MiB of page faults per hash; it takes that memory at its
//! first job, so a server that never hashes (OAuth, codes, sessions only) does not hold it.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;

use crate::password::Password;

/// argon2id cost; the default is OWASP's recommendation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashingSettings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Jobs that may wait for a worker before new ones are refused with 503.
    pub queue: usize,
}

impl Default for HashingSettings {
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1, threads: 0, queue: 64 }
    }
}

impl HashingSettings {
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        match self.params() {
            Ok(_) if self.queue == 0 => vec![("queue", "must be at least 1".to_owned())],
            Ok(_) => Vec::new(),
            Err(e) => vec![("memory_kib", format!("argon2 refuses these parameters: {e}"))],
        }
    }

    fn params(&self) -> Result<Params, argon2::Error> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("the password hashing queue is full")]
    Busy,
    #[error("stored password hash is unreadable")]
    Malformed,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

enum Job {
    Hash { password: Password, reply: oneshot::Sender<Result<String, HashError>> },
    Verify { password: Password, phc: String, reply: oneshot::Sender<Result<bool, HashError>> },
}

#[derive(Clone)]
pub struct PasswordHasher {
    queue: SyncSender<(Job, tracing::Span)>,
    waiting: Arc<AtomicUsize>,
    /// A hash of a random password, verified against when a user is unknown so that the
    /// answer takes as long as for a known user.
    dummy: Arc<String>,
    threads: usize,
}

impl PasswordHasher {
    pub fn start(settings: &HashingSettings) -> Result<Self, HashError> {
        let params = settings.params().map_err(|e| HashError::Failed(e.to_string()))?;
        let threads = match settings.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let (queue, jobs) = sync_channel::<(Job, tracing::Span)>(settings.queue);
        let jobs = Arc::new(Mutex::new(jobs));
        let waiting = Arc::new(AtomicUsize::new(0));
        for i in 0..threads {
            let jobs = jobs.clone();
            let waiting = waiting.clone();
            let params = params.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || worker(&jobs, &waiting, params))
                .map_err(|e| HashError::Failed(e.to_string()))?;
        }
        let mut dummy_password = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut dummy_password);
        let dummy = hash_with(&params, &mut vec![Block::default(); params.block_count()], &dummy_password)?;
        Ok(Self { queue, waiting, dummy: Arc::new(dummy), threads })
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Jobs accepted but not yet finished.
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// A PHC string (`$argon2id$v=19$m=…`).
    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash { password, reply })?;
        answer.await.map_err(|_| HashError::Failed("hashing worker stopped".into()))?
    }

    pub async fn verify(&self, password: Password, phc: &str) -> Result<bool, HashError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify { password, phc: phc.to_owned(), reply })?;
        answer.await.map_err(|_| HashError::Failed("hashing worker stopped".into()))?
    }

    /// Spends the same time as `verify` and always fails: for unknown users.
    pub async fn verify_dummy(&self, password: Password) -> Result<bool, HashError> {
        let dummy = self.dummy.clone();
        self.verify(password, &dummy).await.map(|_| false)
    }

    fn submit(&self, job: Job) -> Result<(), HashError> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        match self.queue.try_send((job, tracing::Span::current())) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                Err(HashError::Busy)
            }
        }
    }
}

fn worker(jobs: &Mutex<Receiver<(Job, tracing::Span)>>, waiting: &AtomicUsize, params: Params) {
    let mut memory = Vec::new();
    loop {
        let next = jobs.lock().map(|rx| rx.recv());
        let Ok(Ok((job, span))) = next else { return };
        let _entered = span.enter();
        if memory.is_empty() {
            memory = vec![Block::default(); params.block_count()];
        }
        // The count drops before the answer is sent, so a caller never sees its own job pending.
        match job {
            Job::Hash { password, reply } => {
                let result = hash_with(&params, &mut memory, password.expose().as_bytes());
                waiting.fetch_sub(1, Ordering::Relaxed);
                let _ = reply.send(result);
            }
            Job::Verify { password, phc, reply } => {
                let result = verify_with(&params, &mut memory, &password, &phc);
                waiting.fetch_sub(1, Ordering::Relaxed);
                let _ = reply.send(result);
            }
        }
    }
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_with(params: &Params, memory: &mut [Block], password: &[u8]) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let mut out = [0u8; 32];
    argon2(params.clone())
        .hash_password_into_with_memory(password, &salt, &mut out, memory)
        .map_err(|e| HashError::Failed(e.to_string()))?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: params.try_into().map_err(|e: argon2::password_hash::Error| HashError::Failed(e.to_string()))?,
        salt: Some(Salt::new(&salt).map_err(|e| HashError::Failed(e.to_string()))?),
        hash: Some(Output::new(&out).map_err(|e| HashError::Failed(e.to_string()))?),
    };
    Ok(phc.to_string())
}

fn verify_with(current: &Params, memory: &mut Vec<Block>, password: &Password, phc: &str) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(phc).map_err(|_| HashError::Malformed)?;
    let params = Params::try_from(&parsed).map_err(|_| HashError::Malformed)?;
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(|_| HashError::Malformed)?;
    let version = parsed.version.map_or(Ok(Version::V0x13), Version::try_from).map_err(|_| HashError::Malformed)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(HashError::Malformed);
    };
    let mut out = vec![0u8; expected.len()];
    let hasher = Argon2::new(algorithm, version, params.clone());
    // Hashes made with other parameters (older settings) still verify, with their own memory.
    let result = if params.block_count() == current.block_count() {
        hasher.hash_password_into_with_memory(
            password.expose().as_bytes(),
            salt.as_ref(),
            &mut out,
            memory.as_mut_slice(),
        )
    } else {
        hasher.hash_password_into(password.expose().as_bytes(), salt.as_ref(), &mut out)
    };
    result.map_err(|e| HashError::Failed(e.to_string()))?;
    Ok(out.ct_eq(expected.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> HashingSettings {
        HashingSettings { memory_kib: 1024, iterations: 1, parallelism: 1, threads: 1, queue: 2 }
    }

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_fail() {
        let hasher = PasswordHasher::start(&cheap()).unwrap();
        let phc = hasher.hash(Password::new("Secret#123".into())).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{phc}");
        assert!(hasher.verify(Password::new("Secret#123".into()), &phc).await.unwrap());
        assert!(!hasher.verify(Password::new("secret#123".into()), &phc).await.unwrap());
        assert!(!hasher.verify_dummy(Password::new("Secret#123".into())).await.unwrap());
        assert!(matches!(hasher.verify(Password::new("x".into()), "nonsense").await, Err(HashError::Malformed)));
    }

    #[tokio::test]
    async fn verifies_hashes_made_with_other_parameters() {
        let old = PasswordHasher::start(&HashingSettings { memory_kib: 2048, ..cheap() }).unwrap();
        let phc = old.hash(Password::new("pw".into())).await.unwrap();
        let new = PasswordHasher::start(&cheap()).unwrap();
        assert!(new.verify(Password::new("pw".into()), &phc).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_instead_of_waiting() {
        let slow = HashingSettings { memory_kib: 8192, iterations: 3, threads: 1, queue: 1, ..cheap() };
        let hasher = PasswordHasher::start(&slow).unwrap();
        let jobs: Vec<_> = (0..8).map(|_| hasher.hash(Password::new("pw".into()))).collect();
        let results = futures_join_all(jobs).await;
        assert!(results.iter().any(|r| matches!(r, Err(HashError::Busy))));
        assert!(results.iter().any(Result::is_ok));
        assert_eq!(hasher.queue_depth(), 0);
    }

    async fn futures_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
        // Poll each once so every job is submitted before any can complete.
        let mut polled = Vec::new();
        for f in futures {
            let mut f = Box::pin(f);
            let waker = std::task::Waker::noop();
            match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
                std::task::Poll::Ready(out) => polled.push(Err(out)),
                std::task::Poll::Pending => polled.push(Ok(f)),
            }
        }
        let mut out = Vec::new();
        for p in polled {
            out.push(match p {
                Ok(f) => f.await,
                Err(done) => done,
            });
        }
        out
    }
}
