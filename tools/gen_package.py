"""Writes package.json (for `mpremote mip install github:<owner>/<repo>`) from the files in lib/.

`--check` exits 1 when package.json is out of date (host_tests keep it in sync).
mip resolves relative URLs against the package.json location, so no host names are needed.
"""
import json
import os
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERSION = "0.1.0"


def build():
    urls = []
    lib = os.path.join(TOP, "lib")
    for root, dirs, files in os.walk(lib):
        dirs.sort()
        for f in sorted(files):
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(root, f), lib).replace(os.sep, "/")
                urls.append([rel, "lib/" + rel])
    urls.sort()
    return {"urls": urls, "deps": [], "version": VERSION}


def text():
    return json.dumps(build(), indent=2) + "\n"


def main(argv):
    path = os.path.join(TOP, "package.json")
    want = text()
    if "--check" in argv:
        try:
            with open(path) as f:
                have = f.read()
        except OSError:
            have = ""
        if have != want:
            print("package.json is out of date: run python tools/gen_package.py")
            return 1
        return 0
    with open(path, "w") as f:
        f.write(want)
    print("wrote package.json with %d files" % len(build()["urls"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
