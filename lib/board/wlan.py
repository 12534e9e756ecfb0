"""Wi-Fi station bring-up shared by the ESP32 and Pico W platforms (imports network lazily)."""
import time


def wifi_connect(ssid, password, timeout_ms=15000, retries=3, log=print):
    """Connect the STA interface, retrying with a growing pause; returns the WLAN or None."""
    import network

    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if wlan.isconnected():
        return wlan
    pause = 1000
    for attempt in range(1, retries + 1):
        log("wifi: connecting to %r (attempt %d/%d)" % (ssid, attempt, retries))
        try:
            wlan.connect(ssid, password)
        except OSError as e:
            log("wifi: connect error %r" % (e,))
        start = time.ticks_ms()
        while not wlan.isconnected():
            if time.ticks_diff(time.ticks_ms(), start) > timeout_ms:
                break
            time.sleep_ms(100)
        if wlan.isconnected():
            log("wifi: up, ifconfig %r" % (wlan.ifconfig(),))
            return wlan
        log("wifi: attempt %d failed, status %r" % (attempt, wlan.status()))
        try:
            wlan.disconnect()
        except OSError:
            pass
        time.sleep_ms(pause)
        pause = min(pause * 2, 30000)
    return None


def rssi(wlan):
    try:
        return wlan.status("rssi")
    except (OSError, ValueError, AttributeError):
        return None
