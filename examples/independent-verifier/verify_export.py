#!/usr/bin/env python3
"""An export verifier written from FORMAT.md alone, in another language than fundtrail.

    pip install blake3 cryptography
    python3 verify_export.py DIR 'origin+keyid+base64key'

Exit 0: the export is valid: chained, signed, and every record keeps the write rules of
FORMAT.md §9.1. Exit 1: it is not; the reason and the first bad seq are printed. Exit 2:
wrong arguments, or the files cannot be read (a missing checkpoint.txt or events.jsonl). It shares no code with fundtrail: it exists to show that FORMAT.md is enough.

Like `fundtrail audit verify-export` it replays the rules without folding the findings
(§12): it checks every clause of rules 17 and 19 but those that FORMAT.md says need the
findings (that a decided finding exists and its four eyes against the evidence, that a
release's findings hold the household); the receivables of rule 18 it keeps in full.
"""

import base64
import hashlib
import json
import struct
import sys

import blake3
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CHAIN_TAG = b"fundtrail.event.v1\x00"  # FORMAT.md §2
TYPES = [  # FORMAT.md §1, body variants by index
    "household_enrolled", "fund_allocation", "disbursement", "insurance_purchase",
    "condolence_payment", "in_kind_benefit", "reversal", "rate_set", "reconciliation",
    "person_added", "person_died", "person_left", "household_exited", "eligibility_ended",
    "person_revealed", "person_erased", "payment_to_account", "finding_resolved",
    "recovery_received", "hold_released",
]
PAYMENT_KINDS = ["disbursement", "insurance_purchase", "condolence_payment", "in_kind_benefit"]
ACCOUNT_MASK = "*" * 12
MAX_LINE = 128 * 1024  # FORMAT.md §9
MAX_RECORD = 16 * 1024  # FORMAT.md §1
MAX_NOTE = 256 * 1024  # FORMAT.md §7.2
MAX_SIGNATURES = 100  # FORMAT.md §7.2
# FORMAT.md §1.5: the calendar's days, years -262143..=262142, counted from 1970-01-01.
MIN_DAY, MAX_DAY = -96465292, 95026236
DAY_US = 86_400_000_000


class Bad(Exception):
    def __init__(self, reason, seq=None):
        super().__init__(reason)
        self.seq = seq


def H(data):
    return blake3.blake3(data).digest()


# ---- §7.3 verifier key, §7.2 signed note, §7.1 body ----------------------------------

def parse_vkey(text):
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise Bad("the verifier key is not NAME+KEYID+BASE64")
    name, key_id, b64 = parts
    if not key_name_ok(name):
        raise Bad("the verifier key's name is empty or holds whitespace, + or a control character")
    encoded = b64decode(b64, "the verifier key")
    if len(encoded) != 33 or encoded[0] != 1:
        raise Bad("not an Ed25519 verifier key")
    computed = hashlib.sha256(name.encode() + b"\n" + encoded).digest()[:4]
    if computed.hex() != key_id:
        raise Bad("verifier key id does not match")
    return name, computed, Ed25519PublicKey.from_public_bytes(encoded[1:])


def b64decode(text, what):
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise Bad(f"{what} is not standard base64")


def key_name_ok(name):
    """FORMAT.md §7.1: no whitespace, `+` or control character."""
    return name != "" and not any(c in WHITESPACE or c == "+" or is_control(c) for c in name)


def read_note(path):
    """FORMAT.md §7.2: UTF-8, no control character but newline, at most 256 KiB."""
    with open(path, "rb") as f:
        raw = f.read(MAX_NOTE + 1)
    if len(raw) > MAX_NOTE:
        raise Bad("the checkpoint note is larger than 256 KiB")
    try:
        note = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Bad("the checkpoint note is not UTF-8 text")
    if any(c < " " and c != "\n" for c in note):
        raise Bad("the checkpoint note holds a control character (a CR line end?)")
    return note


def open_checkpoint(note, vkey):
    name, key_id, public = vkey
    if "\n\n" not in note or not note.endswith("\n"):
        raise Bad("the checkpoint note has no signature block")
    split = note.rindex("\n\n")
    body, sigs = note[: split + 1], note[split + 2 :]
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise Bad("the checkpoint note has more than 100 signature lines")
    ours = 0
    for line in lines:
        # Every line is well formed, also those of other keys (FORMAT.md §7.2).
        if not line.startswith("\u2014 ") or " " not in line[2:]:
            raise Bad("bad signature line")
        signer, b64 = line[2:].split(" ", 1)
        blob = b64decode(b64, "a signature")
        if not key_name_ok(signer) or len(blob) <= 4:
            raise Bad("bad signature line")
        if signer != name or blob[:4] != key_id:
            continue
        try:
            public.verify(blob[4:], body.encode())
        except InvalidSignature:
            raise Bad("checkpoint signature does not verify")
        ours += 1
    if ours == 0:
        raise Bad("checkpoint has no signature by the key")
    lines = body.split("\n")
    origin, size, root = lines[0], lines[1], lines[2]
    if origin != name:
        raise Bad("checkpoint origin is not the key's name")
    if not size.isdigit() or (len(size) > 1 and size[0] == "0"):
        raise Bad("checkpoint size is not a plain decimal")
    root = b64decode(root, "the checkpoint root")
    if len(root) != 32:
        raise Bad("checkpoint root is not 32 bytes")
    return int(size), root


# ---- §1 record decoding and §1.5 decoded fields -----------------------------------------

