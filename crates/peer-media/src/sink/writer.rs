//! Taking a recording's bytes to disk without blocking the async runtime.
//!
//! The recorders of [`super::file`] turn packets into bytes in memory (pure, synchronous code);
//! a [`FileWriter`] takes those bytes to the file. Every blocking file operation (create, write,
//! flush, seek, close) runs on tokio's blocking thread pool (`spawn_blocking`), never on a
//! runtime worker thread, so a slow or stuck disk does not stall the other tasks of the runtime
//! (signaling keepalives, the media of other calls).
//!
//! # Flow
//!
//! The sink's task appends bytes to its [`FileWriter`], which hands them in chunks of at most
//! [`CHUNK_BYTES`] over a bounded channel of [`QUEUE_CHUNKS`] chunks to a writer task. The
//! writer task takes what is queued (at most [`QUEUE_CHUNKS`] chunks), writes it and flushes in
//! one `spawn_blocking` call, and then takes the next batch. While the disk keeps up, each frame
//! goes to the kernel at once; when it falls behind, small appends are merged in memory into
//! larger chunks, so the batches grow and the system calls get fewer.
//!
//! # Bounded memory: backpressure
//!
//! When the channel is full, appending waits until the disk catches up: the sink's task stops
//! reading its track, the packets wait in the `webrtc` stack's bounded receive buffers and are
//! dropped there once those are full, as a congested network would drop them (the frames this
//! breaks are counted in the sink's `dropped_frames`, like any loss). Nothing is dropped between
//! the recorder and the file, so a finished file is always consistent (e.g. the IVF frame count
//! matches its frames). A recording holds at most about `(2 × QUEUE_CHUNKS + 1) × CHUNK_BYTES`
//! (about 4 MiB) on its way to the disk: the batch being written, the full channel, and one
//! partial chunk; plus the frame being appended. Stopping a sink whose disk is stalled waits
//! for the disk too.
//!
//! # Errors
//!
//! The first error (disk full, I/O error) ends the writer task: the file is closed as it is (a
//! finishing [`Patch`] is not applied) and the next append or [`FileWriter::finish`] returns the
//! error, so the sink ends with it.

use crate::error::MediaError;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The largest chunk sent to the writer task (and the size of its write buffer).
pub(crate) const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks the channel to the writer task holds; also the most it writes in one batch.
pub(crate) const QUEUE_CHUNKS: usize = 32;

/// Bytes to write at an offset of the file when it is finished (the IVF frame count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Patch {
    /// Where, from the start of the file.
    pub(crate) offset: u64,
    /// What.
    pub(crate) bytes: Vec<u8>,
}

/// What the writer task is asked to do.
enum Op {
    /// Append these bytes.
    Append(Vec<u8>),
    /// Apply the patch, flush and close the file.
    Finish(Option<Patch>),
}

/// Appends bytes to a file through a writer task (see the [module docs](self)).
pub(crate) struct FileWriter {
    tx: mpsc::Sender<Op>,
    /// Bytes not sent yet: less than one chunk.
    pending: Vec<u8>,
    task: Option<JoinHandle<Result<(), MediaError>>>,
    /// The error that ended the writer task, once known.
    error: Option<MediaError>,
    /// The file, for error messages.
    name: String,
}

impl FileWriter {
    /// Creates (or truncates) `path`, on the blocking pool, and starts a writer task for it.
    /// Errors: there is no tokio runtime, or the file cannot be created.
    pub(crate) async fn create(path: &Path) -> Result<FileWriter, MediaError> {
        let handle =
            Handle::try_current().map_err(|e| MediaError::Io(format!("no tokio runtime: {e}")))?;
        let name = path.display().to_string();
        let p = path.to_owned();
        let out = handle
            .spawn_blocking(move || File::create(p).map(Closer::new))
            .await
            .map_err(|e| MediaError::Io(format!("creating {name}: {e}")))?
            .map_err(|e| MediaError::Io(format!("{name}: {e}")))?;
        Ok(FileWriter::spawn(&handle, out, name))
    }

