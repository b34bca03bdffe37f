"""The decoder keeps no memory from one telegram to the next.

dsmr_parser's ProfileGenericParser (the power-failure log, 1-0:99.97.0) adds
its value parsers to a list on every parse, so a parser instance kept for the
life of a connection grows by one pointer per log entry per telegram: without
bound over a meter's lifetime. The decoder must not keep such an instance, nor
anything else per telegram.
"""

from __future__ import annotations

from collections.abc import Generator
import contextlib
import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import gc
import sys
import tracemalloc

from custom_components.slimme_meter.p1.decode import Decoder, last_failure
from custom_components.slimme_meter.p1.specs import SPECS

from .helpers import V4, body

TELEGRAMS = 100_000
# The power line changes in every telegram, the power-failure log in every
# tenth: 10 000 log parses, which through one reused dsmr_parser instance
# would hold on to about 480 kB.
LOG_EVERY = 10
MAX_GROWTH = 200_000  # bytes

# From the DSMR 4 fixture: header, version, time, equipment id, power and the
# power-failure log with its three entries. Its other lines only take time.
KEEP = (b"/", b"1-3:0.2.8", b"0-0:1.0.0", b"0-0:96.1.1", b"1-0:1.7.0", b"1-0:99.97.0")
LOG = b"(0000237126*s)"
LOG_NEXT = b"(0000237127*s)"
POWER = b"1-0:1.7.0(02.027*kW)"
POWER_NEXT = b"1-0:1.7.0(02.028*kW)"


@contextlib.contextmanager
def no_line_tracing() -> Generator[None]:
    """Pause a sys.settrace line tracer (coverage on Python 3.13) for a hot loop.

    The loop runs code that ran just before; tracing every line of it again
    would triple the time of this test and measure nothing new.
    """
    tracer = sys.gettrace()
    sys.settrace(None)
    try:
        yield
    finally:
        sys.settrace(tracer)


def test_decoder_does_not_grow_over_100000_telegrams() -> None:
    # The DSMR 4 objects and parsers, without the CRC check: computing a CRC
    # keeps nothing, but on Python 3.13 allocates an int per byte, which
    # tracemalloc would make the slowest part of this test by far.
    spec = dataclasses.replace(
        SPECS["4"], definition={**SPECS["4"].definition, "checksum_support": False}
    )
    decoder = Decoder(spec)
    lines = body(V4).split(b"\r\n")
    plain = b"\r\n".join(line for line in lines if not line or line.startswith(KEEP))
    plain += b"\r\n!"
    variants = [
        plain,
        plain.replace(POWER, POWER_NEXT),
        plain.replace(LOG, LOG_NEXT),
        plain.replace(LOG, LOG_NEXT).replace(POWER, POWER_NEXT),
    ]
    assert len(set(variants)) == 4
    frames = [variants[(i // LOG_EVERY) % 2 * 2 + i % 2] for i in range(TELEGRAMS)]

    # The values follow the telegrams: nothing is served stale from a cache.
    end = datetime(2000, 1, 4, 17, 3, 20, tzinfo=UTC)
    for index in (0, 1, LOG_EVERY, LOG_EVERY + 1, 2 * LOG_EVERY, 2 * LOG_EVERY + 1):
        snapshot = decoder.decode(frames[index])
        assert snapshot.equipment_id == "3960221976967177082151037881335713"
        assert snapshot.value("1.7.0") == (
            Decimal("2.028") if index % 2 else Decimal("2.027")
        )
        duration = 237127 if (index // LOG_EVERY) % 2 else 237126
        assert last_failure(snapshot) == (end - timedelta(seconds=duration), duration)

    for frame in frames[:1000]:  # warm up the decoder's caches
        decoder.decode(frame)
    gc.collect()

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        with no_line_tracing():
            for frame in frames:
                decoder.decode(frame)
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    assert growth < MAX_GROWTH, f"the decoder grew by {growth} bytes"
    assert len(decoder.decode(frames[0]).objects["99.97.0"].buffer) == 3
