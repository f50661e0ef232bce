"""What pod.json's `auth` block says: how callers' bearer tokens are verified, which claims
they must hold, which parameters their claims fix, and each caller's limits (auth.py and
callers.py act on it). A pod without the block trusts whoever reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

# A claim value a `require` entry asks for: text, a number or a boolean.
Scalar = str | int | float | bool


@dataclass(frozen=True, slots=True, kw_only=True)
class JwtSpec:
    """OIDC (`issuer` and `audience`: keys from the issuer's discovery document) or HS256
    (`secret_env`: the shared secret's environment variable; issuer and audience optional)."""

    issuer: str | None = None
    audience: str | None = None
    secret_env: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Requirement:
    """A claim the caller's token must hold: `path` into the claims, and the value it must be
    or contain (in a list, or as a word of a space-separated string such as `scope`)."""

    path: tuple[str, ...]
    value: Scalar


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """A parameter whose value is the claim at `path`, never the query string's."""

    parameter: str
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerLimits:
    """Per token subject, on each instance: requests a minute and queries at once (0: none)."""

    requests_per_minute: int = 0
    concurrent_queries: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthSpec:
    """pod.json's `auth` block, typed."""

    jwt: JwtSpec
    require: tuple[Requirement, ...] = ()
    bind: tuple[Binding, ...] = ()
    limits: CallerLimits = CallerLimits()

    @property
    def bound(self) -> frozenset[str]:
        """The parameters tokens fix."""
        return frozenset(b.parameter for b in self.bind)


def parse_auth(raw: Any, parameters: frozenset[str]) -> AuthSpec | None:
    """The typed `auth` block (None when pod.json has none); ConfigError names a bad field."""
    if raw is None:
        return None
    jwt = raw["jwt"]
    spec = JwtSpec(
        issuer=_optional_text(jwt.get("issuer")),
        audience=_optional_text(jwt.get("audience")),
        secret_env=_optional_text(jwt.get("secret_env")),
    )
    if (spec.issuer is None) == (spec.secret_env is None):
        raise ConfigError("pod.json: auth.jwt: give either issuer or secret_env")
    if spec.secret_env is None and spec.audience is None:
        raise ConfigError("pod.json: auth.jwt: an issuer needs an audience")
    bind = tuple(
        Binding(parameter=_text(b["parameter"]), path=_path(b["claim"])) for b in raw["bind"]
    )
    unknown = [b.parameter for b in bind if b.parameter not in parameters]
    if unknown:
        raise ConfigError(f"pod.json: auth.bind: '{unknown[0]}' is not a parameter")
    limits = raw["limits"]
    return AuthSpec(
        jwt=spec,
        require=tuple(
            Requirement(path=_path(r["claim"]), value=_scalar(r["value"])) for r in raw["require"]
        ),
        bind=bind,
        limits=CallerLimits(
            requests_per_minute=_count(limits["requests_per_minute"]),
            concurrent_queries=_count(limits["concurrent_queries"]),
        ),
    )


def _path(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise TypeError(f"expected a claim path (a list of keys), got {raw!r}")
    return tuple(_text(key) for key in raw)


def _scalar(value: Any) -> Scalar:
    if not isinstance(value, str | int | float | bool):
        raise TypeError(f"expected a claim value, got {value!r}")
    return value


def _count(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise ConfigError(f"pod.json: auth.limits: expected a whole number, got {value!r}")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {value!r}")
    return value
