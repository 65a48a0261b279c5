#!/usr/bin/env python3
"""A witness cosignature verifier written from the C2SP texts alone (c2sp.org/signed-note,
c2sp.org/tlog-cosignature, as FORMAT.md §13 quotes them), in another language than
fundtrail.

    pip install cryptography
    python3 verify_cosignature.py NOTE 'witness-name+keyid+base64key' ['log-origin+keyid+base64key']

NOTE is a file holding a checkpoint note with the witness's cosignature line among its
signature lines (the checkpoint a log sent to `POST /add-checkpoint`, with the line the
witness answered appended, or what `GET /<origin hash>/checkpoint` serves). With a third
argument, the log's own Ed25519 signature (type 0x01) is checked too.

Exit 0: the cosignature verifies; the origin, size and timestamp are printed. Exit 1: it
does not; the reason is printed. Exit 2: wrong arguments or an unreadable file.
"""

import base64
import hashlib
import struct
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ED25519 = 0x01  # signed-note: Ed25519 signatures
COSIGNATURE_V1 = 0x04  # signed-note: timestamped Ed25519 checkpoint cosignatures
EM_DASH = "\u2014 "
MAX_TIMESTAMP = 2**63 - 1


class Bad(Exception):
    pass


def b64decode(text, what):
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise Bad(f"{what} is not standard base64")


def parse_vkey(text, signature_type):
    """<name>+<hex key id>+<base64(type || public key)>; the key id is
    SHA-256(name || 0x0A || type || public key)[:4]."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise Bad("a verifier key is not NAME+KEYID+BASE64")
    name, key_id, b64 = parts
    if not name or any(c.isspace() or c == "+" for c in name):
        raise Bad("a verifier key's name is empty or holds whitespace or +")
    encoded = b64decode(b64, "a verifier key")
    if len(encoded) != 33 or encoded[0] != signature_type:
        raise Bad(f"not a verifier key of signature type {signature_type:#04x}")
    computed = hashlib.sha256(name.encode() + b"\n" + encoded).digest()[:4]
    if computed.hex() != key_id.lower():
        raise Bad("the verifier key's id does not match its name and key")
    return name, computed, Ed25519PublicKey.from_public_bytes(encoded[1:])


def split_note(note):
    """The body (through the newline before the last blank line) and the signature lines."""
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise Bad("the note has no blank line before its signatures")
    body, block = note[: split + 1], note[split + 2 :]
    lines = block[:-1].split("\n")
    for line in lines:
        if not line.startswith(EM_DASH) or " " not in line[len(EM_DASH) :]:
            raise Bad(f"a signature line is malformed: {line!r}")
    return body, lines


def signatures_of(lines, name, key_id):
    """The decoded signatures (after the key id) of the lines with this name and key id."""
    found = []
    for line in lines:
        line_name, b64 = line[len(EM_DASH) :].split(" ", 1)
        if line_name != name:
            continue
        blob = b64decode(b64, "a signature")
        if blob[:4] == key_id:
            found.append(blob[4:])
    return found


def check_cosignature(body, lines, vkey):
    name, key_id, key = vkey
    found = signatures_of(lines, name, key_id)
    if not found:
        raise Bad(f"no cosignature by {name}")
    newest = 0
    for signature in found:
        # timestamped_signature: u64 timestamp (big-endian), then 64 bytes of Ed25519.
        if len(signature) != 8 + 64:
            raise Bad(f"the cosignature by {name} is not a timestamp and an Ed25519 signature")
        (timestamp,) = struct.unpack(">Q", signature[:8])
        if timestamp == 0 or timestamp > MAX_TIMESTAMP:
            raise Bad(f"the cosignature by {name} has timestamp {timestamp}")
        message = b"cosignature/v1\n" + f"time {timestamp}\n".encode() + body.encode()
        try:
            key.verify(signature[8:], message)
        except InvalidSignature:
            raise Bad(f"the cosignature by {name} does not verify")
        newest = max(newest, timestamp)
    return newest


def check_log_signature(body, lines, vkey):
    name, key_id, key = vkey
    found = signatures_of(lines, name, key_id)
    if not found:
        raise Bad(f"no signature by the log {name}")
    for signature in found:
        try:
            key.verify(signature, body.encode())
        except InvalidSignature:
            raise Bad(f"the signature by the log {name} does not verify")


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        with open(argv[1], "rb") as f:
            note = f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        print(f"error: {argv[1]}: {e}", file=sys.stderr)
        return 2
    try:
        witness = parse_vkey(argv[2], COSIGNATURE_V1)
        body, lines = split_note(note)
        body_lines = body[:-1].split("\n")
        if len(body_lines) < 3:
            raise Bad("the checkpoint body has fewer than three lines")
        origin, size = body_lines[0], body_lines[1]
        if len(argv) == 4:
            log = parse_vkey(argv[3], ED25519)
            if log[0] != origin:
                raise Bad(f"the checkpoint's origin {origin!r} is not the log key's name")
            check_log_signature(body, lines, log)
        timestamp = check_cosignature(body, lines, witness)
    except Bad as e:
        print(f"FAILED: {e}")
        return 1
    print(f"ok: {witness[0]} cosigned {origin} at size {size}, time {timestamp}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
