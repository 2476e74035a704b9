"""The python_env inquiry: runs INSIDE the target interpreter and prints what the interpreter is and
which distributions that matter are installed, without importing any of them and without running
any file of the target's.

How it is started (`tfgpu.probes.python_env`): `python -S -c SOURCE ARGS` in an empty temporary
working folder.
- `-S`: `site` does not run, so no .pth file and no sitecustomize/usercustomize is executed.
  The inquiry then finds the site-packages folders the way `site` would, as files: pyvenv.cfg is
  read (as site.venv() does), `site.getsitepackages()` / `getusersitepackages()` give the folders
  (importing the `site` module under -S runs nothing: its main() is skipped; distribution patches
  such as Debian's dist-packages are honoured), and each folder's .pth files are read as text: their
  path lines are added as site would add them, their `import` lines are listed, never run.
- not `-E`: PYTHONPATH, PYTHONHOME, PYTHONUSERBASE and PYTHONNOUSERSITE shape the user's sys.path,
  so they count here too (the parent removes the variables that run code: PYTHONSTARTUP,
  PYTHONINSPECT, PYTHONWARNINGS).
- not `-s`: whether the user site-packages counts is read from the user's settings
  (PYTHONNOUSERSITE, pyvenv.cfg), as site would decide it; under -S it is never run anyway.
- not `-I`: it implies -E. The empty working folder does what -I's "no script folder" does: `-c`
  puts the working folder first on sys.path, and there is nothing in it to import.

Arguments: three comma-separated lists of normalised distribution names: the TensorFlow family,
related packages, and those whose Requires-Dist/Provides-Extra/Requires-Python are wanted too
(nvidia-* distributions are always listed); fourth, the user's working folder (where a
tensorflow/ folder would shadow the installed package), looked at, never entered. Output: the
record, as a Python literal (repr: the parent reads it with ast.literal_eval), between two MARKs.

Python 3 of any age: no f-strings, no walrus, standard library only (tests/test_target_pythons.py
runs it under 3.6 and up where those interpreters exist); Python 2 is refused before anything else.
It imports only os, sys and (3.3 and later, where -S keeps it inert) site; it lists dist-info and
egg-info folders and reads only the METADATA headers it needs, each read bounded.
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


#: The most bytes read of one METADATA / PKG-INFO file, and of one .pth file.
META_BYTES = 1024 * 1024
PTH_BYTES = 256 * 1024
#: The most lines and the longest header value kept of one METADATA file.
META_LINES = 20000
VALUE_CHARS = 4096


def read_regular(path, limit):
    """At most `limit` bytes of the regular file `path` (a FIFO or device is never opened, and the
    open does not block); None where it cannot be read."""
    import stat

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (IOError, OSError, ValueError):
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        left = limit
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except (IOError, OSError):
        return None
    finally:
        os.close(fd)


def headers(path):
    out = {"Requires-Dist": [], "Provides-Extra": []}
    data = read_regular(path, META_BYTES)
    if data is None:
        return out
    for n, raw in enumerate(data.split(b"\n")):
        if n >= META_LINES:
            break
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line.strip():
            break
        if ":" not in line or line[:1] in " \t":
            continue
        k, v = line.split(":", 1)
        v = v.strip()[:VALUE_CHARS]
        if k in ("Requires-Dist", "Provides-Extra"):
            out[k].append(v)
        elif k not in out:
            out[k] = v
    return out


def distributions(want, related, full, path):
    dists = []
    seen = set()
    for entry in path:
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
            if len(dists) >= 2000:
                return dists
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


def venv_config():
    """(venv folder, include-system-site-packages) from pyvenv.cfg beside the executable or one
    folder up, as site.venv() finds it; (None, True) outside a venv."""
    exe_dir = os.path.dirname(os.path.abspath(sys.executable or ""))
    site_prefix = os.path.dirname(exe_dir)
    for conf in (os.path.join(exe_dir, "pyvenv.cfg"), os.path.join(site_prefix, "pyvenv.cfg")):
        data = read_regular(conf, 65536)
        if data is None:
            continue
        system_site = True
        for line in data.decode("utf-8", "replace").splitlines():
            if "=" in line:
                key, value = line.split("=", 1)
                if key.strip().lower() == "include-system-site-packages":
                    system_site = value.strip().lower() == "true"
        return site_prefix, system_site
    return None, True


def fallback_sitepackages(prefix):
    if os.sep == "\\":
        return [prefix, os.path.join(prefix, "Lib", "site-packages")]
    return [os.path.join(prefix, "lib", "python%d.%d" % sys.version_info[:2], "site-packages")]


def site_folders():
    """The site-packages folders, in the order site.main() adds them: the venv's, the user's (where
    enabled), the base installation's (where the venv includes them); and whether the user's counts."""
    venv, system_site = venv_config()
    base = [getattr(sys, "base_prefix", sys.prefix), getattr(sys, "base_exec_prefix", sys.exec_prefix)]
    if venv is not None:
        sys.prefix = sys.exec_prefix = venv  # what site.venv() does: getsitepackages() then sees the venv
    site = None
    if sys.version_info >= (3, 3) and sys.flags.no_site:
        try:
            import site  # under -S its main() does not run: nothing is added, nothing executed
        except Exception:
            site = None

    def sitepackages(prefixes):
        if site is not None:
            try:
                return list(site.getsitepackages(prefixes))
            except Exception:
                pass
        out = []
        for p in prefixes:
            out.extend(fallback_sitepackages(p))
        return out

    user_enabled = not sys.flags.no_user_site and system_site
    if user_enabled and hasattr(os, "getuid") and hasattr(os, "geteuid"):
        user_enabled = os.getuid() == os.geteuid() and os.getgid() == os.getegid()
    user = None
    if user_enabled and site is not None:
        try:
            user = site.getusersitepackages()
        except Exception:
            user = None
    folders = []
    if venv is not None:
        folders.extend(sitepackages([venv]))
    if user:
        folders.append(user)
    prefixes = ([venv] if venv is not None else []) + (base if (venv is None or system_site) else [])
    folders.extend(sitepackages(prefixes))
    return venv, folders, bool(user)


def pth_entries(folder, known):
    """What site's addsitedir() would add from `folder`'s .pth files, read as text: (paths added,
    [(file, line)] of import lines, which site would execute and this never does)."""
    added, code = [], []
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".pth") and not n.startswith("."))
    except OSError:
        return added, code
    for name in names[:1000]:
        data = read_regular(os.path.join(folder, name), PTH_BYTES)
        if data is None:
            continue
        for line in data.decode("utf-8", "replace").splitlines()[:1000]:
            if not line or line.startswith("#") or not line.strip():
                continue
            if line.startswith(("import ", "import\t")):
                code.append((name, line[:200]))
                continue
            path = os.path.abspath(os.path.join(folder, line.rstrip()))
            if path not in known and os.path.exists(path):
                known.add(path)
                added.append(path)
    return added, code


def user_sys_path(cwd):
    """sys.path as the user's program would have it at start (less what .pth import lines do): the
    interpreter's own (PYTHONPATH, the standard library), then the site folders and their .pth paths."""
    own = [p for p in sys.path if p and os.path.abspath(p) != cwd]
    venv, folders, _user_site = site_folders()
    known = set(os.path.abspath(p) for p in own)
    path = list(own)
    pth_code = []
    for folder in folders:
        folder = os.path.abspath(folder)
        if folder in known or not os.path.isdir(folder):
            continue
        known.add(folder)
        path.append(folder)
        added, code = pth_entries(folder, known)
        path.extend(added)
        pth_code.extend(code)
    return venv, path, pth_code


