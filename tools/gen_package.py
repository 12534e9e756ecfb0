"""Writes package.json (for `mpremote mip install github:<owner>/<repo>`) from the files in lib/.

`--check` exits 1 when package.json is out of date (host_tests keep it in sync).
mip resolves relative URLs against the package.json location, so no host names are needed.
"""
import json
import os
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERSION = "0.1.0"


def _lib_files(from_git):
    if from_git:  # only what is committed (for a commit made while other files are in progress)
        import subprocess
        out = subprocess.run(["git", "ls-files", "lib"], cwd=TOP, capture_output=True, text=True)
        return [p[4:] for p in out.stdout.split() if p.endswith(".py")]
    lib = os.path.join(TOP, "lib")
    out = []
    for root, _dirs, files in os.walk(lib):
        for f in files:
            if f.endswith(".py"):
                out.append(os.path.relpath(os.path.join(root, f), lib).replace(os.sep, "/"))
    return out


def build(from_git=False):
    urls = [[rel, "lib/" + rel] for rel in _lib_files(from_git)]
    urls.sort()
    return {"urls": urls, "deps": [], "version": VERSION}


def text(from_git=False):
    return json.dumps(build(from_git), indent=2) + "\n"


def main(argv):
    path = os.path.join(TOP, "package.json")
    want = text("--from-git" in argv)
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
    print("wrote package.json with %d files" % want.count('"lib/'))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
