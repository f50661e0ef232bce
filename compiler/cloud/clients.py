"""Thin wrappers over the Google Cloud clients `datapic deploy` and `datapic status` use.

Cloud Build (create and watch a build), Cloud Storage (upload the source archive), Cloud Run
(read services) and Secret Manager (create a pod's page-token key), all over REST; Secret
Manager through google-auth's AuthorizedSession, as its client library is not a dependency.
Each takes an endpoint override and credentials, so tests can aim them at a server on loopback
with anonymous credentials. Every failure leaves this module as a `CloudError` holding one line
a user can act on; nothing else escapes.

The Google libraries are imported when first needed: `datapic compile` never pays for them.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..diagnostics import one_line

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
SECRET_MANAGER = "https://secretmanager.googleapis.com"
_HTTP_TIMEOUT = 60.0
LOGIN_HINT = (
    "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS "
    "to a service-account key file"
)


class CloudError(Exception):
    """A failed call to Google Cloud, as one line for the user."""


class CloudUnavailable(CloudError):
    """Google Cloud cannot be asked at all from here: its clients are not installed, there are
    no usable credentials, or it cannot be reached. `datapic status` then lists what it knows
    without Cloud Run; a refusal or an API error is a plain CloudError."""


def require_clients() -> None:
    """Fail with one line when the optional Google Cloud clients are not installed."""
    try:
        import google.cloud.devtools.cloudbuild_v1  # noqa: F401
        import google.cloud.run_v2  # noqa: F401
        import google.cloud.storage  # noqa: F401
    except ImportError as exc:
        raise CloudUnavailable(
            f"the Google Cloud clients are not installed ({exc.name}): "
            "pip install 'datapic[deploy]'"
        ) from None


def credentials(anonymous: bool = False) -> Any:
    """Application Default Credentials, or anonymous ones (for emulators and tests)."""
    from google.auth import credentials as auth_credentials
    from google.auth import default
    from google.auth.exceptions import DefaultCredentialsError

    if anonymous:
        return auth_credentials.AnonymousCredentials()
    try:
        found, _ = default(scopes=SCOPES)
    except DefaultCredentialsError:
        raise CloudUnavailable(f"no Google Cloud credentials found: {LOGIN_HINT}") from None
    return found


@contextlib.contextmanager
def explained(action: str, role: str = "", missing: str = "") -> Iterator[None]:
    """Turn whatever a Google client raises while doing `action` into one CloudError line.

    `role` names the IAM role a 403 asks for; `missing` says what to do about a 404.
    """
    try:
        yield
    except Exception as exc:
        message = _explanation(exc, action, role, missing)
        if message is None:  # a CloudError already, or not Google's: not ours to reword
            raise
        raise (CloudUnavailable if _unreachable(exc) else CloudError)(message) from None


def _unreachable(exc: Exception) -> bool:
    """Whether `exc` says Google Cloud cannot be asked (no credentials, no network), rather
    than that it answered no."""
    from google.auth import exceptions as auth

    # requests' ConnectionError and friends are OSErrors.
    unreachable = (auth.DefaultCredentialsError, auth.RefreshError, auth.TransportError, OSError)
    return isinstance(exc, unreachable)


def _explanation(exc: Exception, action: str, role: str, missing: str) -> str | None:
    """One line saying what went wrong doing `action`, or None for an error not Google's."""
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    if isinstance(exc, auth.DefaultCredentialsError):
        return f"no Google Cloud credentials found: {LOGIN_HINT}"
    if isinstance(exc, auth.RefreshError):
        return f"{action}: credentials could not be refreshed ({one_line(exc)}): {LOGIN_HINT}"
    # requests' ConnectionError and friends are OSErrors.
    if isinstance(exc, auth.TransportError | OSError):
        return f"{action}: cannot reach Google Cloud ({one_line(exc)})"
    if isinstance(exc, api.Unauthorized):
        return f"{action}: credentials rejected (401: {_reason(exc)}); {LOGIN_HINT}"
    if isinstance(exc, api.Forbidden):
        needs = f"; the caller needs {role}" if role else ""
        return f"{action}: permission denied (403: {_reason(exc)}){needs}"
    if isinstance(exc, api.NotFound):
        advice = f"; {missing}" if missing else ""
        return f"{action}: not found (404: {_reason(exc)}){advice}"
    if isinstance(exc, api.GoogleAPICallError):
        code = exc.code if exc.code is not None else "?"
        return f"{action}: Google Cloud answered {code}: {_reason(exc)}"
    if isinstance(exc, api.GoogleAPIError):
        return f"{action}: {one_line(exc)}"
    return None


def _reason(exc: Any) -> str:
    """The server's own message, without the method and URL api_core puts before it."""
    message = str(getattr(exc, "message", "") or exc)
    if message.split(" ", 1)[0] in {"GET", "POST", "PUT", "PATCH", "DELETE"} and ": " in message:
        message = message.split(": ", 1)[1]
    if message.startswith("{"):
        # Cloud Storage puts the raw JSON error body first.
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            body, _ = json.JSONDecoder().raw_decode(message)
            message = body["error"]["message"]
    return one_line(message) or type(exc).__name__


