//! `fundtrail findings`: what the audit rules raise over the whole log (issue 13, first
//! step: computed on demand; decisions and recoveries come later).

use clap::{Args, Subcommand};
use serde_json::json;

use super::read::{Lang, ReportArgs};
use super::{failure, findings_table, open, Cli, Failure, Output};
use crate::model::domain::Seq;
use crate::runs::findings::findings;
use fundtrail_projections::{Finding, Rule};

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
}

#[derive(Debug, Subcommand)]
pub enum FindingsCommand {
    /// One finding with its evidence events, each with an inclusion proof against the
    /// latest signed checkpoint (verify one offline with `fundtrail audit verify-inclusion`).
    Show {
        /// The finding's id (16 hex digits).
        id: String,
    },
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
    let ledger = open(cli)?;
    if let Some(FindingsCommand::Show { id }) = &args.command {
        return show(&ledger, id);
    }
    let mut list = findings(ledger.view()).map_err(|e| failure(e, None))?;
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
