//! The background task behind each source and sink: a stop signal in, a final result out.
//! Dropping the handle stops the task.

use crate::error::MediaError;
use std::future::Future;
use tokio::sync::watch;

/// The task's view of the stop signal.
pub(crate) struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    /// Resolves once `stop()` was called or the handle was dropped.
    pub(crate) async fn stopped(&mut self) {
        loop {
            if *self.0.borrow_and_update() {
                return;
            }
            if self.0.changed().await.is_err() {
                return;
            }
        }
    }
}

/// The handle's side: stop the task, wait for its result.
#[derive(Debug)]
pub(crate) struct Runner<T> {
    stop: watch::Sender<bool>,
    done: watch::Receiver<Option<Result<T, MediaError>>>,
}

impl<T: Clone + Send + Sync + 'static> Runner<T> {
    /// Spawns `task` on the current tokio runtime (an error outside of one).
    pub(crate) fn spawn<F, Fut>(task: F) -> Result<Runner<T>, MediaError>
    where
        F: FnOnce(StopSignal) -> Fut,
        Fut: Future<Output = Result<T, MediaError>> + Send + 'static,
    {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|e| MediaError::Io(format!("no tokio runtime: {e}")))?;
        let (stop, stop_rx) = watch::channel(false);
        let (done_tx, done) = watch::channel(None);
        let fut = task(StopSignal(stop_rx));
        handle.spawn(async move {
            let result = fut.await;
            let _ = done_tx.send(Some(result));
        });
        Ok(Runner { stop, done })
    }

    /// Asks the task to stop.
    pub(crate) fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Whether the task has ended.
    pub(crate) fn is_finished(&self) -> bool {
        self.done.borrow().is_some()
    }

    /// Waits for the task's result (can be called any number of times).
    pub(crate) async fn finished(&self) -> Result<T, MediaError> {
        let mut done = self.done.clone();
        let result = match done.wait_for(Option::is_some).await {
            Ok(v) => v.clone().unwrap_or(Err(MediaError::Closed)),
            // The task went away without a result (the runtime shut down).
            Err(_) => Err(MediaError::Closed),
        };
        result
    }
}
