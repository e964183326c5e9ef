"""What keeps simple bots off the sign-up form, with no CAPTCHA and no third-party script.

Two checks, both invisible to people: a honeypot field that the page hides (a bot that
fills every input fills it) and a minimum time between the page being served and the
form coming back, measured with the issue time the page signed into a hidden field (so
the server keeps nothing per visitor). A form that fails either gets the usual answer
and nothing is sent. Flooding by hand stays bounded by the sign-up rate limits.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

HONEYPOT = "website"  # a name that form-filling bots like to fill
ISSUED = "issued"


def _mac(secret: bytes, stamp: str) -> str:
    return hmac.new(secret, f"form-issued\0{stamp}".encode(), hashlib.sha256).hexdigest()[:32]


def issue_stamp(secret: bytes, now: datetime) -> str:
    """The hidden field's value: when the page was served, signed."""
    stamp = str(int(now.timestamp()))
    return f"{stamp}.{_mac(secret, stamp)}"


def automated(secret: bytes, honeypot: str, issued: str, now: datetime, min_fill: timedelta) -> str | None:
    """Why a sign-up form looks sent by a program (for the log), or None."""
    if honeypot:
        return "the hidden field was filled in"
    stamp, _, mac = issued.partition(".")
    if not stamp.isdigit() or len(stamp) > 12 or not hmac.compare_digest(mac.encode(), _mac(secret, stamp).encode()):
        return "the form's issue time is missing or forged"
    if now - datetime.fromtimestamp(int(stamp), UTC) < min_fill:
        return f"the form came back in under {min_fill.total_seconds():g} s"
    return None