    /// Starts a writer task for an output already open (tests use outputs that fail or stall).
    fn spawn<W: Write + Seek + Send + 'static>(
        handle: &Handle,
        out: Closer<W>,
        name: String,
    ) -> FileWriter {
        let (tx, rx) = mpsc::channel(QUEUE_CHUNKS);
        let task = handle.spawn(write_loop(handle.clone(), out, rx, name.clone()));
        FileWriter {
            tx,
            pending: Vec::new(),
            task: Some(task),
            error: None,
            name,
        }
    }

    /// Appends `data`. Waits while the channel to the writer task is full (backpressure);
    /// returns the writer's error if it failed.
    pub(crate) async fn write(&mut self, mut data: &[u8]) -> Result<(), MediaError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        while !data.is_empty() {
            let room = CHUNK_BYTES.saturating_sub(self.pending.len());
            let (head, tail) = data.split_at(room.min(data.len()));
            self.pending.extend_from_slice(head);
            data = tail;
            if self.pending.len() >= CHUNK_BYTES {
                let chunk = std::mem::take(&mut self.pending);
                self.send(Op::Append(chunk)).await?;
            }
        }
        // A partial chunk goes at once if there is room, else it waits for more bytes.
        if !self.pending.is_empty() {
            let closed = match self.tx.try_reserve() {
                Ok(permit) => {
                    permit.send(Op::Append(std::mem::take(&mut self.pending)));
                    false
                }
                Err(mpsc::error::TrySendError::Full(())) => false,
                Err(mpsc::error::TrySendError::Closed(())) => true,
            };
            if closed {
                return Err(self.failure().await);
            }
        }
        Ok(())
    }

    /// Sends what is pending, applies `patch`, flushes and closes the file; returns the first
    /// error of the writer.
    pub(crate) async fn finish(mut self, patch: Option<Patch>) -> Result<(), MediaError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if !self.pending.is_empty() {
            let chunk = std::mem::take(&mut self.pending);
            self.send(Op::Append(chunk)).await?;
        }
        self.send(Op::Finish(patch)).await?;
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| MediaError::Io(format!("writing {}: {e}", self.name)))?,
            None => Err(MediaError::Closed),
        }
    }

    async fn send(&mut self, op: Op) -> Result<(), MediaError> {
        if self.tx.send(op).await.is_err() {
            return Err(self.failure().await);
        }
        Ok(())
    }

    /// The error that ended the writer task (its channel is closed).
    async fn failure(&mut self) -> MediaError {
        if let Some(e) = &self.error {
            return e.clone();
        }
        let e = match self.task.take() {
            Some(task) => match task.await {
                Ok(Err(e)) => e,
                Ok(Ok(())) => MediaError::Io(format!("writing {}: the file is closed", self.name)),
                Err(e) => MediaError::Io(format!("writing {}: {e}", self.name)),
            },
            None => MediaError::Closed,
        };
        self.error = Some(e.clone());
        e
    }
}

