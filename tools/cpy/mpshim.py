"""Gives CPython the MicroPython time helpers lib/ uses. Host-only: never copied to a board."""
import sys
import time

_PERIOD = 1 << 30
_HALF = _PERIOD >> 1


def _ticks_ms():
    return int(time.monotonic() * 1000) & (_PERIOD - 1)


def _ticks_add(t, d):
    return (t + d) & (_PERIOD - 1)


def _ticks_diff(a, b):
    return ((a - b + _HALF) & (_PERIOD - 1)) - _HALF


def _sleep_ms(ms):
    time.sleep(ms / 1000)


def install():
    if sys.implementation.name == "micropython":
        return
    if not hasattr(time, "ticks_ms"):
        time.ticks_ms = _ticks_ms
        time.ticks_add = _ticks_add
        time.ticks_diff = _ticks_diff
        time.sleep_ms = _sleep_ms


install()
