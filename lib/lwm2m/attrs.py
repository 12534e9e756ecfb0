"""Write-Attributes in force per server and path (pmin, pmax, gt, lt, st), with inheritance."""


class Attrs:
    """Write-Attributes table: (ssid, path tuple) -> {name: value}; read by the reporting layer."""

    def __init__(self):
        self.t = {}

    def get(self, ssid, path):
        return self.t.get((ssid, tuple(path)))

    def set(self, ssid, path, attrs):
        if attrs:
            self.t[(ssid, tuple(path))] = attrs
        else:
            self.t.pop((ssid, tuple(path)), None)

    def effective(self, ssid, path):
        """Attributes in force on path: object, then instance, then resource level override."""
        out = {}
        path = tuple(path)
        for n in range(1, len(path) + 1):
            d = self.t.get((ssid, path[:n]))
            if d:
                out.update(d)
        return out

    def drop(self, ssid=None, path=None):
        """Forget a server's attributes, or everything at and below path."""
        path = tuple(path) if path is not None else None
        for k in list(self.t):
            if (ssid is not None and k[0] == ssid) or (path is not None
                                                       and k[1][:len(path)] == path):
                del self.t[k]
