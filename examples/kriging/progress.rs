//! A spinner on stderr (indicatif) for a step that lasts more than a second, only when stderr is
//! a terminal: scripts, pipes and the tests see nothing. The solve reports its iterations and
//! residual through the solver's iteration callback.

use std::io::IsTerminal;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How long a step runs before the spinner appears.
const DELAY: Duration = Duration::from_secs(1);
/// How often the spinner's thread looks for news.
const TICK: Duration = Duration::from_millis(100);

/// Shows `what`, its latest news and the elapsed time while alive (after [`DELAY`]); cleared when
/// dropped.
pub struct Progress {
    news: Option<Sender<String>>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts timing a step named `what` ("solving", "predicting").
    pub fn start(what: &'static str) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress {
                news: None,
                thread: None,
            };
        }
        let (news, inbox) = mpsc::channel::<String>();
        let thread = thread::spawn(move || show(what, &inbox));
        Progress {
            news: Some(news),
            thread: Some(thread),
        }
    }

    /// Replaces the step's news ("iteration 12, residual 3.1e-4"); `news` runs only when the
    /// spinner is on (stderr a terminal).
    pub fn report(&self, news: impl FnOnce() -> String) {
        if let Some(tx) = &self.news {
            let _ = tx.send(news());
        }
    }
}

/// The spinner's thread: until every sender is gone, keeps the latest news and, after
/// [`DELAY`], shows it.
fn show(what: &'static str, inbox: &mpsc::Receiver<String>) {
    let start = Instant::now();
    let mut message = what.to_string();
    let mut bar: Option<ProgressBar> = None;
    loop {
        match inbox.recv_timeout(TICK) {
            Ok(news) => message = format!("{what}: {news}"),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if bar.is_none() && start.elapsed() >= DELAY {
            let b = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                b.set_style(style);
            }
            b.enable_steady_tick(TICK);
            bar = Some(b);
        }
        if let Some(b) = &bar {
            b.set_message(message.clone());
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        drop(self.news.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
