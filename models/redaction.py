"""Secrets out of text: the one redaction used by the pipeline (``pipelines.core.settings``
re-exports
it) and by the registry (parameters logged to MLflow). It lives in ``models/`` because models/
may not import pipelines/ while pipelines/ may import models/; it needs SQLAlchemy only.

A URL is masked in every form SQLAlchemy accepts: a password in the userinfo (raw ``/``, ``:``
and ``?`` included: SQLAlchemy reads the password up to the last ``@``) and secret-looking query
parameters (``?password=``, ``sslpassword``, ``token``, ``api_key``...), which drivers such as
psycopg also read as credentials.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import make_url

MASK = "***"
# Query parameters that carry a credential. Over-masking a harmless parameter (sslkey is a path)
# costs a little readability; under-masking one leaks a password.
SECRET_NAME = re.compile(r"pass|pwd|secret|token|key|auth|credential|signature|sig$", re.I)
# In free text ``name=value`` is everywhere ("condition_key=..."): only credential names count.
_TEXT_SECRET_NAME = re.compile(
    r"\w*(password|passwd|passphrase|secret|token|api_?key)|pass|pwd|key|sslkey|auth", re.I)
# Userinfo as SQLAlchemy parses it: user up to ':', '/' or '@', password up to the last '@'
# (within one whitespace-free run of text).
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^\s]*)@")
# A value runs to the next '&', quote or space; one already masked stops after the mask (the
# same text is often redacted twice: a masked URL inside an error message).
_PARAM = re.compile(r"(?P<name>[\w-]+)=(?P<value>\*\*\*|[^&\s'\"]+)")


def mask_secret(url: str, keep_path: bool = True) -> str:
    """``url`` with its password and secret query parameters masked, rendered by SQLAlchemy
    itself (so what is masked is what a driver would read); text SQLAlchemy cannot read as a
    URL goes through ``redact``. For alert URLs (keep_path=False) everything after the host is
    masked too, where services put their tokens, and the host as well when it is not a
    hostname (Apprise's ``slack://TokenA/TokenB`` keeps tokens there)."""
    try:
        parsed = make_url(url)
        query = {k: MASK if SECRET_NAME.search(k) else v for k, v in parsed.query.items()}
        # render_as_string quotes the mask put in the query
        masked = parsed.set(query=query).render_as_string(hide_password=True).replace(
            "%2A%2A%2A", MASK)
    except Exception:  # not a URL SQLAlchemy reads (an Apprise URL with a token as port...)
        masked = redact(url)
    if keep_path:
        return masked
    m = re.match(r"^([a-zA-Z][\w+.-]*://)([^/?#]*)", masked)
    if not m:
        return MASK
    host = m.group(2).rsplit("@", 1)[-1]
    looks_like_host = "." in host or ":" in host or host == "localhost"
    return f"{m.group(1)}{m.group(2) if looks_like_host else MASK}/{MASK}"


def redact(text: str, *secrets: str) -> str:
    """Mask every password in a URL, every ``name=value`` whose name looks secret, and each of
    ``secrets`` (values the caller knows, such as its own URL's password) in free text."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _PARAM.sub(lambda m: f"{m['name']}={MASK}" if _TEXT_SECRET_NAME.fullmatch(m["name"])
                      else m.group(0), text)
    for secret in secrets:
        if secret and len(secret) >= 3:  # a 1-2 character "secret" would mask half the text
            text = text.replace(secret, MASK)
    return text


def url_secrets(url: str) -> list[str]:
    """The password and secret query values of ``url`` as a driver reads them (for ``redact``
    of messages that quote them outside the URL)."""
    try:
        parsed = make_url(url)
    except Exception:
        return []
    found = [parsed.password] if parsed.password else []
    for name, value in parsed.query.items():
        if SECRET_NAME.search(name):
            found += [value] if isinstance(value, str) else list(value)
    return [str(s) for s in found]
