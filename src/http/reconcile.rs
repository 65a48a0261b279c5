//! `POST /api/v1/reconcile`: a bank statement (CSV body) against the ledger's payments, as
//! `fundtrail reconcile --json`. The match runs on a view; the run is then recorded as a
//! `reconciliation` event through the writer, with the token's name as its actor.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::ledger::answers::reconciliation_json;
use crate::ledger::GroupRequest;
use crate::model::domain::{Command, Month};
use crate::runs::batch::{reconcile_bytes, BatchError, IndexMode, Reconciliation};

use super::api::{blocking, body_error, current_view, submit_request, ApiQuery};
use super::auth::{Audit, Authorized};
use super::error::HttpError;
use super::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReconcileParams {
    /// Expect from the bank only the ledger payments dated in this month, YYYY-MM.
    month: Option<String>,
}

pub(super) async fn reconcile(
    State(s): State<AppState>,
    Authorized(caller, _): Authorized<Audit>,
    ApiQuery(params): ApiQuery<ReconcileParams>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let period = params
        .month
        .as_deref()
        .map(Month::parse)
        .transpose()
        .map_err(|e| HttpError::BadRequest(format!("month: {e}")))?;
    let statement = body.map_err(body_error)?;
    let statement_hash = *blake3::hash(&statement).as_bytes();
    // One run at a time: runs share the cached payment index file in the ledger directory.
    let _one_at_a_time = s.shared.reconciling.lock().await;
    let statement = std::sync::Arc::new(statement);
    let mut attempt = 1;
    let (report, index, recorded, reference) = loop {
        let view = current_view(&s)?;
        let head = view.head().size;
        let bytes = std::sync::Arc::clone(&statement);
        let (report, index) = blocking(move || {
            reconcile_bytes(&view, &bytes, period, IndexMode::Cached).map_err(batch_error)
        })
        .await?;
        let command = Command::RecordReconciliation(report.summary(statement_hash));
        let reference = command.reference();
        // Recorded right after the head it matched against, as an auditor re-performs it
        // (`audit reconcile`), or matched again on the newer head.
        let mut request = GroupRequest::commands(
            crate::ledger::AppendContext::now(caller.name.clone()),
            vec![command],
        );
        request.if_head = Some(head);
        match submit_request(&s, request).await {
            Err(HttpError::Conflict(_)) if attempt < RECONCILE_ATTEMPTS => attempt += 1,
            recorded => break (report, index, recorded?, reference),
        }
    };
    let seq = *recorded
        .seqs
        .first()
        .ok_or_else(|| HttpError::Internal("the run was recorded at no seq".into()))?;
    let outcome = Reconciliation {
        report,
        statement_hash,
        index,
        reference,
        seq,
        appended: recorded.appended > 0,
    };
    Ok(Json(reconciliation_json(&outcome, "request body")).into_response())
}

/// Matches of one statement before the run gives up because other writes keep moving the
/// head between its match and its record (answered 409).
const RECONCILE_ATTEMPTS: u32 = 5;

fn batch_error(err: BatchError) -> HttpError {
    match err {
        BatchError::Ledger(e) => e.into(),
        BatchError::Statement(bad) => HttpError::Rejected {
            rejections: bad
                .rows
                .into_iter()
                .map(|r| crate::ledger::RowRejection {
                    line: r.line,
                    field: r.field,
                    reason: r.reason,
                })
                .collect(),
            total: bad.total,
        },
        BatchError::StatementTooLarge { .. } => HttpError::PayloadTooLarge(err.to_string()),
        other => HttpError::Internal(other.to_string()),
    }
}
