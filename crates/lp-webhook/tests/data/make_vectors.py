#!/usr/bin/env python3
"""Writes vectors.json: x-liveperson-signature values for fixed secrets and
bodies, computed with Python's own hmac/hashlib/base64, so that the Rust
verifier is checked against an implementation it shares no code with.

Run from this directory: python3 make_vectors.py > vectors.json
The inputs are fixed (no randomness), so a re-run gives the same file.
"""

import base64
import hashlib
import hmac
import json

SECRETS = [
    "s3cr3t",
    "cli-s3cr3t+with&form=chars",
    # Longer than the 64-byte block of SHA-1 and SHA-256: HMAC hashes
    # such a key first, a step a home-made HMAC tends to get wrong.
    "k" * 65,
    "x" * 1024,
    # Non-ASCII: the key is the secret's UTF-8 bytes.
    "Zürich-東京-ключ",
]

BODIES = [
    b"",
    b"{}",
    b'{"kind":"notification","body":{"changes":[{"type":"UPSERT","result":'
    b'{"convId":"a1b2","effectiveTTR":-1}}]},"type":"ms.MessagingEventNotification"}',
    # A trailing newline is part of the body: a shell's `echo` adds one.
    b'{"kind":"notification"}\n',
    # Not UTF-8: the signature covers bytes, not text.
    bytes(range(256)),
    b"a" * 1_000,
]


def signatures(secret, body):
    out = []
    for name, hash_fn in (("sha1", hashlib.sha1), ("sha256", hashlib.sha256)):
        digest = hmac.new(secret.encode("utf-8"), body, hash_fn).digest()
        out.append({"algorithm": name, "encoding": "base64",
                    "header": name + "=" + base64.b64encode(digest).decode("ascii")})
        out.append({"algorithm": name, "encoding": "hex",
                    "header": name + "=" + digest.hex()})
        # Upper-case hex, as Java's DatatypeConverter writes it.
        out.append({"algorithm": name, "encoding": "hex",
                    "header": name + "=" + digest.hex().upper()})
    return out


def main():
    vectors = []
    for secret in SECRETS:
        for body in BODIES:
            vectors.append({
                "secret": secret,
                "body_hex": body.hex(),
                "signatures": signatures(secret, body),
            })
    example = "12DcfY3NhieG0uMlGlNX/SHWBeQ="
    document = {
        "generator": "make_vectors.py (Python hmac, hashlib, base64)",
        "vectors": vectors,
        # The example header of the reference notes (section 8): its secret
        # is not known, so only its decoding can be checked.
        "example": {
            "header": "sha1=" + example,
            "digest_hex": base64.b64decode(example, validate=True).hex(),
        },
    }
    print(json.dumps(document, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
