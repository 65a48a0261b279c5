//! The findings as the fold keeps them: numbers, not texts. A [`super::Finding`] (an id
//! string, a household, a person, vectors of seqs, months and programs) took 350 to 450
//! bytes of memory; under a load of duplicate payments every append raised one, and the
//! server's memory grew with them. Here one takes about 70 bytes: its id as 8 bytes, its
//! names as the ids of the fold's tables, its seqs, months and programs in three arenas
//! shared by all findings (they are fixed when it is raised), and its decisions and
//! reversed evidence, which few findings have, in maps by finding. The public `Finding`
//! is built from them when it is read ([`super::Findings::all`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::state::PackedDate;
use super::{Resolution, Rule, Status, FINDING_ID_HEX_DIGITS};
use crate::intern::{HouseholdId, Id, ProgramId};

/// One finding but for its id, its arenas' contents and what is decided after it is
/// raised: 40 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Kept {
    pub raised_by: u64,
    pub amount_at_risk_fen: i64,
    pub household: HouseholdId,
    /// The subject's id in the table its rule says ([`super::Subject::of`]).
    pub subject: u32,
    /// Where its seqs, months and programs end in [`KeptFindings`]'s arenas: each starts
    /// where the previous finding's ends.
    seqs_end: u32,
    months_end: u32,
    programs_end: u32,
    pub rule: Rule,
}

/// A finding being raised, with its evidence sorted and distinct.
pub(super) struct Raised {
    pub id: u64,
    pub rule: Rule,
    pub household: HouseholdId,
    pub subject: u32,
    pub raised_by: u64,
    pub amount_at_risk_fen: i64,
    pub seqs: Vec<u64>,
    /// Each the first day of a month, as [`PackedDate`]s order.
    pub months: Vec<PackedDate>,
    /// In the order of their names.
    pub programs: Vec<ProgramId>,
}

/// Every finding raised, in the order raised.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredFindings")]
pub(super) struct KeptFindings {
    /// By finding: its id's 16 hex digits as a number. Apart from `kept`, so that a
    /// search by id reads 8 bytes a finding.
    ids: Vec<u64>,
    kept: Vec<Kept>,
    seqs: Vec<u64>,
    months: Vec<PackedDate>,
    /// Program ids in 16 bits (the fold tells at most `MAX_PROGRAMS` apart).
    programs: Vec<u16>,
    /// By finding index: its evidence payments reversed after it was raised, in the order
    /// of the reversals.
    reversed: BTreeMap<u32, Vec<u64>>,
    /// By finding index: every decision, oldest first.
    resolutions: BTreeMap<u32, Vec<Resolution>>,
}

/// What a snapshot holds, checked before it is used: the arenas' ends must fit them.
#[derive(Deserialize)]
struct StoredFindings {
    ids: Vec<u64>,
    kept: Vec<Kept>,
    seqs: Vec<u64>,
    months: Vec<PackedDate>,
    programs: Vec<u16>,
    reversed: BTreeMap<u32, Vec<u64>>,
    resolutions: BTreeMap<u32, Vec<Resolution>>,
}

impl TryFrom<StoredFindings> for KeptFindings {
    type Error = String;

    fn try_from(s: StoredFindings) -> Result<Self, Self::Error> {
        let ends_fit = |end: fn(&Kept) -> u32, len: usize| {
            let ends = s.kept.iter().map(|k| end(k) as usize);
            let ascending = ends.clone().zip(ends.skip(1)).all(|(a, b)| a <= b);
            ascending && s.kept.last().map_or(0, |k| end(k) as usize) == len
        };
        let fits = s.ids.len() == s.kept.len()
            && ends_fit(|k| k.seqs_end, s.seqs.len())
            && ends_fit(|k| k.months_end, s.months.len())
            && ends_fit(|k| k.programs_end, s.programs.len());
        let known = |i: &u32| (*i as usize) < s.kept.len();
        if !fits || !s.reversed.keys().all(known) || !s.resolutions.keys().all(known) {
            return Err("the findings' evidence does not fit the findings".into());
        }
        Ok(KeptFindings {
            ids: s.ids,
            kept: s.kept,
            seqs: s.seqs,
            months: s.months,
            programs: s.programs,
            reversed: s.reversed,
            resolutions: s.resolutions,
        })
    }
}

/// An index into the arenas or the findings.
fn index(i: usize) -> u32 {
    u32::try_from(i).expect("fewer than 4 billion findings and seqs: memory runs out first")
}

impl KeptFindings {
    pub(super) fn len(&self) -> usize {
        self.kept.len()
    }

    pub(super) fn push(&mut self, raised: Raised) {
        self.seqs.extend_from_slice(&raised.seqs);
        self.months.extend_from_slice(&raised.months);
        let programs = raised
            .programs
            .iter()
            .map(|p| u16::try_from(p.index()).expect("a payment's program: at most MAX_PROGRAMS"));
        self.programs.extend(programs);
        self.ids.push(raised.id);
        self.kept.push(Kept {
            raised_by: raised.raised_by,
            amount_at_risk_fen: raised.amount_at_risk_fen,
            household: raised.household,
            subject: raised.subject,
            seqs_end: index(self.seqs.len()),
            months_end: index(self.months.len()),
            programs_end: index(self.programs.len()),
            rule: raised.rule,
        });
    }

    /// The finding with this id: a search of the 8-byte ids (decisions are rare; a
    /// million findings take a millisecond). An id that is not 16 lowercase hex digits
    /// names none, as no id string would equal it.
    pub(super) fn position(&self, id: &str) -> Option<usize> {
        let id = parse_id(id)?;
        self.ids.iter().position(|kept| *kept == id)
    }

