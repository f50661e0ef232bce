"""The compiler's one rule for what is a secret, and the helpers that keep one out of sight.

A name (an environment variable, a catalog property, a YAML key) holds a secret when
`SECRET_NAME` finds one of its words in it. The pod runtime has the same-named pattern
(templates/pod/datapic_runtime/secrets.py); tests/compiler/test_secrets.py keeps the two in step.
Every compiler stage that masks a value or refuses one in plain text (DP0401) goes through here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

# The union of every word the compiler ever treated as secret: pyiceberg's credential and
# token, storage keys and SAS signatures, passwords, Authorization headers, and connection
# strings (written `connection-string`, `CONNECTION_STRING` or `connection string`).
_WORDS = (
    "CREDENTIAL",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "KEY",
    "SAS",
    "SIGNATURE",
    "AUTHORIZATION",
    "CONNECTION.?STRING",
)
SECRET_NAME = re.compile("|".join(_WORDS), re.IGNORECASE)

# user:password@ in a URL; the look-behind keeps `://` when the user information is cut.
URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
# A URL query parameter carrying a secret (an OAuth token, a SAS signature, a password).
_URL_SECRET_QUERY = re.compile(
    r"[?&](access_token|token|client_secret|sig|signature|password|key)=", re.IGNORECASE
)
# A source line whose key looks secret (config.yml's metastore_credentials, a token, ...).
_SECRET_LINE = re.compile(
    rf"^(?P<key>\s*-?\s*[\"']?[\w.-]*(?:{SECRET_NAME.pattern})[\w.-]*[\"']?\s*[:=]\s*)"
    r"(?P<value>\S.*)$",
    re.IGNORECASE,
)
# An Authorization header quoted in an error: its token is a secret whatever its source.
_BEARER = re.compile(r"(\bBearer\s+)\S+", re.IGNORECASE)


def url_holds_secret(value: str) -> bool:
    """Whether a value is a URL carrying user information or a secret query parameter.

    >>> url_holds_secret("https://u:p@host/x"), url_holds_secret("https://h/x?sig=abc")
    (True, True)
    >>> url_holds_secret("https://host/catalog")
    False
    """
    return bool(URL_USERINFO.search(value) or _URL_SECRET_QUERY.search(value))


def without_userinfo(text: str) -> str:
    """The text with every URL's `user:password@` cut out.

    >>> without_userinfo("at https://u:p@h/x")
    'at https://h/x'
    """
    return URL_USERINFO.sub("", text)


def mask_secret_value(line: str) -> str:
    """The line, with the value of a secret-looking key replaced by `***`.

    >>> mask_secret_value("metastore_credentials: id:SECRET")
    'metastore_credentials: ***'
    >>> mask_secret_value("select: [a]")
    'select: [a]'
    """
    match = _SECRET_LINE.match(line)
    return f"{match['key']}***" if match else line


def redacted(message: str, secrets: Iterable[str]) -> str:
    """The message without any secret: as written, URL-encoded (a client secret travels
    percent-encoded in an OAuth2 form or URL, and an error may quote that), any bearer token,
    and any URL's user information.

    >>> redacted("token s3/cr at https://u:p@h with s3%2Fcr", ["s3/cr"])
    'token *** at https://h with ***'
    """
    forms = {
        form
        for secret in secrets
        for form in (secret, quote(secret), quote(secret, safe=""), quote_plus(secret))
    }
    for form in sorted(forms, key=len, reverse=True):
        message = message.replace(form, "***")
    message = _BEARER.sub(r"\1***", message)
    return without_userinfo(message)
