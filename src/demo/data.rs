//! The bundled demo data set: the special families of Panlong district and four years
//! (2015-2018) of fund allocations, payments and reversals, and the roll of the households'
//! persons, as CSV text in three import formats (`households_csv`, `events_csv`,
//! `persons_csv`).
//!
//! The households and payments are invented, but the totals are the report's (domain.md),
//! reproduced exactly after reversals, so a demo run shows the real figures and tests can
//! assert them against `DEMO_FIGURES`. Everything derives from one fixed seed: the same
//! text on every call and on every machine.
//!
//! How the exact totals come about:
//! - `support_allowance`: each household is paid monthly `members × rate(category, year)`.
//!   The gap between that base and the report's total is closed by an over-60 supplement
//!   (a fixed amount per member and month from the month a parent turns 60); the start
//!   months are chosen greedily so that the supplement sums to exactly the gap.
//! - `holiday_condolence`: every visit hands over ¥300, and exactly 1,741 visits are made:
//!   every enrolled household at each Spring Festival, the rest shared among the Dragon
//!   Boat and Mid-Autumn rounds.
//! - `accident_insurance`: a 2016 pilot for 225 people, then everybody (873) in 2017 and
//!   2018, 166 of them on the ¥100 plan in 2018: 1,805 × ¥80 + 166 × ¥100 = ¥161,000.
//! - `smart_bracelet`: 56 at ¥280 (2017) + 61 at ¥320 (2018) = 117 people, ¥35,200.
//! - `housekeeping_service`: 184 bereaved households, one ¥100 card each.
//! - `transit_card`: 317 members of bereaved households, value ¥0.00.
//! - Every mishap (wrong amount, wrong number of persons, wrong household, duplicate) is
//!   reversed and, where the intended payment was not made, paid again correctly, so the
//!   live totals are those of the intended payments.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Fixed seed: the demo data set is part of the product and must never change by itself.
const SEED: u64 = 0x5041_4E4C_4F4E_4721;

use crate::ledger::import::{
    EVENT_COLUMNS as EVENTS_HEADER, HOUSEHOLD_COLUMNS as HOUSEHOLDS_HEADER,
    PERSON_COLUMNS as PERSONS_HEADER,
};
use crate::model::domain::FEN_PER_YUAN;
use crate::model::person::Role;
use crate::people::identity::IdNumber;

/// One program's live (not reversed) payments in the data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgramFigures {
    pub program: &'static str,
    pub payments: u32,
    pub amount_fen: i64,
    /// Person-times: the sum of the `persons` column.
    pub persons: u32,
}

/// What the demo data set adds up to once every row is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoFigures {
    pub households: u32,
    pub members: u32,
    pub subdistricts: u32,
    pub communities: u32,
    pub reversals: u32,
    pub programs: [ProgramFigures; 8],
}

impl DemoFigures {
    pub fn program(&self, code: &str) -> Option<&ProgramFigures> {
        self.programs.iter().find(|p| p.program == code)
    }
}

/// The report's figures where it gives one (households, members, sub-districts,
/// communities, each program's amount, visits and person-times); the others (payment
/// counts of monthly and yearly programs, nursing insurance, micro wishes) are this data
/// set's own. The tests recompute all of them from the CSV text.
pub const DEMO_FIGURES: DemoFigures = DemoFigures {
    households: 357,
    members: 873,
    subdistricts: 12,
    communities: 103,
    reversals: 16,
    programs: [
        ProgramFigures {
            program: "support_allowance",
            payments: 16_952,
            amount_fen: 15_929_700 * FEN_PER_YUAN,
            persons: 41_572,
        },
        ProgramFigures {
            program: "holiday_condolence",
            payments: 1_741,
            amount_fen: 522_300 * FEN_PER_YUAN,
            persons: 4_266,
        },
        ProgramFigures {
            program: "accident_insurance",
            payments: 804,
            amount_fen: 161_000 * FEN_PER_YUAN,
            persons: 1_971,
        },
        ProgramFigures {
            program: "nursing_insurance",
            payments: 492,
            amount_fen: 120_480 * FEN_PER_YUAN,
            persons: 1_004,
        },
        ProgramFigures {
            program: "housekeeping_service",
            payments: 184,
            amount_fen: 18_400 * FEN_PER_YUAN,
            persons: 184,
        },
        ProgramFigures {
            program: "smart_bracelet",
            payments: 84,
            amount_fen: 35_200 * FEN_PER_YUAN,
            persons: 117,
        },
        ProgramFigures {
            program: "transit_card",
            payments: 155,
            amount_fen: 0,
            persons: 317,
        },
        ProgramFigures {
            program: "micro_wish",
            payments: 36,
            amount_fen: 9_300 * FEN_PER_YUAN,
            persons: 36,
        },
    ],
};

/// The households import file.
pub fn households_csv() -> String {
    let households = generate_households(&mut Prng::new(SEED));
    to_csv(HOUSEHOLDS_HEADER, households.iter().map(Household::record))
}

/// The events import file, in the order the rows are to be applied.
pub fn events_csv() -> String {
    let mut rng = Prng::new(SEED);
    // The households come first from the seed, so they are the ones `households_csv` gives.
    let households = generate_households(&mut rng);
    let (rows, _) = generate_events(&mut rng, &households);
    to_csv(EVENTS_HEADER, rows.iter().map(Row::record))
}

/// The persons import file: each household's `members` persons, imported after the
/// events. The names and identity numbers are invented; the numbers are valid (GB 11643)
/// and the birth dates agree with the payments: every parent is 49 or older in the
/// household's enrollment month, and the first parent turns 60 in the month the household's
/// over-60 supplement begins.
pub fn persons_csv() -> String {
    let mut rng = Prng::new(SEED);
    // Households, then events, then persons: each file's stream is the one its own
    // function draws, so adding the persons changed neither of the other two.
    let households = generate_households(&mut rng);
    let (_, elders) = generate_events(&mut rng, &households);
    let persons = generate_persons(&mut rng, &households, &elders);
    to_csv(PERSONS_HEADER, persons.iter().map(Person::record))
}

fn to_csv<const N: usize>(header: [&str; N], records: impl Iterator<Item = [String; N]>) -> String {
    const IN_MEMORY: &str = "writing CSV into a Vec<u8> cannot fail";
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(header).expect(IN_MEMORY);
    for record in records {
        writer.write_record(&record).expect(IN_MEMORY);
    }
    let bytes = writer.into_inner().expect(IN_MEMORY);
    String::from_utf8(bytes).expect("every field is a Rust string, so the text is UTF-8")
}

// ---------------------------------------------------------------------------------------
// A tiny deterministic PRNG

/// splitmix64: tiny, fast, and good enough to make invented data look irregular. Its
/// output is fixed by the algorithm, unlike a library generator that may change streams.
pub(crate) struct Prng(u64);

