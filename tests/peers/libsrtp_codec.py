#!/usr/bin/env python3
"""An SRTP endpoint's crypto, done by libsrtp (pylibsrtp), for the interop tests.

The Rust tests own the sockets and the calls; this process only protects and
unprotects, so that what the phones do to packets is libsrtp's work, not ours.
One request per line on stdin, one reply per line on stdout:

    new <name> <SDES suite> <base64 key||salt> <tx|rx>   -> ok
    protect <name> <rtp|rtcp> <hex>                      -> ok <hex>
    unprotect <name> <rtp|rtcp> <hex>                    -> ok <hex> | err <reason>
"""

import base64
import sys

from pylibsrtp import Error, Policy, Session

PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    "AEAD_AES_128_GCM": Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    "AEAD_AES_256_GCM": Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}


def pad(b64):
    return b64 + "=" * (-len(b64) % 4)


def main():
    sessions = {}
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "new":
                name, suite, key, direction = words[1:5]
                ssrc_type = (
                    Policy.SSRC_ANY_OUTBOUND if direction == "tx" else Policy.SSRC_ANY_INBOUND
                )
                policy = Policy(
                    key=base64.b64decode(pad(key)),
                    ssrc_type=ssrc_type,
                    srtp_profile=PROFILES[suite],
                )
                sessions[name] = Session(policy=policy)
                reply = "ok"
            else:
                op, name, kind, data = words[0], words[1], words[2], bytes.fromhex(words[3])
                s = sessions[name]
                fn = {
                    ("protect", "rtp"): s.protect,
                    ("protect", "rtcp"): s.protect_rtcp,
                    ("unprotect", "rtp"): s.unprotect,
                    ("unprotect", "rtcp"): s.unprotect_rtcp,
                }[(op, kind)]
                reply = "ok " + fn(data).hex()
        except (Error, KeyError, ValueError) as e:
            reply = "err " + (str(e) or type(e).__name__).replace("\n", " ")
        print(reply, flush=True)


if __name__ == "__main__":
    main()
