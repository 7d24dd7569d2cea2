//! The progress line on stderr: a bar redrawn in place when stderr is a terminal, one line every
//! five seconds otherwise (logs of CI and the bench driver), nothing with `--quiet`. Modes bump
//! the counters; a task of its own draws them.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// The counters a run shows.
#[derive(Debug)]
pub struct Progress {
    phase: Mutex<String>,
    phase_started: Mutex<Instant>,
    target: AtomicU64,
    /// Sessions opened (and, in `register`, done).
    pub opened: AtomicU64,
    /// Sessions that failed to open.
    pub failed: AtomicU64,
    /// Open sessions that ended without being asked to.
    pub lost: AtomicU64,
    /// The mode's operations (syncs, pings, pushes, records).
    pub operations: AtomicU64,
    stop: CancellationToken,
}

impl Progress {
    /// Starts drawing for `target` sessions (not at all when `quiet`).
    pub fn start(target: usize, quiet: bool) -> Arc<Self> {
        let progress = Arc::new(Self {
            phase: Mutex::new("connecting".to_owned()),
            phase_started: Mutex::new(Instant::now()),
            target: AtomicU64::new(target as u64),
            opened: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            operations: AtomicU64::new(0),
            stop: CancellationToken::new(),
        });
        if !quiet {
            tokio::spawn(draw(progress.clone(), std::io::stderr().is_terminal()));
        }
        progress
    }

    /// Names what happens now (`connecting`, `holding`, `pings`, `syncs`, …); the operations
    /// counter starts again from zero.
    pub fn phase(&self, name: &str) {
        *self.phase.lock().expect("phase lock") = name.to_owned();
        *self.phase_started.lock().expect("phase lock") = Instant::now();
        self.operations.store(0, Ordering::Relaxed);
    }

    /// Stops drawing (ends the terminal line).
    pub fn finish(&self) {
        self.stop.cancel();
    }

    fn line(&self) -> String {
        let target = self.target.load(Ordering::Relaxed);
        let opened = self.opened.load(Ordering::Relaxed);
        let failed = self.failed.load(Ordering::Relaxed);
        let lost = self.lost.load(Ordering::Relaxed);
        let operations = self.operations.load(Ordering::Relaxed);
        let phase = self.phase.lock().expect("phase lock").clone();
        let seconds = self
            .phase_started
            .lock()
            .expect("phase lock")
            .elapsed()
            .as_secs_f64();
        let rate = if seconds > 0.0 {
            operations as f64 / seconds
        } else {
            0.0
        };
        format!(
            "{phase} {seconds:.0}s  {opened}/{target} open  {failed} failed  {lost} lost  \
             {operations} ops ({rate:.0}/s)"
        )
    }
}

const BAR: usize = 30;

async fn draw(progress: Arc<Progress>, terminal: bool) {
    let every = if terminal {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(5)
    };
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = progress.stop.cancelled() => {
                if terminal {
                    eprintln!("\r{}\x1b[K", progress.line());
                }
                return;
            }
        }
        let line = progress.line();
        if terminal {
            let target = progress.target.load(Ordering::Relaxed).max(1);
            let done =
                progress.opened.load(Ordering::Relaxed) + progress.failed.load(Ordering::Relaxed);
            let filled = (done.min(target) as usize * BAR) / target as usize;
            let mut stderr = std::io::stderr().lock();
            let _ = write!(
                stderr,
                "\r[{}{}] {line}\x1b[K",
                "#".repeat(filled),
                ".".repeat(BAR - filled)
            );
            let _ = stderr.flush();
        } else {
            eprintln!("kaa-loadgen: {line}");
        }
    }
}
