"""LwM2M Connectivity Monitoring object (4): bearer, signal strength and addresses."""
DEF = (4, None, False, False, (  # Connectivity Monitoring
    (0, None, "R", False, True, "i"),  # Network Bearer
    (1, None, "R", True, True, "i"),  # Available Network Bearer
    (2, None, "R", False, True, "i"),  # Radio Signal Strength
    (3, None, "R", False, False, "i"),  # Link Quality
    (4, None, "R", True, True, "s"),  # IP Addresses
    (5, None, "R", True, False, "s"),  # Router IP Addresses
))

WLAN = 21
ETHERNET = 41


def make(registry, platform=None, bearer=WLAN):
    """Object 4 instance 0, values from platform.rssi() and platform.ifconfig() when given."""
    o = registry.add(DEF)
    o.deletable = False  # board-backed: a bootstrap Delete "/" wipes accounts, not the radio
    o.add(0, {0: bearer, 1: {0: bearer}, 2: 0, 4: {0: "0.0.0.0"}})
    if platform is not None:
        if hasattr(platform, "rssi"):
            o.bind(0, 2, get=lambda: platform.rssi() or 0)
        if hasattr(platform, "ifconfig"):
            o.bind(0, 4, get=lambda: {0: platform.ifconfig()[0]})
            o.bind(0, 5, get=lambda: {0: platform.ifconfig()[2]})
    return o
