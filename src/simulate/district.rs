//! The synthetic district: households of two parents each, paid the support allowance
//! every month to their own bank account and a holiday condolence payment every January;
//! then the plants, each a small change to that routine at a seeded household and month.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};

use super::plant::Planted;
use super::{first_year, Options, FIRST_YEAR};
use crate::demo::data::Prng;
use crate::model::domain::AMOUNT_CEILING_FEN;
use crate::people::identity::IdNumber;

/// The support allowance per eligible person and month, in fen (¥400.00).
const RATE_FEN: i64 = 40_000;
/// The wrong rate of the planted `allowance_over_due`, in fen (¥450.00).
const WRONG_RATE_FEN: i64 = 45_000;
/// Parents per household: every parent is 49 or older from the first year on, so each
/// month's due is `PARENTS × RATE_FEN`.
const PARENTS: u32 = 2;
/// The day of the month the allowance is paid.
pub(super) const PAY_DAY: u32 = 25;
/// The day of the month of the planted deaths.
const EVENT_DAY: u32 = 10;
/// The holiday condolence of a year, in fen: one of these per year, drawn from the seed.
const CONDOLENCE_FEN: [i64; 3] = [40_000, 50_000, 60_000];
/// The holiday condolence is paid on this day of January (about the Spring Festival).
const CONDOLENCE_DAY: u32 = 20;
/// The planted outlier and its near miss, in tenths of their group's median: over the
/// rule's 5 times, and just under it.
const OUTLIER_TENTHS: i64 = 55;
const NEAR_OUTLIER_TENTHS: i64 = 49;
/// The month of the first year in which the micro wishes are granted.
const WISH_MONTH: u32 = 6;
/// The micro wishes of the small-group near miss: this many payments (under the 20 that
/// `outlier_amount` needs), of ¥200.00, one of them ten times as much.
const WISHES: usize = 5;
const WISH_FEN: i64 = 20_000;
/// Households given a role by the plants (see `Plan`): 15 cases and near misses and the
/// micro wishes.
const PLANT_HOUSEHOLDS: usize = 15 + WISHES;
/// One death register row that matches nobody per this many households.
const REGISTER_NOISE_PER: u32 = 10;
/// Birth dates of the parents spread over this many days (about 20 years) from
/// 1950-01-01, so every parent is 49 by 2019, before the first year of payments (a district
/// that starts before 2021 moves the births as many years earlier).
const BIRTH_DAYS: u64 = 7_300;
/// Sequence numbers (two digits of the number's three) per birth day.
const SEQUENCES: u64 = 100;
/// Distinct identity numbers per region: one per birth day and sequence.
const NUMBERS: u64 = BIRTH_DAYS * SEQUENCES;
/// The roll's region (Panlong), and the region of the register's unmatched rows (Guandu).
const ROLL_REGION: &str = "530103";
const NOISE_REGION: &str = "530111";
const SURNAMES: [&str; 8] = ["王", "李", "张", "刘", "陈", "杨", "赵", "欧阳"];
const GIVEN: [&str; 16] = [
    "秀", "英", "建", "国", "芳", "明", "华", "丽", "军", "平", "红", "玲", "强", "云", "伟", "兰",
];
const SUBDISTRICTS: [&str; 4] = ["拓东", "鼓楼", "东华", "联盟"];

/// Which household plays which part, and when (all indices into the households).
pub(super) struct Plan {
    pub(super) death: usize,
    pub(super) death_near: usize,
    pub(super) exit: usize,
    pub(super) exit_near: usize,
    pub(super) over: usize,
    pub(super) over_near: usize,
    pub(super) duplicate: usize,
    pub(super) duplicate_near: usize,
    pub(super) shared: [usize; 3],
    pub(super) shared_near: [usize; 2],
    pub(super) outlier: usize,
    pub(super) outlier_near: usize,
    pub(super) wishes: [usize; WISHES],
    /// Months (1 to 12) of the second year: the deaths and the exits.
    pub(super) death_month: u32,
    pub(super) death_near_month: u32,
    pub(super) exit_month: u32,
    pub(super) exit_near_month: u32,
    /// Months of the first year: the over-paid and the under-paid allowance.
    pub(super) over_month: u32,
    pub(super) over_near_month: u32,
}

