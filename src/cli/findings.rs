//! `fundtrail findings`: what the audit rules raise over the whole log (computed on
//! demand), their decisions, and `findings resolve`, which records one.

use clap::{Args, Subcommand};
use serde_json::json;

use super::read::{Lang, ReportArgs};
use super::{actor, failure, findings_table, open, Cli, Failure, Output};
use crate::ledger::AppendContext;
use crate::model::domain::{Decision, Money, ProgramCode, Seq};
use crate::runs::findings::{findings, resolve, DecisionRequest};
use fundtrail_projections::{Finding, Rule, Status};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct FindingsArgs {
    #[command(subcommand)]
    pub command: Option<FindingsCommand>,
    /// Only this rule: paid_after_death, paid_after_exit, allowance_over_due,
    /// duplicate_payment, shared_account or outlier_amount.
    #[arg(long, value_parser = parse_rule)]
    pub rule: Option<Rule>,
    /// Only this household's findings.
    #[arg(long)]
    pub household: Option<String>,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Only findings in this status: open (the default), confirmed, dismissed, or all.
    #[arg(long, value_parser = parse_status, default_value = "open")]
    pub status: StatusFilter,
}

/// Which statuses `findings` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Only(Status),
    All,
}

impl StatusFilter {
    fn admits(self, status: Status) -> bool {
        match self {
            StatusFilter::Only(only) => only == status,
            StatusFilter::All => true,
        }
    }
}

fn parse_status(text: &str) -> Result<StatusFilter, String> {
    if text == "all" {
        return Ok(StatusFilter::All);
    }
    Status::ALL
        .into_iter()
        .find(|s| s.as_str() == text)
        .map(StatusFilter::Only)
        .ok_or_else(|| format!("{text:?} is not a status: open, confirmed, dismissed or all"))
}

#[derive(Debug, Subcommand)]
pub enum FindingsCommand {
    /// One finding with its evidence events, each with an inclusion proof against the
    /// latest signed checkpoint (verify one offline with `fundtrail audit verify-inclusion`).
    Show {
        /// The finding's id (16 hex digits).
        id: String,
    },
    /// Record a decision about a finding: confirmed (the money was wrongly paid) or
    /// dismissed. Four eyes: whoever recorded the finding's evidence, or decided it
    /// before, may not decide it; a later decision by another actor supersedes.
    Resolve(ResolveArgs),
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The finding's id (16 hex digits).
    pub id: String,
    /// confirmed or dismissed.
    #[arg(long, value_parser = parse_decision)]
    pub decision: Decision,
    /// Why, e.g. the case number (recorded for good: no names or identity numbers).
    #[arg(long)]
    pub reason: String,
    /// For a confirmed overpayment: the amount to recover (yuan, e.g. 1200.00), at most
    /// the finding's amount at risk.
    #[arg(long, value_parser = parse_amount)]
    pub recover: Option<Money>,
    /// The program to recover under; by default the program the evidence was paid from,
    /// required when it was paid from several.
    #[arg(long, value_parser = parse_program)]
    pub program: Option<ProgramCode>,
}

fn parse_decision(text: &str) -> Result<Decision, String> {
    Decision::parse(text).map_err(|e| e.to_string())
}

fn parse_amount(text: &str) -> Result<Money, String> {
    Money::parse(text).map_err(|e| e.to_string())
}

fn parse_program(text: &str) -> Result<ProgramCode, String> {
    ProgramCode::parse(text).map_err(|e| e.to_string())
}

fn parse_rule(text: &str) -> Result<Rule, String> {
    Rule::ALL
        .into_iter()
        .find(|r| r.as_str() == text)
        .ok_or_else(|| {
            let names: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
            format!("{text:?} is not a rule: {}", names.join(", "))
        })
}