    pub(super) fn kept(&self, i: usize) -> &Kept {
        &self.kept[i]
    }

    /// The id string of finding `i`.
    pub(super) fn id(&self, i: usize) -> String {
        format!("{:0width$x}", self.ids[i], width = FINDING_ID_HEX_DIGITS)
    }

    /// Where finding `i`'s part of an arena starts.
    fn start(&self, i: usize, end: fn(&Kept) -> u32) -> usize {
        i.checked_sub(1)
            .map_or(0, |before| end(&self.kept[before]) as usize)
    }

    pub(super) fn seqs(&self, i: usize) -> &[u64] {
        &self.seqs[self.start(i, |k| k.seqs_end)..self.kept[i].seqs_end as usize]
    }

    pub(super) fn months(&self, i: usize) -> &[PackedDate] {
        &self.months[self.start(i, |k| k.months_end)..self.kept[i].months_end as usize]
    }

    pub(super) fn programs(&self, i: usize) -> impl Iterator<Item = ProgramId> + '_ {
        let range = self.start(i, |k| k.programs_end)..self.kept[i].programs_end as usize;
        self.programs[range]
            .iter()
            .map(|p| ProgramId::from_index(u32::from(*p)))
    }

    pub(super) fn reversed(&self, i: usize) -> &[u64] {
        self.reversed.get(&index(i)).map_or(&[], Vec::as_slice)
    }

    pub(super) fn resolutions(&self, i: usize) -> &[Resolution] {
        self.resolutions.get(&index(i)).map_or(&[], Vec::as_slice)
    }

    /// Raised open, then as its latest decision says.
    pub(super) fn status(&self, i: usize) -> Status {
        self.resolutions(i)
            .last()
            .map_or(Status::Open, |r| r.decision.status())
    }

    /// Records a decision already checked: it supersedes the one before.
    pub(super) fn decide(&mut self, i: usize, decision: Resolution) {
        self.resolutions.entry(index(i)).or_default().push(decision);
    }

    /// Lists the payment at `target`, reversed, in every finding citing it: a pass over
    /// the seqs, each found seq's finding by a search of the ends.
    pub(super) fn reverse(&mut self, target: u64) {
        for (at, _) in self.seqs.iter().enumerate().filter(|(_, s)| **s == target) {
            let finding = self.kept.partition_point(|k| k.seqs_end as usize <= at);
            self.reversed
                .entry(index(finding))
                .or_default()
                .push(target);
        }
    }
}

/// The number a finding id's hex digits spell; `None` unless it is exactly
/// [`FINDING_ID_HEX_DIGITS`] lowercase hex digits, as every id is.
fn parse_id(id: &str) -> Option<u64> {
    let digits = id.len() == FINDING_ID_HEX_DIGITS
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    digits.then(|| u64::from_str_radix(id, 16).ok()).flatten()
}

/// The number of an id [`super::finding_id`] made.
pub(super) fn id_number(id: &str) -> u64 {
    parse_id(id).expect("finding_id makes 16 lowercase hex digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_finding_is_40_bytes() {
        assert_eq!(std::mem::size_of::<Kept>(), 40);
    }

    #[test]
    fn only_an_id_of_16_lowercase_hex_digits_names_a_finding() {
        assert_eq!(parse_id("00000000000000ff"), Some(255));
        assert_eq!(parse_id("ffffffffffffffff"), Some(u64::MAX));
        for not in [
            "00000000000000FF",
            "0ff",
            "00000000000000ff0",
            "+000000000000000",
            "",
        ] {
            assert_eq!(parse_id(not), None, "{not:?}");
        }
    }

    fn raised(seqs: Vec<u64>) -> Raised {
        Raised {
            id: seqs[0],
            rule: Rule::DuplicatePayment,
            household: HouseholdId::from_index(0),
            subject: 0,
            raised_by: *seqs.last().unwrap(),
            amount_at_risk_fen: 1,
            seqs,
            months: Vec::new(),
            programs: vec![ProgramId::from_index(3)],
        }
    }

    #[test]
    fn a_reversal_is_listed_in_each_finding_citing_it_and_a_snapshot_keeps_it() {
        let mut kept = KeptFindings::default();
        kept.push(raised(vec![1, 2]));
        kept.push(raised(vec![2, 3]));
        kept.push(raised(vec![4]));
        kept.reverse(2);
        kept.reverse(4);
        let reversed: Vec<&[u64]> = (0..3).map(|i| kept.reversed(i)).collect();
        assert_eq!(reversed, [&[2][..], &[2], &[4]]);
        assert_eq!(kept.seqs(1), [2, 3]);
        assert_eq!(kept.position(&kept.id(2)), Some(2));
        let bytes = bincode::serialize(&kept).unwrap();
        assert_eq!(bincode::deserialize::<KeptFindings>(&bytes).unwrap(), kept);
    }

    #[test]
    fn a_snapshot_whose_ends_do_not_fit_its_arenas_is_refused() {
        let mut kept = KeptFindings::default();
        kept.push(raised(vec![1, 2]));
        kept.push(raised(vec![3]));
        let mut short = kept.clone();
        short.seqs.pop();
        let mut unknown = kept.clone();
        unknown.reversed.insert(2, vec![1]);
        let mut descending = kept.clone();
        descending.kept[0].months_end = 1;
        let mut unpaired = kept.clone();
        unpaired.ids.pop();
        for bad in [short, unknown, descending, unpaired] {
            let bytes = bincode::serialize(&bad).unwrap();
            let refused = bincode::deserialize::<KeptFindings>(&bytes).unwrap_err();
            assert!(refused.to_string().contains("does not fit"), "{refused}");
        }
    }
}