class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("record ends early")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def i32(self):
        return struct.unpack("<i", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def i64(self):
        return struct.unpack("<q", self.take(8))[0]

    def string(self):
        return self.take(self.u64()).decode("utf-8")


def yuan(fen):
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def category(code):
    return {0: "bereaved", 1: "disabled"}.get(code, str(code))


ROLES = ("mother", "father", "child", "other")  # FORMAT.md §1, person_added's role codes


def role(code):
    return ROLES[code] if code < len(ROLES) else str(code)


def civil(days):
    """Proleptic Gregorian (year, month, day) of a day count from 1970-01-01."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (m <= 2), m, d


def day(days):
    """FORMAT.md §1.5: four-digit years, a sign outside 0000-9999, and the day count
    itself beyond the calendar's range."""
    if not MIN_DAY <= days <= MAX_DAY:
        return str(days)
    y, m, d = civil(days)
    year = f"{y:04d}" if 0 <= y <= 9999 else ("+" if y > 0 else "-") + f"{abs(y):04d}"
    return f"{year}-{m:02d}-{d:02d}"


def instant(us):
    days, rest = divmod(us, DAY_US)
    if not MIN_DAY <= days <= MAX_DAY:
        return str(us)
    seconds, micros = divmod(rest, 1_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{day(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{micros:06d}Z"


def decode_record(record):
    """FORMAT.md §1: the record's values, by field name, with `type` for the variant."""
    if len(record) > MAX_RECORD:
        raise ValueError(f"{len(record)} bytes, over the limit of {MAX_RECORD} (16 KiB)")
    r = Reader(record)
    if r.u8() != 1:
        raise ValueError("unknown record version")
    v = {"seq": r.u64(), "recorded_at_us": r.i64(), "actor": r.string(), "reference": r.string()}
    variant = r.u32()
    if variant >= len(TYPES):
        raise ValueError(f"unknown body variant {variant}")
    v["type"] = TYPES[variant]
    if variant == 0:
        v["household"], v["subdistrict"], v["community"] = r.string(), r.string(), r.string()
        v["category"], v["members"], v["enrolled_on"] = r.u8(), r.u32(), r.i32()
    elif variant == 1:
        v["program"], v["amount_fen"], v["value_date"], v["source"] = (
            r.string(), r.i64(), r.i32(), r.string())
    elif variant == 6:
        v["target_seq"], v["target_reference"] = r.u64(), r.string()
        v["household"], v["program"] = r.string(), r.string()
        v["amount_fen"], v["persons"], v["value_date"] = r.i64(), r.u32(), r.i32()
        v["reason"] = r.string()
    elif variant == 7:  # FORMAT.md §1.3
        v["program"], v["category"] = r.string(), r.u8()
        v["per_member_fen"], v["valid_from"] = r.i64(), r.i32()
        tag = r.u8()
        if tag not in (0, 1):
            raise ValueError("bad option tag")
        v["valid_to"] = r.i32() if tag == 1 else None
    elif variant == 8:  # FORMAT.md §1.4
        v["statement_hash"], v["period"] = r.take(32), r.string()
        for name in ("bank_rows", "matched_count"):
            v[name] = r.u64()
        v["matched_fen"] = r.i64()
        for name in ("missing_in_bank", "missing_in_ledger", "amount_mismatch",
                     "duplicate_in_bank", "reversed_but_paid"):
            v[name] = r.u64()
        v["report_hash"] = r.take(32)
    elif variant == 9:  # FORMAT.md §1.6
        v["person"], v["household"], v["identity"] = r.string(), r.string(), r.take(32)
        v["role"], v["birth_date"], v["joined_on"] = r.u8(), r.i32(), r.i32()
    elif 10 <= variant <= 13:  # life event fields
        v["person"], v["household"] = r.string(), r.string()
        v["value_date"], v["memo"] = r.i32(), r.string()
    elif variant in (14, 15):
        v["person"], v["reason"] = r.string(), r.string()
    elif variant == 16:  # a payment naming the payee's account, FORMAT.md §1.6
        kind = r.u8()
        if kind >= len(PAYMENT_KINDS):
            raise ValueError(f"unknown payment kind {kind}")
        v["type"] = PAYMENT_KINDS[kind]
        v["household"], v["program"] = r.string(), r.string()
        v["amount_fen"], v["persons"], v["value_date"] = r.i64(), r.u32(), r.i32()
        v["memo"] = r.string()
        v["account_hash"], v["account_last4"] = r.take(32), r.string()
    elif variant == 17:  # a decision about a finding, FORMAT.md §1.7
        v["finding"], v["decision"], v["reason"] = r.string(), r.u8(), r.string()
        v["household"], v["program"] = r.string(), r.string()
        v["recover_fen"], v["value_date"] = r.i64(), r.i32()
    elif variant == 18:  # money paid back against a finding's receivable, FORMAT.md §1.8
        v["finding"], v["household"], v["program"] = r.string(), r.string(), r.string()
        v["amount_fen"], v["value_date"], v["memo"] = r.i64(), r.i32(), r.string()
    elif variant == 19:  # a held household released, FORMAT.md §1 and §5.1
        v["household"], v["period"], v["reason"] = r.string(), r.string(), r.string()
        # Each id takes at least its 8-byte length, so a forged count runs out of bytes
        # (a ValueError) long before it runs long.
        v["findings"] = [r.string() for _ in range(r.u64())]
        v["value_date"] = r.i32()
    else:
        v["household"], v["program"] = r.string(), r.string()
        v["amount_fen"], v["persons"], v["value_date"] = r.i64(), r.u32(), r.i32()
        v["memo"] = r.string()
    if r.pos != len(record):
        raise ValueError("trailing bytes after the record")
    return v


def fields_of(v):
    """FORMAT.md §1.5: the decoded fields an export line must carry."""
    t = v["type"]
    f = {"type": t, "recorded_at": instant(v["recorded_at_us"]), "actor": v["actor"],
         "reference": v["reference"]}
    if t == "household_enrolled":
        f.update(household_id=v["household"], subdistrict=v["subdistrict"],
                 community=v["community"], category=category(v["category"]),
                 members=v["members"], date=day(v["enrolled_on"]))
    elif t == "fund_allocation":
        f.update(program=v["program"], amount=yuan(v["amount_fen"]),
                 date=day(v["value_date"]), source=v["source"])
    elif t == "rate_set":
        f.update(program=v["program"], category=category(v["category"]),
                 per_member=yuan(v["per_member_fen"]), valid_from=day(v["valid_from"]),
                 valid_to=None if v["valid_to"] is None else day(v["valid_to"]))
    elif t == "reconciliation":
        f.update(statement_hash=v["statement_hash"].hex(), period=v["period"],
                 matched_amount=yuan(v["matched_fen"]), report_hash=v["report_hash"].hex())
        for name in ("bank_rows", "matched_count", "missing_in_bank", "missing_in_ledger",
                     "amount_mismatch", "duplicate_in_bank", "reversed_but_paid"):
            f[name] = v[name]
    elif t == "person_added":
        f.update(person_id=v["person"], household_id=v["household"],
                 identity=v["identity"].hex(), role=role(v["role"]),
                 birth_date=day(v["birth_date"]), date=day(v["joined_on"]))
    elif t in LIFE_EVENTS:
        # `person_id` is shown whenever the record holds one, so that fields never read
        # better than the bytes: a household's event with a person is refused by the rules.
        if v["person"]:
            f["person_id"] = v["person"]
        f.update(household_id=v["household"], date=day(v["value_date"]), memo=v["memo"])
    elif t in ACCESS:
        f.update(person_id=v["person"], reason=v["reason"])
    elif t == "finding_resolved":
        decision = DECISIONS.get(v["decision"], v["decision"])
        f.update(finding_id=v["finding"], household_id=v["household"], decision=decision,
                 reason=v["reason"], program=v["program"], recover=yuan(v["recover_fen"]),
                 date=day(v["value_date"]))
    elif t == "recovery_received":
        f.update(finding=v["finding"], household_id=v["household"], program=v["program"],
                 amount=yuan(v["amount_fen"]), date=day(v["value_date"]), memo=v["memo"])
    elif t == "hold_released":
        f.update(household_id=v["household"], period=v["period"], reason=v["reason"],
                 findings=list(v["findings"]), date=day(v["value_date"]))
    else:
        f.update(household_id=v["household"], program=v["program"],
                 amount=yuan(v["amount_fen"]), persons=v["persons"], date=day(v["value_date"]))
        if t == "reversal":
            f.update(target_seq=v["target_seq"], target_reference=v["target_reference"],
                     reason=v["reason"])
        else:
            f["memo"] = v["memo"]
        if "account_last4" in v:
            last4 = v["account_last4"]
            shown = last4 if len(last4) == 4 and last4.isascii() and last4.isdigit() else ""
            f["account"] = ACCOUNT_MASK + shown
    return f


# ---- §9.1 the write rules, replayed -----------------------------------------------------

PROGRAMS = {  # FORMAT.md §1
    "support_allowance", "holiday_condolence", "accident_insurance", "nursing_insurance",
    "housekeeping_service", "smart_bracelet", "transit_card", "micro_wish",
}
PAYMENTS = {"disbursement", "insurance_purchase", "condolence_payment", "in_kind_benefit"}
PERSON_EVENTS = {"person_died", "person_left"}  # FORMAT.md §1: life events of one person
HOUSEHOLD_ENDS = {"household_exited", "eligibility_ended"}  # ... and of the whole household
LIFE_EVENTS = PERSON_EVENTS | HOUSEHOLD_ENDS
ACCESS = {"person_revealed", "person_erased"}
RESERVED = ("enroll:", "reversal:", "rate:", "ALW-", "reconcile:", "person:", "reveal:", "erase:",
            "resolve:", "release:")
DECISIONS = {1: "confirmed", 2: "dismissed"}  # FORMAT.md §1.7
FINDING_ID_DIGITS = "0123456789abcdef"
ALLOWANCE = "support_allowance"  # FORMAT.md §9.1 rule 15: the program counted by person
PARENTS = (0, 1)  # role codes of a mother and a father, the persons who can be due it
ELIGIBLE_AGE = 49  # years: a parent is due the allowance from the month they turn 49
MAX_RELEASED_FINDINGS = 64  # FORMAT.md §9.1 rule 19: the ids one release names at most
CEILING_FEN = 10_000_000_000
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
MAX_TEXT, MAX_REFERENCE, MAX_HOUSEHOLD, MAX_PERSON_ID = 200, 64, 32, 32
MAX_MEMBERS, MAX_PERSONS, MAX_DAYS_AHEAD = 20, 10_000, 366
# FORMAT.md §7.1: Unicode White_Space, and control characters (category Cc).
WHITESPACE = set(map(chr, [*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
                           0x2028, 0x2029, 0x202F, 0x205F, 0x3000]))
ID_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def is_control(c):
    return c < " " or "\x7f" <= c <= "\x9f"


def trimmed(text):
    start, end = 0, len(text)
    while start < end and text[start] in WHITESPACE:
        start += 1
    while end > start and text[end - 1] in WHITESPACE:
        end -= 1
    return text[start:end]


class Broken(Exception):
    """A record breaks a write rule: the field it names and why."""

    def __init__(self, field, reason):
        super().__init__(f"{field}: {reason}")


def require(ok, field, reason):
    if not ok:
        raise Broken(field, reason)


def check_text(field, text, required):
    require(not required or trimmed(text) != "", field, "is empty")
    require(len(text) <= MAX_TEXT, field, f"is longer than {MAX_TEXT} characters")
    require(not any(map(is_control, text)), field, "contains a control character")


# FORMAT.md §1.2: format characters and the other default-ignorable code points.
INVISIBLE = [
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
]


def is_invisible(c):
    return any(lo <= ord(c) <= hi for lo, hi in INVISIBLE)


def plain_character(c):
    return not (c in WHITESPACE or is_control(c) or is_invisible(c))


def clerk_reference(text):
    return (1 <= len(text) <= MAX_REFERENCE
            and all(plain_character(c) for c in text)
            and not text.startswith(RESERVED))


def check_date(field, days):
    require(MIN_DAY <= days <= MAX_DAY and 0 <= civil(days)[0] <= 9999, field,
            f"day {days} is not a date YYYY-MM-DD")


def last_day_of_month(days):
    y, m, d = civil(days)
    return civil(days + 1)[1] != m


def month_of(days):
    """(year, month) of a day, which compare in calendar order."""
    return civil(days)[:2]


def first_of_month(days):
    return days - civil(days)[2] + 1


def month_text(month):
    return f"{month[0]:04d}-{month[1]:02d}"


def month_ok(p):
    """A month `YYYY-MM` with a year of 1970 or later (FORMAT.md §9.1 rules 1 and 19)."""
    return (len(p) == 7 and p[4] == "-" and (p[:4] + p[5:]).isdigit() and p.isascii()
            and int(p[:4]) >= 1970 and 1 <= int(p[5:]) <= 12)


def finding_id_ok(text):
    """FORMAT.md §12.1: 16 lowercase hex digits."""
    return len(text) == 16 and set(text) <= set(FINDING_ID_DIGITS)


def days_from_civil(y, m, d):
    """Days from 1970-01-01 of a proleptic Gregorian date: the inverse of `civil`."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def last_day_of(month):
    """The last day of a month (year, month), as days from 1970-01-01."""
    y, m = month
    return days_from_civil(y + (m == 12), m % 12 + 1, 1) - 1


def person_id_ok(text):
    return 1 <= len(text) <= MAX_PERSON_ID and set(text) <= ID_CHARS


def canonical_i64(text):
    """A decimal integer as a program prints one: no `+`, no leading zero, no `-0`."""
    try:
        value = int(text)
    except ValueError:
        return False
    return str(value) == text and I64_MIN <= value <= I64_MAX


def at(event):
    """How a message names the earlier event that makes a record wrong."""
    return f"seq {event[1]}"


class Person:
    """A person as the events before a record left them (FORMAT.md §9.1 rules 11 to 14)."""

    def __init__(self, v):
        self.seq, self.household, self.identity = v["seq"], v["household"], v["identity"]
        self.role, self.birth, self.joined = v["role"], v["birth_date"], v["joined_on"]
        self.left = self.died = None  # (day, seq) of the event, once recorded
        self.erased = None  # seq of the erasure

    def counts(self, days, end):
        """FORMAT.md §9.1 rule 15: whether this person is due the allowance in the month of
        day `days`, in a household whose end, if any, is `end`."""
        month, first = month_of(days), first_of_month(days)
        born_year, born_month, _ = civil(self.birth)
        return (self.role in PARENTS
                and self.joined <= first and (self.left is None or self.left[0] > first)
                and (born_year + ELIGIBLE_AGE, born_month) <= month
                and (self.died is None or month_of(self.died[0]) >= month)
                and (end is None or end[0] >= first))


class Receivable:
    """A finding's receivable (FORMAT.md §1.8): what its latest decision says is to be
    recovered, from which household and program, and what recoveries brought in."""

    def __init__(self):
        self.household, self.program, self.amount, self.recovered = "", "", 0, 0

    def open(self):
        return self.amount - self.recovered

    def check_owner(self, finding, household, program):
        require(household == self.household, "household_id",
                f"finding {finding} is about household {self.household}, not {household}")
        require(program == self.program, "program",
                f"finding {finding}'s receivable is in program {self.program}, not {program}")


class Rules:
    """The replay of FORMAT.md §9.1 over the records in seq order."""

    def __init__(self):
        self.references = set()
        self.households = {}  # household -> enrolled_on
        self.allocated, self.disbursed = {}, {}
        self.payments = {}  # reference -> [seq, household, program, fen, persons, date, reversed]
        self.rates = []
        self.persons = {}  # person id -> Person
        self.members = {}  # household -> [Person], in the order they were added
        self.current = {}  # identity -> the person id holding it in a household (not left)
        self.deaths = {}  # identity -> (day, seq) of its recorded death
        self.ends = {}  # household -> (day, seq, type) of its exit or end of eligibility
        self.deciders = {}  # (finding, actor) -> seq of the actor's decision about it
        # reference -> [seq, household, program, fen, 0 persons, date, reversed, finding]
        self.recoveries = {}
        self.receivables = {}  # finding -> Receivable, set by its latest decision (§1.8)
        self.runners = {}  # (year, month) -> {actor: first seq of an ALW- payment of it}

    def judge(self, v):
        t = v["type"]
        self.values(v)
        self.reference(v)
        require(v["reference"] not in self.references, "reference",
                f"{v['reference']} is already recorded")
        self.not_ahead(v)
        if t == "household_enrolled":
            require(1 <= v["members"] <= MAX_MEMBERS, "members", "is not 1 to 20")
            self.households[v["household"]] = v["enrolled_on"]
        elif t == "fund_allocation":
            require(v["amount_fen"] >= 1, "amount", "an allocation must be at least 0.01")
            total = self.allocated.get(v["program"], 0) + v["amount_fen"]
            require(total <= I64_MAX, "amount", "the program's total would overflow")
            self.allocated[v["program"]] = total
        elif t in PAYMENTS:
            self.payment(v)
        elif t == "reversal":
            self.reversal(v)
        elif t == "rate_set":
            self.rate(v)
        elif t == "person_added":
            self.person_added(v)
        elif t in PERSON_EVENTS:
            self.person_event(v)
        elif t in HOUSEHOLD_ENDS:
            self.household_end(v)
        elif t in ACCESS:
            self.access(v)
        elif t == "finding_resolved":
            self.decision(v)
        elif t == "recovery_received":
            self.recovery(v)
        elif t == "hold_released":
            self.release(v)
        self.references.add(v["reference"])

    def not_ahead(self, v):
        """Rule 4: a value date at most 366 days after the day the record was recorded."""
        t = v["type"]
        if t == "household_enrolled":
            field, days = "enrolled_on", v["enrolled_on"]
        elif t == "person_added":
            field, days = "joined_on", max(v["joined_on"], v["birth_date"])
        elif t in PAYMENTS or t in LIFE_EVENTS or t in ("fund_allocation", "reversal",
                                                         "finding_resolved", "recovery_received",
                                                         "hold_released"):
            field, days = "date", v["value_date"]
        else:
            return
        today = v["recorded_at_us"] // DAY_US
        require(days - today <= MAX_DAYS_AHEAD, field,
                f"{day(days)} is more than {MAX_DAYS_AHEAD} days after the day it is recorded")

    def values(self, v):
        t = v["type"]
        check_text("actor", v["actor"], True)
        for name, required in (("subdistrict", True), ("community", True), ("source", False),
                               ("memo", False),
                               ("reason", t in ACCESS or t in ("finding_resolved",
                                                               "hold_released"))):
            if name in v:
                check_text(name, v[name], required)
        if "household" in v:
            h = v["household"]
            require(1 <= len(h) <= MAX_HOUSEHOLD and set(h) <= ID_CHARS, "household_id",
                    f"{h!r} is not 1 to 32 letters, digits, '-' or '_'")
        if "person" in v and t not in HOUSEHOLD_ENDS:
            p = v["person"]
            require(person_id_ok(p), "person_id",
                    f"{p!r} is not 1 to 32 letters, digits, '-' or '_'")
        if "program" in v and not (t == "finding_resolved" and v["program"] == ""):
            require(v["program"] in PROGRAMS, "program", f"{v['program']!r} is not a known program")
        if "category" in v:
            require(v["category"] in (0, 1), "category", f"category {v['category']}")
        if "account_last4" in v:
            last4 = v["account_last4"]
            require(len(last4) == 4 and last4.isascii() and last4.isdigit(), "account",
                    "the last four digits are not four digits")
        if "role" in v:
            require(v["role"] < len(ROLES), "role", f"role {v['role']}")
        for name in ("amount_fen", "per_member_fen", "recover_fen"):
            if name in v:
                require(0 <= v[name] < CEILING_FEN, "amount", "is not between 0 and the ceiling")
        for name in ("enrolled_on", "value_date", "valid_from", "valid_to", "birth_date",
                     "joined_on"):
            if v.get(name) is not None:
                check_date(name, v[name])
        if t == "recovery_received":
            require(finding_id_ok(v["finding"]), "finding",
                    f"{v['finding']!r} is not 16 lowercase hex digits")
        if t == "hold_released":
            require(month_ok(v["period"]), "period", f"{v['period']!r} is not a month YYYY-MM")
        if t == "reconciliation" and v["period"] != "":
            p = v["period"]
            require(month_ok(p), "period", f"{p!r} is not a month YYYY-MM")

    def reference(self, v):
        t, ref = v["type"], v["reference"]
        if t == "household_enrolled":
            expected = f"enroll:{v['household']}"
        elif t == "reversal":
            target = v["target_reference"]
            require(clerk_reference(target) or (target.startswith("ALW-")
                                                and clerk_reference("X" + target[4:])),
                    "reference", f"{target!r} cannot be the reference of a payment")
            expected = f"reversal:{target}"
        elif t == "rate_set":
            kind = ("bereaved", "disabled")[v["category"]]
            expected = f"rate:{v['program']}:{kind}:{day(v['valid_from'])}"
        elif t == "reconciliation":
            period = v["period"] or "all"
            expected = (f"reconcile:{v['statement_hash'][:8].hex()}:{period}:"
                        f"{v['report_hash'][:8].hex()}")
        elif t == "person_added":
            expected = f"person:{v['person']}"
        elif t == "person_erased":
            expected = f"erase:{v['person']}"
        elif t == "finding_resolved":
            stem = f"resolve:{v['finding']}:"
            require(ref.startswith(stem) and canonical_i64(ref[len(stem):]), "reference",
                    f"{ref!r} is not {stem}<microseconds since the epoch>")
            expected = ref
        elif t == "hold_released":
            expected = f"release:{v['period'].replace('-', '')}:{v['household']}"
        elif t == "person_revealed":
            stem = f"reveal:{v['person']}:"
            require(ref.startswith(stem) and canonical_i64(ref[len(stem):]), "reference",
                    f"{ref!r} is not {stem}<microseconds since the epoch>")
            expected = ref
        elif t in PAYMENTS and ref.startswith("ALW-"):
            require("account_last4" not in v, "reference",
                    "only the allowance run records ALW- references")
            y, m, _ = civil(v["value_date"])
            expected = f"ALW-{y:04d}{m:02d}-{v['household']}"
            require(t == "disbursement" and v["program"] == ALLOWANCE
                    and last_day_of_month(v["value_date"]), "reference",
                    "only the allowance run records ALW- references")
        else:
            require(clerk_reference(ref), "reference", f"{ref!r} is not a clerk's reference")
            expected = ref
        require(ref == expected, "reference", f"{ref!r} should be {expected!r}")

    def enrolled_by(self, household, days, field):
        enrolled = self.households.get(household)
        require(enrolled is not None, "household_id", f"{household} is not enrolled")
        require(enrolled <= days, field,
                f"{day(days)} is before household {household} was enrolled ({day(enrolled)})")

    def payment(self, v):
        low = 0 if v["type"] == "in_kind_benefit" else 1
        require(v["amount_fen"] >= low, "amount", "is below the least amount")
        require(1 <= v["persons"] <= MAX_PERSONS, "persons", "is not 1 to 10000")
        self.enrolled_by(v["household"], v["value_date"], "date")
        self.not_ended(v)
        self.persons_eligible(v)
        program = v["program"]
        after = self.disbursed.get(program, 0) + v["amount_fen"]
        require(after <= self.allocated.get(program, 0), "amount",
                f"exceeds what is left of program {program}")
        self.disbursed[program] = after
        self.payments[v["reference"]] = [v["seq"], v["household"], program, v["amount_fen"],
                                         v["persons"], v["value_date"], False]
        if v["reference"].startswith("ALW-"):
            # Rule 19: whoever recorded a month's allowance may not release a household
            # for it, even once the payment is reversed.
            runners = self.runners.setdefault(month_of(v["value_date"]), {})
            runners.setdefault(v["actor"], v["seq"])

    def not_ended(self, v):
        """Rule 7: no payment after its household's end; the allowance run's payment of a
        month (an ALW- reference) is due when the month began on or before the end."""
        end = self.ends.get(v["household"])
        if end is None:
            return
        if v["reference"].startswith("ALW-"):
            after = end[0] < first_of_month(v["value_date"])
        else:
            after = v["value_date"] > end[0]
        require(not after, "date",
                f"{day(v['value_date'])} is after household {v['household']} {verb(end)} on "
                f"{day(end[0])} ({at(end)})")

    def persons_eligible(self, v):
        """Rule 7: a support allowance disbursement counts at most the persons eligible in
        its month, once the household has persons."""
        household = v["household"]
        if v["type"] != "disbursement" or v["program"] != ALLOWANCE:
            return
        if household not in self.members:
            return
        end = self.ends.get(household)
        counted = sum(p.counts(v["value_date"], end) for p in self.members[household])
        require(v["persons"] <= counted, "persons",
                f"{v['persons']} persons exceed the {counted} of household {household} "
                f"eligible in {month_text(month_of(v['value_date']))}")

    def reversal(self, v):
        """Rule 8: a reversal of a payment or of a recovery (§1.8)."""
        target = v["target_reference"]
        paid = self.payments.get(target)
        what = "payment"
        if paid is None:
            paid, what = self.recoveries.get(target), "recovery"
        require(paid is not None, "reference", f"{target} is no earlier payment or recovery")
        seq, household, program, fen, persons, date, reversed_ = paid[:7]
        require(not reversed_, "reference", f"the {what} is already reversed")
        require((v["target_seq"], v["household"], v["program"], v["amount_fen"], v["persons"])
                == (seq, household, program, fen, persons), "reference",
                f"does not repeat the {what}'s seq, household, program, amount and persons"
                + (" (0 for a recovery)" if what == "recovery" else ""))
        require(trimmed(v["reason"]) != "", "memo", "a reversal needs a reason")
        require(v["value_date"] >= date, "date", f"is before the {what}'s own date")
        if what == "recovery":
            # The money did not come back after all: the program must afford having it no
            # longer (rule 7), and the receivable is open again by the amount.
            receivable = self.receivables[paid[7]]
            require(fen <= receivable.recovered, "amount",
                    f"a reversal of {yuan(fen)} yuan exceeds the {yuan(receivable.recovered)} "
                    f"yuan recovered for finding {paid[7]}")
            after = self.disbursed.get(program, 0) + fen
            require(after <= self.allocated.get(program, 0), "amount",
                    f"exceeds what is left of program {program}: the recovered money was "
                    "spent again")
            self.disbursed[program] = after
            receivable.recovered -= fen
        else:
            self.disbursed[program] -= fen
        paid[6] = True

    def recovery(self, v):
        """Rule 18: money paid back, within what is open of the finding's receivable."""
        finding, fen, program = v["finding"], v["amount_fen"], v["program"]
        require(fen >= 1, "amount", "a recovery must be at least 0.01")
        self.enrolled_by(v["household"], v["value_date"], "date")
        receivable = self.receivables.get(finding)
        require(receivable is not None and receivable.amount > 0, "finding",
                f"finding {finding} has no receivable: no decision confirmed an amount to "
                "recover")
        receivable.check_owner(finding, v["household"], program)
        require(fen <= receivable.open(), "amount",
                f"{yuan(fen)} yuan would take finding {finding}'s receivable below zero: "
                f"{yuan(receivable.open())} yuan is open")
        receivable.recovered += fen
        self.disbursed[program] = self.disbursed.get(program, 0) - fen
        self.recoveries[v["reference"]] = [v["seq"], v["household"], program, fen, 0,
                                           v["value_date"], False, finding]

    def release(self, v):
        """Rule 19, the part a replay without the findings checks: the values, the
        household enrolled by the month's end and not yet paid it, the month run, and four
        eyes against whoever recorded the month's ALW- payments."""
        household, ids = v["household"], v["findings"]
        require(1 <= len(ids) <= MAX_RELEASED_FINDINGS, "findings",
                f"names {len(ids)} findings: a release names 1 to {MAX_RELEASED_FINDINGS}")
        bad = [i for i in ids if not finding_id_ok(i)]
        require(not bad, "findings", f"{bad[0]!r} is not 16 lowercase hex digits" if bad else "")
        require(all(a < b for a, b in zip(ids, ids[1:])), "findings",
                "finding ids are listed in ascending order, each once")
        month = (int(v["period"][:4]), int(v["period"][5:]))
        self.enrolled_by(household, last_day_of(month), "date")
        compact = v["period"].replace("-", "")
        paid = self.payments.get(f"ALW-{compact}-{household}")
        require(paid is None, "household_id",
                f"{household} is already paid the support allowance of {v['period']} (seq "
                f"{paid[0] if paid else ''}): only an unpaid month is released")
        runners = self.runners.get(month, {})
        require(runners, "period", f"the support allowance of {v['period']} has not been run: "
                                   "a release follows the run that held the household")
        ran = runners.get(v["actor"])
        require(ran is None, "actor",
                f"four eyes: {v['actor']} recorded the support allowance run of {v['period']} "
                f"(seq {ran}): a household it held is released by someone else")

    def rate(self, v):
        require(v["per_member_fen"] >= 1, "per_member", "must be at least 0.01")
        require(v["valid_to"] is None or v["valid_to"] >= v["valid_from"], "valid_to",
                "is before valid_from")
        for old in self.rates:
            if (old["program"], old["category"]) != (v["program"], v["category"]):
                continue
            a, b = (old, v) if old["valid_from"] <= v["valid_from"] else (v, old)
            if a["valid_to"] is None:
                overlap = a["valid_from"] == b["valid_from"]
            else:
                overlap = a["valid_to"] >= b["valid_from"]
            require(not overlap, "valid_from", "overlaps an earlier rate")
        self.rates.append(v)

    def person_added(self, v):
        """Rule 11. The person id is new: its reference `person:<id>` is (rule 3)."""
        household, identity = v["household"], v["identity"]
        self.enrolled_by(household, v["joined_on"], "joined_on")
        require(v["birth_date"] <= v["joined_on"], "joined_on",
                f"{day(v['joined_on'])} is before the birth date {day(v['birth_date'])}")
        death = self.deaths.get(identity)
        if death is not None:
            raise Broken("identity", f"this identity was recorded dead on {day(death[0])} "
                                     f"({at(death)}): a dead person's identity is not added again")
        holder = self.current.get(identity)
        if holder is not None:
            held = self.persons[holder]
            raise Broken("identity", f"this identity is already person {holder} of household "
                                     f"{held.household} (seq {held.seq})")
        end = self.ends.get(household)
        if end is not None:
            raise Broken("household_id", f"household {household} {verb(end)} on {day(end[0])} "
                                         f"({at(end)})")
        person = Person(v)
        self.persons[v["person"]] = person
        self.members.setdefault(household, []).append(person)
        self.current[identity] = v["person"]

    def person_event(self, v):
        """Rule 12: a death or departure names a person of its household, not dead."""
        pid, date = v["person"], v["value_date"]
        person = self.persons.get(pid)
        require(person is not None, "person_id", f"{pid} is not recorded")
        require(v["household"] == person.household, "household_id",
                f"{pid} is a person of household {person.household}, not {v['household']}")
        if person.died is not None:
            died = person.died
            raise Broken("type", f"{pid} was already recorded dead on {day(died[0])} ({at(died)})")
        require(date >= person.birth, "date",
                f"{day(date)} is before {pid} was born ({day(person.birth)})")
        if v["type"] == "person_left":
            if person.left is not None:
                left = person.left
                raise Broken("type", f"{pid} already left on {day(left[0])} ({at(left)})")
            require(date >= person.joined, "date",
                    f"{day(date)} is before {pid} joined ({day(person.joined)})")
        self.enrolled_by(person.household, date, "date")
        if v["type"] == "person_died":
            person.died = (date, v["seq"])
            self.deaths[person.identity] = person.died
        else:
            person.left = (date, v["seq"])
            if self.current.get(person.identity) == pid:
                del self.current[person.identity]

    def household_end(self, v):
        """Rule 13: a household ends once, on or after its enrollment."""
        household = v["household"]
        require(v["person"] == "", "person_id",
                f"{v['person']!r}: a household's {v['type']} names no person")
        self.enrolled_by(household, v["value_date"], "date")
        end = self.ends.get(household)
        if end is not None:
            raise Broken("type", f"household {household} already {verb(end)} on {day(end[0])} "
                                 f"({at(end)})")
        self.ends[household] = (v["value_date"], v["seq"], v["type"])

    def access(self, v):
        """Rule 14: a reveal or an erasure names a person added before and not erased."""
        pid = v["person"]
        person = self.persons.get(pid)
        require(person is not None, "person_id", f"{pid} is not recorded")
        if person.erased is not None:
            raise Broken("person_id", f"{pid}'s personal data was erased (seq {person.erased})")
        if v["type"] == "person_erased":
            person.erased = v["seq"]


    def decision(self, v):
        """Rule 17, the part a replay without the findings checks: the values, and no actor
        decides one finding twice."""
        finding = v["finding"]
        require(len(finding) == 16 and set(finding) <= set(FINDING_ID_DIGITS), "finding_id",
                f"{finding!r} is not 16 lowercase hex digits")
        require(v["decision"] in DECISIONS, "decision", f"decision {v['decision']}")
        recover, program = v["recover_fen"], v["program"]
        require(recover == 0 or v["decision"] == 1, "recover",
                "an amount to recover needs the decision confirmed")
        require(recover == 0 or program != "", "program", "an amount to recover needs a program")
        require(recover > 0 or program == "", "program",
                "a program is named only with an amount to recover")
        earlier = self.deciders.get((finding, v["actor"]))
        require(earlier is None, "actor",
                f"four eyes: {v['actor']} already decided finding {finding} (seq {earlier})")
        self.set_receivable(finding, v["household"], program, recover)
        self.deciders[(finding, v["actor"])] = v["seq"]

    def set_receivable(self, finding, household, program, fen):
        """Rule 18: a decision sets its finding's receivable (a dismissal to 0), never
        below what was recovered for it, nor, once anything was, for another household or
        program."""
        receivable = self.receivables.get(finding)
        if receivable is not None and receivable.recovered > 0:
            receivable.check_owner(finding, household, program)
            require(fen >= receivable.recovered, "recover",
                    f"finding {finding} already had {yuan(receivable.recovered)} yuan "
                    f"recovered: a decision cannot set its receivable to {yuan(fen)} yuan")
        if receivable is None:
            receivable = self.receivables[finding] = Receivable()
        receivable.household, receivable.program, receivable.amount = household, program, fen


def verb(end):
    """How a message says a household ended."""
    return "exited the scheme" if end[2] == "household_exited" else "ended its eligibility"


# ---- §6 Merkle tree, as a frontier -------------------------------------------------------

def node(left, right):
    return H(b"\x01" + left + right)


def root_of(frontier):
    if not frontier:
        return H(b"")
    acc = frontier[-1][1]
    for _, h in reversed(frontier[:-1]):
        acc = node(h, acc)
    return acc


def append(frontier, leaf):
    width, h = 1, leaf
    while frontier and frontier[-1][0] == width:
        _, left = frontier.pop()
        h, width = node(left, h), width * 2
    frontier.append((width, h))


# ---- §9 the export ----------------------------------------------------------------------

def unique_object(pairs):
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("a member is repeated")
    return obj


def same(a, b):
    """JSON equality that tells 2 from 2.0 and 1 from true."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def verify(directory, vkey):
    size, root = open_checkpoint(read_note(f"{directory}/checkpoint.txt"), vkey)
    prev, frontier, n, rules = bytes(32), [], 0, Rules()
    with open(f"{directory}/events.jsonl", "rb") as events:
        while True:
            raw = events.readline(MAX_LINE + 1)
            if not raw:
                break
            n += 1
            if n > size:
                raise Bad("more lines than the checkpoint's size", n)
            if not raw.endswith(b"\n"):
                raise Bad("line too long or without a newline", n)
            if raw.startswith(b"\xef\xbb\xbf"):
                raise Bad("the line starts with a byte order mark", n)
            try:
                line = json.loads(raw, object_pairs_hook=unique_object)
                for member in ("record", "prev_hash", "hash"):
                    if not set(line[member]) <= set("0123456789abcdef"):
                        raise ValueError(f"{member} is not lowercase hex")
                record = bytes.fromhex(line["record"])
                stated_prev, stated = bytes.fromhex(line["prev_hash"]), bytes.fromhex(line["hash"])
            except (ValueError, KeyError, TypeError) as e:
                raise Bad(f"unreadable line: {e}", n)
            if set(line) != {"seq", "hash", "prev_hash", "record", "fields"}:
                raise Bad("unexpected members", n)
            if type(line["seq"]) is not int or line["seq"] != n:
                raise Bad(f"line {n} holds seq {line['seq']}", n)
            if stated_prev != prev:
                raise Bad("prev_hash is not the previous line's hash", n)
            computed = H(CHAIN_TAG + prev + record)
            if computed != stated:
                raise Bad("hash does not match prev_hash and record", n)
            try:
                values = decode_record(record)
            except (ValueError, UnicodeDecodeError, OverflowError) as e:
                raise Bad(f"record does not decode: {e}", n)
            if values["seq"] != n:
                raise Bad(f"the record says seq {values['seq']}", n)
            if not same(fields_of(values), line["fields"]):
                raise Bad("fields differ from the decoded record", n)
            try:
                rules.judge(values)
            except Broken as broken:
                raise Bad(f"breaks a write rule: {broken}", n)
            append(frontier, H(b"\x00" + computed))
            prev = computed
    if n != size:
        raise Bad(f"the export has {n} events, the checkpoint signs {size}", n + 1)
    if root_of(frontier) != root:
        raise Bad("the Merkle root is not the checkpoint's root")
    return size


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    directory, key = sys.argv[1], sys.argv[2]
    try:
        vkey = parse_vkey(key)
    except Bad as bad:
        print(f"the verifier key is not usable: {bad}", file=sys.stderr)
        return 2
    try:
        size = verify(directory, vkey)
    except Bad as bad:
        where = f" at seq {bad.seq}" if bad.seq else ""
        print(f"FAILED{where}: {bad}")
        return 1
    except OSError as e:
        print(f"cannot read the export: {e}", file=sys.stderr)
        return 2
    print(f"ok: {size} events match the signed checkpoint")
    return 0


if __name__ == "__main__":
    sys.exit(main())