def machine():
    try:
        return os.uname().machine  # what platform.machine() answers on POSIX
    except AttributeError:  # Windows
        import platform
        return platform.machine()


def main(argv):
    args = argv + ["", "", "", ""]
    want, related, full = (names(a) for a in args[1:4])
    user_cwd = args[4]
    base_prefix = getattr(sys, "base_prefix", sys.prefix)
    try:
        here = os.getcwd()
    except OSError:
        here = ""
    venv, path, pth_code = user_sys_path(here)
    cwd_tf = os.path.join(user_cwd, "tensorflow") if user_cwd else None
    info = {
        "version": "%d.%d.%d" % tuple(sys.version_info[:3]),
        "implementation": IMPLEMENTATIONS.get(sys.implementation.name, sys.implementation.name),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": base_prefix,
        "platform": sys.platform,
        "machine": machine(),
        "is_venv": venv is not None or base_prefix != sys.prefix,
        "is_conda": os.path.isdir(os.path.join(sys.prefix, "conda-meta")),
        "sys_path": path,
        "pth_code": pth_code[:50],
        "distributions": distributions(want, related, full, path),
        "tensorflow_dirs": [os.path.join(e, "tensorflow") for e in path if os.path.isdir(os.path.join(e, "tensorflow"))],
        "cwd_tensorflow": cwd_tf if cwd_tf and os.path.isdir(cwd_tf) else None,
    }
    sys.stdout.write(MARK + repr(info) + MARK)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
