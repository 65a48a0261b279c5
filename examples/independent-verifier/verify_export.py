#!/usr/bin/env python3
"""An export verifier written from FORMAT.md alone, in another language than fundtrail.

    pip install blake3 cryptography
    python3 verify_export.py DIR 'origin+keyid+base64key'

Exit 0: the export is valid. Exit 1: it is not; the reason and the first bad seq are
printed. Exit 2: wrong arguments, or the files cannot be read. It shares no code with fundtrail: it exists to show that FORMAT.md is enough.
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
]
MAX_LINE = 128 * 1024  # FORMAT.md §9
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
    return name != "" and not any(c.isspace() or c == "+" or c < " " for c in name)


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


def decode_fields(record):
    r = Reader(record)
    if r.u8() != 1:
        raise ValueError("unknown record version")
    seq = r.u64()
    f = {}
    recorded_at, actor, reference = r.i64(), r.string(), r.string()
    variant = r.u32()
    if variant >= len(TYPES):
        raise ValueError(f"unknown body variant {variant}")
    f["type"] = TYPES[variant]
    f["recorded_at"] = instant(recorded_at)
    f["actor"] = actor
    f["reference"] = reference
    if variant == 0:
        f["household_id"], f["subdistrict"], f["community"] = r.string(), r.string(), r.string()
        f["category"] = category(r.u8())
        f["members"] = r.u32()
        f["date"] = day(r.i32())
    elif variant == 1:
        f["program"] = r.string()
        f["amount"] = yuan(r.i64())
        f["date"] = day(r.i32())
        f["source"] = r.string()
    elif variant == 7:  # FORMAT.md §1.3
        f["program"], f["category"] = r.string(), category(r.u8())
        f["per_member"], f["valid_from"] = yuan(r.i64()), day(r.i32())
        tag = r.u8()
        if tag not in (0, 1):
            raise ValueError("bad option tag")
        f["valid_to"] = day(r.i32()) if tag == 1 else None
    elif variant == 8:  # FORMAT.md §1.4
        f["statement_hash"], f["period"] = r.take(32).hex(), r.string()
        f["bank_rows"], f["matched_count"], f["matched_amount"] = r.u64(), r.u64(), yuan(r.i64())
        for name in ("missing_in_bank", "missing_in_ledger", "amount_mismatch",
                     "duplicate_in_bank", "reversed_but_paid"):
            f[name] = r.u64()
        f["report_hash"] = r.take(32).hex()
    elif variant == 6:
        target_seq, target_reference = r.u64(), r.string()
        f["household_id"], f["program"] = r.string(), r.string()
        f["amount"], f["persons"], f["date"] = yuan(r.i64()), r.u32(), day(r.i32())
        f["target_seq"], f["target_reference"], f["reason"] = target_seq, target_reference, r.string()
    else:
        f["household_id"], f["program"] = r.string(), r.string()
        f["amount"], f["persons"], f["date"] = yuan(r.i64()), r.u32(), day(r.i32())
        f["memo"] = r.string()
    if r.pos != len(record):
        raise ValueError("trailing bytes after the record")
    return seq, f


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


def verify(directory, vkey_text):
    vkey = parse_vkey(vkey_text)
    size, root = open_checkpoint(read_note(f"{directory}/checkpoint.txt"), vkey)
    prev, frontier, n = bytes(32), [], 0
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
                seq, fields = decode_fields(record)
            except (ValueError, UnicodeDecodeError, OverflowError) as e:
                raise Bad(f"record does not decode: {e}", n)
            if seq != n:
                raise Bad(f"the record says seq {seq}", n)
            if not same(fields, line["fields"]):
                raise Bad("fields differ from the decoded record", n)
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
        size = verify(directory, key)
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