pub(super) fn run(cli: &Cli, args: &FindingsArgs) -> Result<Output, Failure> {
    if let Some(FindingsCommand::Resolve(resolve_args)) = &args.command {
        return resolve_finding(cli, resolve_args);
    }
    let ledger = open(cli)?;
    if let Some(FindingsCommand::Show { id }) = &args.command {
        return show(&ledger, id);
    }
    let mut list = findings(ledger.view()).map_err(|e| failure(e, None))?;
    list.retain(|f| args.status.admits(f.status));
    list.retain(|f| args.rule.is_none_or(|r| f.rule == r));
    list.retain(|f| args.household.as_ref().is_none_or(|h| &f.household == h));
    Ok(findings_table::listing(list, &args.report))
}

/// Findings as `findings` prints them by default (`audit findings` on an export prints
/// the same).
pub(super) fn listing(list: Vec<Finding>) -> Output {
    let report = ReportArgs {
        lang: Lang::Zh,
        csv: false,
    };
    findings_table::listing(list, &report)
}

fn findings_text(list: &[Finding]) -> String {
    findings_table::text(list, Lang::Zh)
}

/// `findings show ID`: the finding and its evidence, each event with its inclusion proof.
fn show(ledger: &crate::ledger::Ledger, id: &str) -> Result<Output, Failure> {
    let list = findings(ledger.view()).map_err(|e| failure(e, None))?;
    let Some(finding) = list.iter().find(|f| f.id == id) else {
        return Err(Failure::new(
            super::exit::BAD_INPUT,
            format!("no finding {id:?} (`fundtrail findings` lists them)"),
        ));
    };
    let mut text = findings_text(std::slice::from_ref(finding));
    text.push_str(&decisions_text(finding));
    let mut proofs = Vec::new();
    for seq in &finding.seqs {
        let inclusion = crate::export::evidence::inclusion(ledger.view(), Seq::new(*seq), None)
            .map_err(|e| failure(e, None))?;
        text.push_str(&format!("\nevidence seq {seq}:\n{}", inclusion.text()));
        proofs.push(serde_json::to_value(inclusion.doc()).expect("a proof document is plain JSON"));
    }
    let json =
        json!({ "finding": crate::ledger::answers::finding_json(finding), "evidence": proofs });
    Ok(Output::ok(text, json))
}

/// A finding's decisions, oldest first: the last is in effect.
fn decisions_text(finding: &Finding) -> String {
    if finding.resolutions.is_empty() {
        return "\nno decision yet\n".to_string();
    }
    let mut text = String::from("\ndecisions, oldest first (the last is in effect):\n");
    for r in &finding.resolutions {
        let decision = crate::ledger::answers::decision_name(r.decision);
        text.push_str(&format!(
            "  seq {} {} {} by {}: {}",
            r.seq, r.date, decision, r.actor, r.reason
        ));
        if r.recover_fen > 0 {
            let amount = Money::from_fen(r.recover_fen);
            text.push_str(&format!(" (recover {amount} under {})", r.program));
        }
        text.push('\n');
    }
    text
}

/// `findings resolve ID ...`: records the decision, by the usual actor.
fn resolve_finding(cli: &Cli, args: &ResolveArgs) -> Result<Output, Failure> {
    let ctx = AppendContext::now(actor(cli)?);
    let mut ledger = open(cli)?;
    let request = DecisionRequest {
        finding: args.id.clone(),
        decision: args.decision,
        reason: args.reason.clone(),
        recover: args.recover.unwrap_or(Money::from_fen(0)),
        program: args.program.clone(),
    };
    let seq = resolve(&mut ledger, &request, &ctx).map_err(|e| failure(e, None))?;
    let text = format!(
        "finding {} {} by {} (seq {seq})\n",
        args.id,
        args.decision.code(),
        ctx.actor
    );
    let json = json!({ "finding_id": args.id, "decision": args.decision.code(), "seq": seq.get() });
    Ok(super::witness::ask_after_append(
        cli,
        &ledger,
        Output::ok(text, json),
    ))
}
