//! The writer: one thread owns the `Ledger`, drains the queue into groups, commits each
//! group with one fdatasync (`Ledger::append_group`), catches the read models up, publishes
//! the new view, and only then answers each request. It then nudges the snapshot thread
//! (`snapshots`), which writes the read side's snapshot when one is due without holding
//! the writer up; at shutdown the writer waits for its final snapshot.
//!
//! It also signs a checkpoint of the head when a tick comes (every
//! `Limits::checkpoint_interval`) and the head has moved, and once more before it stops:
//! `fundtrail checkpoint` cannot run while the server holds the ledger. It hands each
//! checkpoint to the witnesses' thread (`witness::rounds`) and goes on: asking them never
//! holds a write. At shutdown it waits for that thread's last round.
//!
//! It stops when the queue closes (every sender dropped: the server is shutting down)
//! after committing what was queued, or after a group fails to commit: then nothing more
//! is accepted, because the in-memory state can no longer be trusted to match the disk.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::ledger::{GroupOutcome, GroupRequest, Ledger, GROUP_COMMIT_EVENTS};
use crate::people::vault::Vault;
use crate::witness::rounds::Rounds;

use super::error::HttpError;
use super::snapshots::Snapshots;
use super::{ServeError, Shared};

/// A request's outcome, or why its whole group failed to commit.
pub(crate) type Reply = Result<GroupOutcome, String>;

/// One queued write and where to send its outcome.
pub(crate) struct WriteJob {
    pub(crate) request: GroupRequest,
    pub(crate) reply: oneshot::Sender<Reply>,
}

/// A new token registry to save, and where to say whether it was saved.
pub(crate) struct TokensJob {
    pub(crate) registry: Vec<u8>,
    pub(crate) reply: oneshot::Sender<Result<(), String>>,
}

/// Work that needs the ledger itself rather than a group commit: the persons' workflows
/// (`people::roll`), which write the personal-data vault beside the log and read it. The
/// job returns how to deliver its answer, which the writer calls once it has published
/// what the job appended: a client that got its answer reads its own write.
pub(crate) type LedgerJob = Box<dyn FnOnce(&mut Ledger, &mut JobState) -> Deliver + Send>;

/// What ledger jobs keep between them on the writer thread: the personal-data vault, open.
/// Opening reads and checks the whole vault, far too slow for every request; the server
/// holds the vault key all along anyway, so keeping the vault open exposes nothing more.
#[derive(Default)]
pub(crate) struct JobState {
    pub(crate) vault: Option<Vault>,
}

/// Sends a ledger job's answer.
pub(crate) type Deliver = Box<dyn FnOnce() + Send>;

/// What the queue carries: writes, token registries (saved by the writer, which owns the
/// state record that names them), work on the ledger and the vault, and the ticks that
/// say a checkpoint may be due.
pub(crate) enum Job {
    Write(WriteJob),
    Tokens(TokensJob),
    Ledger(LedgerJob),
    Tick,
}

/// What the writer takes from the queue at once.
#[derive(Default)]
struct Batch {
    writes: Vec<WriteJob>,
    tokens: Vec<TokensJob>,
    ledger: Vec<LedgerJob>,
    rows: usize,
    tick: bool,
}

pub(crate) fn spawn(
    ledger: Ledger,
    shared: Arc<Shared>,
    jobs: mpsc::Receiver<Job>,
    snapshots: Snapshots,
) -> Result<std::thread::JoinHandle<()>, ServeError> {
    std::thread::Builder::new()
        .name("fundtrail-writer".into())
        .spawn(move || run(ledger, &shared, jobs, snapshots))
        .map_err(|e| ServeError::Io(format!("starting the writer: {e}")))
}

fn run(mut ledger: Ledger, shared: &Shared, mut jobs: mpsc::Receiver<Job>, snapshots: Snapshots) {
    let mut carried = None;
    let mut state = JobState::default();
    let rounds = Rounds::start(ledger.view().dir());
    while let Some(batch) = next_batch(&mut jobs, &mut carried) {
        if !batch.writes.is_empty() {
            if let Err(reason) = commit(&mut ledger, shared, &snapshots, batch.writes) {
                eprintln!("error: the writer stopped: {reason}");
                return;
            }
        }
        for job in batch.tokens {
            let saved = ledger.save_tokens(job.registry).map_err(|e| e.to_string());
            let _ = job.reply.send(saved);
        }
        // Ledger jobs (the persons' workflows, decisions) sign as the CLI's commands do.
        let signs = batch.tick || !batch.ledger.is_empty();
        for job in batch.ledger {
            if let Err(reason) = run_ledger_job(&mut ledger, &mut state, shared, &snapshots, job) {
                eprintln!("error: the writer stopped: {reason}");
                return;
            }
        }
        if batch.tick {
            sign_checkpoint(&mut ledger);
        }
        if signs {
            offer_to_witnesses(&ledger, rounds.as_ref());
        }
    }
    // After the last commit: the final snapshot reflects every acknowledged write.
    snapshots.finish();
    sign_checkpoint(&mut ledger);
    offer_to_witnesses(&ledger, rounds.as_ref());
    if let Some(rounds) = rounds {
        rounds.finish();
    }
}

/// Hands the latest signed checkpoint to the witnesses' thread, which asks them unless it
/// has its quorum note already; the writer does not wait for them.
fn offer_to_witnesses(ledger: &Ledger, rounds: Option<&Rounds>) {
    let Some(rounds) = rounds else { return };
    match ledger.view().latest_checkpoint() {
        Ok(Some(signed)) => rounds.offer(ledger.view(), signed),
        Ok(None) => {}
        Err(e) => eprintln!("warning: the witnesses were not asked: {e}"),
    }
}

