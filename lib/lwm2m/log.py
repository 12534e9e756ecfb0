"""Print gate for the client's log lines: levels error < warn < info < debug, one prefix."""
LEVELS = ("error", "warn", "info", "debug")


def _print(text):
    print(text)
    try:
        import sys

        sys.stdout.flush()  # CPython buffers a pipe; the tests read lines as they come
    except (AttributeError, ImportError):
        pass


class Log:
    """log.info("...") prints "lwm2m: ..." when cfg["log"] allows it; out=None is silent, a list
    collects the lines (tests). Never pass key material or Security values to it."""

    def __init__(self, level="info", out=_print, prefix="lwm2m: "):
        self.level = LEVELS.index(level) if level in LEVELS else 2
        self.prefix = prefix
        if isinstance(out, list):
            self.lines = out
            out = out.append
        self.out = out

    def on(self, level):
        return self.out is not None and LEVELS.index(level) <= self.level

    def __call__(self, level, text):
        if self.on(level):
            self.out(self.prefix + text)

    def error(self, text):
        self("error", text)

    def warn(self, text):
        self("warn", text)

    def info(self, text):
        self("info", text)

    def debug(self, text):
        self("debug", text)
