//! Findings for supervisors and auditors beyond the list (`api::findings`): the summary the
//! dashboard's findings panel shows, and one finding with its evidence.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fundtrail_projections::findings::{Status, FINDING_ID_HEX_DIGITS};
use fundtrail_projections::{Finding, Rule};
use serde_json::{json, Value};

use crate::export::evidence as ev;
use crate::ledger::answers::finding_json;
use crate::ledger::LedgerView;
use crate::model::domain::{Money, Seq};
use crate::runs::findings::findings;

use super::api::{blocking, current_view, NoQuery, PathText};
use super::auth::{Authorized, Summary};
use super::error::{poisoned, HttpError};
use super::AppState;

type Answer = Result<Response, HttpError>;

/// Open findings and their amount at risk, in fen, for one rule or one place.
#[derive(Debug, Default, Clone, Copy)]
struct Count {
    open: u64,
    at_risk_fen: i64,
}

impl Count {
    fn add(&mut self, f: &Finding) -> Result<(), HttpError> {
        self.open += 1;
        self.at_risk_fen = self
            .at_risk_fen
            .checked_add(f.amount_at_risk_fen)
            .ok_or_else(|| HttpError::Internal("the amount at risk overflows".into()))?;
        Ok(())
    }

    fn json(&self, key: &str, name: &str) -> Value {
        json!({
            key: name,
            "open": self.open,
            "amount_at_risk": Money::from_fen(self.at_risk_fen).to_string(),
        })
    }
}

/// `GET /api/v1/findings/summary`: the open findings counted by rule (every rule, in its
/// pinned order) and by the sub-district of their household's enrollment, with the amount
/// at risk, and what was recovered so far.
pub(super) async fn summary(
    State(s): State<AppState>,
    _: Authorized<Summary>,
    _: NoQuery,
) -> Answer {
    let view = current_view(&s)?;
    let seq = view.head().size;
    let list = blocking(move || Ok(findings(&view)?)).await?;
    let open: Vec<Finding> = list
        .into_iter()
        .filter(|f| f.status == Status::Open)
        .collect();
    let places = subdistricts(&s, &open)?;
    let recovered_fen = recovered(&s)?;
    Ok(Json(summary_json(seq, &open, &places, recovered_fen)?).into_response())
}

/// What came back of every program, from the read models' funds.
fn recovered(s: &AppState) -> Result<i64, HttpError> {
    let side = s.shared.read_side.read().map_err(poisoned)?;
    side.models()
        .funds()
        .iter()
        .try_fold(0i64, |sum, row| sum.checked_add(row.recovered_fen))
        .ok_or_else(|| HttpError::Corrupt("the recovered sum overflows".into()))
}

/// Each finding's household's sub-district, from the read models' enrollments (the read
/// side is caught up before a view is published, so it knows every household the view's
/// findings name).
fn subdistricts(s: &AppState, open: &[Finding]) -> Result<BTreeMap<String, String>, HttpError> {
    let side = s.shared.read_side.read().map_err(poisoned)?;
    let mut places = BTreeMap::new();
    for f in open {
        if places.contains_key(&f.household) {
            continue;
        }
        let place = side
            .models()
            .household(&f.household)
            .map(|b| b.enrollment.subdistrict)
            .ok_or_else(|| {
                HttpError::Corrupt(format!(
                    "finding {} names household {}, which the read models do not know",
                    f.id, f.household
                ))
            })?;
        places.insert(f.household.clone(), place);
    }
    Ok(places)
}

fn summary_json(
    seq: u64,
    open: &[Finding],
    places: &BTreeMap<String, String>,
    recovered_fen: i64,
) -> Result<Value, HttpError> {
    let mut all = Count::default();
    let mut by_rule: BTreeMap<Rule, Count> =
        Rule::ALL.iter().map(|r| (*r, Count::default())).collect();
    let mut by_place: BTreeMap<&str, Count> = BTreeMap::new();
    for f in open {
        all.add(f)?;
        by_rule.entry(f.rule).or_default().add(f)?;
        let place = places.get(&f.household).map_or("", String::as_str);
        by_place.entry(place).or_default().add(f)?;
    }
    Ok(json!({
        "as_of_seq": seq,
        "open": all.open,
        "amount_at_risk": Money::from_fen(all.at_risk_fen).to_string(),
        "recovered": Money::from_fen(recovered_fen).to_string(),
        "by_rule": Rule::ALL
            .iter()
            .map(|r| by_rule.get(r).copied().unwrap_or_default().json("rule", r.as_str()))
            .collect::<Vec<_>>(),
        "by_subdistrict": by_place
            .iter()
            .map(|(place, count)| count.json("subdistrict", place))
            .collect::<Vec<_>>(),
    }))
}

/// `GET /api/v1/findings/{id}`: one finding with its evidence, as `fundtrail --json findings
/// show ID` gives it: each evidence event with its inclusion proof against the latest
/// signed checkpoint. Evidence appended after that checkpoint is listed under
/// `awaiting_checkpoint` (the server signs one within its checkpoint interval).
pub(super) async fn detail(
    State(s): State<AppState>,
    _: Authorized<Summary>,
    PathText(id): PathText,
    _: NoQuery,
) -> Answer {
    let well_formed = id.len() == FINDING_ID_HEX_DIGITS
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !well_formed {
        return Err(HttpError::BadRequest(format!(
            "path: {id:?} is not a finding id ({FINDING_ID_HEX_DIGITS} lowercase hex digits)"
        )));
    }
    let view = current_view(&s)?;
    let body = blocking(move || detail_json(&view, &id)).await?;
    Ok(Json(body).into_response())
}

fn detail_json(view: &LedgerView, id: &str) -> Result<Value, HttpError> {
    let list = findings(view)?;
    let finding = list.iter().find(|f| f.id == id).ok_or_else(|| {
        HttpError::NotFound(format!(
            "no finding {id:?} (GET /api/v1/findings lists them)"
        ))
    })?;
    let covered = view
        .latest_checkpoint()?
        .map_or(0, |signed| signed.checkpoint.size);
    let mut evidence = Vec::new();
    let mut awaiting = Vec::new();
    for &seq in &finding.seqs {
        if seq > covered {
            awaiting.push(seq);
            continue;
        }
        let inclusion = ev::inclusion(view, Seq::new(seq), None)?;
        evidence
            .push(serde_json::to_value(inclusion.doc()).expect("a proof document is plain JSON"));
    }
    Ok(json!({
        "finding": finding_json(finding),
        "evidence": evidence,
        "awaiting_checkpoint": awaiting,
    }))
}
