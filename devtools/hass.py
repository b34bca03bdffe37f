"""A small client for Home Assistant's REST and websocket APIs."""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
import itertools
from types import TracebackType
from typing import Any, Self

import aiohttp

REQUEST_TIMEOUT = 60.0


class HassError(Exception):
    """Home Assistant answered with an error."""

    def __init__(
        self, message: str, status: int | None = None, code: str | None = None
    ) -> None:
        """Keep the HTTP status, or the websocket error code."""
        super().__init__(message)
        self.status = status
        self.code = code


class HassClient:
    """REST calls and websocket commands against one Home Assistant."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        """Talk to ``base_url`` (``http://host:port``), with ``token`` if given."""
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        """Open the HTTP session."""
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The open HTTP session."""
        if self._session is None:
            msg = "use the client in an async with block"
            raise RuntimeError(msg)
        return self._session

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        form: dict[str, str] | None = None,
    ) -> Any:
        """Send a request; return the decoded JSON answer (HassError if not 2xx)."""
        async with self.session.request(
            method,
            f"{self.base_url}{path}",
            json=json,
            data=form,
            headers=self._headers(),
        ) as response:
            text = await response.text()
            if response.status >= 300:
                msg = f"{method} {path}: HTTP {response.status} {text[:500]}"
                raise HassError(msg, response.status)
            if not text:
                return None
            return await response.json(content_type=None)

    async def get(self, path: str) -> Any:
        """GET ``path``."""
        return await self.request("GET", path)

    async def post(self, path: str, json: Any = None) -> Any:
        """POST ``json`` to ``path``."""
        return await self.request("POST", path, json)

    async def available(self) -> bool:
        """Return whether the HTTP server answers at all."""
        try:
            async with self.session.get(
                f"{self.base_url}/manifest.json",
                timeout=aiohttp.ClientTimeout(total=5),
            ) as response:
                return response.status < 500
        except (aiohttp.ClientError, TimeoutError):
            return False

    @contextlib.asynccontextmanager
    async def websocket(self) -> AsyncIterator[Websocket]:
        """Open an authenticated websocket connection."""
        url = self.base_url.replace("http", "ws", 1) + "/api/websocket"
        async with self.session.ws_connect(url, max_msg_size=0) as ws:
            hello = await ws.receive_json()
            if hello.get("type") != "auth_required":
                raise HassError(f"unexpected websocket greeting: {hello}")
            await ws.send_json({"type": "auth", "access_token": self.token})
            answer = await ws.receive_json()
            if answer.get("type") != "auth_ok":
                raise HassError(f"websocket authentication failed: {answer}")
            yield Websocket(ws)


class Websocket:
    """An authenticated websocket connection: one command at a time."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Wrap an open connection."""
        self._ws = ws
        self._ids = itertools.count(1)

    async def command(self, kind: str, **fields: Any) -> Any:
        """Send a command; return its result (HassError if it failed)."""
        ident = next(self._ids)
        await self._ws.send_json({"id": ident, "type": kind, **fields})
        while True:
            message = await self._ws.receive_json()
            if message.get("id") != ident or message.get("type") != "result":
                continue  # events of subscriptions made elsewhere
            if not message.get("success"):
                error = message.get("error") or {}
                raise HassError(f"{kind}: {error}", code=error.get("code"))
            return message.get("result")
