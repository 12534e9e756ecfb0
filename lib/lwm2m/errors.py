"""LwM2M errors: one base class; each carries the CoAP response code a dispatcher answers with."""


class LwM2MError(Exception):
    code = 0xA0  # 5.00 Internal Server Error (a driver fault)


class BadRequest(LwM2MError):
    code = 0x80  # 4.00


class CodecError(BadRequest):
    """Malformed payload for its content format (TLV, text, JSON, link)."""


class Unauthorized(LwM2MError):
    code = 0x81  # 4.01


class NotFound(LwM2MError):
    code = 0x84  # 4.04


class MethodNotAllowed(LwM2MError):
    code = 0x85  # 4.05


class NotAcceptable(LwM2MError):
    code = 0x86  # 4.06


class Incomplete(LwM2MError):
    code = 0x88  # 4.08


class TooLarge(LwM2MError):
    code = 0x8D  # 4.13


class UnsupportedFormat(LwM2MError):
    code = 0x8F  # 4.15
