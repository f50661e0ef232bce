"""dataPi's SDK call, kept so old scripts run: `Client(project_id, region, resource_name)`.

dataPi's `Client` looked its service up in Cloud Run and `get_data()` answered a pandas
DataFrame of the first page, unsigned. This one finds the service's URL the same way (the Cloud
Run Admin API, `services.get`; a service named `<resource_name>-service`, dataPi's naming,
is tried next) and reads through `Pod`: every page, signed, typed errors. Only the import
changes: `from datapic.client import Client`.

`DATAPIC_POD_<NAME>_URL` (NAME: the resource name upper-cased, `-` as `_`) gives the URL
without asking Cloud Run (local pods, tests, private networking); `DATAPIC_API_ENDPOINT`
sends the Cloud Run API calls elsewhere (an emulator), as for `datapic status`.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pyarrow as pa

from .errors import PodConnectionError, PodError, error_for
from .pod import Pod, _require

CLOUD_RUN_API = "https://run.googleapis.com"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_NAME = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")


class ServiceNotFound(PodError, ValueError):
    """No Cloud Run service for the resource (a ValueError, as dataPi raised)."""


def url_variable(resource_name: str) -> str:
    """The environment variable that gives a pod's URL directly.

    >>> url_variable("emea-sales-by-quarter")
    'DATAPIC_POD_EMEA_SALES_BY_QUARTER_URL'
    """
    return f"DATAPIC_POD_{resource_name.upper().replace('-', '_')}_URL"


class Client:
    """A pod deployed on Cloud Run, by project, region and resource name (dataPi's SDK).

    `credentials` (google-auth, with an access token) look the service up; the other keyword
    arguments are `Pod`'s, for reading it (`token=`, `sign=`, `page_size=`, …).
    """

    def __init__(
        self,
        project_id: str,
        region: str,
        resource_name: str,
        *,
        credentials: Any | None = None,
        **pod_options: Any,
    ) -> None:
        for what, value in (("project_id", project_id), ("region", region)):
            if not re.fullmatch(r"[a-z0-9][a-z0-9.:-]*", value or ""):
                raise ValueError(f"{what} {value!r} is not a Google Cloud {what}")
        if not _NAME.fullmatch(resource_name or ""):
            raise ValueError(f"resource_name {resource_name!r} is not a Cloud Run service name")
        self.project_id = project_id
        self.region = region
        self.resource_name = resource_name
        self.service_url = os.environ.get(url_variable(resource_name)) or self._look_up(credentials)
        self.pod = Pod(self.service_url, **pod_options)

    def list_services(self) -> dict[str, str]:
        """{resource_name: service URL}, as dataPi's SDK answered."""
        return {self.resource_name: self.service_url}

    def get_data(self, **params: Any) -> Any:
        """The whole answer as a pandas DataFrame, as dataPi's `get_data()` (needs pandas)."""
        _require("pandas", "get_data")
        return self.pod.get_data(**params).to_pandas()

    def get_table(self, **params: Any) -> pa.Table:
        """The whole answer as a pyarrow Table."""
        return self.pod.get_data(**params)

    def _look_up(self, credentials: Any | None) -> str:
        """The service's URL from the Cloud Run Admin API (v2 services.get)."""
        import google.auth
        from google.auth import exceptions
        from google.auth.transport.requests import AuthorizedSession

        endpoint = os.environ.get("DATAPIC_API_ENDPOINT") or CLOUD_RUN_API
        parent = f"projects/{self.project_id}/locations/{self.region}"
        try:
            if credentials is None:
                credentials, _ = google.auth.default(scopes=SCOPES)
            session = AuthorizedSession(credentials)
            for name in (self.resource_name, f"{self.resource_name}-service"):
                response = session.get(f"{endpoint}/v2/{parent}/services/{name}", timeout=30)
                if response.status_code != 404:
                    break
        except exceptions.GoogleAuthError as exc:
            raise PodError(
                f"cannot look up {self.resource_name} in Cloud Run: {exc}; set "
                f"{url_variable(self.resource_name)} to its URL, or give credentials",
            ) from None
        except OSError as exc:  # requests' ConnectionError and friends
            raise PodConnectionError(
                f"cannot reach the Cloud Run API at {endpoint}: {exc}", url=endpoint
            ) from None
        return self._service_uri(response, parent)

    def _service_uri(self, response: Any, parent: str) -> str:
        if response.status_code == 404:
            raise ServiceNotFound(
                f"Service URL for resource '{self.resource_name}' not found in {parent} "
                f"(neither {self.resource_name} nor {self.resource_name}-service)",
                status=404,
            )
        if response.status_code != 200:
            raise error_for(response.status_code, response.content, response.url)
        uri = response.json().get("uri")
        if not uri:
            raise ServiceNotFound(
                f"Cloud Run service {self.resource_name} in {parent} has no URL yet", status=200
            )
        return uri
