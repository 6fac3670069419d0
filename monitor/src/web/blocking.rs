//! The bounded pool that the web side's blocking work goes through: SQLite history reads
//! and plot rendering run on [`Pool::workers`] threads of their own, with at most
//! [`QUEUE`] more jobs waiting. A request beyond that is answered 503 at once rather than
//! queued without end.
//!
//! The threads run at the lowest CPU priority (`SCHED_IDLE` on Linux): drawing plots as
//! fast as they are asked for takes whatever CPU is idle, and the command port and the
//! pollers get a core the moment they wake (a nice-19 thread would still finish its time
//! slice first: milliseconds). That is why these are dedicated threads and not tokio's
//! shared blocking pool, whose threads also resolve names for the pollers.

use crate::store::{open_reader, Reader, StoreError};
use axum::http::{header, StatusCode};
use axum::response::Response;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Jobs that may wait for a worker.
pub const QUEUE: usize = 64;

#[derive(Debug, PartialEq)]
pub enum PoolError {
    /// Every worker is busy and the queue is full.
    Busy,
    /// The monitor runs without a history database.
    NoStore,
    /// The database could not be opened for reading, or the job panicked.
    Failed(String),
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolError::Busy => f.write_str("busy: too many plot and history requests, try again"),
            PoolError::NoStore => f.write_str("this monitor keeps no history"),
            PoolError::Failed(why) => write!(f, "history unavailable: {why}"),
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

pub struct Pool {
    store: Option<PathBuf>,
    workers: usize,
    jobs: SyncSender<Job>,
    /// Idle read-only connections, at most one per worker.
    readers: Arc<Mutex<Vec<Reader>>>,
}

impl Pool {
    /// A pool for the database at `store` (none: history requests fail with `NoStore`)
    /// with a worker per core but one: that core stays free for the async tasks, so the
    /// command port never has to wait for a plot to be preempted.
    pub fn new(store: Option<PathBuf>) -> Pool {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Pool::with_workers(store, cores.saturating_sub(1).max(1))
    }

    pub fn with_workers(store: Option<PathBuf>, workers: usize) -> Pool {
        let workers = workers.max(1);
        let (jobs, queue) = sync_channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..workers {
            let queue = queue.clone();
            // A pool without threads would answer nothing; failing to start one is as
            // fatal as failing to start the runtime.
            std::thread::Builder::new()
                .name(format!("labwire-web-{n}"))
                .spawn(move || work(&queue))
                .expect("cannot start a web worker thread");
        }
        Pool {
            store,
            workers,
            jobs,
            readers: Arc::new(Mutex::new(Vec::with_capacity(workers))),
        }
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Run `job` with a read-only connection to the history database.
    pub async fn read<T, F>(&self, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce(&Reader) -> T + Send + 'static,
    {
        let Some(path) = self.store.clone() else {
            return Err(PoolError::NoStore);
        };
        let readers = self.readers.clone();
        let workers = self.workers;
        self.run(move || {
            let reader = readers.lock().expect("reader pool").pop();
            let reader = match reader {
                Some(reader) => reader,
                None => open_reader(&path).map_err(|err: StoreError| {
                    PoolError::Failed(format!("{}: {err}", path.display()))
                })?,
            };
            let answer = job(&reader);
            let mut idle = readers.lock().expect("reader pool");
            if idle.len() < workers {
                idle.push(reader);
            }
            Ok(answer)
        })
        .await?
    }

    /// Run `job` on a worker thread once one is free; `Busy` at once when the queue is full.
    pub async fn run<T, F>(&self, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(job());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(PoolError::Busy),
            Err(TrySendError::Disconnected(_)) => {
                return Err(PoolError::Failed("the web workers stopped".into()))
            }
        }
        answered
            .await
            .map_err(|_| PoolError::Failed("the job failed".into()))
    }
}

/// The answer to a request the pool did not run: 503, counted and with `Retry-After` when
/// the pool was busy.
pub fn unavailable(counters: &super::WebCounters, err: PoolError) -> Response {
    let mut response = super::failure(StatusCode::SERVICE_UNAVAILABLE, err.to_string());
    if err == PoolError::Busy {
        counters.busy.fetch_add(1, Ordering::Relaxed);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    response
}

fn work(queue: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        // Holding the lock while waiting is fine: whoever holds it takes the next job.
        let job = match queue.lock().expect("job queue").recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        // A job that panics drops its answer (the request fails); the worker goes on.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// `SCHED_IDLE` for the calling thread: any other thread that wakes preempts it at once.
#[cfg(target_os = "linux")]
fn lower_priority() {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadSchedulePolicy,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(err) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle)
    {
        tracing::warn!("cannot lower the priority of a web worker: {err:?}");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once() {
        let pool = Arc::new(Pool::with_workers(None, 1));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let (started, running) = std::sync::mpsc::channel::<()>();
        let mut jobs = Vec::new();
        for n in 0..=QUEUE {
            let (pool, gate, started) = (pool.clone(), gate.clone(), started.clone());
            jobs.push(tokio::spawn(async move {
                pool.run(move || {
                    let _ = started.send(());
                    let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(5));
                })
                .await
            }));
            if n == 0 {
                // The worker holds the first job; the others fill the queue.
                tokio::task::yield_now().await;
                running.recv_timeout(Duration::from_secs(5)).unwrap();
            }
        }
        for _ in 0..QUEUE {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.run(|| ()).await, Err(PoolError::Busy));
        for _ in 0..=QUEUE {
            release.send(()).unwrap();
        }
        for job in jobs {
            assert_eq!(job.await.unwrap(), Ok(()));
        }
        assert_eq!(pool.run(|| 7).await, Ok(7));
    }

    #[tokio::test]
    async fn a_job_that_panics_fails_alone() {
        let pool = Pool::with_workers(None, 1);
        let failed = pool.run(|| panic!("a broken plot")).await;
        assert!(matches!(failed, Err(PoolError::Failed(_))), "{failed:?}");
        assert_eq!(pool.run(|| 7).await, Ok(7), "the worker is still there");
    }

    #[tokio::test]
    async fn without_a_store_history_is_refused() {
        let pool = Pool::with_workers(None, 1);
        assert_eq!(pool.read(|_| ()).await, Err(PoolError::NoStore));
    }
}