impl Prng {
    pub(crate) fn new(seed: u64) -> Prng {
        Prng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`. The modulo bias is below 2^-50 for the small bounds used.
    pub(crate) fn below(&mut self, bound: usize) -> usize {
        assert!(bound > 0, "an empty range has no element to pick");
        let remainder = self.next_u64() % bound as u64;
        usize::try_from(remainder).expect("the remainder is below `bound`, a usize")
    }

    /// A number in `low..=high`.
    fn between(&mut self, low: u32, high: u32) -> u32 {
        let span = (high - low + 1) as usize;
        low + u32::try_from(self.below(span)).expect("below `span`, a u32")
    }

    /// A number in `low..=high`, of the bounds' own type.
    fn pick<T: Into<u32> + TryFrom<u32>>(&mut self, low: T, high: T) -> T {
        let number = self.between(low.into(), high.into());
        T::try_from(number)
            .ok()
            .expect("a number between two values of a type is of that type")
    }

    /// One of the values, each as likely as its weight in percent.
    fn weighted<T: Copy>(&mut self, choices: &[(T, usize)]) -> T {
        debug_assert_eq!(choices.iter().map(|c| c.1).sum::<usize>(), 100);
        let mut roll = self.below(100);
        for &(value, weight) in choices {
            if roll < weight {
                return value;
            }
            roll -= weight;
        }
        choices[choices.len() - 1].0
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for last in (1..items.len()).rev() {
            let other = self.below(last + 1);
            items.swap(last, other);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Dates

/// Generated days stay at or below this, so that a correction dated
/// `CORRECTION_DELAY_DAYS` later is still a valid date in any month (28 or more days).
const LAST_GENERATED_DAY: u8 = 25;

/// A mistaken payment is noticed, reversed and paid again this many days later.
const CORRECTION_DELAY_DAYS: u8 = 3;

/// A calendar date; ordering by (year, month, day) is chronological.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    const fn new(year: u16, month: u8, day: u8) -> Date {
        Date { year, month, day }
    }

    fn correction(self) -> Date {
        debug_assert!(
            self.day <= LAST_GENERATED_DAY,
            "{self} is too late in its month"
        );
        Date {
            day: self.day + CORRECTION_DELAY_DAYS,
            ..self
        }
    }

    /// A day up to `LAST_GENERATED_DAY` in the given (inclusive) years and months.
    fn random(rng: &mut Prng, years: (u16, u16), months: (u8, u8)) -> Date {
        let year = rng.pick(years.0, years.1);
        let month = rng.pick(months.0, months.1);
        let day = rng.pick(1, LAST_GENERATED_DAY);
        Date::new(year, month, day)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

// ---------------------------------------------------------------------------------------
// Households

/// The 12 sub-districts and how many communities each has (103 in all, the report's
/// count): the central urban sub-districts have many more than the four rural ones in the
/// north (松华, 双龙, 滇源, 阿子营).
const SUBDISTRICTS: [(&str, u32); 12] = [
    ("拓东", 12),
    ("鼓楼", 12),
    ("东华", 13),
    ("联盟", 11),
    ("金辰", 10),
    ("青云", 10),
    ("龙泉", 12),
    ("茨坝", 9),
    ("松华", 4),
    ("双龙", 4),
    ("滇源", 3),
    ("阿子营", 3),
];

/// The report's counts of enrolled households and their members.
const HOUSEHOLDS: u32 = 357;
const MEMBERS: u32 = 873;

/// Share of bereaved (失独) households; the report speaks mostly of them.
const BEREAVED_PERCENT: usize = 68;

/// Household sizes and their weights in percent. Bereaved households are mostly a couple,
/// sometimes a widowed parent alone or living with an elderly parent or a grandchild;
/// disabled households also count the disabled child, and often a carer. The weights put
/// the total near the report's 873 members, which `balance_members` then makes exact.
const BEREAVED_SIZES: [(u32, usize); 3] = [(1, 15), (2, 66), (3, 19)];
const DISABLED_SIZES: [(u32, usize); 4] = [(2, 15), (3, 50), (4, 25), (5, 10)];
/// The sizes `balance_members` may move a household between.
const BEREAVED_MEMBERS: (u32, u32) = (1, 3);
const DISABLED_MEMBERS: (u32, u32) = (2, 6);

/// Most households were enrolled when the scheme was set up (2013-2014); a few joined
/// later, so their payments start later. Late enrollments end by October 2016, before the
/// 2017 insurance purchase that covers every household.
const ENROLLMENT_YEARS: (u16, u16) = (2013, 2014);
const LATE_ENROLLMENTS: usize = 12;
const LATE_ENROLLMENT_YEARS: (u16, u16) = (2015, 2016);
const LATE_ENROLLMENT_MONTHS: (u8, u8) = (1, 10);
const WHOLE_YEAR: (u8, u8) = (1, 12);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Bereaved,
    Disabled,
}

impl Category {
    fn code(self) -> &'static str {
        match self {
            Category::Bereaved => "bereaved",
            Category::Disabled => "disabled",
        }
    }

    fn sizes(self) -> &'static [(u32, usize)] {
        match self {
            Category::Bereaved => &BEREAVED_SIZES,
            Category::Disabled => &DISABLED_SIZES,
        }
    }

    fn member_bounds(self) -> (u32, u32) {
        match self {
            Category::Bereaved => BEREAVED_MEMBERS,
            Category::Disabled => DISABLED_MEMBERS,
        }
    }
}

struct Household {
    id: String,
    subdistrict: String,
    community: String,
    category: Category,
    members: u32,
    enrolled_on: Date,
}

impl Household {
    fn record(&self) -> [String; 6] {
        [
            self.id.clone(),
            self.subdistrict.clone(),
            self.community.clone(),
            self.category.code().to_owned(),
            self.members.to_string(),
            self.enrolled_on.to_string(),
        ]
    }

    fn enrolled_by(&self, date: Date) -> bool {
        self.enrolled_on <= date
    }
}

fn generate_households(rng: &mut Prng) -> Vec<Household> {
    let communities = communities();
    let sizes = community_sizes(rng, communities.len());
    let mut households = Vec::new();
    for ((subdistrict, community), size) in communities.into_iter().zip(sizes) {
        for _ in 0..size {
            let id = format!("PL-{:04}", households.len() + 1);
            households.push(new_household(rng, id, &subdistrict, &community));
        }
    }
    balance_members(rng, &mut households);
    enroll_some_late(rng, &mut households);
    households
}

/// (sub-district, community) names, e.g. ("拓东街道", "拓东第3社区").
fn communities() -> Vec<(String, String)> {
    let mut names = Vec::new();
    for (name, count) in SUBDISTRICTS {
        for number in 1..=count {
            names.push((format!("{name}街道"), format!("{name}第{number}社区")));
        }
    }
    names
}

/// Households per community: one each, so that every community has one, and the rest
/// scattered at random.
fn community_sizes(rng: &mut Prng, communities: usize) -> Vec<u32> {
    let mut sizes = vec![1; communities];
    for _ in communities..HOUSEHOLDS as usize {
        sizes[rng.below(communities)] += 1;
    }
    sizes
}

fn new_household(rng: &mut Prng, id: String, subdistrict: &str, community: &str) -> Household {
    let category = if rng.below(100) < BEREAVED_PERCENT {
        Category::Bereaved
    } else {
        Category::Disabled
    };
    Household {
        id,
        subdistrict: subdistrict.to_owned(),
        community: community.to_owned(),
        category,
        members: rng.weighted(category.sizes()),
        enrolled_on: Date::random(rng, ENROLLMENT_YEARS, WHOLE_YEAR),
    }
}

/// Adds or removes members one at a time, in random households and within each
/// category's bounds, until the total is the report's.
fn balance_members(rng: &mut Prng, households: &mut [Household]) {
    let mut total: u32 = households.iter().map(|h| h.members).sum();
    while total != MEMBERS {
        let household = &mut households[rng.below(households.len())];
        let (low, high) = household.category.member_bounds();
        if total < MEMBERS && household.members < high {
            household.members += 1;
            total += 1;
        } else if total > MEMBERS && household.members > low {
            household.members -= 1;
            total -= 1;
        }
    }
}

fn enroll_some_late(rng: &mut Prng, households: &mut [Household]) {
    let mut order: Vec<usize> = (0..households.len()).collect();
    rng.shuffle(&mut order);
    for &index in &order[..LATE_ENROLLMENTS] {
        households[index].enrolled_on =
            Date::random(rng, LATE_ENROLLMENT_YEARS, LATE_ENROLLMENT_MONTHS);
    }
}

// ---------------------------------------------------------------------------------------
// Programs and rows

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Program {
    SupportAllowance,
    HolidayCondolence,
    AccidentInsurance,
    NursingInsurance,
    HousekeepingService,
    SmartBracelet,
    TransitCard,
    MicroWish,
}

impl Program {
    fn code(self) -> &'static str {
        match self {
            Program::SupportAllowance => "support_allowance",
            Program::HolidayCondolence => "holiday_condolence",
            Program::AccidentInsurance => "accident_insurance",
            Program::NursingInsurance => "nursing_insurance",
            Program::HousekeepingService => "housekeeping_service",
            Program::SmartBracelet => "smart_bracelet",
            Program::TransitCard => "transit_card",
            Program::MicroWish => "micro_wish",
        }
    }

    /// The one payment type each program records.
    fn payment_kind(self) -> Kind {
        match self {
            Program::SupportAllowance => Kind::Disbursement,
            Program::HolidayCondolence => Kind::CondolencePayment,
            Program::AccidentInsurance | Program::NursingInsurance => Kind::InsurancePurchase,
            Program::HousekeepingService
            | Program::SmartBracelet
            | Program::TransitCard
            | Program::MicroWish => Kind::InKindBenefit,
        }
    }

    /// Payment references look like what the clerk copies from the paper trail: a bank
    /// transaction id for cash, the insurer's policy number, a voucher for benefits in kind.
    fn reference_prefix(self) -> &'static str {
        match self {
            Program::SupportAllowance => "ICBC",
            Program::HolidayCondolence => "WW",
            Program::AccidentInsurance => "PICC-YW",
            Program::NursingInsurance => "CPIC-HL",
            Program::HousekeepingService => "JZK",
            Program::SmartBracelet => "SH",
            Program::TransitCard => "GJK",
            Program::MicroWish => "WXY",
        }
    }

    /// Who funds the program and in what share (percent, summing to 100). The transit card
    /// costs the ledger nothing (the operators carry the rides), so it needs no allocation.
    fn funding(self) -> &'static [(&'static str, i64)] {
        match self {
            Program::SupportAllowance => &[("区财政", 70), ("省计生协", 30)],
            Program::HolidayCondolence => &[("区财政", 50), ("市计生协", 50)],
            Program::AccidentInsurance => &[("区财政", 100)],
            Program::NursingInsurance => &[("中国计生协项目", 100)],
            Program::HousekeepingService => &[("中国计生协项目", 100)],
            Program::SmartBracelet => &[("市计生协", 100)],
            Program::TransitCard => &[],
            Program::MicroWish => &[("市计生协", 100)],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    FundAllocation,
    Disbursement,
    InsurancePurchase,
    CondolencePayment,
    InKindBenefit,
    Reversal,
}

impl Kind {
    fn code(self) -> &'static str {
        match self {
            Kind::FundAllocation => "fund_allocation",
            Kind::Disbursement => "disbursement",
            Kind::InsurancePurchase => "insurance_purchase",
            Kind::CondolencePayment => "condolence_payment",
            Kind::InKindBenefit => "in_kind_benefit",
            Kind::Reversal => "reversal",
        }
    }
}

/// One line of the events file.
struct Row {
    date: Date,
    kind: Kind,
    /// Empty for an allocation.
    household: String,
    program: Program,
    amount_fen: i64,
    /// None for an allocation, which covers no one in particular.
    persons: Option<u32>,
    reference: String,
    memo: String,
}

impl Row {
    fn record(&self) -> [String; 8] {
        [
            self.date.to_string(),
            self.kind.code().to_owned(),
            self.household.clone(),
            self.program.code().to_owned(),
            format_fen(self.amount_fen),
            self.persons.map(|p| p.to_string()).unwrap_or_default(),
            self.reference.clone(),
            self.memo.clone(),
        ]
    }
}

fn format_fen(fen: i64) -> String {
    debug_assert!(fen >= 0, "the data set has no negative amounts");
    format!("{}.{:02}", fen / FEN_PER_YUAN, fen % FEN_PER_YUAN)
}

/// A payment as it was meant to be made; `Book` turns it into rows, with its mishap if
/// it has one.
#[derive(Debug, Clone)]
struct Payment {
    date: Date,
    program: Program,
    household: usize,
    amount_fen: i64,
    persons: u32,
    memo: String,
}

/// Clerical errors the data set shows being corrected.
#[derive(Debug, Clone, Copy)]
enum Mishap {
    /// An extra zero typed into the amount: reversed, then paid again correctly.
    WrongAmount,
    /// One person too many on a per-person purchase: reversed, then bought again.
    WrongPersons,
    /// Paid to the household on the neighbouring spreadsheet row: reversed, then paid to
    /// the right one.
    WrongHousehold,
    /// Submitted twice: the second payment is reversed.
    Duplicate,
}

/// The rows in the making, with the reference counters.
struct Book<'a> {
    households: &'a [Household],
    rows: Vec<Row>,
    counters: BTreeMap<(&'static str, u16), u32>,
}

impl<'a> Book<'a> {
    fn new(households: &'a [Household]) -> Book<'a> {
        Book {
            households,
            rows: Vec::new(),
            counters: BTreeMap::new(),
        }
    }

    /// `PREFIX-YEAR-NNNNNN`, numbered per prefix and year, so unique across the file.
    fn next_reference(&mut self, prefix: &'static str, year: u16) -> String {
        let counter = self.counters.entry((prefix, year)).or_insert(0);
        *counter += 1;
        format!("{prefix}-{year}-{counter:06}")
    }

    /// Records the payments in order, acting out the planned mishaps (by payment index).
    fn record(&mut self, payments: &[Payment], mishaps: &BTreeMap<usize, Mishap>) {
        for (index, payment) in payments.iter().enumerate() {
            match mishaps.get(&index) {
                Some(&mishap) => self.record_with_mishap(payment, mishap),
                None => {
                    self.pay(payment);
                }
            }
        }
    }

    fn pay(&mut self, payment: &Payment) -> String {
        let reference = self.next_reference(payment.program.reference_prefix(), payment.date.year);
        self.rows.push(Row {
            date: payment.date,
            kind: payment.program.payment_kind(),
            household: self.households[payment.household].id.clone(),
            program: payment.program,
            amount_fen: payment.amount_fen,
            persons: Some(payment.persons),
            reference: reference.clone(),
            memo: payment.memo.clone(),
        });
        reference
    }

    /// Reverses `paid` (recorded under `reference`) when the mistake is noticed.
    fn reverse(&mut self, paid: &Payment, reference: String, reason: String) {
        self.rows.push(Row {
            date: paid.date.correction(),
            kind: Kind::Reversal,
            household: self.households[paid.household].id.clone(),
            program: paid.program,
            amount_fen: paid.amount_fen,
            persons: Some(paid.persons),
            reference,
            memo: reason,
        });
    }

    fn record_with_mishap(&mut self, intended: &Payment, mishap: Mishap) {
        if let Mishap::Duplicate = mishap {
            self.pay(intended);
            let duplicate = self.pay(intended);
            self.reverse(
                intended,
                duplicate,
                duplicate_reason(intended.program.payment_kind()).to_owned(),
            );
            return;
        }
        let (mistaken, reason) = self.mistake(intended, mishap);
        let reference = self.pay(&mistaken);
        self.reverse(&mistaken, reference, reason);
        self.pay(&Payment {
            date: intended.date.correction(),
            memo: format!("更正重付：{}", intended.memo),
            ..intended.clone()
        });
    }

    /// The wrong payment a mishap makes instead of `intended`, and the reason given when it
    /// is reversed.
    fn mistake(&self, intended: &Payment, mishap: Mishap) -> (Payment, String) {
        let mut mistaken = intended.clone();
        let reason = match mishap {
            Mishap::WrongAmount => {
                mistaken.amount_fen = intended.amount_fen * 10;
                format!(
                    "金额录入错误（多录一位0），应为{}元",
                    format_fen(intended.amount_fen)
                )
            }
            Mishap::WrongPersons => {
                let unit = intended.amount_fen / i64::from(intended.persons);
                debug_assert_eq!(unit * i64::from(intended.persons), intended.amount_fen);
                mistaken.persons = intended.persons + 1;
                mistaken.amount_fen = unit * i64::from(mistaken.persons);
                format!("人数录入错误，应为{}人", intended.persons)
            }
            Mishap::WrongHousehold => {
                mistaken.household = self.neighbour(intended.household, intended.date);
                let right = &self.households[intended.household].id;
                format!("收款户错误，应为{right}")
            }
            Mishap::Duplicate => unreachable!("a duplicate is not a changed payment"),
        };
        (mistaken, reason)
    }

    /// The next household in the list already enrolled on `date`: the row a clerk's eye
    /// slips to.
    fn neighbour(&self, household: usize, date: Date) -> usize {
        let count = self.households.len();
        (1..count)
            .map(|step| (household + step) % count)
            .find(|&other| self.households[other].enrolled_by(date))
            .expect("the data set has more than one household enrolled on any payment date")
    }
}

fn duplicate_reason(kind: Kind) -> &'static str {
    match kind {
        Kind::InKindBenefit => "重复发放",
        Kind::InsurancePurchase => "重复投保",
        _ => "重复支付",
    }
}

/// Picks distinct payments (with a non-zero amount, so a wrong one can be told apart) to
/// suffer the given mishaps.
fn plan_mishaps(
    rng: &mut Prng,
    payments: &[Payment],
    mishaps: &[Mishap],
) -> BTreeMap<usize, Mishap> {
    let mut plan = BTreeMap::new();
    for &mishap in mishaps {
        loop {
            let index = rng.below(payments.len());
            if payments[index].amount_fen > 0 && !plan.contains_key(&index) {
                plan.insert(index, mishap);
                break;
            }
        }
    }
    plan
}

/// The event rows, and for each household when its over-60 supplement began (which the
/// persons' birth dates agree with).
fn generate_events(rng: &mut Prng, households: &[Household]) -> (Vec<Row>, Vec<Elder>) {
    let (support, elders) = support_allowance(rng, households);
    let mut programs: [(Vec<Payment>, &[Mishap]); 8] = [
        (support, SUPPORT_MISHAPS),
        (holiday_condolence(rng, households), CONDOLENCE_MISHAPS),
        (accident_insurance(rng, households), ACCIDENT_MISHAPS),
        (nursing_insurance(households), &[]),
        (housekeeping_service(rng, households), HOUSEKEEPING_MISHAPS),
        (smart_bracelet(rng, households), BRACELET_MISHAPS),
        (transit_card(rng, households), &[]),
        (micro_wish(rng, households), MICRO_WISH_MISHAPS),
    ];
    let mut book = Book::new(households);
    for (payments, mishaps) in &mut programs {
        // Chronological within the program, so references are numbered in date order.
        payments.sort_by_key(|payment| payment.date);
        let plan = plan_mishaps(rng, payments, mishaps);
        book.record(payments, &plan);
    }
    let mut rows = allocations(&mut book);
    rows.append(&mut book.rows);
    // Stable: on one date, allocations come first and every correction stays after the
    // payment it corrects, as they were recorded.
    rows.sort_by_key(|row| row.date);
    (rows, elders)
}

// ---------------------------------------------------------------------------------------
// Allocations

/// Each program's yearly allocation covers that year's gross outlay (mistaken payments
/// included: they are paid before they are reversed) plus this margin, rounded up to a
/// whole step, so no program ever pays out more than it was allocated.
const ALLOCATION_MARGIN_PERCENT: i64 = 5;
const ALLOCATION_STEP_FEN: i64 = 1_000 * FEN_PER_YUAN;
/// Funds are allocated early in January, before any payment of the year.
const ALLOCATION_MONTH_DAY: (u8, u8) = (1, 5);
const ALLOCATION_REFERENCE_PREFIX: &str = "ZJ";

fn allocations(book: &mut Book) -> Vec<Row> {
    let mut outlay: BTreeMap<(Program, u16), i64> = BTreeMap::new();
    for row in &book.rows {
        if row.kind != Kind::Reversal {
            *outlay.entry((row.program, row.date.year)).or_insert(0) += row.amount_fen;
        }
    }
    let mut rows = Vec::new();
    for ((program, year), gross) in outlay {
        let total = round_up(
            gross * (100 + ALLOCATION_MARGIN_PERCENT) / 100,
            ALLOCATION_STEP_FEN,
        );
        for (source, amount_fen) in split_by_source(program, total) {
            rows.push(Row {
                date: Date::new(year, ALLOCATION_MONTH_DAY.0, ALLOCATION_MONTH_DAY.1),
                kind: Kind::FundAllocation,
                household: String::new(),
                program,
                amount_fen,
                persons: None,
                reference: book.next_reference(ALLOCATION_REFERENCE_PREFIX, year),
                memo: source.to_owned(),
            });
        }
    }
    rows
}

fn round_up(fen: i64, step: i64) -> i64 {
    (fen + step - 1) / step * step
}

/// Shares of `total` by fund source, in whole steps; the last source takes the rest.
fn split_by_source(program: Program, total: i64) -> Vec<(&'static str, i64)> {
    let mut left = total;
    let mut shares = Vec::new();
    let sources = program.funding();
    for (position, &(source, percent)) in sources.iter().enumerate() {
        let share = if position + 1 == sources.len() {
            left
        } else {
            total * percent / 100 / ALLOCATION_STEP_FEN * ALLOCATION_STEP_FEN
        };
        left -= share;
        if share > 0 {
            shares.push((source, share));
        }
    }
    shares
}

// ---------------------------------------------------------------------------------------
// support_allowance: the monthly allowance

/// The report's cumulative total, 1592.97万元.
const SUPPORT_TOTAL_FEN: i64 = 15_929_700 * FEN_PER_YUAN;
const SUPPORT_YEARS: [u16; 4] = [2015, 2016, 2017, 2018];
/// The bank runs the allowance batch on this day of each month.
const SUPPORT_PAY_DAY: u8 = 20;
/// Yuan per member and month, by year (2015-2018); the rates rise each year and the
/// bereaved receive more than the disabled, as under the national standard.
const SUPPORT_RATE_BEREAVED_YUAN: [i64; 4] = [360, 380, 400, 420];
const SUPPORT_RATE_DISABLED_YUAN: [i64; 4] = [320, 340, 360, 380];
/// Yuan per member and month once a household's parent turns 60. Every rate above and the
/// report's total are multiples of it, so the gap it fills is a whole number of
/// member-months.
const ELDER_SUPPLEMENT_YUAN: i64 = 20;

const SUPPORT_MISHAPS: &[Mishap] = &[
    Mishap::WrongAmount,
    Mishap::WrongAmount,
    Mishap::WrongAmount,
    Mishap::WrongHousehold,
    Mishap::WrongHousehold,
    Mishap::Duplicate,
    Mishap::Duplicate,
    Mishap::Duplicate,
];

/// The monthly payments, and for each household when its over-60 supplement began.
fn support_allowance(rng: &mut Prng, households: &[Household]) -> (Vec<Payment>, Vec<Elder>) {
    let months: Vec<Vec<Date>> = households
        .iter()
        .map(|h| paid_months(h.enrolled_on))
        .collect();
    let supplemented = supplement_months(rng, households, &months);
    let mut payments = Vec::new();
    let mut elders = Vec::with_capacity(households.len());
    for (index, household) in households.iter().enumerate() {
        let first_supplemented = months[index].len() - supplemented[index];
        for (position, &date) in months[index].iter().enumerate() {
            let supplement = position >= first_supplemented;
            payments.push(monthly_allowance(index, household, date, supplement));
        }
        elders.push(match months[index].get(first_supplemented) {
            None => Elder::Never,
            Some(&date) if first_supplemented == 0 => Elder::Already(date),
            Some(&date) => Elder::TurnedIn(date),
        });
    }
    (payments, elders)
}

/// The monthly pay dates of a household: from the month after its enrollment.
fn paid_months(enrolled_on: Date) -> Vec<Date> {
    let mut dates = Vec::new();
    for year in SUPPORT_YEARS {
        for month in 1..=12 {
            if (year, month) > (enrolled_on.year, enrolled_on.month) {
                dates.push(Date::new(year, month, SUPPORT_PAY_DAY));
            }
        }
    }
    dates
}

fn support_rate_yuan(category: Category, year: u16) -> i64 {
    let rates = match category {
        Category::Bereaved => SUPPORT_RATE_BEREAVED_YUAN,
        Category::Disabled => SUPPORT_RATE_DISABLED_YUAN,
    };
    rates[usize::from(year - SUPPORT_YEARS[0])]
}

fn monthly_allowance(index: usize, household: &Household, date: Date, supplement: bool) -> Payment {
    let per_member = support_rate_yuan(household.category, date.year)
        + if supplement { ELDER_SUPPLEMENT_YUAN } else { 0 };
    let memo = format!("{}年{:02}月扶助金", date.year, date.month);
    Payment {
        date,
        program: Program::SupportAllowance,
        household: index,
        amount_fen: per_member * i64::from(household.members) * FEN_PER_YUAN,
        persons: household.members,
        memo: if supplement {
            format!("{memo}（含60周岁以上加发）")
        } else {
            memo
        },
    }
}

/// For each household, how many of its last paid months carry the over-60 supplement, so
/// that base plus supplement is exactly the report's total. A first pass gives households
/// random start months while the gap allows; a second pass extends them to close it, the
/// last member-months going to one-member households that still have room (the gap is
/// about 45% of all member-months, so they do).
fn supplement_months(rng: &mut Prng, households: &[Household], months: &[Vec<Date>]) -> Vec<usize> {
    let mut member_months = supplement_gap_member_months(households, months);
    let mut order: Vec<usize> = (0..households.len()).collect();
    rng.shuffle(&mut order);
    let mut taken = vec![0; households.len()];
    for pass in 0..2 {
        for &index in &order {
            let members = i64::from(households[index].members);
            let room = months[index].len() - taken[index];
            let wanted = if pass == 0 && room > 0 {
                1 + rng.below(room)
            } else {
                room
            };
            let extra = wanted.min(usize::try_from(member_months / members).unwrap_or(0));
            taken[index] += extra;
            let extra_months =
                i64::try_from(extra).expect("at most member_months / members, an i64") * members;
            member_months -= extra_months;
        }
    }
    assert_eq!(
        member_months, 0,
        "the supplement could not close the gap: retune the rates"
    );
    taken
}

/// Member-months of supplement needed to go from the base rates to the report's total.
fn supplement_gap_member_months(households: &[Household], months: &[Vec<Date>]) -> i64 {
    let base_yuan: i64 = households
        .iter()
        .zip(months)
        .flat_map(|(h, dates)| {
            dates
                .iter()
                .map(move |d| support_rate_yuan(h.category, d.year) * i64::from(h.members))
        })
        .sum();
    let gap_yuan = SUPPORT_TOTAL_FEN / FEN_PER_YUAN - base_yuan;
    assert!(
        gap_yuan >= 0 && gap_yuan % ELDER_SUPPLEMENT_YUAN == 0,
        "the base rates must stay below the report's total by whole supplements: retune them"
    );
    gap_yuan / ELDER_SUPPLEMENT_YUAN
}

// ---------------------------------------------------------------------------------------
// holiday_condolence: visits at Spring Festival, Dragon Boat and Mid-Autumn

/// Every visit hands over the same sum; 1,741 visits × ¥300 is the report's ¥522,300.
const CONDOLENCE_FEN: i64 = 300 * FEN_PER_YUAN;
const CONDOLENCE_VISITS: usize = 1_741;
const SPRING_FESTIVAL: &str = "春节";
/// Visit rounds, a few days before each festival. At Spring Festival every enrolled
/// household is visited; the other rounds share the remaining visits.
const FESTIVAL_VISITS: [(&str, Date); 12] = [
    (SPRING_FESTIVAL, Date::new(2015, 2, 12)),
    ("端午", Date::new(2015, 6, 16)),
    ("中秋", Date::new(2015, 9, 22)),
    (SPRING_FESTIVAL, Date::new(2016, 2, 1)),
    ("端午", Date::new(2016, 6, 6)),
    ("中秋", Date::new(2016, 9, 12)),
    (SPRING_FESTIVAL, Date::new(2017, 1, 20)),
    ("端午", Date::new(2017, 5, 25)),
    ("中秋", Date::new(2017, 9, 25)),
    (SPRING_FESTIVAL, Date::new(2018, 2, 9)),
    ("端午", Date::new(2018, 6, 14)),
    ("中秋", Date::new(2018, 9, 20)),
];

const CONDOLENCE_MISHAPS: &[Mishap] =
    &[Mishap::Duplicate, Mishap::Duplicate, Mishap::WrongHousehold];

fn holiday_condolence(rng: &mut Prng, households: &[Household]) -> Vec<Payment> {
    let mut quotas = condolence_quotas(households);
    let mut payments = Vec::new();
    for (festival, date) in FESTIVAL_VISITS {
        let mut visited = enrolled_by(households, date);
        if festival != SPRING_FESTIVAL {
            rng.shuffle(&mut visited);
            let quota = quotas
                .next()
                .expect("one quota per round other than Spring Festival");
            assert!(
                quota <= visited.len(),
                "a round cannot visit more households than enrolled"
            );
            visited.truncate(quota);
            visited.sort_unstable();
        }
        for index in visited {
            payments.push(Payment {
                date,
                program: Program::HolidayCondolence,
                household: index,
                amount_fen: CONDOLENCE_FEN,
                persons: households[index].members,
                memo: format!("{}年{festival}慰问", date.year),
            });
        }
    }
    payments
}

/// How many households each non-Spring-Festival round visits, as even as possible, so
/// that all rounds together make exactly the report's number of visits.
fn condolence_quotas(households: &[Household]) -> impl Iterator<Item = usize> {
    let (spring, other): (Vec<_>, Vec<_>) = FESTIVAL_VISITS
        .iter()
        .partition(|(festival, _)| *festival == SPRING_FESTIVAL);
    let spring_visits: usize = spring
        .iter()
        .map(|(_, date)| enrolled_by(households, *date).len())
        .sum();
    let left = CONDOLENCE_VISITS
        .checked_sub(spring_visits)
        .expect("Spring Festival visits alone stay below the report's number of visits");
    let rounds = other.len();
    (0..rounds).map(move |round| left / rounds + usize::from(round < left % rounds))
}

fn enrolled_by(households: &[Household], date: Date) -> Vec<usize> {
    (0..households.len())
        .filter(|&i| households[i].enrolled_by(date))
        .collect()
}

// ---------------------------------------------------------------------------------------
// accident_insurance and nursing_insurance: yearly group policies per household

const ACCIDENT_PREMIUM_FEN: i64 = 80 * FEN_PER_YUAN;
const ACCIDENT_HIGHER_PREMIUM_FEN: i64 = 100 * FEN_PER_YUAN;
/// 2016 was a pilot for some households; from 2017 every member is insured, in 2018 some
/// on the higher-cover plan: 225 + 873 + 873 = 1,971 person-times, of which
/// 1,805 at ¥80 and 166 at ¥100, the report's ¥161,000.
const ACCIDENT_PILOT: Date = Date::new(2016, 3, 10);
const ACCIDENT_PILOT_PERSONS: u32 = 225;
const ACCIDENT_FULL_YEARS: [Date; 2] = [Date::new(2017, 1, 10), Date::new(2018, 1, 10)];
const ACCIDENT_HIGHER_PLAN_PERSONS: u32 = 166;

const ACCIDENT_MISHAPS: &[Mishap] = &[Mishap::WrongPersons, Mishap::Duplicate];

fn accident_insurance(rng: &mut Prng, households: &[Household]) -> Vec<Payment> {
    let pilot = subset_with_members(
        rng,
        households,
        enrolled_by(households, ACCIDENT_PILOT),
        ACCIDENT_PILOT_PERSONS,
    );
    let mut payments = insure(households, &pilot, ACCIDENT_PILOT, ACCIDENT_PREMIUM_FEN);
    let [first_full, last_full] = ACCIDENT_FULL_YEARS;
    payments.extend(insure(
        households,
        &enrolled_by(households, first_full),
        first_full,
        ACCIDENT_PREMIUM_FEN,
    ));
    let everyone = enrolled_by(households, last_full);
    let higher = subset_with_members(
        rng,
        households,
        everyone.clone(),
        ACCIDENT_HIGHER_PLAN_PERSONS,
    );
    let standard: Vec<usize> = everyone
        .into_iter()
        .filter(|i| !higher.contains(i))
        .collect();
    payments.extend(insure(
        households,
        &standard,
        last_full,
        ACCIDENT_PREMIUM_FEN,
    ));
    payments.extend(insure(
        households,
        &higher,
        last_full,
        ACCIDENT_HIGHER_PREMIUM_FEN,
    ));
    payments
}

fn insure(
    households: &[Household],
    insured: &[usize],
    date: Date,
    premium_fen: i64,
) -> Vec<Payment> {
    let memo = format!(
        "{}年度计生家庭意外伤害保险（每人{}元）",
        date.year,
        premium_fen / FEN_PER_YUAN
    );
    insured
        .iter()
        .map(|&index| {
            per_person(
                households,
                index,
                date,
                Program::AccidentInsurance,
                premium_fen,
                &memo,
            )
        })
        .collect()
}

/// A purchase for every member of a household at `unit_fen` each.
fn per_person(
    households: &[Household],
    index: usize,
    date: Date,
    program: Program,
    unit_fen: i64,
    memo: &str,
) -> Payment {
    let persons = households[index].members;
    Payment {
        date,
        program,
        household: index,
        amount_fen: unit_fen * i64::from(persons),
        persons,
        memo: memo.to_owned(),
    }
}

/// Households, from `candidates` in random order, whose members add up to exactly
/// `target`; a household too big for what is left is passed over, and the one-member
/// households make the sum come out exact.
fn subset_with_members(
    rng: &mut Prng,
    households: &[Household],
    mut candidates: Vec<usize>,
    target: u32,
) -> Vec<usize> {
    rng.shuffle(&mut candidates);
    let mut left = target;
    let mut chosen = Vec::new();
    for index in candidates {
        if households[index].members <= left {
            left -= households[index].members;
            chosen.push(index);
        }
    }
    assert_eq!(
        left, 0,
        "no subset of the candidates has exactly {target} members"
    );
    chosen.sort_unstable();
    chosen
}

/// The nursing-care insurance project (no figure in the report) covers every member of
/// the bereaved households, mid-year.
const NURSING_PREMIUM_FEN: i64 = 120 * FEN_PER_YUAN;
const NURSING_PURCHASES: [Date; 2] = [Date::new(2017, 7, 10), Date::new(2018, 7, 10)];

fn nursing_insurance(households: &[Household]) -> Vec<Payment> {
    let mut payments = Vec::new();
    for date in NURSING_PURCHASES {
        let memo = format!("{}年度失独家庭护理险", date.year);
        for index in bereaved_by(households, date) {
            payments.push(per_person(
                households,
                index,
                date,
                Program::NursingInsurance,
                NURSING_PREMIUM_FEN,
                &memo,
            ));
        }
    }
    payments
}

fn bereaved_by(households: &[Household], date: Date) -> Vec<usize> {
    let mut bereaved = enrolled_by(households, date);
    bereaved.retain(|&i| households[i].category == Category::Bereaved);
    bereaved
}

// ---------------------------------------------------------------------------------------
// Benefits in kind

/// The report: 184 bereaved households, one card each worth ¥100 (3 hours of service),
/// handed out during 2018.
const HOUSEKEEPING_HOUSEHOLDS: usize = 184;
const HOUSEKEEPING_CARD_FEN: i64 = 100 * FEN_PER_YUAN;
const HOUSEKEEPING_YEAR: u16 = 2018;
const HOUSEKEEPING_MONTHS: (u8, u8) = (3, 11);
const HOUSEKEEPING_DAY: u8 = 15;

const HOUSEKEEPING_MISHAPS: &[Mishap] = &[Mishap::Duplicate];

fn housekeeping_service(rng: &mut Prng, households: &[Household]) -> Vec<Payment> {
    let mut chosen = bereaved_by(households, Date::new(HOUSEKEEPING_YEAR, 1, 1));
    rng.shuffle(&mut chosen);
    assert!(
        chosen.len() >= HOUSEKEEPING_HOUSEHOLDS,
        "too few bereaved households for the cards"
    );
    chosen.truncate(HOUSEKEEPING_HOUSEHOLDS);
    chosen.sort_unstable();
    let (first, last) = HOUSEKEEPING_MONTHS;
    chosen
        .into_iter()
        .map(|index| Payment {
            date: Date::new(HOUSEKEEPING_YEAR, rng.pick(first, last), HOUSEKEEPING_DAY),
            program: Program::HousekeepingService,
            household: index,
            amount_fen: HOUSEKEEPING_CARD_FEN,
            persons: 1,
            memo: "家政服务卡（3小时）".to_owned(),
        })
        .collect()
}

/// Two purchases of emergency-call bracelets: 56 × ¥280 + 61 × ¥320 = ¥35,200 for the
/// report's 117 people. A household receives one or two.
const BRACELET_BATCHES: [(Date, u32, i64); 2] = [
    (Date::new(2017, 10, 18), 56, 280 * FEN_PER_YUAN),
    (Date::new(2018, 4, 18), 61, 320 * FEN_PER_YUAN),
];
const BRACELETS_PER_HOUSEHOLD: u32 = 2;

const BRACELET_MISHAPS: &[Mishap] = &[Mishap::WrongPersons];

fn smart_bracelet(rng: &mut Prng, households: &[Household]) -> Vec<Payment> {
    let mut order: Vec<usize> = (0..households.len()).collect();
    rng.shuffle(&mut order);
    let mut next = order.into_iter();
    let mut payments = Vec::new();
    for (batch, (date, people, price_fen)) in BRACELET_BATCHES.into_iter().enumerate() {
        let mut left = people;
        while left > 0 {
            let index = next.next().expect("more households than bracelets");
            let persons = rng
                .between(1, BRACELETS_PER_HOUSEHOLD)
                .min(households[index].members)
                .min(left);
            left -= persons;
            payments.push(Payment {
                date,
                program: Program::SmartBracelet,
                household: index,
                amount_fen: price_fen * i64::from(persons),
                persons,
                memo: format!(
                    "智慧手环第{}批（每只{}元）",
                    batch + 1,
                    price_fen / FEN_PER_YUAN
                ),
            });
        }
    }
    payments
}

/// Free bus and metro passes for members of bereaved households: 317 people, handed out
/// in two rounds. The ledger records them at ¥0.00, since the operators carry the rides.
const TRANSIT_PEOPLE: u32 = 317;
const TRANSIT_ROUNDS: [Date; 2] = [Date::new(2017, 5, 16), Date::new(2018, 5, 16)];

fn transit_card(rng: &mut Prng, households: &[Household]) -> Vec<Payment> {
    let [first, _] = TRANSIT_ROUNDS;
    let chosen = subset_with_members(
        rng,
        households,
        bereaved_by(households, first),
        TRANSIT_PEOPLE,
    );
    chosen
        .into_iter()
        .enumerate()
        .map(|(turn, index)| {
            let date = TRANSIT_ROUNDS[turn % TRANSIT_ROUNDS.len()];
            per_person(
                households,
                index,
                date,
                Program::TransitCard,
                0,
                "爱心公交卡/地铁卡",
            )
        })
        .collect()
}

/// Small wishes (no figure in the report), collected on the Spring Festival visits and
/// fulfilled from March on in 2017-2018, from this list of items and prices in yuan.
const MICRO_WISHES: usize = 36;
const MICRO_WISH_YEARS: (u16, u16) = (2017, 2018);
const MICRO_WISH_MONTHS: (u8, u8) = (3, 12);
const MICRO_WISH_ITEMS: [(&str, i64); 12] = [
    ("老花镜", 150),
    ("电饭煲", 260),
    ("保温杯", 80),
    ("电子血压计", 220),
    ("冬季棉被", 300),
    ("轮椅", 480),
    ("收音机", 120),
    ("取暖器", 200),
    ("助行器", 180),
    ("羽绒服", 350),
    ("足浴盆", 160),
    ("全家福照片", 100),
];

const MICRO_WISH_MISHAPS: &[Mishap] = &[Mishap::WrongAmount];

fn micro_wish(rng: &mut Prng, households: &[Household]) -> Vec<Payment> {
    let mut chosen: Vec<usize> = (0..households.len()).collect();
    rng.shuffle(&mut chosen);
    chosen.truncate(MICRO_WISHES);
    chosen
        .into_iter()
        .map(|index| {
            let (item, price_yuan) = MICRO_WISH_ITEMS[rng.below(MICRO_WISH_ITEMS.len())];
            Payment {
                date: Date::random(rng, MICRO_WISH_YEARS, MICRO_WISH_MONTHS),
                program: Program::MicroWish,
                household: index,
                amount_fen: price_yuan * FEN_PER_YUAN,
                persons: 1,
                memo: format!("微心愿：{item}"),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Persons: the roll of each household's members

/// Panlong district's region code, the first six characters of its residents' identity
/// numbers (GB 11643).
const PANLONG_REGION: &str = "530103";
/// Identity numbers born on one day in one region differ by a 3-digit sequence whose last
/// digit is odd for men and even for women: 500 of each.
const ID_SEQUENCES_PER_SEX: usize = 500;

/// Every parent is at least this old in the household's enrollment month: the age from
/// which the scheme pays (`model::eligibility`).
const PARENT_MIN_AGE_MONTHS: u32 = 49 * 12;
/// The over-60 supplement starts in the month a household's first parent turns 60.
const ELDER_AGE_MONTHS: u32 = 60 * 12;
/// A parent who was 60 before the household's first paid month was at most this old then.
const OLDEST_PARENT_MONTHS: u32 = 75 * 12;
/// Spouses' birth months lie at most this far apart.
const SPOUSE_GAP_MONTHS: u32 = 8 * 12;
/// Born in these years: the elderly parent of a bereaved couple, or a grandchild they raise;
/// the disabled child of a household; a carer or relative beyond them.
const ELDERLY_BIRTH_YEARS: (u16, u16) = (1925, 1945);
const GRANDCHILD_BIRTH_YEARS: (u16, u16) = (2000, 2012);
const DISABLED_CHILD_BIRTH_YEARS: (u16, u16) = (1978, 1998);
const RELATIVE_BIRTH_YEARS: (u16, u16) = (1940, 1990);
/// Birth days stay within the 28 days every month has.
const LAST_BIRTH_DAY: u8 = 28;

/// Common surnames of Kunming.
const SURNAMES: [&str; 48] = [
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "蒋", "蔡", "余", "杜", "叶", "苏", "魏", "段", "普", "龚", "施",
];
/// Given names of the parents' generation (born in the 1930s to 1960s).
const WOMEN_GIVEN: [&str; 30] = [
    "秀英", "桂英", "秀兰", "玉兰", "桂兰", "秀珍", "凤英", "玉珍", "玉英", "兰英", "淑珍", "桂芳",
    "美华", "丽华", "琼芬", "丽琼", "会芬", "云仙", "玉梅", "素芬", "菊仙", "翠花", "桂香", "秀芬",
    "春兰", "凤仙", "玉芬", "家琼", "丽萍", "永芬",
];
const MEN_GIVEN: [&str; 30] = [
    "建国", "建华", "国华", "志明", "德明", "永福", "正荣", "家祥", "国强", "建明", "文华", "志刚",
    "建平", "明光", "绍华", "永昌", "德贵", "树林", "云华", "荣昌", "金生", "开明", "学文", "光明",
    "家富", "国荣", "文光", "志华", "正华", "兴旺",
];
/// Given names of the younger generation, for either sex.
const YOUNG_GIVEN: [&str; 32] = [
    "浩", "宇", "杰", "婷", "静", "磊", "敏", "洁", "涛", "娜", "鑫", "雪", "欣怡", "子涵", "梓萱",
    "浩然", "宇轩", "俊杰", "思琪", "雨欣", "佳怡", "博文", "天佑", "一鸣", "志远", "晓东", "晓燕",
    "海燕", "春梅", "红梅", "建伟", "云飞",
];

/// When a household's over-60 supplement began, which fixes when its first parent turned 60.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elder {
    /// Never in 2015-2018: both parents were under 60 throughout.
    Never,
    /// From the household's first paid month: a parent was 60 already.
    Already(Date),
    /// From this later paid month: the first parent turned 60 in it.
    TurnedIn(Date),
}

/// A month as a count of months since year 0, for arithmetic on birth months.
fn month_index(date: Date) -> u32 {
    u32::from(date.year) * 12 + u32::from(date.month) - 1
}

fn month_date(index: u32, day: u8) -> Date {
    let year = u16::try_from(index / 12).expect("the data set's years fit a u16");
    let month = u8::try_from(index % 12 + 1).expect("a month number is at most 12");
    Date::new(year, month, day)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sex {
    Female,
    Male,
}

struct Person {
    id: String,
    household: String,
    id_number: String,
    name: String,
    role: Role,
    born: Date,
    joined: Date,
}

impl Person {
    fn record(&self) -> [String; 7] {
        [
            self.id.clone(),
            self.household.clone(),
            self.id_number.clone(),
            self.name.clone(),
            self.role.as_str().to_owned(),
            self.born.to_string(),
            self.joined.to_string(),
        ]
    }
}

/// Each household's `members` persons: the mother first, the father second, others beyond,
/// all joined on the household's enrollment date.
fn generate_persons(rng: &mut Prng, households: &[Household], elders: &[Elder]) -> Vec<Person> {
    let mut numbers = BTreeSet::new();
    let mut persons = Vec::new();
    for (household, &elder) in households.iter().zip(elders) {
        let parents = parent_births(rng, household, elder);
        let mut father_surname = "";
        for position in 0..household.members {
            let (role, sex, born, surname) = match position {
                0 => (Role::Mother, Sex::Female, parents.0, pick(rng, &SURNAMES)),
                1 => (Role::Father, Sex::Male, parents.1, pick(rng, &SURNAMES)),
                _ => {
                    let (born, family) = other_birth(rng, household, position);
                    let sex = if rng.below(2) == 0 {
                        Sex::Female
                    } else {
                        Sex::Male
                    };
                    let surname = if family && !father_surname.is_empty() {
                        father_surname
                    } else {
                        pick(rng, &SURNAMES)
                    };
                    (Role::Other, sex, born, surname)
                }
            };
            if role == Role::Father {
                father_surname = surname;
            }
            persons.push(Person {
                id: format!("{}-{}", household.id, position + 1),
                household: household.id.clone(),
                id_number: new_id_number(rng, &mut numbers, born, sex),
                name: format!("{surname}{}", given_name(rng, role, sex)),
                role,
                born,
                joined: household.enrolled_on,
            });
        }
    }
    persons
}

fn pick<'a>(rng: &mut Prng, names: &[&'a str]) -> &'a str {
    names[rng.below(names.len())]
}

fn given_name(rng: &mut Prng, role: Role, sex: Sex) -> &'static str {
    match (role, sex) {
        (Role::Mother, _) => pick(rng, &WOMEN_GIVEN),
        (Role::Father, _) => pick(rng, &MEN_GIVEN),
        _ => pick(rng, &YOUNG_GIVEN),
    }
}

/// The mother's and the father's birth dates: each at least 49 in the enrollment month, and
/// the first of them 60 when the household's supplement began (neither before it).
fn parent_births(rng: &mut Prng, household: &Household, elder: Elder) -> (Date, Date) {
    let youngest = month_index(household.enrolled_on) - PARENT_MIN_AGE_MONTHS;
    let under_60_through_2018 =
        month_index(Date::new(SUPPORT_YEARS[3] + 1, 1, 1)) - ELDER_AGE_MONTHS;
    let (mother, father_oldest) = match elder {
        Elder::Never => {
            let mother = rng.between(under_60_through_2018, youngest);
            (mother, under_60_through_2018)
        }
        Elder::Already(first_paid) => {
            let turned = month_index(first_paid);
            let mother = rng.between(turned - OLDEST_PARENT_MONTHS, turned - ELDER_AGE_MONTHS);
            (mother, mother - SPOUSE_GAP_MONTHS)
        }
        Elder::TurnedIn(month) => {
            let mother = month_index(month) - ELDER_AGE_MONTHS;
            (mother, mother + 1)
        }
    };
    let low = father_oldest.max(mother - SPOUSE_GAP_MONTHS);
    let high = youngest.min(mother + SPOUSE_GAP_MONTHS);
    let father = rng.between(low, high);
    let day = |rng: &mut Prng| rng.pick(1, LAST_BIRTH_DAY);
    (month_date(mother, day(rng)), month_date(father, day(rng)))
}

/// A person beyond the parents: their birth date, and whether they are the couple's own
/// family (and so carry the father's surname).
fn other_birth(rng: &mut Prng, household: &Household, position: u32) -> (Date, bool) {
    let (years, family) = match (household.category, position) {
        (Category::Disabled, 2) => (DISABLED_CHILD_BIRTH_YEARS, true),
        (Category::Disabled, _) => (RELATIVE_BIRTH_YEARS, false),
        (Category::Bereaved, _) if rng.below(2) == 0 => (ELDERLY_BIRTH_YEARS, false),
        (Category::Bereaved, _) => (GRANDCHILD_BIRTH_YEARS, true),
    };
    (Date::random(rng, years, WHOLE_YEAR), family)
}

/// A valid identity number of Panlong district, new in `numbers`: the birth date, a
/// sequence whose last digit tells the sex, and the check character.
fn new_id_number(rng: &mut Prng, numbers: &mut BTreeSet<String>, born: Date, sex: Sex) -> String {
    loop {
        let parity = match sex {
            Sex::Female => 0,
            Sex::Male => 1,
        };
        let sequence = rng.below(ID_SEQUENCES_PER_SEX) * 2 + parity;
        let first17 = format!(
            "{PANLONG_REGION}{:04}{:02}{:02}{sequence:03}",
            born.year, born.month, born.day
        );
        let number = IdNumber::complete(&first17)
            .expect("a Panlong number of a real birth date is valid")
            .expose()
            .to_owned();
        if numbers.insert(number.clone()) {
            return number;
        }
    }
}

#[cfg(test)]
mod tests {
    //! These tests read the CSV text back as an importer would and recompute everything
    //! independently of the generator; the expected figures are the report's, written out.

    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::OnceLock;

    const SUBDISTRICT_NAMES: [&str; 12] = [
        "拓东",
        "鼓楼",
        "东华",
        "联盟",
        "金辰",
        "青云",
        "龙泉",
        "茨坝",
        "松华",
        "双龙",
        "滇源",
        "阿子营",
    ];
    const FUND_SOURCES: [&str; 4] = ["区财政", "市计生协", "省计生协", "中国计生协项目"];
    /// Each program and the one payment type it uses.
    const PROGRAM_TYPES: [(&str, &str); 8] = [
        ("support_allowance", "disbursement"),
        ("holiday_condolence", "condolence_payment"),
        ("accident_insurance", "insurance_purchase"),
        ("nursing_insurance", "insurance_purchase"),
        ("housekeeping_service", "in_kind_benefit"),
        ("smart_bracelet", "in_kind_benefit"),
        ("transit_card", "in_kind_benefit"),
        ("micro_wish", "in_kind_benefit"),
    ];

    struct HouseholdLine {
        id: String,
        subdistrict: String,
        community: String,
        category: String,
        members: u32,
        enrolled_on: String,
    }

    struct EventLine {
        date: String,
        kind: String,
        household: String,
        program: String,
        amount_fen: i64,
        persons: Option<u32>,
        reference: String,
        memo: String,
    }

    impl EventLine {
        fn is_payment(&self) -> bool {
            self.kind != "fund_allocation" && self.kind != "reversal"
        }
    }

    struct Parsed {
        households_text: String,
        events_text: String,
        households: Vec<HouseholdLine>,
        events: Vec<EventLine>,
    }

    /// Generated and parsed once for all tests, to keep the suite fast.
    fn parsed() -> &'static Parsed {
        static PARSED: OnceLock<Parsed> = OnceLock::new();
        PARSED.get_or_init(|| {
            let households_text = households_csv();
            let events_text = events_csv();
            let households = parse_households(&households_text);
            let events = parse_events(&events_text);
            Parsed {
                households_text,
                events_text,
                households,
                events,
            }
        })
    }

    fn records(text: &str) -> Vec<csv::StringRecord> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        reader
            .records()
            .map(|r| r.expect("well-formed CSV"))
            .collect()
    }

    fn parse_households(text: &str) -> Vec<HouseholdLine> {
        records(text)
            .iter()
            .map(|r| {
                assert_eq!(r.len(), 6, "{r:?}");
                HouseholdLine {
                    id: r[0].to_owned(),
                    subdistrict: r[1].to_owned(),
                    community: r[2].to_owned(),
                    category: r[3].to_owned(),
                    members: r[4].parse().expect("members is an integer"),
                    enrolled_on: checked_date(&r[5]),
                }
            })
            .collect()
    }

    fn parse_events(text: &str) -> Vec<EventLine> {
        records(text)
            .iter()
            .map(|r| {
                assert_eq!(r.len(), 8, "{r:?}");
                EventLine {
                    date: checked_date(&r[0]),
                    kind: r[1].to_owned(),
                    household: r[2].to_owned(),
                    program: r[3].to_owned(),
                    amount_fen: parse_fen(&r[4]),
                    persons: (!r[5].is_empty())
                        .then(|| r[5].parse().expect("persons is an integer")),
                    reference: r[6].to_owned(),
                    memo: r[7].to_owned(),
                }
            })
            .collect()
    }

    const fn fen(yuan: i64) -> i64 {
        yuan * 100
    }

    /// "123.45" to fen: digits, a point, exactly two digits.
    fn parse_fen(text: &str) -> i64 {
        let (yuan, fen) = text
            .split_once('.')
            .unwrap_or_else(|| panic!("{text:?} has no decimal point"));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        assert!(
            digits(yuan) && digits(fen) && fen.len() == 2,
            "{text:?} is not an amount with 2 decimals"
        );
        yuan.parse::<i64>().unwrap() * 100 + fen.parse::<i64>().unwrap()
    }

    /// Checks YYYY-MM-DD names a real day; such strings then compare chronologically.
    fn checked_date(text: &str) -> String {
        let parts: Vec<&str> = text.split('-').collect();
        assert!(
            parts.len() == 3 && parts[0].len() == 4 && parts[1].len() == 2 && parts[2].len() == 2,
            "{text:?}"
        );
        let (year, month, day): (u32, u32, u32) = (
            parts[0].parse().unwrap(),
            parts[1].parse().unwrap(),
            parts[2].parse().unwrap(),
        );
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let days = [
            31,
            if leap { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        assert!(
            (1..=12).contains(&month) && day >= 1 && day <= days[month as usize - 1],
            "{text:?}"
        );
        text.to_owned()
    }

    fn enrollment_dates() -> BTreeMap<&'static str, &'static str> {
        parsed()
            .households
            .iter()
            .map(|h| (h.id.as_str(), h.enrolled_on.as_str()))
            .collect()
    }

    /// Applies the rows in file order; returns the payments still live at the end.
    fn live_payments() -> Vec<&'static EventLine> {
        let events = &parsed().events;
        let mut reversed = BTreeSet::new();
        for event in events.iter().filter(|e| e.kind == "reversal") {
            assert!(
                reversed.insert(event.reference.as_str()),
                "{} reversed twice",
                event.reference
            );
        }
        events
            .iter()
            .filter(|e| e.is_payment() && !reversed.contains(e.reference.as_str()))
            .collect()
    }

    #[derive(Debug, Default, PartialEq, Eq)]
    struct Totals {
        payments: u32,
        amount_fen: i64,
        persons: u32,
    }

    fn live_totals() -> BTreeMap<&'static str, Totals> {
        let mut totals: BTreeMap<&str, Totals> = BTreeMap::new();
        for payment in live_payments() {
            let entry = totals.entry(payment.program.as_str()).or_default();
            entry.payments += 1;
            entry.amount_fen += payment.amount_fen;
            entry.persons += payment.persons.unwrap();
        }
        totals
    }

    #[test]
    fn headers_are_exactly_the_import_formats() {
        let p = parsed();
        assert!(p
            .households_text
            .starts_with("household_id,subdistrict,community,category,members,enrolled_on\n"));
        assert!(p
            .events_text
            .starts_with("date,type,household_id,program,amount,persons,reference,memo\n"));
        for text in [&p.households_text, &p.events_text] {
            assert!(
                !text.contains('\r') && text.ends_with('\n'),
                "line ends must be \\n only"
            );
        }
    }

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(households_csv(), parsed().households_text);
        assert_eq!(events_csv(), parsed().events_text);
    }

    #[test]
    fn households_match_the_report() {
        let households = &parsed().households;
        assert_eq!(households.len(), 357);
        assert_eq!(households.iter().map(|h| h.members).sum::<u32>(), 873);
        let ids: BTreeSet<&str> = households.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids.len(), households.len(), "household ids are unique");
        let subdistricts: BTreeSet<&str> =
            households.iter().map(|h| h.subdistrict.as_str()).collect();
        let expected: BTreeSet<String> = SUBDISTRICT_NAMES
            .iter()
            .map(|n| format!("{n}街道"))
            .collect();
        assert_eq!(subdistricts, expected.iter().map(String::as_str).collect());
        let communities: BTreeSet<(&str, &str)> = households
            .iter()
            .map(|h| (h.subdistrict.as_str(), h.community.as_str()))
            .collect();
        assert_eq!(communities.len(), 103);
        let community_names: BTreeSet<&str> = communities.iter().map(|(_, c)| *c).collect();
        assert_eq!(
            community_names.len(),
            103,
            "a community belongs to one sub-district"
        );
    }

    #[test]
    fn household_fields_are_valid_and_plausible() {
        let households = &parsed().households;
        for h in households {
            let id_ok = (1..=32).contains(&h.id.len())
                && h.id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            assert!(id_ok, "{:?}", h.id);
            assert!(
                (1..=20).contains(&h.members),
                "{}: {} members",
                h.id,
                h.members
            );
            assert!(
                h.category == "bereaved" || h.category == "disabled",
                "{:?}",
                h.category
            );
            assert!(
                h.community
                    .starts_with(h.subdistrict.trim_end_matches("街道")),
                "{}",
                h.community
            );
        }
        let bereaved = households
            .iter()
            .filter(|h| h.category == "bereaved")
            .count();
        assert!(bereaved > households.len() - bereaved && bereaved < households.len());
        let early = households
            .iter()
            .filter(|h| h.enrolled_on.as_str() < "2015-01-01")
            .count();
        assert!(
            early * 10 >= households.len() * 9 && early < households.len(),
            "{early} enrolled early"
        );
        let urban = |name: &str| households.iter().filter(|h| h.subdistrict == name).count();
        assert!(urban("拓东街道") > urban("阿子营街道"));
    }

    #[test]
    fn every_event_row_is_well_formed() {
        let households = enrollment_dates();
        let types: BTreeMap<&str, &str> = PROGRAM_TYPES.into_iter().collect();
        for e in &parsed().events {
            let context = format!("{} {} {}", e.date, e.kind, e.reference);
            let expected_type = types
                .get(e.program.as_str())
                .unwrap_or_else(|| panic!("program: {context}"));
            let reference_ok = (1..=64).contains(&e.reference.len())
                && e.reference
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !e.reference.starts_with("enroll:")
                && !e.reference.starts_with("reversal:");
            assert!(reference_ok, "{context}");
            match e.kind.as_str() {
                "fund_allocation" => {
                    assert!(e.household.is_empty() && e.persons.is_none(), "{context}");
                    assert!(FUND_SOURCES.contains(&e.memo.as_str()), "{context}");
                    assert!(e.amount_fen >= 1, "{context}");
                }
                "reversal" => assert!(!e.memo.is_empty() && e.persons >= Some(1), "{context}"),
                kind => {
                    assert_eq!(kind, *expected_type, "{context}");
                    assert!(households.contains_key(e.household.as_str()), "{context}");
                    assert!(e.persons >= Some(1), "{context}");
                    let minimum = if kind == "in_kind_benefit" { 0 } else { 1 };
                    assert!(e.amount_fen >= minimum, "{context}");
                }
            }
        }
    }

    #[test]
    fn payment_references_are_unique() {
        let mut seen = BTreeSet::new();
        for e in parsed().events.iter().filter(|e| e.kind != "reversal") {
            assert!(
                seen.insert(e.reference.as_str()),
                "{} used twice",
                e.reference
            );
        }
    }

    #[test]
    fn every_reversal_undoes_an_earlier_live_payment() {
        let mut live: BTreeMap<&str, &EventLine> = BTreeMap::new();
        let mut reversed_programs = BTreeSet::new();
        let mut reversals = 0;
        for e in &parsed().events {
            if e.is_payment() {
                live.insert(&e.reference, e);
            } else if e.kind == "reversal" {
                let target = live.remove(e.reference.as_str()).unwrap_or_else(|| {
                    panic!(
                        "{} reverses {}, which is not an earlier live payment",
                        e.date, e.reference
                    )
                });
                let same = (
                    &target.household,
                    &target.program,
                    target.amount_fen,
                    target.persons,
                );
                assert_eq!(
                    (&e.household, &e.program, e.amount_fen, e.persons),
                    same,
                    "{}",
                    e.reference
                );
                assert!(target.date <= e.date);
                reversed_programs.insert(e.program.as_str());
                reversals += 1;
            }
        }
        assert!((10..=20).contains(&reversals), "{reversals} reversals");
        assert!(reversed_programs.len() >= 4, "{reversed_programs:?}");
    }

    #[test]
    fn payments_fall_on_or_after_enrollment() {
        let enrolled = enrollment_dates();
        for e in parsed().events.iter().filter(|e| e.is_payment()) {
            assert!(
                enrolled[e.household.as_str()] <= e.date.as_str(),
                "{} paid before enrollment",
                e.reference
            );
        }
    }

    #[test]
    fn no_program_ever_pays_out_more_than_allocated() {
        let mut allocated: BTreeMap<&str, i64> = BTreeMap::new();
        let mut paid: BTreeMap<&str, i64> = BTreeMap::new();
        for e in &parsed().events {
            let program = e.program.as_str();
            match e.kind.as_str() {
                "fund_allocation" => *allocated.entry(program).or_default() += e.amount_fen,
                "reversal" => *paid.entry(program).or_default() -= e.amount_fen,
                _ => {
                    let total = paid.entry(program).or_default();
                    *total += e.amount_fen;
                    let budget = allocated.get(program).copied().unwrap_or(0);
                    assert!(
                        *total <= budget,
                        "{} overdraws {program}: {total} > {budget}",
                        e.reference
                    );
                }
            }
        }
    }

    #[test]
    fn rows_are_in_date_order_within_2015_to_2018() {
        let events = &parsed().events;
        assert!(
            events.windows(2).all(|w| w[0].date <= w[1].date),
            "rows are sorted by date"
        );
        assert!(events
            .iter()
            .all(|e| ("2015-01-01".."2019-01-01").contains(&e.date.as_str())));
    }

    #[test]
    fn live_totals_match_the_report() {
        let totals = live_totals();
        let program = |code: &str| totals.get(code).unwrap_or_else(|| panic!("no {code}"));
        assert_eq!(program("support_allowance").amount_fen, fen(15_929_700));
        let condolence = program("holiday_condolence");
        assert_eq!(
            (condolence.payments, condolence.amount_fen),
            (1_741, fen(522_300))
        );
        let accident = program("accident_insurance");
        assert_eq!(
            (accident.amount_fen, accident.persons),
            (fen(161_000), 1_971)
        );
        let housekeeping = program("housekeeping_service");
        assert_eq!(
            (housekeeping.payments, housekeeping.amount_fen),
            (184, fen(18_400))
        );
        let bracelet = program("smart_bracelet");
        assert_eq!((bracelet.amount_fen, bracelet.persons), (fen(35_200), 117));
        let transit = program("transit_card");
        assert_eq!((transit.amount_fen, transit.persons), (0, 317));
        assert!(program("nursing_insurance").payments > 0);
        assert!((24..=60).contains(&program("micro_wish").payments));
    }

    #[test]
    fn live_payments_are_plausible_per_household() {
        let p = parsed();
        let households: BTreeMap<&str, &HouseholdLine> =
            p.households.iter().map(|h| (h.id.as_str(), h)).collect();
        let mut months = BTreeSet::new();
        let mut cards = BTreeSet::new();
        for e in live_payments() {
            let household = households[e.household.as_str()];
            let persons = e.persons.unwrap();
            match e.program.as_str() {
                "support_allowance" => {
                    assert_eq!(persons, household.members, "{}", e.reference);
                    let per_member_yuan = e.amount_fen / 100 / i64::from(persons);
                    assert!((200..=600).contains(&per_member_yuan), "{}", e.reference);
                    assert!(
                        months.insert((&e.household, &e.date[..7])),
                        "{} paid twice a month",
                        e.household
                    );
                }
                "housekeeping_service" => {
                    assert_eq!(household.category, "bereaved");
                    assert!(cards.insert(&e.household), "{} got two cards", e.household);
                }
                "nursing_insurance" | "transit_card" => assert_eq!(household.category, "bereaved"),
                _ => {}
            }
        }
    }

    #[test]
    fn accident_insurance_splits_into_the_two_premiums() {
        let mut persons_by_premium: BTreeMap<i64, u32> = BTreeMap::new();
        for e in live_payments()
            .into_iter()
            .filter(|e| e.program == "accident_insurance")
        {
            let persons = e.persons.unwrap();
            assert_eq!(e.amount_fen % i64::from(persons), 0, "{}", e.reference);
            *persons_by_premium
                .entry(e.amount_fen / i64::from(persons))
                .or_default() += persons;
        }
        assert_eq!(
            persons_by_premium,
            BTreeMap::from([(fen(80), 1_805), (fen(100), 166)])
        );
    }

    #[test]
    fn demo_figures_describe_the_data() {
        let p = parsed();
        let totals = live_totals();
        assert_eq!(totals.len(), DEMO_FIGURES.programs.len());
        for figures in DEMO_FIGURES.programs {
            let expected = Totals {
                payments: figures.payments,
                amount_fen: figures.amount_fen,
                persons: figures.persons,
            };
            assert_eq!(
                totals.get(figures.program),
                Some(&expected),
                "{}",
                figures.program
            );
        }
        assert_eq!(DEMO_FIGURES.households as usize, p.households.len());
        assert_eq!(
            DEMO_FIGURES.members,
            p.households.iter().map(|h| h.members).sum::<u32>()
        );
        let subdistricts: BTreeSet<&str> = p
            .households
            .iter()
            .map(|h| h.subdistrict.as_str())
            .collect();
        assert_eq!(DEMO_FIGURES.subdistricts as usize, subdistricts.len());
        let communities: BTreeSet<&str> =
            p.households.iter().map(|h| h.community.as_str()).collect();
        assert_eq!(DEMO_FIGURES.communities as usize, communities.len());
        let reversals = p.events.iter().filter(|e| e.kind == "reversal").count();
        assert_eq!(DEMO_FIGURES.reversals as usize, reversals);
        assert_eq!(
            DEMO_FIGURES.program("transit_card").map(|f| f.persons),
            Some(317)
        );
        assert_eq!(DEMO_FIGURES.program("no_such_program"), None);
    }

    // -----------------------------------------------------------------------------------
    // The persons file

    struct PersonLine {
        id: String,
        household: String,
        id_number: String,
        name: String,
        role: String,
        born: chrono::NaiveDate,
        joined: String,
    }

    fn persons_text() -> &'static str {
        static TEXT: OnceLock<String> = OnceLock::new();
        TEXT.get_or_init(persons_csv)
    }

    fn persons() -> &'static [PersonLine] {
        static PERSONS: OnceLock<Vec<PersonLine>> = OnceLock::new();
        PERSONS.get_or_init(|| {
            records(persons_text())
                .iter()
                .map(|r| {
                    assert_eq!(r.len(), 7, "{r:?}");
                    PersonLine {
                        id: r[0].to_owned(),
                        household: r[1].to_owned(),
                        id_number: r[2].to_owned(),
                        name: r[3].to_owned(),
                        role: r[4].to_owned(),
                        born: day(&checked_date(&r[5])),
                        joined: checked_date(&r[6]),
                    }
                })
                .collect()
        })
    }

    fn day(text: &str) -> chrono::NaiveDate {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a checked date")
    }

    fn month_of(text: &str) -> crate::model::domain::Month {
        crate::model::domain::Month::of(day(text))
    }

    /// The persons of each household, in file order.
    fn persons_by_household() -> BTreeMap<&'static str, Vec<&'static PersonLine>> {
        let mut by: BTreeMap<&str, Vec<&PersonLine>> = BTreeMap::new();
        for person in persons() {
            by.entry(person.household.as_str())
                .or_default()
                .push(person);
        }
        by
    }

    #[test]
    fn the_persons_file_is_the_import_format_and_deterministic() {
        let text = persons_text();
        assert!(
            text.starts_with("person_id,household_id,id_number,name,role,birth_date,joined_on\n")
        );
        assert!(!text.contains('\r') && text.ends_with('\n'));
        assert_eq!(persons_csv(), text);
    }

    #[test]
    fn every_household_has_its_members_as_persons() {
        let households = &parsed().households;
        let by = persons_by_household();
        assert_eq!(persons().len(), 873);
        assert_eq!(
            by.len(),
            357,
            "every household has persons, and no other does"
        );
        let ids: BTreeSet<&str> = persons().iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids.len(), 873, "person ids are unique");
        for household in households {
            let members = &by[household.id.as_str()];
            assert_eq!(
                members.len(),
                household.members as usize,
                "{}",
                household.id
            );
            for (position, person) in members.iter().enumerate() {
                let role = match position {
                    0 => "mother",
                    1 => "father",
                    _ => "other",
                };
                assert_eq!(person.role, role, "{}", person.id);
                assert_eq!(person.joined, household.enrolled_on, "{}", person.id);
                assert!(person.born <= day(&person.joined), "{}", person.id);
                assert!(
                    crate::model::person::PersonId::parse(&person.id).is_ok(),
                    "{}",
                    person.id
                );
            }
        }
    }

    #[test]
    fn every_parent_is_49_in_the_enrollment_month() {
        let enrolled = enrollment_dates();
        let mut parents = 0;
        for person in persons().iter().filter(|p| p.role != "other") {
            let turns_49 = crate::model::eligibility::month_turning_49(person.born).unwrap();
            let enrollment = month_of(enrolled[person.household.as_str()]);
            assert!(
                turns_49 <= enrollment,
                "{} turns 49 in {turns_49}, after the enrollment in {enrollment}",
                person.id
            );
            parents += 1;
        }
        // Every household has a mother; all but the one-member households a father.
        let singles = parsed()
            .households
            .iter()
            .filter(|h| h.members == 1)
            .count();
        assert_eq!(parents, 357 * 2 - singles);
    }

    #[test]
    fn identity_numbers_are_valid_unique_and_agree_with_the_role() {
        use crate::model::person::{check_identity, Role};

        let mut seen = BTreeSet::new();
        for person in persons() {
            let number =
                IdNumber::parse(&person.id_number).unwrap_or_else(|e| panic!("{}: {e}", person.id));
            assert_eq!(number.expose(), person.id_number, "upper case, as stored");
            assert!(person.id_number.starts_with("530103"), "{}", person.id);
            let role = Role::parse(&person.role).unwrap();
            check_identity(&number, role, person.born)
                .unwrap_or_else(|e| panic!("{}: {e}", person.id));
            assert!(
                seen.insert(person.id_number.as_str()),
                "{} twice",
                person.id
            );
        }
    }

    #[test]
    fn names_are_chinese_and_found_in_no_other_demo_file() {
        let p = parsed();
        for person in persons() {
            let chars: Vec<char> = person.name.chars().collect();
            assert!((2..=3).contains(&chars.len()), "{}", person.name);
            assert!(
                chars.iter().all(|c| ('\u{4e00}'..='\u{9fff}').contains(c)),
                "{}",
                person.name
            );
            // The demo ledger is scanned for the names in clear: none may occur in the
            // text that is stored in clear on purpose.
            for text in [&p.households_text, &p.events_text] {
                assert!(
                    !text.contains(&person.name),
                    "{} is in another file",
                    person.name
                );
            }
        }
    }

    /// The over-60 supplement (a memo of the support allowance) starts in the month the
    /// household's first parent turns 60, or was already paid from the first month when a
    /// parent was 60 before; without it no parent is 60 before 2019.
    #[test]
    fn the_first_parent_turns_60_when_the_supplement_begins() {
        use chrono::Datelike;
        let mut support: BTreeMap<&str, Vec<&EventLine>> = BTreeMap::new();
        for payment in live_payments() {
            if payment.program == "support_allowance" {
                support
                    .entry(payment.household.as_str())
                    .or_default()
                    .push(payment);
            }
        }
        let sixty = |born: chrono::NaiveDate| {
            crate::model::domain::Month::of(born.with_year(born.year() + 60).unwrap())
        };
        for (household, persons) in persons_by_household() {
            let paid = &support[household];
            let first_paid = month_of(&paid[0].date);
            let supplemented = paid.iter().find(|p| p.memo.contains("60周岁"));
            let first_sixty = persons
                .iter()
                .filter(|p| p.role != "other")
                .map(|p| sixty(p.born))
                .min()
                .unwrap();
            match supplemented.map(|p| month_of(&p.date)) {
                None => assert!(first_sixty > month_of("2018-12-31"), "{household}"),
                Some(start) if start == first_paid => {
                    assert!(first_sixty <= start, "{household}");
                }
                Some(start) => assert_eq!(first_sixty, start, "{household}"),
            }
        }
    }

    #[test]
    #[ignore = "prints the figures, for updating DEMO_FIGURES"]
    fn print_figures() {
        for (program, totals) in live_totals() {
            eprintln!("{program}: {totals:?}");
        }
    }
}
