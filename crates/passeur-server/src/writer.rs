//! The store's one writer: a thread that owns a write connection and folds
//! the writes waiting at any moment into one transaction (group commit: one
//! fsync acknowledges many requests). A request's write is answered only
//! after its commit; impressions, which nobody waits for, ride along with the
//! next commit or are flushed after a short delay.

use passeur_domain::Interaction;
use passeur_store::{ServedListRecord, SqliteStore, StoreError, Write, Written};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

enum Message {
    Write(Box<Write>, oneshot::Sender<Result<Written, StoreError>>),
    Impressions(Vec<Interaction>, Vec<ServedListRecord>),
    Flush(oneshot::Sender<()>),
}

/// Counters of what the writer did.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Commits made.
    pub commits: AtomicU64,
    /// Writes acknowledged.
    pub writes: AtomicU64,
    /// Impressions stored.
    pub impressions: AtomicU64,
    /// Impressions dropped because the store refused them.
    pub impressions_dropped: AtomicU64,
}

/// A handle to the writer thread (cheap to clone).
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Message>,
    /// What it did.
    pub stats: Arc<WriterStats>,
}

/// Impressions wait at most this long for a commit to ride with.
const IMPRESSION_DELAY: Duration = Duration::from_millis(200);
/// Impressions are written once this many wait, whatever the delay.
const IMPRESSION_BATCH: usize = 20_000;

impl Writer {
    /// Starts the writer over `store`; it stops when every handle is dropped, after writing what it holds.
    pub fn start(store: SqliteStore, max_group: usize) -> (Writer, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(WriterStats::default());
        let thread_stats = Arc::clone(&stats);
        let handle = std::thread::Builder::new()
            .name("passeur-writer".into())
            .spawn(move || run(store, rx, max_group, &thread_stats))
            .expect("the writer thread starts");
        (Writer { tx, stats }, handle)
    }

    /// Writes, and answers once the write is committed (or refused).
    pub async fn write(&self, write: Write) -> Result<Written, StoreError> {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Message::Write(Box::new(write), reply)).is_err() {
            return Err(StoreError::Io { path: "writer".into(), source: std::io::Error::other("the writer stopped") });
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Io { path: "writer".into(), source: std::io::Error::other("the writer stopped") })
        })
    }

    /// Queues impressions; they are committed with the next group.
    pub fn log(&self, impressions: Vec<Interaction>, lists: Vec<ServedListRecord>) {
        let _ = self.tx.send(Message::Impressions(impressions, lists));
    }

    /// Waits until everything sent before is committed.
    pub async fn flush(&self) {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Message::Flush(reply)).is_ok() {
            let _ = answer.await;
        }
    }
}

fn run(mut store: SqliteStore, rx: mpsc::Receiver<Message>, max_group: usize, stats: &WriterStats) {
    let mut pending: Vec<Interaction> = Vec::new();
    let mut pending_lists: Vec<ServedListRecord> = Vec::new();
    let mut pending_since: Option<Instant> = None;
    let mut open = true;
    while open || !pending.is_empty() {
        let first = if !open {
            None
        } else if pending.is_empty() {
            match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => {
                    open = false;
                    None
                }
            }
        } else {
            match rx.recv_timeout(IMPRESSION_DELAY) {
                Ok(m) => Some(m),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    open = false;
                    None
                }
            }
        };
        let mut writes: Vec<Write> = Vec::new();
        let mut replies: Vec<oneshot::Sender<Result<Written, StoreError>>> = Vec::new();
        let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
        let mut take = |m: Message, writes: &mut Vec<Write>, pending: &mut Vec<Interaction>| match m {
            Message::Write(w, reply) => {
                writes.push(*w);
                replies.push(reply);
            }
            Message::Impressions(mut rows, mut lists) => {
                pending.append(&mut rows);
                pending_lists.append(&mut lists);
            }
            Message::Flush(reply) => flushes.push(reply),
        };
        if let Some(m) = first {
            take(m, &mut writes, &mut pending);
        }
        while writes.len() < max_group {
            match rx.try_recv() {
                Ok(m) => take(m, &mut writes, &mut pending),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        // Impressions go when a commit happens anyway, when enough wait, when asked, or on a quiet moment.
        if pending.is_empty() {
            pending_since = None;
        } else if pending_since.is_none() {
            pending_since = Some(Instant::now());
        }
        let overdue = pending_since.is_some_and(|t| t.elapsed() >= IMPRESSION_DELAY);
        let write_impressions = !pending.is_empty()
            && (!writes.is_empty() || pending.len() >= IMPRESSION_BATCH || !flushes.is_empty() || overdue || !open);
        let (impressions, lists) = if write_impressions {
            pending_since = None;
            (std::mem::take(&mut pending), std::mem::take(&mut pending_lists))
        } else {
            (Vec::new(), Vec::new())
        };
        let shown = impressions.len();
        if writes.is_empty() && impressions.is_empty() {
            for f in flushes {
                let _ = f.send(());
            }
            continue;
        }
        let mut group = writes;
        let with_lists = !lists.is_empty();
        if !impressions.is_empty() {
            group.push(Write::Impressions(impressions));
            if with_lists {
                group.push(Write::Lists(lists));
            }
        }
        match store.write_group(&group) {
            Ok(mut results) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                if shown > 0 {
                    if with_lists && let Some(Err(e)) = results.pop() {
                        tracing::warn!(error = %e, "served lists refused by the store; dropped");
                    }
                    match results.pop() {
                        Some(Ok(_)) => {
                            stats.impressions.fetch_add(shown as u64, Ordering::Relaxed);
                        }
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, rows = shown, "impressions refused by the store; dropped");
                            stats.impressions_dropped.fetch_add(shown as u64, Ordering::Relaxed);
                        }
                        None => {}
                    }
                }
                stats.writes.fetch_add(replies.len() as u64, Ordering::Relaxed);
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "group commit failed");
                if shown > 0 {
                    stats.impressions_dropped.fetch_add(shown as u64, Ordering::Relaxed);
                }
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Io {
                        path: "commit".into(),
                        source: std::io::Error::other(message.clone()),
                    }));
                }
            }
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}
