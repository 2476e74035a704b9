"""The python_env inquiry: runs INSIDE the target interpreter (its source is passed with -c, not
isolated, so that sys.path is the user's: PYTHONPATH, user site-packages, .pth files) and prints
what the interpreter is and which distributions that matter are installed, without importing any.

Arguments: three comma-separated lists of normalised distribution names: the TensorFlow family,
related packages, and those whose Requires-Dist/Provides-Extra/Requires-Python are wanted too
(nvidia-* distributions are always listed). Output: the record, as a Python literal (repr: the
parent reads it with ast.literal_eval), between two MARK strings.

Python 3 of any age: no f-strings, no walrus, standard library only (tests/test_target_pythons.py
runs it under 3.6 and up where those interpreters exist); Python 2 is refused before anything else.
It imports only os and sys (json, re and platform cost a third of its run): it lists dist-info and
egg-info folders on sys.path and reads only the METADATA headers it needs.
"""

import os
import sys

MARK = "@@TFGPU-ENV@@"
IMPLEMENTATIONS = {"cpython": "CPython", "pypy": "PyPy", "ironpython": "IronPython", "jython": "Jython"}

if sys.version_info[0] < 3:
    sys.stderr.write("tfgpu: this is Python %s; the target must be Python 3\n" % sys.version.split()[0])
    sys.exit(3)


def names(arg):
    return set(n for n in arg.split(",") if n)


def norm(name):
    """PEP 503: runs of -, _ and . become one -, lower case."""
    out = []
    for ch in name.lower():
        if ch in "-_.":
            if not out or out[-1] != "-":
                out.append("-")
        else:
            out.append(ch)
    return "".join(out)


def headers(path):
    out = {"Requires-Dist": [], "Provides-Extra": []}
    try:
        fh = open(path, "rb")
    except (IOError, OSError):
        return out
    try:
        for raw in fh:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line.strip():
                break
            if ":" not in line or line[:1] in " \t":
                continue
            k, v = line.split(":", 1)
            v = v.strip()
            if k in ("Requires-Dist", "Provides-Extra"):
                out[k].append(v)
            elif k not in out:
                out[k] = v
    finally:
        fh.close()
    return out


def distributions(want, related, full):
    dists = []
    seen = set()
    for entry in sys.path:
        if not entry or not os.path.isdir(entry):
            continue
        try:
            listing = os.listdir(entry)
        except OSError:
            continue
        for name in sorted(listing):
            if name.endswith(".dist-info"):
                meta = "METADATA"
            elif name.endswith(".egg-info"):
                meta = "PKG-INFO"
            else:
                continue
            base = name.rsplit(".", 1)[0]
            dname = norm(base.split("-")[0])
            if not (dname in want or dname in related or dname.startswith("nvidia-")):
                continue
            folder = os.path.join(entry, name)
            mpath = os.path.join(folder, meta) if os.path.isdir(folder) else folder
            h = headers(mpath)
            real = norm(h.get("Name", dname) or dname)
            key = (real, entry)
            if key in seen:
                continue
            seen.add(key)
            rec = {"name": real, "version": h.get("Version", ""), "location": entry, "metadata_dir": folder}
            if real in full:
                rec["requires_python"] = h.get("Requires-Python")
                rec["requires_dist"] = h["Requires-Dist"]
                rec["provides_extra"] = h["Provides-Extra"]
            dists.append(rec)
    return dists


def machine():
    try:
        return os.uname().machine  # what platform.machine() answers on POSIX
    except AttributeError:  # Windows
        import platform
        return platform.machine()


def main(argv):
    want, related, full = (names(a) for a in (argv + ["", "", ""])[1:4])
    base_prefix = getattr(sys, "base_prefix", sys.prefix)
    cwd_tf = os.path.join(os.getcwd(), "tensorflow")
    info = {
        "version": "%d.%d.%d" % tuple(sys.version_info[:3]),
        "implementation": IMPLEMENTATIONS.get(sys.implementation.name, sys.implementation.name),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": base_prefix,
        "platform": sys.platform,
        "machine": machine(),
        "is_venv": base_prefix != sys.prefix,
        "is_conda": os.path.isdir(os.path.join(sys.prefix, "conda-meta")),
        "sys_path": [p for p in sys.path if p],
        "distributions": distributions(want, related, full),
        "tensorflow_dirs": [os.path.join(e, "tensorflow") for e in sys.path if e and os.path.isdir(os.path.join(e, "tensorflow"))],
        "cwd_tensorflow": cwd_tf if os.path.isdir(cwd_tf) else None,
    }
    sys.stdout.write(MARK + repr(info) + MARK)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
