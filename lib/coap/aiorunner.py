"""asyncio driver for the CoAP runner: the same Runner and sans-I/O endpoint, run as one task.

The blocking Runner waits in select.poll; AioRunner waits in the application's event loop instead.
Every step (a bounded burst of receives, the timers, the sends) is the blocking runner's own code
and never awaits; between steps the task sleeps until its next deadline, a readable socket or a
wake(), whichever comes first. MicroPython's asyncio has no datagram API, so a small task per
socket waits in asyncio's own poller (core._io_queue, as micropython-lib's aioespnow does), marks
input and brings the sleeping driver forward (core._task_queue, as Task.cancel() does); all the
work runs in the driver task. CPython (host tests) gets both from tools/cpy/aioshim.py.
"""
import asyncio
import time

from micropython import const

from coap.runner import Runner

try:
    from asyncio import core as _core

    def _readable(sock):
        yield _core._io_queue.queue_read(sock)

    def _forward(task):
        q = _core._task_queue
        q.remove(task)
        q.push(task)
except ImportError:
    from aioshim import forward as _forward, readable as _readable

_RX_BURST = const(4)  # datagrams per transport per step: bounds one step's time under a flood


class AioRunner(Runner):
    """Runner whose loop is `await serve()`. wake() from any task (the application's too) runs
    the timers now rather than at the old deadline. stall_ms: the longest single step so far, the
    longest the client has held up the application's tasks (the app may reset it).

    It is its own poller (register/unregister, what Runner calls on select.poll): a reader task
    per socket. unregister() cancels it at once, before the caller closes the socket (a closed
    socket left in a poller polls as POLLNVAL forever)."""

    rx_burst = _RX_BURST

    def __init__(self, endpoint, local_port=0, log=None):
        self._task = None
        self._w = {}  # sock -> its reader task, or None while not serving
        super().__init__(endpoint, local_port, log)
        old = self._poll  # the base class registered its socket there: move it here
        self._poll = self
        for t in self._transports:
            if t.sock is not None:
                old.unregister(t.sock)
                self.register(t.sock)
        self._rx = False
        self._asleep = False
        self.stall_ms = 0

    # ---- the poller Runner sees --------------------------------------------------------------
    def register(self, sock, ev=None):
        if sock not in self._w:
            self._w[sock] = None if self._task is None else asyncio.create_task(self._reader(sock))

    def unregister(self, sock):
        t = self._w.pop(sock)
        if t is not None:
            t.cancel()  # out of asyncio's poller now, not at its next run

    def _arm(self, on):
        w = self._w
        for s in w:
            if w[s] is not None:
                w[s].cancel()
            w[s] = asyncio.create_task(self._reader(s)) if on else None

    async def _reader(self, sock):
        while True:
            await _readable(sock)
            self._rx = True
            self._kick()
            while self._rx:  # the driver (queued first) drains; wait for it before re-arming
                await asyncio.sleep_ms(0)

    # ---- the driver --------------------------------------------------------------------------
    def wake(self):
        super().wake()
        self._kick()

    def stop(self):
        super().stop()
        self._kick()

    def _kick(self):
        if self._asleep:
            self._asleep = False
            _forward(self._task)

    async def serve(self, until=None):
        """Each pass: receive, timers, send (never awaiting); then sleep until input, a wake() or
        the next deadline, until stop() or until() is true. The application's tasks run during
        every sleep (a 0 ms one too)."""
        self._stop = False
        self._task = asyncio.current_task()
        self._arm(True)
        try:
            while not self._stop and not (until is not None and until()):
                t0 = now = time.ticks_ms()
                more = False
                if self._rx:
                    self._rx = False
                    more = self._receive(now)
                self._timers(now)
                self.flush()
                if self.feed is not None:
                    self.feed()
                now = time.ticks_ms()
                d = time.ticks_diff(now, t0)
                if d > self.stall_ms:
                    self.stall_ms = d
                if more:
                    self._rx = True  # input left over: read on after the other tasks have run
                wait = self.max_wait_ms
                if more or self._woken:
                    wait = 0
                elif self._due is not None:
                    wait = max(0, min(wait, time.ticks_diff(self._due, now)))
                self._asleep = wait > 0
                await asyncio.sleep_ms(wait)
                self._asleep = False
        finally:
            self._task = None
            self._asleep = False
            self._arm(False)
