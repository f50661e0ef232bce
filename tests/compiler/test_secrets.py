"""The compiler and the pod runtime agree on which names hold secrets.

The compiler refuses a secret-looking env var in plain text (DP0401) and masks it in messages;
the runtime masks the values of the same names in answers and logs. A name one side treats as
secret and the other not is a leak waiting to happen, so both patterns are held to one table.
"""

from __future__ import annotations

import pytest
from datapic_runtime.secrets import SECRET_NAME as RUNTIME_SECRET_NAME

from compiler.secrets import SECRET_NAME

# (name, whether it holds a secret)
NAMES = [
    ("PYICEBERG_CATALOG__DEFAULT__CREDENTIAL", True),
    ("CLIENT_SECRET", True),
    ("PASSWORD", True),
    ("DB_PASSWD", True),
    ("PYICEBERG_CATALOG__DEFAULT__TOKEN", True),
    ("API_KEY", True),
    # An access key id is not itself secret, but both sides mask any variable with KEY in it.
    ("AWS_ACCESS_KEY_ID", True),
    ("AWS_SECRET_ACCESS_KEY", True),
    ("ADLS_SAS", True),
    ("AZURE_STORAGE_CONNECTION_STRING", True),
    ("PYICEBERG_CATALOG__DEFAULT__ADLS__CONNECTION_STRING", True),
    ("URL_SIGNATURE", True),
    ("AUTHORIZATION", True),
    # Catalog and FileIO properties, as pyiceberg spells them.
    ("s3.secret-access-key", True),
    ("adls.sas-token", True),
    ("header.Authorization", True),
    ("oauth2-server-uri", False),
    ("s3.endpoint", False),
    ("PYICEBERG_CATALOG__DEFAULT__URI", False),
    ("PYICEBERG_CATALOG__DEFAULT__WAREHOUSE", False),
    ("PYICEBERG_CATALOG__DEFAULT__SCOPE", False),
    ("REGION", False),
    ("LOG_LEVEL", False),
    ("DATAPIC_MAX_ROWS", False),
    # A connection setting is no connection string.
    ("DB_CONNECTION_TIMEOUT", False),
    ("HTTP_CONNECTION_POOL_SIZE", False),
    ("adls.connection-string", True),
    # KEY is matched anywhere in a name: over-masking a keyspace is the price of not missing
    # any *_KEY, and both sides pay it.
    ("CASSANDRA_KEYSPACE", True),
]


# The one deliberate difference: pyiceberg properties that only say which key, when it lapses
# or where a service answers. Their values appear in the runtime's ordinary messages (a token
# endpoint, an expiry), so the runtime does not mask them; the compiler masks them in --check
# messages, which is stricter and leaks nothing.
COMPILER_ONLY = ["s3.access-key-id", "s3.session-token-expires-at-ms", "token-uri"]


@pytest.mark.parametrize(("name", "secret"), NAMES)
def test_compiler_and_runtime_agree_on_secret_names(name: str, secret: bool) -> None:
    assert bool(SECRET_NAME.search(name)) is secret
    assert bool(RUNTIME_SECRET_NAME.search(name)) is secret


@pytest.mark.parametrize("name", COMPILER_ONLY)
def test_only_the_compiler_masks_names_that_say_which_key_or_when(name: str) -> None:
    assert SECRET_NAME.search(name)
    assert not RUNTIME_SECRET_NAME.search(name)