/// Blocks for the first job, then takes whatever else is queued, up to
/// [`GROUP_COMMIT_EVENTS`] rows; a write that does not fit waits for the next batch.
fn next_batch(jobs: &mut mpsc::Receiver<Job>, carried: &mut Option<WriteJob>) -> Option<Batch> {
    let mut batch = Batch::default();
    match carried.take() {
        Some(write) => batch.add(write),
        None => match jobs.blocking_recv()? {
            Job::Write(write) => batch.add(write),
            Job::Tokens(tokens) => batch.tokens.push(tokens),
            Job::Ledger(job) => batch.ledger.push(job),
            Job::Tick => batch.tick = true,
        },
    }
    while let Ok(job) = jobs.try_recv() {
        match job {
            Job::Tick => batch.tick = true,
            Job::Tokens(tokens) => batch.tokens.push(tokens),
            Job::Ledger(job) => batch.ledger.push(job),
            Job::Write(write) if batch.rows + write.request.rows.len() > GROUP_COMMIT_EVENTS => {
                *carried = Some(write);
                break;
            }
            Job::Write(write) => batch.add(write),
        }
    }
    Some(batch)
}

impl Batch {
    fn add(&mut self, write: WriteJob) {
        self.rows += write.request.rows.len();
        self.writes.push(write);
    }
}

/// Signs a checkpoint of the head if the head moved since the last one. A failure (no
/// signing key, say) is reported and serving goes on: the writes are durable regardless.
fn sign_checkpoint(ledger: &mut Ledger) {
    let head = ledger.view().head().size;
    let signed = match ledger.view().latest_checkpoint() {
        Ok(latest) => latest.map_or(0, |c| c.checkpoint.size),
        Err(e) => return eprintln!("warning: reading the latest checkpoint: {e}"),
    };
    if head == 0 || head == signed {
        return;
    }
    if let Err(e) = ledger.checkpoint() {
        eprintln!("warning: no checkpoint was signed at size {head}: {e}");
    }
}

/// Commits one group and answers its requests. An error means the writer must stop.
fn commit(
    ledger: &mut Ledger,
    shared: &Shared,
    snapshots: &Snapshots,
    group: Vec<WriteJob>,
) -> Result<(), String> {
    let (requests, replies): (Vec<GroupRequest>, Vec<_>) =
        group.into_iter().map(|j| (j.request, j.reply)).unzip();
    let outcomes = match ledger.append_group(&requests) {
        Ok(outcomes) => outcomes,
        Err(e) => {
            let reason = e.to_string();
            for reply in replies {
                let _ = reply.send(Err(reason.clone()));
            }
            return Err(reason);
        }
    };
    let published = publish(ledger, shared);
    for (reply, outcome) in replies.into_iter().zip(outcomes) {
        // The requester may have timed out and gone; its write is committed all the same.
        let _ = reply.send(Ok(outcome));
    }
    published?;
    snapshots.nudge();
    Ok(())
}

/// Runs one job on the ledger, publishes what it appended, then delivers its answer. An
/// error means the writer must stop.
fn run_ledger_job(
    ledger: &mut Ledger,
    state: &mut JobState,
    shared: &Shared,
    snapshots: &Snapshots,
    job: LedgerJob,
) -> Result<(), String> {
    let head = ledger.view().head().size;
    let deliver = job(ledger, state);
    let published = if ledger.view().head().size == head {
        Ok(())
    } else {
        publish(ledger, shared)
    };
    deliver();
    published?;
    snapshots.nudge();
    Ok(())
}

/// Catches the read models up with the committed log and publishes the new view, so that
/// a client that got its answer reads its own write.
fn publish(ledger: &Ledger, shared: &Shared) -> Result<(), String> {
    let caught_up = match shared.read_side.write() {
        Ok(mut side) => side
            .catch_up(ledger.view())
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(_) => Err("the read models' lock is poisoned".into()),
    };
    match shared.view.write() {
        Ok(mut view) => *view = ledger.view().clone(),
        Err(_) => return Err("the view's lock is poisoned".into()),
    }
    caught_up
}

/// How a handler sees the writer's answer.
pub(super) fn answer(
    received: Result<Reply, oneshot::error::RecvError>,
) -> Result<crate::ledger::AppendSummary, HttpError> {
    match received {
        Ok(Ok(outcome)) => outcome.map_err(HttpError::from),
        Ok(Err(reason)) => Err(HttpError::Internal(format!(
            "the write was not committed: {reason}"
        ))),
        Err(_) => Err(HttpError::Unavailable(
            "the writer stopped; the request was not committed".into(),
        )),
    }
}

/// Runs `f` on the writer thread with the ledger and the writer's state, and waits for
/// its outcome. A full queue, a writer that takes no more work and one that stopped
/// before answering are the errors every write route answers alike.
pub(super) async fn on_writer<T: Send + 'static>(
    writes: &mpsc::Sender<Job>,
    f: impl FnOnce(&mut Ledger, &mut JobState) -> Result<T, HttpError> + Send + 'static,
) -> Result<T, HttpError> {
    let (reply, answer) = oneshot::channel();
    let job: LedgerJob = Box::new(move |ledger, state| {
        let outcome = f(ledger, state);
        Box::new(move || {
            // The requester may have timed out and gone; what was appended stays.
            let _ = reply.send(outcome);
        })
    });
    writes.try_send(Job::Ledger(job)).map_err(|e| match e {
        mpsc::error::TrySendError::Full(_) => HttpError::QueueFull,
        mpsc::error::TrySendError::Closed(_) => HttpError::Unavailable(
            "the server takes no more work: it is shutting down, or a commit failed (see its log)"
                .into(),
        ),
    })?;
    answer.await.map_err(|_| {
        HttpError::Unavailable("the writer stopped before answering; see the server's log".into())
    })?
}
