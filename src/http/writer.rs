//! The writer: one thread owns the `Ledger`, drains the queue into groups, commits each
//! group with one fdatasync (`Ledger::append_group`), catches the read models up, publishes
//! the new view, and only then answers each request.
//!
//! It stops when the queue closes (every sender dropped: the server is shutting down)
//! after committing what was queued, or after a group fails to commit: then nothing more
//! is accepted, because the in-memory state can no longer be trusted to match the disk.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::ledger::{GroupOutcome, GroupRequest, Ledger, GROUP_COMMIT_EVENTS};
use crate::readside::ReadSide;

use super::error::HttpError;
use super::{ServeError, Shared};

/// A request's outcome, or why its whole group failed to commit.
pub(crate) type Reply = Result<GroupOutcome, String>;

/// One queued write and where to send its outcome.
pub(crate) struct WriteJob {
    pub(crate) request: GroupRequest,
    pub(crate) reply: oneshot::Sender<Reply>,
}

pub(crate) fn spawn(
    ledger: Ledger,
    shared: Arc<Shared>,
    jobs: mpsc::Receiver<WriteJob>,
) -> Result<std::thread::JoinHandle<()>, ServeError> {
    std::thread::Builder::new()
        .name("fundtrail-writer".into())
        .spawn(move || run(ledger, &shared, jobs))
        .map_err(|e| ServeError::Io(format!("starting the writer: {e}")))
}

fn run(mut ledger: Ledger, shared: &Shared, mut jobs: mpsc::Receiver<WriteJob>) {
    let mut carried = None;
    while let Some(group) = next_group(&mut jobs, &mut carried) {
        if let Err(reason) = commit(&mut ledger, shared, group) {
            eprintln!("error: the writer stopped: {reason}");
            return;
        }
    }
    save_read_models(&ledger, shared, true);
}

/// Blocks for the first job, then takes whatever else is queued, up to
/// [`GROUP_COMMIT_EVENTS`] rows; a job that does not fit waits for the next group.
fn next_group(
    jobs: &mut mpsc::Receiver<WriteJob>,
    carried: &mut Option<WriteJob>,
) -> Option<Vec<WriteJob>> {
    let first = match carried.take() {
        Some(job) => job,
        None => jobs.blocking_recv()?,
    };
    let mut rows = first.request.rows.len();
    let mut group = vec![first];
    while let Ok(job) = jobs.try_recv() {
        if rows + job.request.rows.len() > GROUP_COMMIT_EVENTS {
            *carried = Some(job);
            break;
        }
        rows += job.request.rows.len();
        group.push(job);
    }
    Some(group)
}

/// Commits one group and answers its requests. An error means the writer must stop.
fn commit(ledger: &mut Ledger, shared: &Shared, group: Vec<WriteJob>) -> Result<(), String> {
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
    save_read_models(ledger, shared, false);
    Ok(())
}

/// Catches the read models up with the committed log and publishes the new view, so that
/// a client that got its answer reads its own write.
fn publish(ledger: &Ledger, shared: &Shared) -> Result<(), String> {
    let caught_up = match shared.read_side.write() {
        Ok(mut side) => side.catch_up(ledger).map(|_| ()).map_err(|e| e.to_string()),
        Err(_) => Err("the read models' lock is poisoned".into()),
    };
    match shared.view.write() {
        Ok(mut view) => *view = ledger.view(),
        Err(_) => return Err("the view's lock is poisoned".into()),
    }
    caught_up
}

/// Saves the read-model snapshot when it lags (or always, at shutdown). The models are
/// serialized under the read lock and written without any lock, so queries wait for
/// neither the disk nor each other. A failure is only a warning: the log is durable and
/// the next open catches up.
fn save_read_models(ledger: &Ledger, shared: &Shared, force: bool) {
    let due = match shared.read_side.read() {
        Ok(side) => side.snapshot(force),
        Err(_) => return eprintln!("warning: the read models' lock is poisoned"),
    };
    let Some((seq, bytes)) = due else { return };
    if let Err(e) = ReadSide::write_snapshot(ledger, bytes) {
        return eprintln!("warning: the read models were not saved: {e}");
    }
    if let Ok(mut side) = shared.read_side.write() {
        side.saved(seq);
    }
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
