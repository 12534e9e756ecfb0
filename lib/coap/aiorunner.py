"""asyncio driver for the CoAP runner: the same Runner and sans-I/O endpoint, run as one task.

The blocking Runner waits in select.poll; AioRunner waits in the application's event loop instead,
so the client is one task among the application's. Every step (receive a bounded burst, run the
timers, send) is the blocking runner's own code and never awaits; between steps the task sleeps
until its next deadline or until one of its sockets is readable, whichever comes first.

Readiness: MicroPython's asyncio has no datagram API, so each socket gets a small task waiting in
asyncio's own poller (core._io_queue, as micropython-lib's aioespnow does); CPython uses
loop.add_reader. A reader only marks input and wakes the driver; all work runs in the driver task.
"""
import asyncio
import time

from micropython import const

from coap.runner import Runner

try:
    from asyncio import core as _core  # MicroPython: the scheduler's queues
except ImportError:
    _core = None

_RX_BURST = const(4)  # datagrams per transport per step: bounds one step's time under a flood


def _readable(sock):
    # a generator awaited by a reader task: parks it in asyncio's poller until sock is readable
    yield _core._io_queue.queue_read(sock)


class _Watch:
    """Stands in for the Runner's select.poll: the same register/unregister calls, but each socket
    is watched inside the event loop. Unregister cancels the watch at once, before the caller
    closes the socket (a closed socket left in a poller polls as POLLNVAL forever)."""

    def __init__(self, runner):
        self.r = runner  # its _input() is called when a socket has input
        self.socks = []
        self.w = {}  # id(sock) -> reader task (MicroPython) or the sock (CPython add_reader)
        self.loop = None
        self.on = False

    def register(self, sock, ev=None):
        if sock not in self.socks:
            self.socks.append(sock)
            if self.on:
                self._arm(sock)

    def modify(self, sock, ev=None):
        pass

    def unregister(self, sock):
        if sock not in self.socks:
            raise KeyError(sock)
        self.socks.remove(sock)
        self._disarm(sock)

    def start(self):
        self.on = True
        if _core is None:
            self.loop = asyncio.get_running_loop()
        for s in self.socks:
            self._arm(s)

    def stop(self):
        self.on = False
        for s in self.socks:
            self._disarm(s)

    def _arm(self, sock):
        if id(sock) in self.w:
            return
        if _core is None:
            self.loop.add_reader(sock, self.r._input)
            self.w[id(sock)] = sock
        else:
            self.w[id(sock)] = asyncio.create_task(self._reader(sock))

    def _disarm(self, sock):
        w = self.w.pop(id(sock), None)
        if w is None:
            return
        if _core is None:
            self.loop.remove_reader(sock)
        else:
            w.cancel()  # takes it out of asyncio's poller now, not at its next run

    async def _reader(self, sock):
        r = self.r
        while True:
            await _readable(sock)
            r._input()
            # the driver runs next (it was queued first) and drains; re-arm once it has
            while r._rx:
                await asyncio.sleep_ms(0)


class AioRunner(Runner):
    """Runner whose loop is `await serve()`: the blocking runner's steps, asyncio's waits.

    Extra: wake() from any task (the application's included) makes the driver run its timers now
    rather than at its old deadline; stall_ms is the longest single step seen (what the
    application's tasks can wait for the client, at most)."""

    rx_burst = _RX_BURST

    def __init__(self, endpoint, local_port=0, log=None):
        super().__init__(endpoint, local_port, log)
        # swap the select.poll the base class filled for a watch that lives in the event loop
        old = self._poll
        w = self._poll = _Watch(self)
        for t in self._transports:
            if t.sock is not None:
                old.unregister(t.sock)
                w.register(t.sock)
        self._rx = False
        self._task = None
        self._asleep = False
        self._fut = None
        self.stall_ms = 0
        self.steps = 0

    def _input(self):
        self._rx = True
        self._kick()

    def wake(self):
        super().wake()
        self._kick()

    def _kick(self):
        if _core is None:
            f = self._fut
            if f is not None and not f.done():
                f.set_result(None)
        elif self._asleep:
            # bring the sleeping driver forward to now, as Task.cancel() does, without the throw
            self._asleep = False
            q = _core._task_queue
            q.remove(self._task)
            q.push(self._task)

    async def _sleep(self, ms):
        if _core is None:
            loop = asyncio.get_running_loop()
            f = self._fut = loop.create_future()
            h = loop.call_later(ms / 1000, _done, f)
            try:
                await f
            finally:
                h.cancel()
                self._fut = None
        else:
            self._asleep = ms > 0
            try:
                await asyncio.sleep_ms(ms)
            finally:
                self._asleep = False

    def _receive(self, now):
        buf = self._buf
        n = self.rx_burst
        more = False
        for t in self._transports:
            for i in range(n + 1):
                if i == n:
                    more = True  # budget spent: the next step reads on, after the other tasks
                    break
                try:
                    got = t.recv(buf)
                except OSError as e:
                    if self.log:
                        self.log("runner: recv failed: %r" % (e,))
                    break
                if got is None:
                    break
                self.received += 1
                self.ep.receive(got[0], got[1], now)
        return more

    def step(self):
        """One pass without waiting: receive what is there, run the timers, send; returns the
        ms the driver may sleep before the next pass."""
        now = time.ticks_ms()
        more = False
        if self._rx:
            self._rx = False
            more = self._receive(now)
        self._timers(now)
        self.flush()
        if self.feed is not None:
            self.feed()
        if more or self._woken:
            self._rx = self._rx or more
            return 0
        wait = self.max_wait_ms
        if self._due is not None:
            wait = max(0, min(wait, time.ticks_diff(self._due, time.ticks_ms())))
        return wait

    async def serve(self, until=None):
        """The loop: step, then sleep until input, a wake() or the next deadline; returns when
        stop() was called or until() is true. The application's tasks run during every sleep."""
        self._stop = False
        self._task = asyncio.current_task()
        self._poll.start()
        try:
            while not self._stop:
                if until is not None and until():
                    break
                t0 = time.ticks_ms()
                wait = self.step()
                d = time.ticks_diff(time.ticks_ms(), t0)
                self.steps += 1
                if d > self.stall_ms:
                    self.stall_ms = d
                await self._sleep(wait)  # 0 still lets every other ready task run first
        finally:
            self._poll.stop()
            self._task = None

    def stop(self):
        super().stop()
        self._kick()


def _done(f):
    if not f.done():
        f.set_result(None)
