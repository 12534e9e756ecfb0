"""Print gate for the client's log lines: levels error < warn < info < debug, one prefix."""
_LEVELS = ("error", "warn", "info", "debug")


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
        # level 0 (error) .. 3 (debug); a silent log's -1 lets nothing through
        self.level = _LEVELS.index(level) if level in _LEVELS else 2
        self.prefix = prefix
        if isinstance(out, list):
            self.lines = out
            out = out.append
        elif out is None:
            self.level = -1
        self.out = out

    # one method per level, each doing its own test: no shared helper (a function costs heap)
    def error(self, text):
        if self.level >= 0:
            self.out(self.prefix + text)

    def warn(self, text):
        if self.level >= 1:
            self.out(self.prefix + text)

    def info(self, text):
        if self.level >= 2:
            self.out(self.prefix + text)

    def debug(self, text):
        if self.level >= 3:
            self.out(self.prefix + text)
