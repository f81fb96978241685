//! Wake-ups for the command loop, independent of the runtime: a ticker thread and the Ctrl+C
//! (SIGINT/SIGTERM) handler both send on one channel. The first Ctrl+C asks for a graceful
//! stop; the second exits at once with code 130 (resume data on disk only ever lists
//! verified, flushed pieces, so it stays consistent).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_channel::{Receiver, Sender};

/// The exit code of an interrupted run (128 + SIGINT).
pub(crate) const INTERRUPTED: u8 = 130;

/// The loop's alarm clock: ticks every `tick`, and at once on Ctrl+C.
#[derive(Debug)]
pub(crate) struct Wake {
    rx: Receiver<()>,
    interrupts: Arc<AtomicUsize>,
}

impl Wake {
    /// Installs the Ctrl+C handler (once per process) and starts the ticker thread.
    pub(crate) fn install(tick: Duration) -> Result<Self, String> {
        let (tx, rx) = async_channel::bounded(1);
        let interrupts = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&interrupts);
        let on_signal: Sender<()> = tx.clone();
        ctrlc::set_handler(move || {
            if seen.fetch_add(1, Ordering::SeqCst) >= 1 {
                eprintln!("\ninterrupted again: exiting now");
                std::process::exit(i32::from(INTERRUPTED));
            }
            let _ = on_signal.try_send(());
        })
        .map_err(|e| format!("cannot install the Ctrl+C handler: {e}"))?;
        std::thread::Builder::new()
            .name("ticker".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(tick);
                    // Full: a wake-up is already pending. Closed: the loop is gone.
                    if let Err(async_channel::TrySendError::Closed(())) = tx.try_send(()) {
                        return;
                    }
                }
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        Ok(Self { rx, interrupts })
    }

    /// Waits for the next tick or Ctrl+C.
    pub(crate) async fn next(&self) {
        let _ = self.rx.recv().await;
    }

    /// Whether Ctrl+C (or SIGTERM) arrived.
    pub(crate) fn interrupted(&self) -> bool {
        self.interrupts.load(Ordering::SeqCst) > 0
    }
}
