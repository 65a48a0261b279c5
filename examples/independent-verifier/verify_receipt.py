#!/usr/bin/env python3
"""A receipt verifier written from FORMAT.md §14 alone (with verify_export.py beside it for
the record decoding of §1, the fields of §1.5 and the signed note of §7.2).

    pip install blake3 cryptography
    python3 verify_receipt.py FILE 'origin+keyid+base64key'

FILE holds a receipt's text form or its compact form (FTR1:...). Exit 0: the payment is in
the signed log and the receipt shows its fields; 1: it is not, with the reason; 2: wrong
arguments or an unreadable file.
"""

import json
import sys

from verify_export import (
    CHAIN_TAG, PAYMENT_KINDS, Bad, H, b64decode, decode_record, fields_of, node,
    open_checkpoint, parse_vkey,
)

HEADER = "fundtrail.receipt.v1"  # FORMAT.md §14.1
PROOF_HEADER = "c2sp.org/tlog-proof@v1"  # FORMAT.md §8.1
COMPACT_PREFIX = "FTR1:"  # FORMAT.md §14.2
BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
MAX_HASHES = 64


def base45_decode(text):
    values = []
    for c in text:
        if c not in BASE45:
            raise Bad(f"{c!r} is not a base45 character")
        values.append(BASE45.index(c))
    out = bytearray()
    for i in range(0, len(values), 3):
        group = values[i : i + 3]
        n = sum(v * 45**k for k, v in enumerate(group))
        if len(group) == 3 and n <= 0xFFFF:
            out += n.to_bytes(2, "big")
        elif len(group) == 2 and n <= 0xFF:
            out.append(n)
        else:
            raise Bad("a base45 group is too large or dangling")
    return bytes(out)


def parse_compact(text):
    """FORMAT.md §14.2: (fields, index, extra, hashes, note); no fields shown."""
    data = base45_decode(text[len(COMPACT_PREFIX) :])
    if len(data) < 11:
        raise Bad("the compact receipt is cut short")
    index = int.from_bytes(data[:8], "big")
    extra_len = int.from_bytes(data[8:10], "big")
    extra = data[10 : 10 + extra_len]
    rest = data[10 + extra_len :]
    if len(extra) != extra_len or not rest:
        raise Bad("the compact receipt is cut short")
    count, rest = rest[0], rest[1:]
    if count > MAX_HASHES or len(rest) < 32 * count:
        raise Bad("the compact receipt's proof is cut short or too long")
    hashes = [rest[32 * i : 32 * (i + 1)] for i in range(count)]
    return None, index, extra, hashes, rest[32 * count :].decode("utf-8")


def parse_text(text):
    """FORMAT.md §14.1: (fields, index, extra, hashes, note)."""
    marker = "\n\n" + PROOF_HEADER + "\n"
    if marker not in text:
        raise Bad("not a receipt: no tlog-proof after a blank line")
    head, tail = text.split(marker, 1)
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise Bad(f"not a receipt: the first line is not {HEADER}")
    fields = {}
    for line in lines[1:]:
        name, sep, value = line.partition(": ")
        if not sep or name in fields:
            raise Bad(f"not a receipt: bad field line {line!r}")
        fields[name] = value
    rest = tail.split("\n")
    if not rest[0].startswith("extra ") or not rest[1].startswith("index "):
        raise Bad("not a receipt: the tlog-proof has no extra or index line")
    extra = b64decode(rest[0][len("extra ") :], "the extra data")
    index_text = rest[1][len("index ") :]
    if not index_text.isdigit() or (len(index_text) > 1 and index_text[0] == "0"):
        raise Bad("not a receipt: the index is not a plain decimal")
    hashes, i = [], 2
    while i < len(rest) and rest[i] != "":
        if len(hashes) == MAX_HASHES:
            raise Bad("not a receipt: more than 64 proof hashes")
        hashes.append(b64decode(rest[i], "a proof hash"))
        i += 1
    if any(len(h) != 32 for h in hashes) or i >= len(rest):
        raise Bad("not a receipt: a proof hash is not 32 bytes, or the note is missing")
    return fields, int(index_text), extra, hashes, "\n".join(rest[i + 1 :])


def root_from_path(index, size, leaf, hashes):
    """FORMAT.md §8.1 (RFC 9162 §2.1.3.2)."""
    if index >= size:
        raise Bad("the index is not in the checkpoint")
    fn, sn, r = index, size - 1, leaf
    for p in hashes:
        if sn == 0:
            raise Bad("the proof is too long")
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise Bad("the proof is too short")
    return r


def shown(value):
    """FORMAT.md §14.1: a string's JSON text without its quotes; a number in decimal."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)[1:-1]
    return json.dumps(value)


def verify(text, vkey):
    if text.startswith(COMPACT_PREFIX):
        fields, index, extra, hashes, note = parse_compact(text.strip())
    else:
        fields, index, extra, hashes, note = parse_text(text)
    size, root = open_checkpoint(note, vkey)  # §14.3 step 1
    seq = index + 1
    if len(extra) <= 32:  # step 2
        raise Bad("the extra data holds no record", seq)
    prev_hash, record = extra[:32], extra[32:]
    try:
        v = decode_record(record)
    except (ValueError, UnicodeDecodeError) as e:
        raise Bad(f"the record bytes: {e}", seq)
    if v["seq"] != seq:
        raise Bad(f"the record says it is seq {v['seq']}", seq)
    leaf = H(b"\x00" + H(CHAIN_TAG + prev_hash + record))  # step 3
    if root_from_path(index, size, leaf, hashes) != root:
        raise Bad("the inclusion proof does not lead to the checkpoint's root", seq)
    if v["type"] not in PAYMENT_KINDS:  # step 4
        raise Bad(f"the event is a {v['type']}, not a payment", seq)
    expected = {name: shown(value) for name, value in fields_of(v).items()}
    if fields is not None and fields != expected:  # step 5
        name = next(n for n in list(expected) + list(fields)
                    if expected.get(n) != fields.get(n))
        raise Bad(f"field {name}: the receipt shows {fields.get(name)!r}, "
                  f"the record says {expected.get(name)!r}", seq)
    return v, expected, size


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        vkey = parse_vkey(sys.argv[2])
        with open(sys.argv[1], encoding="utf-8") as f:
            text = f.read()
    except (Bad, OSError, UnicodeDecodeError) as e:
        print(f"cannot read the receipt or the key: {e}", file=sys.stderr)
        return 2
    try:
        v, fields, size = verify(text, vkey)
    except Bad as bad:
        where = f" at seq {bad.seq}" if bad.seq else ""
        print(f"FAILED{where}: {bad}")
        return 1
    print(f"ok: payment {v['reference']} (seq {v['seq']}) is in the log at checkpoint size {size}")
    for name, value in fields.items():
        print(f"  {name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