impl Plan {
    fn draw(households: usize, rng: &mut Prng) -> Plan {
        let mut order: Vec<usize> = (0..households).collect();
        for i in (1..households).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let h: [usize; PLANT_HOUSEHOLDS] = order[..PLANT_HOUSEHOLDS]
            .try_into()
            .expect("MIN_HOUSEHOLDS leaves room for every plant");
        let mut month = |first: u32| first + rng_u32(rng, 6);
        Plan {
            death: h[0],
            death_near: h[1],
            exit: h[2],
            exit_near: h[3],
            over: h[4],
            over_near: h[5],
            duplicate: h[6],
            duplicate_near: h[7],
            shared: [h[8], h[9], h[10]],
            shared_near: [h[11], h[12]],
            outlier: h[13],
            outlier_near: h[14],
            wishes: [h[15], h[16], h[17], h[18], h[19]],
            death_month: month(3),
            death_near_month: month(3),
            exit_month: month(3),
            exit_near_month: month(3),
            over_month: month(2),
            over_near_month: month(2),
        }
    }
}

fn rng_u32(rng: &mut Prng, bound: u32) -> u32 {
    u32::try_from(draw_u64(rng, u64::from(bound))).expect("below a u32 bound")
}

/// A number in `0..bound`, for the small bounds used here (at most NUMBERS).
fn draw_u64(rng: &mut Prng, bound: u64) -> u64 {
    let bound = usize::try_from(bound).expect("the bounds used fit a usize");
    u64::try_from(rng.below(bound)).expect("a usize fits a u64")
}

pub(super) struct Household {
    pub(super) id: String,
    enrolled_on: NaiveDate,
    account: String,
}

/// One row of events.csv.
#[derive(Debug, Clone)]
pub(super) struct Pay {
    pub(super) date: NaiveDate,
    pub(super) kind: &'static str,
    pub(super) household: usize,
    pub(super) program: &'static str,
    pub(super) fen: i64,
    pub(super) persons: Option<u32>,
    pub(super) reference: String,
    pub(super) account: Option<String>,
}

/// The generated district: its import files as text, and what was planted.
pub struct District {
    options: Options,
    pub(super) plan: Plan,
    pub(super) households: Vec<Household>,
    /// Offset of the persons' identity numbers, drawn from the seed.
    number_offset: u64,
    condolence_fen: Vec<i64>,
    pub(super) payments: Vec<Pay>,
    pub planted: Planted,
}

impl District {
    pub(super) fn generate(options: Options) -> District {
        let mut rng = Prng::new(options.seed);
        let count = options.households as usize;
        let first = first_year(options.years);
        let households = (0..count).map(|h| household(h, first, &mut rng)).collect();
        let plan = Plan::draw(count, &mut rng);
        let number_offset = draw_u64(&mut rng, NUMBERS);
        let condolence_fen = (0..options.years)
            .map(|_| CONDOLENCE_FEN[rng.below(CONDOLENCE_FEN.len())])
            .collect();
        let mut district = District {
            options,
            plan,
            households,
            number_offset,
            condolence_fen,
            payments: Vec::new(),
            planted: Planted {
                seed: options.seed,
                households: options.households,
                years: options.years,
                first_year: first_year(options.years),
                cases: Vec::new(),
                near_misses: Vec::new(),
            },
        };
        district.payments = district.all_payments();
        district.planted.cases = district.cases();
        district.planted.near_misses = district.near_misses();
        district
    }

