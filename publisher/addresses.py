"""E-mail address validation and normalisation, shared by config.toml and the subscriber list.

We accept what an SMTP server without the SMTPUTF8 extension can deliver: an
ASCII dot-atom local part and a domain name (international names are stored in
their IDNA "xn--" form). The local part keeps its spelling; the domain is
lower-cased, since only the domain is case-insensitive by the standard.
"""

from __future__ import annotations

import re

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
MAX_LENGTH = 254


def normalize_address(text: str) -> str:
    """``" Jane@Example.ORG "`` -> ``"Jane@example.org"``; ValueError saying what is wrong otherwise."""
    address = text.strip()
    if any(c in address for c in '\r\n\t <>"') or not address:
        raise ValueError("expected a plain address such as 'reader@example.org'")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise ValueError("expected an address with a local part, '@' and a domain")
    if not _LOCAL.match(local) or len(local) > 64:
        raise ValueError(f"the part before '@' ({local!r}) is not a valid ASCII local part")
    try:
        ascii_domain = domain.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError(f"the domain {domain!r} is not a valid domain name") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise ValueError(f"the domain {domain!r} is not a valid domain name such as 'example.org'")
    result = f"{local}@{ascii_domain}"
    if len(result) > MAX_LENGTH:
        raise ValueError(f"the address is longer than {MAX_LENGTH} characters")
    return result


def parse_mailbox(text: str) -> tuple[str, str]:
    """``'Team <news@example.org>'`` -> ``("Team", "news@example.org")``, address normalised."""
    if "\r" in text or "\n" in text:
        raise ValueError("expected one line")
    import email.utils  # not at start-up: most commands never read a mailbox

    name, address = email.utils.parseaddr(text)
    if not address:
        raise ValueError("expected an address such as 'News <news@example.org>'")
    return name, normalize_address(address)
