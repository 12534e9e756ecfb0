"""CPython stand-ins for the MicroPython asyncio internals lib/coap/aiorunner.py uses (host only).

readable(sock): await until sock is readable (MicroPython: core._io_queue.queue_read).
forward(task): end the task's current asyncio.sleep_ms() now (MicroPython: re-push it on
core._task_queue). asyncio.sleep_ms is added to CPython's asyncio, as MicroPython has it.
"""
import asyncio

_sleeping = {}  # task -> the future its current sleep_ms waits on


def _set(f):
    if not f.done():
        f.set_result(None)


async def sleep_ms(ms):
    loop = asyncio.get_running_loop()
    f = loop.create_future()
    t = asyncio.current_task()
    h = loop.call_later(max(0, ms) / 1000, _set, f)
    _sleeping[t] = f
    try:
        await f
    finally:
        h.cancel()
        if _sleeping.get(t) is f:
            del _sleeping[t]


def forward(task):
    f = _sleeping.get(task)
    if f is not None:
        _set(f)


async def readable(sock):
    loop = asyncio.get_running_loop()
    f = loop.create_future()
    loop.add_reader(sock, _set, f)
    try:
        await f
    finally:
        loop.remove_reader(sock)


if not hasattr(asyncio, "sleep_ms"):
    asyncio.sleep_ms = sleep_ms
