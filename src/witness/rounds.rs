//! The server's witness rounds. The writer hands over each checkpoint it signs
//! ([`Rounds::offer`]) and goes back to its queue; one thread asks the witnesses
//! (`log_side::ask_witnesses`, as `fundtrail checkpoint` does), one round at a time, each
//! witness within its timeout. A checkpoint offered while a round is in flight waits, and
//! a newer one replaces it: the witnesses only need the newest, and a consistency proof
//! from what they cosigned covers the sizes in between. So a witness that is down or slow
//! never holds a write: the writes are durable before anyone is asked.
//!
//! What a round gives is in the ledger's files (`witnesses.json`, the quorum notes), which
//! the API reads; alarms and missed quorums also go to the server's stderr.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use crate::ledger::{LedgerView, SignedCheckpoint};
use crate::witness::cosigned;
use crate::witness::log_side::{ask_witnesses, CosignReport, LogWitnesses};

/// The asking thread and the checkpoint waiting for it.
pub struct Rounds {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    next: Mutex<Next>,
    wake: Condvar,
}

#[derive(Default)]
struct Next {
    /// The newest checkpoint not yet asked about, with a view that can prove it.
    checkpoint: Option<(LedgerView, SignedCheckpoint)>,
    closed: bool,
}

impl Rounds {
    /// Starts the asking thread when the ledger in `ledger_dir` has witnesses; `None`
    /// otherwise (a list that does not read is reported and asks nobody, as the CLI does).
    pub fn start(ledger_dir: &Path) -> Option<Rounds> {
        match LogWitnesses::load(ledger_dir) {
            Ok(list) if list.witnesses.is_empty() => return None,
            Ok(_) => {}
            Err(e) => {
                eprintln!("warning: the witnesses will not be asked: {e}");
                return None;
            }
        }
        let shared = Arc::new(Shared {
            next: Mutex::new(Next::default()),
            wake: Condvar::new(),
        });
        let dir = ledger_dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("fundtrail-witnesses".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || run(&dir, &shared)
            });
        match thread {
            Ok(thread) => Some(Rounds {
                shared,
                thread: Some(thread),
            }),
            Err(e) => {
                eprintln!("warning: the witnesses will not be asked: starting a thread: {e}");
                None
            }
        }
    }

    /// Hands over `signed`, a checkpoint `view` holds, to be asked about after the round
    /// in flight; it replaces one still waiting. A checkpoint that has its quorum note by
    /// then is not asked about again, so the writer may offer the latest at every tick:
    /// one that missed its quorum is asked again until it has it. Never blocks on the
    /// witnesses.
    pub fn offer(&self, view: &LedgerView, signed: SignedCheckpoint) {
        let mut next = lock(&self.shared.next);
        next.checkpoint = Some((view.clone(), signed));
        self.shared.wake.notify_one();
    }

    /// Waits for the round in flight and the checkpoint still waiting (the server's last),
    /// then stops the thread.
    pub fn finish(mut self) {
        self.close();
    }

    fn close(&mut self) {
        lock(&self.shared.next).closed = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                eprintln!("warning: the witnesses' thread panicked");
            }
        }
    }
}

impl Drop for Rounds {
    fn drop(&mut self) {
        self.close();
    }
}

/// The rounds, until closed with nothing waiting.
fn run(dir: &Path, shared: &Shared) {
    // The size whose missed quorum was reported: asked again each tick, said once.
    let mut reported = None;
    loop {
        let (view, signed) = {
            let mut next = lock(&shared.next);
            loop {
                if let Some(checkpoint) = next.checkpoint.take() {
                    break checkpoint;
                }
                if next.closed {
                    return;
                }
                next = shared
                    .wake
                    .wait(next)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        // Asked already, by an earlier server or command: nothing to add.
        if cosigned::note_at(dir, signed.checkpoint.size).is_some() {
            continue;
        }
        match ask_witnesses(dir, &view, &signed) {
            Ok(report) => {
                report_round(&report, reported == Some(report.size));
                reported = Some(report.size);
            }
            Err(e) => eprintln!(
                "warning: the witnesses were not asked about size {}: {e}",
                signed.checkpoint.size
            ),
        }
    }
}

/// An alarm loudly, a missed quorum as a warning (once per size); a quorum met says
/// nothing.
fn report_round(report: &CosignReport, said: bool) {
    for (name, why) in report.alarms() {
        eprintln!(
            "ALARM: witness {name} was shown another history of this log (checkpoint of size {}): {why}",
            report.size
        );
    }
    if !report.reached_quorum() && !said {
        eprintln!(
            "warning: the checkpoint of size {} has {} of the {} cosignatures its quorum needs; asked again at every tick until it has them",
            report.size,
            report.cosignatures(),
            report.quorum
        );
    }
}

fn lock(next: &Mutex<Next>) -> MutexGuard<'_, Next> {
    next.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::witness::log_side::WITNESSES_FILE;

    #[test]
    fn a_ledger_without_witnesses_or_with_a_list_that_does_not_read_starts_no_thread() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Rounds::start(dir.path()).is_none());
        std::fs::write(
            dir.path().join(WITNESSES_FILE),
            "{\"quorum\": null, \"witnesses\": []}",
        )
        .unwrap();
        assert!(Rounds::start(dir.path()).is_none());
        std::fs::write(dir.path().join(WITNESSES_FILE), "not json").unwrap();
        assert!(Rounds::start(dir.path()).is_none());
    }
}