@dataclass(frozen=True, kw_only=True)  # not slotted: the clients are cached per instance
class Cloud:
    """Where calls go: one project and region, its credentials and an optional endpoint.

    `endpoint` (e.g. http://127.0.0.1:8123) replaces all four services' hosts; None means
    Google's own endpoints.
    """

    project: str
    region: str
    credentials: Any
    endpoint: str | None = None

    @property
    def location(self) -> str:
        """`projects/P/locations/R`, the parent of builds and services."""
        return f"projects/{self.project}/locations/{self.region}"

    def _options(self) -> dict[str, str]:
        return {"api_endpoint": self.endpoint} if self.endpoint else {}

    @functools.cached_property
    def _build_client(self) -> Any:
        from google.cloud.devtools import cloudbuild_v1

        return cloudbuild_v1.CloudBuildClient(
            credentials=self.credentials, transport="rest", client_options=self._options()
        )

    @functools.cached_property
    def _run_client(self) -> Any:
        from google.cloud import run_v2

        return run_v2.ServicesClient(
            credentials=self.credentials, transport="rest", client_options=self._options()
        )

    @functools.cached_property
    def _storage_client(self) -> Any:
        from google.cloud import storage

        client = storage.Client(
            project=self.project, credentials=self.credentials, client_options=self._options()
        )
        # The client fetches bucket metadata for tracing in background threads: requests we
        # did not ask for, racing the upload. Tracing is not ours to feed; switch it off.
        if hasattr(client, "_bucket_metadata_cache"):
            client._bucket_metadata_cache = None
        return client

    def upload(self, bucket: str, name: str, data: bytes, content_type: str) -> bool:
        """Store an object unless it exists (same name, same content); whether it was new."""
        from google.api_core.exceptions import PreconditionFailed

        with explained(
            f"uploading gs://{bucket}/{name}",
            role="roles/storage.objectCreator on the bucket",
            missing=f"create gs://{bucket} (`gcloud builds submit` does on first use)",
        ):
            blob = self._storage_client.bucket(bucket).blob(name)
            try:
                # The name is content-addressed: an existing object already holds these bytes.
                blob.upload_from_string(
                    data, content_type=content_type, if_generation_match=0, retry=None
                )
            except PreconditionFailed:
                return False
            return True

    def create_build(self, build: Any) -> str:
        """Start a build in the region; its id."""
        with explained(
            f"creating the build in {self.location}",
            role="roles/cloudbuild.builds.editor",
            missing="is the Cloud Build API enabled in this project and region?",
        ):
            # Only `parent`: with project_id set the client would pick the global endpoint.
            operation = self._build_client.create_build(
                request={"parent": self.location, "build": build}
            )
            return operation.metadata.build.id

    def get_build(self, build_id: str) -> Any:
        """The build's current state."""
        with explained(f"reading build {build_id}", role="roles/cloudbuild.builds.viewer"):
            return self._build_client.get_build(
                request={"name": f"{self.location}/builds/{build_id}"}
            )

    def get_service(self, service: str) -> Any | None:
        """The Cloud Run service, or None when there is none of that name."""
        from google.api_core.exceptions import NotFound

        with explained(
            f"reading Cloud Run service {service} in {self.location}", role="roles/run.viewer"
        ):
            try:
                return self._run_client.get_service(
                    request={"name": f"{self.location}/services/{service}"}
                )
            except NotFound:
                return None

    def list_services(self) -> list[Any]:
        """Every Cloud Run service in the region."""
        with explained(f"listing Cloud Run services in {self.location}", role="roles/run.viewer"):
            return list(self._run_client.list_services(request={"parent": self.location}))

    @functools.cached_property
    def _session(self) -> Any:
        from google.auth.transport.requests import AuthorizedSession

        return AuthorizedSession(self.credentials)

    def _secret_manager(
        self, method: str, path: str, *, params: dict | None = None, body: dict | None = None
    ) -> dict[str, Any]:
        """One Secret Manager call; its JSON answer, or the api_core exception for its status."""
        from google.api_core.exceptions import from_http_response

        response = self._session.request(
            method,
            f"{self.endpoint or SECRET_MANAGER}/v1/projects/{self.project}/{path}",
            params=params,
            json=body,
            timeout=_HTTP_TIMEOUT,
        )
        if response.status_code >= 400:
            raise from_http_response(response)
        return response.json() if response.content else {}

    def secret_exists(self, secret: str) -> bool:
        """Whether the project has a Secret Manager secret of that name (never its value)."""
        from google.api_core.exceptions import NotFound

        with explained(
            f"reading secret {secret} in projects/{self.project}",
            role="roles/secretmanager.viewer",
        ):
            try:
                self._secret_manager("GET", f"secrets/{secret}")
            except NotFound:
                return False
            return True

    def create_secret(self, secret: str, labels: dict[str, str]) -> bool:
        """Create an empty secret, replicated automatically; False if it exists already."""
        from google.api_core.exceptions import Conflict

        with explained(
            f"creating secret {secret} in projects/{self.project}",
            role="roles/secretmanager.admin (secretmanager.secrets.create)",
            missing="is the Secret Manager API enabled in this project?",
        ):
            try:
                self._secret_manager(
                    "POST",
                    "secrets",
                    params={"secretId": secret},
                    body={"replication": {"automatic": {}}, "labels": labels},
                )
            except Conflict:  # created meanwhile, by a deploy running beside this one
                return False
            return True

    def secret_has_version(self, secret: str) -> bool:
        """Whether the secret holds any version (in whatever state: that is the owner's)."""
        with explained(f"listing versions of secret {secret}", role="roles/secretmanager.viewer"):
            answer = self._secret_manager(
                "GET", f"secrets/{secret}/versions", params={"pageSize": 1}
            )
            return bool(answer.get("versions"))

    def add_secret_version(self, secret: str, data: bytes) -> None:
        """Add a version holding `data`, which no message, log or error ever repeats."""
        with explained(
            f"adding a version to secret {secret}",
            role="roles/secretmanager.admin (secretmanager.versions.add)",
        ):
            payload = {"data": base64.b64encode(data).decode("ascii")}
            self._secret_manager("POST", f"secrets/{secret}:addVersion", body={"payload": payload})
