# Deep sleep in memory: the state saved, a new client (RAM gone) resumes it with one Update.
from coap import msg as M
import coapnums as CN
from lwm2m import sleep as S
from board.sleep import FileRtc, _chunked
from lwm2m.store import Store
from test_client import CLIENT, TEMP, URI, Net, cfg, tmpdir
from util import rep_count, rep_stored

WALL = 800000000  # the board's wall clock at the first sleep, seconds


def qcfg(d, lifetime=300):
    c = cfg(d, lifetime=lifetime)
    c["queue_mode"] = True
    c["servers"][0]["binding"] = "UQ"
    c["sleep"] = {"mode": "deep", "interval": 60, "awake": 5}
    return c


def awake_then_asleep(c, value=21.5, attrs=("pmin=1", "pmax=60")):
    """A client that registered, got observed and let its window close: (net, server, obs resp)."""
    n = Net(c)
    t = n.c.registry.add(TEMP)
    t.add(0, {5700: value, 5701: "Cel"})
    s = n.srv(URI)
    n.run(10)
    for r in n.c.regs.values():
        r.queue_window_ms = 5000
    got = s.request(M.PUT, "/3303/0/5700", query=attrs)
    n.run(10)
    assert got[0].code == M.CHANGED
    got = s.request(M.GET, "/3303/0/5700", observe=0)
    n.run(10)
    assert got[0].code == M.CONTENT and got[0].uint(M.OBSERVE) is not None
    n.run(6000)
    assert S.asleep(n.c)
    return n, s, got[0]


def woken(n1, d, value, wall, wake=True):
    """A fresh client over the same store and the same server (the board after the reset)."""
    n2 = Net(n1.cfg, platform=n1.plat)
    n2.srvs = n1.srvs
    for s in n2.srvs.values():
        s.net = n2
    t = n2.c.registry.add(TEMP)
    t.add(0, {5700: value, 5701: "Cel"})
    if d is not None:
        n2.c.resume = S.Resume(n2.c, d, wall, 5000)
    if wake:
        n2.run(10)
    return n2


def test_resume_sends_one_update_and_notifies_on_the_same_token():
    n1, s, first = awake_then_asleep(qcfg(tmpdir()))
    try:
        now = n1.clock.now
        ms = S.sleep_ms(n1.c, now, 60000)
        assert 0 < ms <= 60000
        d = S.snapshot(n1.c, now, WALL, ms)
        raw = S.encode(d)
        assert S.decode(raw) == d and len(raw) < 2048  # fits the ESP32's RTC memory
        mid = n1.c.ep.last_mid
        k = len(s.reqs)
        n2 = woken(n1, S.decode(raw), 23.5, WALL + 70)  # 70 s later: pmax 60 s has passed
        # exactly one Update with nothing in it (nothing changed), never a Register
        assert s.reqs[k:] == [(M.POST, "/rd/1", [], b"")], s.reqs[k:]
        assert n2.c.regs[1].registered and n2.c.regs[1].location == "/rd/1"
        notes = [m for _, m in n2.notes]
        assert [bytes(m.payload) for m in notes] == [b"23.5"]
        assert notes[0].token == first.token
        assert notes[0].uint(M.OBSERVE) == first.uint(M.OBSERVE) + 1
        assert (notes[0].mid - mid) & 0xFFFF < 16  # message IDs go on, not from a random start
        # the next notification: same token again, Observe number one higher
        n2.c.registry.obj(3303).set(0, 5700, 24.5)
        n2.run(1500)
        notes = [m for _, m in n2.notes]
        assert [bytes(m.payload) for m in notes] == [b"23.5", b"24.5"]
        assert notes[1].token == first.token
        assert notes[1].uint(M.OBSERVE) == first.uint(M.OBSERVE) + 2
    finally:
        n1.close()