/// The writer task: takes the queued chunks, writes them on the blocking pool, repeats.
async fn write_loop<W: Write + Seek + Send + 'static>(
    handle: Handle,
    mut out: Closer<W>,
    mut rx: mpsc::Receiver<Op>,
    name: String,
) -> Result<(), MediaError> {
    loop {
        let Some(first) = rx.recv().await else {
            // The sink went away without finishing (its task was cancelled): close the file
            // with what it has.
            let closed = handle.spawn_blocking(move || out.close(true)).await;
            return closed
                .map_err(|e| MediaError::Io(format!("closing {name}: {e}")))?
                .map_err(|e| MediaError::Io(format!("writing {name}: {e}")));
        };
        let mut batch = vec![first];
        while batch.len() < QUEUE_CHUNKS && !matches!(batch.last(), Some(Op::Finish(_))) {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let finish = matches!(batch.last(), Some(Op::Finish(_)));
        let (back, result) = handle
            .spawn_blocking(move || {
                let mut result = out.write_batch(batch);
                if finish || result.is_err() {
                    let closed = out.close(result.is_ok());
                    result = result.and(closed);
                }
                (out, result)
            })
            .await
            .map_err(|e| MediaError::Io(format!("writing {name}: {e}")))?;
        out = back;
        result.map_err(|e| MediaError::Io(format!("writing {name}: {e}")))?;
        if finish {
            return Ok(());
        }
    }
}

/// The buffered output; dropped (closed) on the blocking pool if it is still open when dropped.
struct Closer<W: Write + Seek + Send + 'static>(Option<BufWriter<W>>);

impl<W: Write + Seek + Send + 'static> Closer<W> {
    fn new(out: W) -> Closer<W> {
        Closer(Some(BufWriter::with_capacity(CHUNK_BYTES, out)))
    }

    fn out(&mut self) -> io::Result<&mut BufWriter<W>> {
        self.0
            .as_mut()
            .ok_or_else(|| io::Error::other("the file is closed"))
    }

    /// Writes a batch and flushes (call on the blocking pool).
    fn write_batch(&mut self, batch: Vec<Op>) -> io::Result<()> {
        let out = self.out()?;
        for op in batch {
            match op {
                Op::Append(bytes) => out.write_all(&bytes)?,
                Op::Finish(None) => {}
                Op::Finish(Some(patch)) => {
                    let end = out.stream_position()?;
                    out.seek(SeekFrom::Start(patch.offset))?;
                    out.write_all(&patch.bytes)?;
                    out.seek(SeekFrom::Start(end))?;
                }
            }
        }
        out.flush()
    }

    /// Closes the output (call on the blocking pool): after a flush if `flush`, else dropping
    /// what is buffered (after an error).
    fn close(&mut self, flush: bool) -> io::Result<()> {
        let Some(mut out) = self.0.take() else {
            return Ok(());
        };
        let flushed = if flush { out.flush() } else { Ok(()) };
        let (inner, _unwritten) = out.into_parts();
        drop(inner);
        flushed
    }
}

