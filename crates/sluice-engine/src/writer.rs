//! Batched, asynchronous writes to the state store.
//!
//! The engine does not wait for the store on each state change: it queues [`Write`]s on a
//! channel; one background task applies whatever has queued up in a single transaction, then
//! the next batch. Under load batches grow, so the store is never the bottleneck. Before a
//! task's work starts, the engine waits for [`StoreWriter::flush`]: what the task depends on
//! (its upstream tasks' success, its own running attempt and process group) is in the store
//! before anything can happen that a restart would have to know about.
//!
//! A batch the store refuses (disk full, database locked) is not dropped silently: the writer
//! remembers the first refusal ([`StoreWriter::refused`]), fires the token it was given so
//! the run stops, and [`WriterTask::finish`] reports it.

use std::sync::{Arc, OnceLock};

use sluice_store::{StateStore, StoreError, Write};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Largest batch applied in one transaction.
const MAX_BATCH: usize = 2048;

// Writes are nearly every message: boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Write(Write),
    /// Answered once every write queued before it is applied.
    Flush(oneshot::Sender<()>),
}

/// Handle to queue writes; cheap to clone.
#[derive(Clone)]
pub struct StoreWriter {
    tx: mpsc::UnboundedSender<Msg>,
    /// The first error of the store, as text.
    refused: Arc<OnceLock<String>>,
}

/// The background task; [`WriterTask::finish`] flushes and reports the first error.
pub struct WriterTask {
    handle: JoinHandle<Result<(), StoreError>>,
}

/// Starts the writer. `on_refusal` is cancelled when the store first refuses a write.
pub fn start(
    store: Arc<dyn StateStore>,
    on_refusal: CancellationToken,
) -> (StoreWriter, WriterTask) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let refused = Arc::new(OnceLock::new());
    let first = refused.clone();
    let handle = tokio::spawn(async move {
        let mut first_error = None;
        let mut batch = Vec::new();
        let mut writes = Vec::new();
        let mut flushed = Vec::new();
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            for msg in batch.drain(..) {
                match msg {
                    Msg::Write(w) => writes.push(w),
                    Msg::Flush(done) => flushed.push(done),
                }
            }
            if !writes.is_empty() {
                if let Err(e) = store.apply(&writes).await {
                    tracing::error!("the state store refused a write: {e}");
                    first.get_or_init(|| e.to_string());
                    on_refusal.cancel();
                    first_error.get_or_insert(e);
                }
                writes.clear();
            }
            for done in flushed.drain(..) {
                let _ = done.send(());
            }
        }
        first_error.map_or(Ok(()), Err)
    });
    (StoreWriter { tx, refused }, WriterTask { handle })
}

impl StoreWriter {
    /// Queues a write.
    pub fn send(&self, w: Write) {
        // The receiver lives until every sender is dropped, so this cannot fail in practice.
        let _ = self.tx.send(Msg::Write(w));
    }

    /// Waits until every write queued before this call is applied. Fails with the store's
    /// error once it has refused a write (this one or an earlier one).
    pub async fn flush(&self) -> Result<(), String> {
        let (done, applied) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = applied.await;
        }
        match self.refused() {
            Some(e) => Err(format!("the state store refused a write: {e}")),
            None => Ok(()),
        }
    }

    /// The first error of the store, if it refused a write.
    pub fn refused(&self) -> Option<String> {
        self.refused.get().cloned()
    }
}

impl WriterTask {
    /// Waits until every queued write is applied (all [`StoreWriter`]s must be dropped first).
    pub async fn finish(self) -> Result<(), StoreError> {
        match self.handle.await {
            Ok(r) => r,
            Err(e) => Err(StoreError::Corrupt(format!(
                "the store writer task stopped: {e}"
            ))),
        }
    }
}