def test_wake_sample_crossing_st_notifies_and_small_move_does_not():
    n1, s, first = awake_then_asleep(qcfg(tmpdir()), 20.0, ("pmin=1", "pmax=600", "st=2"))
    try:
        d = S.snapshot(n1.c, n1.clock.now, WALL, 30000)
        n2 = woken(n1, d, 21.0, WALL + 30)  # moved by 1 < st, pmax not due: no notification
        assert n2.notes == []
        assert n2.c.regs[1].registered
        n2.run(6000)
        assert S.asleep(n2.c)
        d = S.snapshot(n2.c, n2.clock.now, WALL + 30, 30000)
        n3 = woken(n2, d, 23.5, WALL + 60)  # the sample moved by 3.5 >= st since the last report
        assert [bytes(m.payload) for _, m in n3.notes] == [b"23.5"]
        assert n3.notes[0][1].token == first.token
    finally:
        n1.close()


def test_stored_notification_survives_and_is_delivered_once():
    n1, s, first = awake_then_asleep(qcfg(tmpdir()))
    try:
        n1.c.reporter.server_offline(1)
        n1.c.reporter._wake = None  # keep it stored, as when the wake Update is still pending
        n1.c.registry.obj(3303).set(0, 5700, 30.5)
        n1.run(1500)
        assert rep_stored(n1.c.reporter, 1) == 1 and n1.notes == []
        d = S.snapshot(n1.c, n1.clock.now, WALL, 10000)
        assert len(d["s"]) == 1
        n2 = woken(n1, d, 30.5, WALL + 10)
        assert [bytes(m.payload) for _, m in n2.notes] == [b"30.5"]
        n2.run(5000)
        assert [bytes(m.payload) for _, m in n2.notes] == [b"30.5"]  # once
        assert n2.notes[0][1].uint(M.OBSERVE) == first.uint(M.OBSERVE) + 1
    finally:
        n1.close()


def test_expired_lifetime_or_404_or_new_server_address_registers():
    n1, s, first = awake_then_asleep(qcfg(tmpdir(), lifetime=120))
    try:
        d = S.snapshot(n1.c, n1.clock.now, WALL, 60000)
        k = len(s.reqs)
        n2 = woken(n1, d, 21.5, WALL + 200)  # longer than the lifetime left
        assert [(r[0], r[1]) for r in s.reqs[k:]] == [(M.POST, "/rd")]
        assert "lwm2m: sleep: server 1: lifetime expired during the sleep: Register" in n2.lines
        assert rep_count(n2.c.reporter, 1) == 0  # a new registration starts without observations
        # 4.04 to the Update: the server forgot us, Register (as without sleep)
        d = S.snapshot(n2.c, n2.clock.now, WALL + 200, 60000)
        s.update_code = M.NOT_FOUND
        k = len(s.reqs)
        n3 = woken(n2, d, 21.5, WALL + 230)
        assert [(r[0], r[1]) for r in s.reqs[k:]] == [(M.POST, "/rd/2"), (M.POST, "/rd")]
        s.update_code = M.CHANGED
        n3.run(6000)
        d = S.snapshot(n3.c, n3.clock.now, WALL + 240, 60000)
        assert d["r"][0][3] == ["rd", "3"]
        d["r"][0][2] = "00ff"  # the server's address is no longer the one we registered with
        k = len(s.reqs)
        n4 = woken(n3, d, 21.5, WALL + 250)
        assert [(r[0], r[1]) for r in s.reqs[k:]] == [(M.POST, "/rd")]
        assert "lwm2m: sleep: server 1: server address changed: Register" in n4.lines
        n4.run(6000)
        d = S.snapshot(n4.c, n4.clock.now, WALL + 260, 60000)
        n4.plat._ip = "10.1.2.3"  # a new DHCP lease while we slept
        k = len(s.reqs)
        n5 = woken(n4, d, 21.5, WALL + 270)
        assert [(r[0], r[1]) for r in s.reqs[k:]] == [(M.POST, "/rd")]
        assert "lwm2m: sleep: server 1: our address changed: Register" in n5.lines
    finally:
        n1.close()


def test_changed_object_list_goes_in_the_wake_update():
    n1, s, first = awake_then_asleep(qcfg(tmpdir()))
    try:
        d = S.snapshot(n1.c, n1.clock.now, WALL, 10000)
        k = len(s.reqs)
        n2 = woken(n1, d, 21.5, WALL + 10, wake=False)
        n2.c.registry.obj(3303).add(1, {5700: 1.0})  # a new instance appeared while asleep
        n2.run(10)
        got = s.reqs[k:]
        assert len(got) == 1 and got[0][:3] == (M.POST, "/rd/1", [])
        assert b"</3303/1>" in got[0][3]
    finally:
        n1.close()


