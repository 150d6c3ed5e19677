//! Batched, asynchronous writes to the state store.
//!
//! The engine never waits for the store: it queues [`Write`]s on a channel; one background
//! task applies whatever has queued up in a single transaction, then the next batch. Under
//! load batches grow, so the store is never the bottleneck; when idle every write goes out
//! at once, so a killed process loses at most the last few milliseconds.

use std::sync::Arc;

use sluice_store::{StateStore, StoreError, Write};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Largest batch applied in one transaction.
const MAX_BATCH: usize = 2048;

/// Handle to queue writes; cheap to clone.
#[derive(Clone)]
pub struct StoreWriter {
    tx: mpsc::UnboundedSender<Write>,
}

/// The background task; [`WriterTask::finish`] flushes and reports the first error.
pub struct WriterTask {
    handle: JoinHandle<Result<(), StoreError>>,
}

/// Starts the writer.
pub fn start(store: Arc<dyn StateStore>) -> (StoreWriter, WriterTask) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Write>();
    let handle = tokio::spawn(async move {
        let mut first_error = None;
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            if let Err(e) = store.apply(&batch).await {
                tracing::error!("state store write failed: {e}");
                first_error.get_or_insert(e);
            }
            batch.clear();
        }
        first_error.map_or(Ok(()), Err)
    });
    (StoreWriter { tx }, WriterTask { handle })
}

impl StoreWriter {
    /// Queues a write.
    pub fn send(&self, w: Write) {
        // The receiver lives until every sender is dropped, so this cannot fail in practice.
        let _ = self.tx.send(w);
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