impl<W: Write + Seek + Send + 'static> Drop for Closer<W> {
    fn drop(&mut self) {
        let Some(out) = self.0.take() else {
            return;
        };
        // Only on cancellation (e.g. the runtime shuts down): close off the runtime's workers if
        // there is still a runtime, discarding what was not written.
        let close = move || drop(out.into_parts());
        match Handle::try_current() {
            Ok(handle) => drop(handle.spawn_blocking(close)),
            Err(_) => close(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::Duration;

    /// An in-memory output that can be read while the writer owns it, and that blocks its
    /// writes until opened.
    #[derive(Clone)]
    struct Shared {
        data: Arc<Mutex<Cursor<Vec<u8>>>>,
        open: Arc<(Mutex<bool>, Condvar)>,
        /// Fail once this many bytes were written.
        fail_after: Option<usize>,
    }

    impl Shared {
        fn new(open: bool, fail_after: Option<usize>) -> Shared {
            Shared {
                data: Arc::default(),
                open: Arc::new((Mutex::new(open), Condvar::new())),
                fail_after,
            }
        }

        fn open(&self) {
            *self.open.0.lock().unwrap() = true;
            self.open.1.notify_all();
        }

        fn bytes(&self) -> Vec<u8> {
            self.data.lock().unwrap().get_ref().clone()
        }
    }

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut open = self.open.0.lock().unwrap();
            while !*open {
                open = self.open.1.wait(open).unwrap();
            }
            let mut data = self.data.lock().unwrap();
            if self
                .fail_after
                .is_some_and(|n| data.get_ref().len() + buf.len() > n)
            {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "No space left on device",
                ));
            }
            data.write(buf)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Seek for Shared {
        fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
            self.data.lock().unwrap().seek(pos)
        }
    }

    /// Opens the output when dropped, so that a failing test does not leave a blocking thread
    /// stalled (the runtime waits for it when it shuts down).
    struct OpenOnDrop(Shared);

    impl Drop for OpenOnDrop {
        fn drop(&mut self) {
            self.0.open();
        }
    }

    fn writer(out: &Shared) -> FileWriter {
        FileWriter::spawn(&Handle::current(), Closer::new(out.clone()), "test".into())
    }

    /// Pieces of 1 to 100,000 bytes, so that chunks are split and merged.
    fn pieces() -> Vec<Vec<u8>> {
        let mut rng = peer_testkit::Rng::new(7);
        (0..300)
            .map(|i| rng.bytes([1, 17, 1000, 65_536, 100_000][i % 5]))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bytes_and_patch_arrive_unchanged() {
        let out = Shared::new(true, None);
        let mut w = writer(&out);
        let mut want = Vec::new();
        for p in pieces() {
            w.write(&p).await.unwrap();
            want.extend_from_slice(&p);
        }
        let patch = Patch {
            offset: 3,
            bytes: vec![9, 8, 7, 6],
        };
        want[3..7].copy_from_slice(&patch.bytes);
        w.finish(Some(patch)).await.unwrap();
        assert_eq!(out.bytes(), want);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn files_are_created_written_and_reported() {
        let path = std::env::temp_dir().join(format!("peer-media-writer-{}", std::process::id()));
        let mut w = FileWriter::create(&path).await.unwrap();
        w.write(b"hello, ").await.unwrap();
        w.write(b"world").await.unwrap();
        w.finish(Some(Patch {
            offset: 0,
            bytes: b"H".to_vec(),
        }))
        .await
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"Hello, world");
        let _ = std::fs::remove_file(&path);
        let e = FileWriter::create(Path::new("/nonexistent-directory/x"))
            .await
            .err()
            .unwrap();
        assert!(
            matches!(&e, MediaError::Io(m) if m.starts_with("/nonexistent-directory/x: ")),
            "{e:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_error_is_reported() {
        let out = Shared::new(true, Some(100_000));
        let mut w = writer(&out);
        let mut result = Ok(());
        for _ in 0..1000 {
            result = w.write(&[1; 1000]).await;
            if result.is_err() {
                break;
            }
            tokio::task::yield_now().await;
        }
        let e = result.unwrap_err();
        assert!(
            matches!(&e, MediaError::Io(m) if m.contains("No space left")),
            "{e:?}"
        );
        // The same error again, and from finish.
        assert_eq!(w.write(&[1]).await, Err(e.clone()));
        assert_eq!(w.finish(None).await, Err(e));
        // Failing on the last flush is reported by finish.
        let out = Shared::new(true, Some(10));
        let mut w = writer(&out);
        let _ = w.write(&[1; 5]).await;
        let _ = w.write(&[1; 5]).await;
        let _ = w.write(&[1; 5]).await;
        let e = w.finish(None).await.unwrap_err();
        assert!(
            matches!(&e, MediaError::Io(m) if m.contains("test")),
            "{e:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stalled_disk_applies_backpressure_within_the_bound() {
        let out = Shared::new(false, None);
        let _open = OpenOnDrop(out.clone());
        let mut w = writer(&out);
        let accepted = Arc::new(AtomicUsize::new(0));
        let a = accepted.clone();
        let total = 10 * 1024 * 1024;
        let producer = tokio::spawn(async move {
            let piece = vec![5u8; 10_000];
            let mut n = 0;
            while n < total {
                w.write(&piece).await.unwrap();
                n += piece.len();
                a.store(n, Ordering::Relaxed);
            }
            w
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let held = accepted.load(Ordering::Relaxed);
        assert!(!producer.is_finished());
        assert!(
            held <= (2 * QUEUE_CHUNKS + 1) * CHUNK_BYTES,
            "{held} bytes accepted while the disk is stalled"
        );
        assert!(held > 0);
        out.open();
        let w = producer.await.unwrap();
        w.finish(None).await.unwrap();
        assert_eq!(out.bytes().len(), total.div_ceil(10_000) * 10_000);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_writer_closes_the_file_with_what_was_sent() {
        let out = Shared::new(true, None);
        let mut w = writer(&out);
        w.write(&[3; 10]).await.unwrap();
        drop(w);
        let mut ok = false;
        for _ in 0..100 {
            if out.bytes() == [3; 10] {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(ok);
    }
}
