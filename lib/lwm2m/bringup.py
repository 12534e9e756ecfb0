"""Start-up code, unloaded once done: config, network, app.py, watchdog; the client and its runner.

prepare() is start.main's first half (lwm2m.start unloads this module before the client runs);
wire() is lwm2m.client.run's (run unloads it again before serving).
"""


def _network(plat, cfg):
    w = cfg["wifi"]
    if w is None:
        raise RuntimeError("main: config.json has no wifi section; a board needs one")
    if not plat.wifi_connect(w["ssid"], w["password"]):
        raise RuntimeError("main: wifi %r did not come up" % w["ssid"])
    if cfg["ntp"]:
        _ntp(cfg["ntp"])


def _ntp(host):
    """Set the RTC (/3/0/13 Current Time) from NTP; a failure is logged, never fatal."""
    try:
        import ntptime  # frozen into the ESP32 and RP2 firmware

        ntptime.host = host
        ntptime.settime()
        print("main: clock set from NTP", host)
    except Exception as e:
        print("main: NTP %s failed: %r (clock left as is)" % (host, e))


def _app():
    """The optional app.py beside main.py (see README): setup(client, runner) for the blocking
    client, or `async def main(client)` to run under asyncio. None when there is no app.py."""
    try:
        import app
    except ImportError as e:
        if "app" not in str(e):
            raise  # app.py exists but one of its imports is broken: that is fatal
        return None
    return app


def _config(path, port):
    """The checked config (None after printing why not). lwm2m.config runs once: unloaded here,
    it gives back about 4 KB of heap on a 32-bit board."""
    import lwm2m
    from lwm2m import config

    try:
        return config.load(path, port)
    except config.ConfigError as e:
        print(e)  # one line naming the key; on a board: stop at the REPL, no reset loop
        return None
    finally:
        lwm2m.unload("config")


def prepare(path, on_board, job):
    """Fill job = [run, args, platform, watchdog ms] for start.main, which calls run(*args):
    lwm2m.client.run, or lwm2m.aio.run when app.py has `async def main`. False: a bad config
    (the reason printed). job fills as it goes, so start.main can reset through the platform
    made before a failure."""
    import gc

    import board

    cfg = _config(path, board.port())
    if cfg is None:
        return False
    gc.collect()  # the config checker's garbage goes before the client's imports fill in
    plat = None
    if on_board:
        plat = job[2] = board.platform(**board.options(cfg))
        _network(plat, cfg)
    from lwm2m.client import run
    app = _app()
    amain = getattr(app, "main", None)
    if amain is not None:
        from lwm2m.aio import run  # only an asyncio app loads the asyncio driver
    feed = None
    if plat is not None and cfg["watchdog_ms"]:
        # armed last: it cannot be stopped, not even by a soft reset (BOARDS.md)
        w = plat.wdt(cfg["watchdog_ms"])
        job[3] = cfg["watchdog_ms"]
        feed = None if w is None else w.feed
    if amain is not None:
        wifi = None
        if plat is not None:
            # asyncio path on a board: the link is watched and brought back without blocking
            from board.aiowifi import Link

            wifi = Link(cfg["wifi"]["ssid"], cfg["wifi"]["password"], platform=plat)
        job[1] = (cfg, amain, plat, feed, wifi)
    else:
        job[1] = (cfg, feed, getattr(app, "setup", None))
    job[0] = run
    return True


def wire(cfg, feed, setup):
    """(client, runner, log) for lwm2m.client.run: a lwm2m.client.Client (looked up at call time,
    so a benchmark may replace the class) on a coap.runner.Runner, setup(client, runner) done."""
    import board
    from coap.runner import Runner
    from lwm2m import client as C, servers
    from lwm2m.log import Log

    log = Log(cfg.get("log", "info"))
    plat = board.platform(**board.options(cfg))  # the one main.py made: same options, cached
    client = C.Client(cfg, plat, log=log)
    runner = Runner(client.ep, cfg.get("local_port", 0), log=log.warn)
    runner.feed = feed
    runner.add_hook(client.tick)
    client.transport_factory = servers.lazy_secure(runner, client, log)
    runner.on_rebind.append(client.address_changed)
    # the rebind file is a host/test facility: a board only watches its own address
    host = not board.on_board()
    runner.watch_address(getattr(plat, "ifconfig", None),
                         cfg["data_dir"] + "/rebind" if host else None)
    if setup is not None:
        setup(client, runner)
    log.info("%s starting (local port %d, data in %s)" % (
        cfg["endpoint"], cfg.get("local_port", 0), cfg["data_dir"]))
    return client, runner, log
