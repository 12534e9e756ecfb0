"""One observation as the local LwM2M server holds it: its notifications, local and active cancel."""
# Part of a test peer that follows the LwM2M 1.0 TS, not our client: it must not import lib/.
import asyncio

from aiocoap.numbers.codes import Code

from lwm2m_codec import describe_payload
from lwm2m_peer import Response, response_of


class Notification(Response):
    """A notification: Response fields plus .seq (Observe value) and .t (server seconds)."""

    seq = None
    t = 0.0


class Observation:
    """Client-side state of one observation; notifications arrive in .queue."""

    def __init__(self, server, reg, path, accept):
        self.server = server
        self.reg = reg
        self.path = path
        self.accept = accept
        self.queue = asyncio.Queue()
        self.first = None
        self.token = None
        self.active = False
        self.ended = None  # exception that ended it, if any
        self._req = None
        self._req_remote = None
        self._task = None

    async def next(self, timeout=10.0):
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def _pump(self):
        try:
            async for n in self._req.observation:
                r = response_of(n)
                note = Notification(*r)
                note.location, note.message = r.location, n
                note.seq = n.opt.observe
                note.t = round(self.server.clock() - self.server.t0, 3)
                self.reg.last_seen = self.server.clock()
                self.queue.put_nowait(note)
                self.server._emit("notify", self.reg.ep, path=self.path, seq=note.seq, code=note.code,
                                  value=describe_payload(note.content_format, note.payload, self.path))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # aiocoap ends observations with an exception
            self.ended = e
            self.active = False
            self.server._emit("observe-end", self.reg.ep, path=self.path, reason=type(e).__name__)

    def cancel_local(self):
        """Forget the observation here only (aiocoap answers the next CON notification with RST)."""
        self.active = False
        if self._task is not None:
            self._task.cancel()
        obs = self._req.observation if self._req is not None else None
        if obs is not None and not obs.cancelled:
            obs.cancel()
        if self in self.reg.observations:
            self.reg.observations.remove(self)

    async def cancel(self, timeout=30.0):
        """Active cancel (RFC 7641 3.6): GET with Observe=1 and the observation's token."""
        self.cancel_local()
        tm = self.server._tm
        key = (self.token, self._req_remote)
        for _ in range(200):  # let aiocoap drop its own record of the token first
            if key not in tm.outgoing_requests:
                break
            await asyncio.sleep(0)
        else:
            tm.outgoing_requests.pop(key, None)
        r, _, _ = await self.server._send(self.reg.remote, Code.GET, self.reg.root + self.path,
                                          accept=self.accept, observe=1, timeout=timeout,
                                          token=self.token, blockwise=False)
        self.server._emit("observe-cancel", self.reg.ep, path=self.path, code=r.code)
        return r

