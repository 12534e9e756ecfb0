"""LwM2M Connectivity Monitoring object (4): bearer, signal strength and addresses."""
DEF = (4, "Connectivity Monitoring", False, False, (
    (0, "Network Bearer", "R", False, True, "i"),
    (1, "Available Network Bearer", "R", True, True, "i"),
    (2, "Radio Signal Strength", "R", False, True, "i"),
    (3, "Link Quality", "R", False, False, "i"),
    (4, "IP Addresses", "R", True, True, "s"),
    (5, "Router IP Addresses", "R", True, False, "s"),
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
