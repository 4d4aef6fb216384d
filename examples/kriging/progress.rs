//! A spinner on stderr (indicatif) for a step that lasts more than a second, only when stderr is
//! a terminal: scripts, pipes and the tests see nothing.

use std::io::IsTerminal;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// How long a step runs before the spinner appears.
const DELAY: Duration = Duration::from_secs(1);

/// Shows `what` with the elapsed time while alive (after [`DELAY`]); cleared when dropped.
pub struct Progress {
    done: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts timing a step named `what` ("solving", "predicting").
    pub fn start(what: &'static str) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress {
                done: None,
                thread: None,
            };
        }
        let (done, wait) = mpsc::channel::<()>();
        let thread = thread::spawn(move || {
            if wait.recv_timeout(DELAY) != Err(RecvTimeoutError::Timeout) {
                return; // finished (or dropped) within the delay
            }
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                bar.set_style(style);
            }
            bar.set_message(what);
            bar.enable_steady_tick(Duration::from_millis(100));
            let _ = wait.recv(); // until the step ends
            bar.finish_and_clear();
        });
        Progress {
            done: Some(done),
            thread: Some(thread),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
