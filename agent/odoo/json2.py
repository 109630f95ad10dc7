"""Odoo 19's JSON-2 API as an :class:`~agent.odoo.transport.OdooTransport` (httpx, no threads).

``POST /json/2/<model>/<method>`` with ``Authorization: bearer <api key>``
and named arguments only (``reference/odoo.md`` §5): record ids travel as
``ids``, the context as ``context``, everything else by its Python
parameter name.  The mapping speaks positional arguments (the JSON-RPC
shape), so this module names them with :data:`PARAMETERS`; a positional
argument it cannot name is a programming error, refused before sending.

JSON-2 answers HTTP 200 with the bare result, or an error status with
``{"name", "message", "arguments", "context", "debug"}``:

* 401 (bad or missing key) and 403 AccessDenied → :class:`OdooAccessDenied`;
* 403 AccessError, 404, 422 (UserError/ValidationError), 400 → :class:`OdooRejected`;
* 500: :class:`OdooUnavailable` for database races (same names as JSON-RPC), else :class:`OdooRejected`;
* 408/425/429/502/503/504 from a proxy → :class:`OdooUnavailable` (with ``Retry-After``);
* nginx's client-certificate 400 pages → :class:`~agent.tls.ClientCertificateRejected`.

Each call is its own transaction on the server, as with JSON-RPC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from agent.errors import PermanentDeliveryError
from agent.odoo.transport import TRANSIENT_EXCEPTIONS, OdooAccessDenied, OdooRejected, OdooUnavailable
from agent.sinks.https import map_httpx_exceptions, parse_retry_after
from agent.tls import TlsIdentity, classify_http_refusal

#: Positional parameter names of model-level methods (Odoo 19 signatures).
PARAMETERS: dict[str, tuple[str, ...]] = {
    "search": ("domain", "offset", "limit", "order"),
    "search_read": ("domain", "fields", "offset", "limit", "order"),
    "search_count": ("domain", "limit"),
    "create": ("vals_list",),
    "fields_get": ("allfields", "attributes"),
    "default_get": ("fields_list",),
    "name_search": ("name", "domain", "operator", "limit"),
    "context_get": (),
}
#: Positional parameters after the ids of record methods; methods not listed take ids only.
RECORD_PARAMETERS: dict[str, tuple[str, ...]] = {
    "read": ("fields",),
    "write": ("vals",),
    "unlink": (),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class OdooJson2Settings:
    """Where and with which key to reach Odoo 19.

    Attributes:
        base_url: ``https://host[:port][/prefix]`` (unlike odoorpc, a prefix works here).
        api_key: the bot user's API key; never shown in repr or logs.
        database: sent as ``X-Odoo-Database`` when the server hosts several databases.
        timeout: seconds per call.
    """

    base_url: str
    api_key: str = field(repr=False)
    database: str | None = None
    timeout: float = 60.0


def named_arguments(method: str, args: Sequence[Any], kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Turn a JSON-RPC style call into JSON-2's named body.

    Args:
        method: the model method.
        args: positional arguments (ids first for record methods).
        kwargs: keyword arguments, ``context`` included.

    Returns:
        The request body.

    Raises:
        PermanentDeliveryError: a positional argument has no known name (a mapping bug).
    """
    body: dict[str, Any] = dict(kwargs or {})
    rest = list(args)
    if method in PARAMETERS:
        names = PARAMETERS[method]
    else:
        if rest:
            ids = rest.pop(0)
            body["ids"] = [ids] if isinstance(ids, int) else list(ids)
        names = RECORD_PARAMETERS.get(method, ())
    if len(rest) > len(names):
        raise PermanentDeliveryError(
            f"JSON-2 needs named arguments: {len(rest)} positional argument(s) for {method}, "
            f"known names {names or 'none'}"
        )
    for name, value in zip(names, rest, strict=False):
        body[name] = value
    return body


class OdooJson2Transport:
    """:class:`~agent.odoo.transport.OdooTransport` over ``/json/2`` with one long-lived httpx client.

    Args:
        settings: URL, key, database.
        client: an httpx client to use (tests); else one is built with ``identity``'s TLS context.
        identity: our client certificate and pinned CA (for https).

    Raises:
        ValueError: https without an identity or client.
    """

    def __init__(
        self,
        settings: OdooJson2Settings,
        *,
        client: httpx.AsyncClient | None = None,
        identity: TlsIdentity | None = None,
    ) -> None:
        url = httpx.URL(settings.base_url)
        if client is None:
            if url.scheme == "https" and identity is None:
                raise ValueError("a JSON-2 transport over https needs a TlsIdentity")
            verify = identity.context if identity is not None else True
            client = httpx.AsyncClient(verify=verify, http2=True, timeout=settings.timeout, trust_env=False)
        self.settings = settings
        self.identity = identity
        self._client = client
        self._server = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
        self._base = settings.base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"OdooJson2Transport({self._base})"

    async def call(
        self, model: str, method: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None
    ) -> Any:
        """Call ``model.method`` through JSON-2.

        Args:
            model: e.g. ``sale.order``.
            method: e.g. ``search``.
            args: positional arguments, named here (see :func:`named_arguments`).
            kwargs: keyword arguments, ``context`` included.

        Returns:
            The result; ``create`` of one dict returns its id, as over JSON-RPC.

        Raises:
            DeliveryError: see the module docstring.
        """
        body = named_arguments(method, args, kwargs)
        headers = {"Authorization": f"bearer {self.settings.api_key}"}
        if self.settings.database:
            headers["X-Odoo-Database"] = self.settings.database
        what = f"{model}.{method}"
        with map_httpx_exceptions(self._server):
            response = await self._client.post(
                f"{self._base}/json/2/{model}/{method}", json=body, headers=headers
            )
        if response.status_code != 200:
            raise self._error(response, what)
        try:
            result = response.json()
        except ValueError as exc:
            raise OdooUnavailable(f"{self._server} answered {what} with something that is not JSON") from exc
        if method == "create" and args and isinstance(args[0], Mapping) and isinstance(result, list):
            return result[0]  # JSON-2 returns the recordset's ids; the mapping expects one id
        return result

    def _error(self, response: httpx.Response, what: str) -> Exception:
        status = response.status_code
        refusal = classify_http_refusal(status, response.text, server=self._server)
        if refusal is not None:
            return refusal
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            if status in (408, 425, 429) or status >= 500:
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                return OdooUnavailable(
                    f"{self._server} answered HTTP {status} to {what}", retry_after=retry_after
                )
            return PermanentDeliveryError(f"{self._server} answered HTTP {status} to {what}")
        name = str(data.get("name") or "")
        message = str(data.get("message") or response.reason_phrase)
        if status == 401 or name == "odoo.exceptions.AccessDenied":
            return OdooAccessDenied(f"Odoo refused our API key for {what}: {message}")
        if name in TRANSIENT_EXCEPTIONS or "could not serialize access" in message:
            return OdooUnavailable(f"Odoo could not complete {what} right now ({name}): {message}")
        short = name.rsplit(".", 1)[-1] or f"HTTP {status}"
        return OdooRejected(
            f"Odoo refused {what} ({short}): {message}", exception_name=name, odoo_message=message
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


__all__ = ["PARAMETERS", "RECORD_PARAMETERS", "OdooJson2Settings", "OdooJson2Transport", "named_arguments"]
