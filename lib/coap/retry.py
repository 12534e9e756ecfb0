"""Randomness and retry back-off shared by the CoAP and LwM2M state machines."""


def urandom_int(n):
    """Uniform-enough int in [0, n) from os.urandom (the default rand of every state machine)."""
    import os

    return int.from_bytes(os.urandom(4), "big") % n


def backoff_ms(failures, base_ms, cap_ms, rand):
    """Delay after `failures` consecutive failures: base * 2**(failures-1), capped, then +-25%
    jitter so a fleet that lost its server does not come back in lock step."""
    d = base_ms
    for _ in range(failures - 1):
        d *= 2
        if d >= cap_ms:
            d = cap_ms
            break
    return d * (750 + rand(501)) // 1000