def test_rtc_memory_first_flash_when_too_big_and_taken_once():
    d = tmpdir()
    store = Store(d)
    rtc = FileRtc(d + "/rtcmem")
    st = {"w": 1, "p": 2, "m": 3, "r": [[1, URI, "x", ["rd", "1"], 300, "UQ", 7, 9]], "o": [],
          "s": [], "a": []}
    assert S.persist(store, rtc, st) == "rtc memory"
    assert store.load(S.RECORD) is None  # no flash write
    assert S.take(store, rtc) == (st, "rtc memory")
    assert S.take(store, rtc) == (None, "no saved state")  # erased as it was taken
    big = dict(st, o=[[1, "00" * 4, i, [3303, i, 5700], 0, 6, 1.5, 0, 0, False, 0]
                      for i in range(40)])
    assert len(S.encode(big)) > rtc.size
    fs = store.fs = S._CountFs(store.fs)
    assert S.persist(store, rtc, big) == "flash"
    assert fs.writes == 2  # the temp file and its rename: the figure the README gives
    assert S.take(store, rtc) == (big, "flash")
    assert fs.writes == 3  # erased as it is taken
    assert S.take(store, rtc)[0] is None and store.load(S.RECORD) is None
    # torn RTC memory (power cut in the middle of the write): rejected, never half-used
    raw = S.encode(st)
    for cut in (0, 3, 9, 10, len(raw) // 2, len(raw) - 1):
        assert S.decode(raw[:cut]) is None
        rtc.write(raw[:cut])
        got = S.take(store, rtc)
        assert got[0] is None
    flipped = bytearray(raw)
    flipped[-2] ^= 1
    assert S.decode(bytes(flipped)) is None


def test_count_fs_counts_store_writes():
    d = tmpdir()
    store = Store(d)
    fs = store.fs = S._CountFs(store.fs)
    store.save("x", {"a": 1})
    n = fs.writes
    assert n >= 2  # the temp file and the rename
    store.save("x", {"a": 1})  # unchanged: nothing written
    assert fs.writes == n
    store.remove("x")
    assert fs.writes == n + 1


def test_stats_count_datagrams_and_bytes():
    class R:
        def __init__(self):
            self.got = []

        def sendto(self, data, peer):
            self.got.append(data)

    class E:
        def receive(self, data, peer, now):
            pass

    r = R()
    e = E()
    st = S.Stats(r, e)
    r.sendto(b"abc", CLIENT)
    e.receive(b"hello", CLIENT, 0)
    assert r.got == [b"abc"]
    assert st.line() == "sent 1 datagrams 3 B, received 1 datagrams 5 B"


def test_long_sleep_in_chunks_that_feed_the_watchdog():
    slept = []
    fed = []
    _chunked(10000, lambda: fed.append(1), 4000, slept.append)
    assert slept == [4000, 4000, 2000] and len(fed) == 3
    slept = []
    _chunked(10000, None, 4000, slept.append)  # no watchdog armed: one sleep
    assert slept == [10000]


def test_no_sleep_in_the_middle_of_a_firmware_push():
    import hashlib
    from lwm2m.fwpkg import make_header

    n, s, first = awake_then_asleep(qcfg(tmpdir()))
    try:
        img = bytes(range(256)) * 4
        pkg = make_header(len(img), hashlib.sha256(img).digest(), "app", "2") + img
        m = M.Message(M.CON, M.PUT)
        m.set_path("/5/0/0")
        m.add(M.CONTENT_FORMAT, 42)
        m.add(M.BLOCK1, M.block_value(0, True, 2))  # the first 64-byte block of several
        m.payload = pkg[:64]
        got = []
        n.c.regs[1].wake(n.clock.now)  # the server reached us in our window
        n.run(10)
        s.ep.request(m, CLIENT, n.clock.now, lambda r, t: got.append(r))
        n.run(10)
        assert got and got[0].code == CN.CONTINUE, got
        n.run(6000)  # the window closed, but the rest of the package has not come yet
        assert not n.c.regs[1].awake
        assert not S.asleep(n.c)
    finally:
        n.close()
