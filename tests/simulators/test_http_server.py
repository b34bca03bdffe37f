"""The consent-API simulators' server: listening, stopping, queued faults."""

from __future__ import annotations

import aiohttp
from aiohttp import web
import pytest

from simulators.http_server import HttpSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")


class Echo(HttpSimulator[int]):
    """Answers 200, or the status of the next queued fault."""

    def create_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        status = self.take_fault()
        return web.Response(status=status or 200)


async def statuses(url: str, count: int) -> list[int]:
    async with aiohttp.ClientSession() as session:
        result = []
        for _ in range(count):
            async with session.get(url) as response:
                result.append(response.status)
        return result


async def test_faults_answer_the_next_requests_in_order() -> None:
    async with Echo() as server:
        assert server.port != 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        server.queue_fault(503, count=2)
        server.queue_fault(429)
        server.queue_fault(500, count=0)
        assert await statuses(server.url, 4) == [503, 503, 429, 200]
        server.queue_fault(401, count=5)
        server.clear_faults()
        assert await statuses(server.url, 1) == [200]


async def test_start_twice_listens_once_and_stop_frees_the_port() -> None:
    server = Echo()
    await server.start()
    port = server.port
    await server.start()
    assert server.port == port
    await server.stop()
    await server.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await statuses(server.url, 1)


def test_the_application_is_the_subclass_s() -> None:
    with pytest.raises(NotImplementedError):
        HttpSimulator[int]().create_app()
