"""CoAP numbers the tests use that coap.msg no longer names (each public name costs heap on a
board), and code_str/describe, debugging aids that left coap.msg for the same reason."""

# message types (CON is coap.msg.CON)
NON = 1
ACK = 2
RST = 3
# codes
EMPTY = 0
VALID = 0x43  # 2.03
CONTINUE = 0x5F  # 2.31
BAD_OPTION = 0x82  # 4.02
REQUEST_ENTITY_INCOMPLETE = 0x88  # 4.08
REQUEST_ENTITY_TOO_LARGE = 0x8D  # 4.13
UNSUPPORTED_CONTENT_FORMAT = 0x8F  # 4.15
SERVICE_UNAVAILABLE = 0xA3  # 5.03
# options
BLOCK2 = 23
SIZE2 = 28
SIZE1 = 60


def code_str(code):
    """0x45 -> "2.05"."""
    return "%d.%02d" % (code >> 5, code & 31)


def describe(m):
    """One line for a coap.msg.Message: type, code, MID, token, path, query, payload size."""
    return "<%s %s mid=%d tok=%s %s %r %dB>" % (
        ("CON", "NON", "ACK", "RST")[m.type], code_str(m.code), m.mid,
        bytes(m.token).hex(), "/".join(m.path()), m.query(), len(m.payload))