    /// The import files, named, in import order (`IMPORT_ORDER`).
    pub fn files(&self) -> [(&'static str, String); 6] {
        [
            ("households.csv", self.households_csv()),
            ("rates.csv", self.rates_csv()),
            ("persons.csv", self.persons_csv()),
            ("events.csv", self.events_csv()),
            ("changes.csv", self.changes_csv()),
            ("deaths.csv", self.deaths_csv()),
        ]
    }

    pub(super) fn year(&self, index: u32) -> i32 {
        first_year(self.options.years) + i32::try_from(index).expect("at most MAX_YEARS years")
    }

    // -----------------------------------------------------------------------------------
    // The payments

    fn all_payments(&self) -> Vec<Pay> {
        let mut pays = Vec::new();
        for h in 0..self.households.len() {
            for y in 0..self.options.years {
                pays.extend(self.condolences(h, y));
                for month in 1..=12 {
                    pays.extend(self.allowance(h, self.year(y), month));
                }
            }
        }
        pays.extend(self.wishes());
        pays.sort_by(|a, b| (a.date, &a.reference).cmp(&(b.date, &b.reference)));
        pays
    }

    /// The last day the household is paid on, if its payments stop: the near-miss exit's
    /// day. (The deaths stop only the condolence payments: see `condolences`.)
    fn paid_until(&self, h: usize) -> Option<NaiveDate> {
        let p = &self.plan;
        if h == p.exit_near {
            Some(self.exit_date(h))
        } else {
            None
        }
    }

    /// The exit case leaves on the last day of the month before its exit month, so that
    /// every payment after it is also one of a month not due; the near miss leaves on the
    /// day of its last payment.
    pub(super) fn exit_date(&self, h: usize) -> NaiveDate {
        if h == self.plan.exit {
            ymd(self.year(1), self.plan.exit_month, 1) - Duration::days(1)
        } else {
            ymd(self.year(1), self.plan.exit_near_month, PAY_DAY)
        }
    }

    pub(super) fn death_date(&self, h: usize) -> NaiveDate {
        let month = if h == self.plan.death {
            self.plan.death_month
        } else {
            self.plan.death_near_month
        };
        ymd(self.year(1), month, EVENT_DAY)
    }

    fn allowance(&self, h: usize, year: i32, month: u32) -> Option<Pay> {
        let date = ymd(year, month, PAY_DAY);
        if self.paid_until(h).is_some_and(|last| date > last) {
            return None;
        }
        let (persons, fen) = self.allowance_paid(h, date);
        Some(Pay {
            date,
            kind: "disbursement",
            household: h,
            program: "support_allowance",
            fen,
            persons: Some(persons),
            reference: format!("SIM-SA-{}-{}", yyyymm(date), self.households[h].id),
            account: Some(self.account(h, year)),
        })
    }

    /// Persons and amount of household `h`'s allowance paid on `date`: the month's due but
    /// where a plant changes it.
    fn allowance_paid(&self, h: usize, date: NaiveDate) -> (u32, i64) {
        let p = &self.plan;
        let in_first_year = date.year() == self.year(0);
        let due = (PARENTS, i64::from(PARENTS) * RATE_FEN);
        if h == p.death_near && yyyymm(date) > yyyymm(self.death_date(h)) {
            return (PARENTS - 1, i64::from(PARENTS - 1) * RATE_FEN);
        }
        if h == p.over && in_first_year && date.month() == p.over_month {
            return (PARENTS, i64::from(PARENTS) * WRONG_RATE_FEN);
        }
        if h == p.over_near && in_first_year && date.month() == p.over_near_month {
            return (PARENTS, RATE_FEN);
        }
        due
    }

    fn account(&self, h: usize, year: i32) -> String {
        let p = &self.plan;
        if year == self.year(1) && p.shared.contains(&h) {
            return SHARED_ACCOUNT.to_owned();
        }
        if year == self.year(1) && p.shared_near.contains(&h) {
            return SHARED_NEAR_ACCOUNT.to_owned();
        }
        self.households[h].account.clone()
    }

    fn condolences(&self, h: usize, y: u32) -> Vec<Pay> {
        let p = &self.plan;
        let date = ymd(self.year(y), 1, CONDOLENCE_DAY);
        // After a death no condolence is paid (to the case and the near miss alike), so
        // that the death case's payments are all allowances that counted the dead.
        let dies = [p.death, p.death_near].contains(&h) && date > self.death_date(h);
        if dies || self.paid_until(h).is_some_and(|last| date > last) {
            return Vec::new();
        }
        let base = self.condolence_fen[y as usize];
        let fen = match (y, h) {
            (0, h) if h == p.outlier => base * OUTLIER_TENTHS / 10,
            (0, h) if h == p.outlier_near => base * NEAR_OUTLIER_TENTHS / 10,
            _ => base,
        };
        let reference = format!("SIM-HC-{}-{}", self.year(y), self.households[h].id);
        let pay = |fen, reference| Pay {
            date,
            kind: "condolence_payment",
            household: h,
            program: "holiday_condolence",
            fen,
            persons: None,
            reference,
            account: None,
        };
        let mut pays = vec![pay(fen, reference.clone())];
        if y == 1 && h == p.duplicate {
            pays.push(pay(fen, format!("{reference}-2")));
        }
        if y == 1 && h == p.duplicate_near {
            pays.push(pay(fen / 2, format!("{reference}-2")));
        }
        pays
    }

    /// The small group: micro wishes of the first year, one ten times the others.
    fn wishes(&self) -> Vec<Pay> {
        let date = ymd(self.year(0), WISH_MONTH, 1);
        self.plan
            .wishes
            .iter()
            .enumerate()
            .map(|(i, &h)| Pay {
                date,
                kind: "in_kind_benefit",
                household: h,
                program: "micro_wish",
                fen: if i == 0 { WISH_FEN * 10 } else { WISH_FEN },
                persons: None,
                reference: format!("SIM-MW-{}-{}", self.year(0), self.households[h].id),
                account: None,
            })
            .collect()
    }

    // -----------------------------------------------------------------------------------
    // The files

    fn households_csv(&self) -> String {
        let mut text =
            String::from("household_id,subdistrict,community,category,members,enrolled_on\n");
        for (h, household) in self.households.iter().enumerate() {
            let sub = SUBDISTRICTS[h % SUBDISTRICTS.len()];
            text.push_str(&format!(
                "{},{sub},{sub}第{}社区,bereaved,{PARENTS},{}\n",
                household.id,
                h / SUBDISTRICTS.len() % 5 + 1,
                household.enrolled_on
            ));
        }
        text
    }

    /// The rate is in effect from the first year of payments, so no month before it is
    /// due: the district's entitlements are settled through its last year.
    fn rates_csv(&self) -> String {
        format!(
            "program,category,per_member,valid_from,valid_to\n\
             support_allowance,bereaved,{},{}-01-01,\n",
            yuan(RATE_FEN),
            self.year(0)
        )
    }

    /// Person `parent` (0 the mother, 1 the father) of household `h`.
    pub(super) fn person_id(&self, h: usize, parent: usize) -> String {
        format!("{}-{}", self.households[h].id, parent + 1)
    }

    /// The identity number and birth date of person `p` (household `p / 2`).
    fn person_number(&self, p: u64) -> (String, NaiveDate) {
        let slot = (p + self.number_offset) % NUMBERS;
        // A longer district starts earlier, its parents born as many years earlier: all 49
        // or over from its first year of payments.
        let earlier = FIRST_YEAR - self.year(0);
        let birth = ymd(1950 - earlier, 1, 1) + days(slot % BIRTH_DAYS);
        let male = p % 2 == 1;
        (id_number(ROLL_REGION, slot, birth, male), birth)
    }

    fn persons_csv(&self) -> String {
        let mut text =
            String::from("person_id,household_id,id_number,name,role,birth_date,joined_on\n");
        for (h, household) in self.households.iter().enumerate() {
            for parent in 0..2 {
                let p = (2 * h + parent) as u64;
                let (number, birth) = self.person_number(p);
                let role = ["mother", "father"][parent];
                text.push_str(&format!(
                    "{},{},{number},{},{role},{birth},{}\n",
                    self.person_id(h, parent),
                    household.id,
                    name(p),
                    household.enrolled_on
                ));
            }
        }
        text
    }

    fn events_csv(&self) -> String {
        let mut text =
            String::from("date,type,household_id,program,amount,persons,reference,memo,account\n");
        for ((year, program), fen) in self.allocations() {
            for (part, part_fen) in allocation_parts(fen).into_iter().enumerate() {
                // The first part keeps the reference a district of one part has.
                let suffix = match part {
                    0 => String::new(),
                    n => format!("-{}", n + 1),
                };
                text.push_str(&format!(
                    "{year}-01-01,fund_allocation,,{program},{},,SIM-AL-{year}-{program}{suffix},区财政,\n",
                    yuan(part_fen)
                ));
            }
        }
        for pay in &self.payments {
            text.push_str(&format!(
                "{},{},{},{},{},{},{},,{}\n",
                pay.date,
                pay.kind,
                self.households[pay.household].id,
                pay.program,
                yuan(pay.fen),
                pay.persons.map(|n| n.to_string()).unwrap_or_default(),
                pay.reference,
                pay.account.as_deref().unwrap_or_default()
            ));
        }
        text
    }

    /// Each program's allocation of a year: exactly what it pays that year (recorded in
    /// parts below the amount ceiling, [`allocation_parts`]).
    fn allocations(&self) -> BTreeMap<(i32, &'static str), i64> {
        let mut sums = BTreeMap::new();
        for pay in &self.payments {
            *sums.entry((pay.date.year(), pay.program)).or_insert(0) += pay.fen;
        }
        sums
    }

    fn changes_csv(&self) -> String {
        let mut text = String::from("date,type,person_id,household_id,reference,memo\n");
        for h in [self.plan.exit, self.plan.exit_near] {
            let id = &self.households[h].id;
            text.push_str(&format!(
                "{},household_exited,,{id},SIM-EXIT-{id},moved out of the district\n",
                self.exit_date(h)
            ));
        }
        text
    }

    /// The register: rows of people nobody on the roll is, with the two planted deaths
    /// among them.
    fn deaths_csv(&self) -> String {
        let mut text = String::from("id_number,name,date_of_death,source_ref\n");
        let noise = u64::from(self.options.households / REGISTER_NOISE_PER);
        let roll = 2 * u64::from(self.options.households);
        let dead = [(self.plan.death, 0), (self.plan.death_near, 1)];
        for r in 0..noise {
            if let Some(&(h, parent)) = dead.get(usize::try_from(r).unwrap_or(usize::MAX)) {
                let p = (2 * h + parent) as u64;
                let (number, _) = self.person_number(p);
                let died = self.death_date(h);
                text.push_str(&format!("{number},{},{died},SIM-DR-{p:06}\n", name(p)));
            }
            let birth = ymd(1930, 1, 1) + days(r % BIRTH_DAYS);
            let number = id_number(NOISE_REGION, r, birth, r % 2 == 1);
            let died = ymd(self.year(0), 1, 1) + days(r % 365);
            text.push_str(&format!(
                "{number},{},{died},SIM-DR-N{r:06}\n",
                name(roll + r)
            ));
        }
        text
    }
}

/// The account three planted households share, and the one two near-miss households share.
pub(super) const SHARED_ACCOUNT: &str = "6228480000000777";
pub(super) const SHARED_NEAR_ACCOUNT: &str = "6228480000000888";

fn household(h: usize, first_year: i32, rng: &mut Prng) -> Household {
    let enrolled_on = ymd(first_year - 1, 1, 1) + days(rng.below(365) as u64);
    Household {
        id: format!("SIM-{:05}", h + 1),
        enrolled_on,
        account: format!("621700{:010}", 4_000_000_000 + h as u64),
    }
}

pub(super) fn is_allowance(pay: &Pay) -> bool {
    pay.program == "support_allowance"
}

/// A valid GB 11643 number of `region` for the `slot`-th number of a region: birth date,
/// a sequence unique for the birth day, its last digit odd for a man, even for a woman.
fn id_number(region: &str, slot: u64, birth: NaiveDate, male: bool) -> String {
    let serial = slot / BIRTH_DAYS;
    let sex = 2 * (serial % 5) + u64::from(male);
    let first17 = format!(
        "{region}{}{:02}{sex}",
        birth.format("%Y%m%d"),
        serial % SEQUENCES
    );
    IdNumber::complete(&first17)
        .expect("a real region and birth date make a valid number")
        .expose()
        .to_owned()
}

/// The `i`-th name: distinct for every `i` below 8 × 16⁴ (524,288), which covers the
/// persons and register rows of MAX_HOUSEHOLDS households (2.1 per household). Below
/// 8 × 16³ (32,768) a name has three given characters, as in districts of up to 10,000
/// households, so their files stay as they were.
fn name(i: u64) -> String {
    let i = usize::try_from(i).expect("names are drawn for fewer than 524,288 indices");
    let fourth = match i / NAMES_OF_THREE {
        0 => "",
        n => GIVEN[n % 16],
    };
    format!(
        "{}{}{}{}{fourth}",
        SURNAMES[i % 8],
        GIVEN[(i / 8) % 16],
        GIVEN[(i / 128) % 16],
        GIVEN[(i / 2048) % 16]
    )
}

/// Names with three given characters: 8 surnames × 16³.
const NAMES_OF_THREE: usize = 8 * 16 * 16 * 16;

/// An allocation of `fen` as parts of at most [`ALLOCATION_PART_FEN`], the first ones full.
fn allocation_parts(fen: i64) -> Vec<i64> {
    let mut parts = Vec::new();
    let mut left = fen;
    while left > ALLOCATION_PART_FEN {
        parts.push(ALLOCATION_PART_FEN);
        left -= ALLOCATION_PART_FEN;
    }
    parts.push(left);
    parts
}

/// The largest part of an allocation: ¥90,000,000, below the ceiling of one amount
/// (¥100,000,000), which a year of the allowance of more than about
/// 10,000 households passes.
const ALLOCATION_PART_FEN: i64 = AMOUNT_CEILING_FEN / 10 * 9;

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

pub(super) fn yyyymm(date: NaiveDate) -> String {
    date.format("%Y%m").to_string()
}

pub(super) fn month_text(date: NaiveDate) -> String {
    date.format("%Y-%m").to_string()
}

fn days(n: u64) -> Duration {
    Duration::days(i64::try_from(n).expect("a few thousand days"))
}

pub(super) fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("day 1 to 25 of a month is a date")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_parts_sum_to_the_year_each_below_the_ceiling() {
        for fen in [
            1,
            ALLOCATION_PART_FEN,
            ALLOCATION_PART_FEN + 1,
            10 * AMOUNT_CEILING_FEN + 7,
        ] {
            let parts = allocation_parts(fen);
            assert_eq!(parts.iter().sum::<i64>(), fen, "{fen}");
            assert!(
                parts.iter().all(|p| *p > 0 && *p < AMOUNT_CEILING_FEN),
                "{parts:?}"
            );
        }
        assert_eq!(allocation_parts(ALLOCATION_PART_FEN).len(), 1);
        assert_eq!(
            allocation_parts(ALLOCATION_PART_FEN + 1),
            vec![ALLOCATION_PART_FEN, 1]
        );
    }

    #[test]
    fn names_stay_distinct_beyond_three_given_characters() {
        let names: std::collections::BTreeSet<String> = (0..(NAMES_OF_THREE as u64 * 16))
            .step_by(7)
            .map(name)
            .collect();
        assert_eq!(names.len(), (NAMES_OF_THREE * 16).div_ceil(7));
        // A small district's names keep three given characters.
        assert_eq!(name(0).chars().count(), 4);
        assert_eq!(name(NAMES_OF_THREE as u64).chars().count(), 5);
    }
}
