"""AS2 send (RFC 4130): POST the signed/encrypted file and verify the synchronous MDN.

The AS2 codec (MIME, CMS, MDN parsing and the MIC check) lives in
``gateway.as2``; the daemon injects a codec object for each partner
(:class:`As2CodecLike`, implemented by ``gateway.outbound.As2Codec``) so the
agent never imports it.  The codec reports MDN problems as
``(reason, retryable)``; this module turns them into delivery errors.

A delivery counts as done only when the partner's MDN confirms receipt with
the MIC we computed (so the partner holds exactly our bytes).  With
``mdn = "none"`` a 2xx answer is all there is.  With ``mdn = "async"`` the
codec durably records the MDN we expect *before* the POST (the partner may
post the MDN before its HTTP answer reaches us); a 2xx answer then counts as
sent, the MDN is awaited, and the AS2 listener settles it when it arrives
(``gateway.acktrack``: accepted, rejected with the reason, or overdue).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import httpx

from agent.errors import PermanentDeliveryError, TransientDeliveryError
from agent.sinks.base import Delivery

from .base import partner_file


class As2RequestLike(Protocol):
    """What the codec's ``build`` returns."""

    @property
    def message_id(self) -> str: ...

    @property
    def headers(self) -> tuple[tuple[str, str], ...]: ...

    @property
    def body(self) -> bytes: ...


class As2CodecLike(Protocol):
    """The AS2 codec for one partner (``gateway.outbound.As2Codec``)."""

    @property
    def as2_to(self) -> str: ...

    @property
    def expects_mdn(self) -> bool: ...

    @property
    def async_mdn(self) -> bool: ...

    async def expect_mdn(self, request: Any, *, delivery_id: int | None) -> None: ...

    async def mdn_awaited(self, request: Any) -> None: ...

    def build(self, payload: bytes, *, file_name: str, content_type: str) -> Any: ...

    def check(
        self, request: Any, headers: Sequence[tuple[str, str]], body: bytes
    ) -> tuple[str, bool] | None: ...


class As2PartnerSink:
    """Send partner files as AS2 messages.

    Args:
        name: sink name (``partner:<id>``).
        url: the partner's AS2 endpoint.
        codec: builds messages and checks MDNs.
        client: an ``httpx.AsyncClient`` (tests pass their own); one is made when None.
        timeout: seconds for the POST and its synchronous MDN.
    """

    def __init__(
        self,
        name: str,
        url: str,
        codec: As2CodecLike,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 120.0,
    ) -> None:
        self.name = name
        self.url = url
        self.codec = codec
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout)
        #: Message-ID of the last message whose MDN checked out (status, tests).
        self.last_message_id: str | None = None

    async def healthcheck(self) -> None:
        """AS2 has no probe request; check the server answers HTTP at all."""
        try:
            await self._client.request("HEAD", self.url)
        except httpx.TransportError as exc:
            raise TransientDeliveryError(f"AS2 endpoint {self.url} unreachable: {exc}") from exc

    async def deliver(self, delivery: Delivery) -> None:
        """Send one file and verify the MDN.

        Raises:
            TransientDeliveryError: network errors, 5xx/429, MIC mismatch.
            PermanentDeliveryError: 4xx, negative MDN, bad MDN signature.
        """
        item = partner_file(delivery)
        request = self.codec.build(item.data, file_name=item.name, content_type=item.content_type)
        if not self.codec.async_mdn:
            await self._post(request)
        else:
            await self.codec.expect_mdn(request, delivery_id=delivery.delivery_id)
            # A failed POST leaves the record "sending" (the partner may or may not hold the
            # message; an MDN for it still settles it) and the retry sends a new Message-ID.
            await self._post(request)
            await self.codec.mdn_awaited(request)
        self.last_message_id = request.message_id

    async def _post(self, request: Any) -> None:
        try:
            response = await self._client.post(self.url, content=request.body, headers=list(request.headers))
        except httpx.TransportError as exc:
            raise TransientDeliveryError(
                f"AS2 POST to {self.url} failed: {exc or type(exc).__name__}"
            ) from exc
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise TransientDeliveryError(f"AS2 endpoint {self.url} answered HTTP {response.status_code}")
        if response.status_code >= 300:
            text = " ".join(response.text.split())[:200]
            raise PermanentDeliveryError(
                f"AS2 endpoint {self.url} answered HTTP {response.status_code}: {text}"
            )
        if self.codec.expects_mdn:
            problem = self.codec.check(request, list(response.headers.items()), response.content)
            if problem is not None:
                reason, retryable = problem
                if retryable:
                    raise TransientDeliveryError(reason)
                raise PermanentDeliveryError(reason)

    async def aclose(self) -> None:
        """Close the HTTP client if it is ours."""
        if self._own_client:
            await self._client.aclose()


__all__ = ["As2CodecLike", "As2PartnerSink", "As2RequestLike"]
