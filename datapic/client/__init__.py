"""The Python client of datapic pods: `Pod(url).get_data(**params)` gives a pyarrow Table.

`pip install 'datapic[client]'`. Reads Arrow, follows every page, retries a busy pod after its
`Retry-After`, signs requests to private Cloud Run services with a Google ID token, and raises
a `PodError` subclass carrying the pod's message. `Client(project_id, region, resource_name)`
is dataPi's SDK call, kept for old scripts.
"""

from .auth import CredentialsError
from .datapi import Client, ServiceNotFound
from .errors import (
    BadRequest,
    Forbidden,
    Gone,
    NotAcceptable,
    NotFound,
    PodConnectionError,
    PodError,
    ServerError,
    Unauthorized,
    Unavailable,
    Unprocessable,
)
from .pod import Pod

__all__ = [
    "BadRequest",
    "Client",
    "CredentialsError",
    "Forbidden",
    "Gone",
    "NotAcceptable",
    "NotFound",
    "Pod",
    "PodConnectionError",
    "PodError",
    "ServerError",
    "ServiceNotFound",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
]
