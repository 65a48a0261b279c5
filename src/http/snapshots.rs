//! The snapshot thread: writes the read side's snapshot beside the log while the writer
//! goes on appending.
//!
//! After each commit the writer nudges it and goes on; the thread then looks at whether a
//! part of the snapshot is due ([`SnapshotPolicy`]), takes what it needs of that part under
//! the read lock ([`SnapshotSource`]: of the read models a copy of the household shards
//! changed since the last snapshot, the core and the cube records; the findings' encoding,
//! written straight into its record file when larger than sled keeps, so that no copy of
//! it is held), and encodes, seals and writes it durably holding no lock. One snapshot is in flight at most: nudges
//! that come meanwhile are one pending look, taken when the write is done. The read side
//! holds only committed events (the writer catches it up after each durable commit), so a
//! snapshot is never ahead of what is durable. A failed write is a warning: the log is
//! durable and an open catches up.
//!
//! At shutdown the writer, after its last commit, asks for the final, forced snapshot and
//! waits for it ([`Snapshots::finish`]).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::ledger::readmodels::{Part, ReadSide, SnapshotPolicy, SnapshotSource};
use crate::ledger::MetaWriter;

use super::{ServeError, Shared};

/// A test seam, called on the snapshot thread before each part is written with the part
/// and the seq it reflects: a hook that blocks makes the write slow, one that returns an
/// error makes it fail as a failed write would (a warning, nothing written).
pub type SnapshotHook = Arc<dyn Fn(Part, u64) -> Result<(), String> + Send + Sync>;

/// What the writer has asked of the snapshot thread.
#[derive(Default)]
struct Asked {
    /// The read side moved since the thread last looked.
    look: bool,
    /// The final, forced snapshot, then stop.
    last: bool,
    /// Stop without a snapshot (the writer stopped on a failed commit).
    stop: bool,
}

/// The handle the writer keeps: nudge after a commit, finish at shutdown.
pub(crate) struct Snapshots {
    asked: Arc<(Mutex<Asked>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

/// What the snapshot thread works with.
struct Saver {
    shared: Arc<Shared>,
    metas: MetaWriter,
    policy: SnapshotPolicy,
    hook: Option<SnapshotHook>,
}

impl Snapshots {
    pub(crate) fn start(
        shared: Arc<Shared>,
        metas: MetaWriter,
        policy: SnapshotPolicy,
        hook: Option<SnapshotHook>,
    ) -> Result<Snapshots, ServeError> {
        let asked = Arc::new((Mutex::new(Asked::default()), Condvar::new()));
        let saver = Saver {
            shared,
            metas,
            policy,
            hook,
        };
        let thread = std::thread::Builder::new()
            .name("fundtrail-snapshots".into())
            .spawn({
                let asked = Arc::clone(&asked);
                move || saver.run(&asked)
            })
            .map_err(|e| ServeError::Io(format!("starting the snapshot thread: {e}")))?;
        Ok(Snapshots {
            asked,
            thread: Some(thread),
        })
    }

    /// The read side moved: the thread looks whether a snapshot is due once it is free.
    /// Never waits for a write.
    pub(crate) fn nudge(&self) {
        self.ask(|asked| asked.look = true);
    }

    /// Writes the final snapshot of everything behind (after the one in flight, if any)
    /// and returns once it is written or failed.
    pub(crate) fn finish(mut self) {
        self.ask(|asked| asked.last = true);
        self.join();
    }

    fn ask(&self, what: impl FnOnce(&mut Asked)) {
        let (lock, wake) = &*self.asked;
        what(&mut locked(lock));
        wake.notify_one();
    }

    fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                eprintln!("warning: the snapshot thread panicked; the next open catches up");
            }
        }
    }
}

/// A writer that stops on a failed commit drops the handle unfinished: the thread ends
/// after the write in flight, without another, since the store refuses writes then.
impl Drop for Snapshots {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.ask(|asked| asked.stop = true);
            self.join();
        }
    }
}

/// The lock's guard; a poisoned lock still holds plain flags.
fn locked(lock: &Mutex<Asked>) -> MutexGuard<'_, Asked> {
    lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Saver {
    fn run(&self, asked: &(Mutex<Asked>, Condvar)) {
        let (lock, wake) = asked;
        loop {
            let force = {
                let mut asked = locked(lock);
                while !(asked.look || asked.last || asked.stop) {
                    asked = wake.wait(asked).unwrap_or_else(|p| p.into_inner());
                }
                if asked.stop {
                    return;
                }
                asked.look = false;
                asked.last
            };
            for part in [Part::Models, Part::Findings] {
                self.save(part, force);
            }
            if force {
                return;
            }
        }
    }

    /// Takes `part` if it is due, then encodes and writes it without a lock.
    fn save(&self, part: Part, force: bool) {
        let copy = match self.shared.read_side.read() {
            Ok(side) => side.copy_due(part, self.policy, force, &self.metas),
            Err(_) => return eprintln!("warning: the read models' lock is poisoned"),
        };
        let copy = match copy {
            Ok(Some(copy)) => copy,
            Ok(None) => return,
            Err(e) => return eprintln!("warning: the read models were not saved: {e}"),
        };
        if let Err(e) = self.write(copy, part) {
            eprintln!("warning: the read models were not saved: {e}");
        }
    }

    /// A copy is dropped once encoded, before the write: the encoding is what is written.
    fn write(&self, copy: SnapshotSource, part: Part) -> Result<(), String> {
        if let Some(hook) = &self.hook {
            hook(part, copy.seq())?;
        }
        let at = ReadSide::write_snapshot(&self.metas, copy.encode()).map_err(|e| e.to_string())?;
        match self.shared.read_side.write() {
            Ok(mut side) => side.saved(at),
            Err(_) => return Err("the read models' lock is poisoned".into()),
        }
        Ok(())
    }
}
