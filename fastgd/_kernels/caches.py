"""The CPU caches of this machine, read from the operating system.

The memory constants of the kernels (how many bytes of rows a two-thread epoch
trains per chunk, from what size of X a second thread pays) follow from the
caches, not from the host they were first tuned on. Linux reports the caches in
sysfs, macOS through ``sysctl``; where neither answers, the sizes of the hosts
the constants were measured on stand in (:data:`FALLBACK`), and
:func:`cache_sizes` says so.
"""

import functools
import os
import subprocess
import sys
from pathlib import Path

# Both hosts the kernels were measured on (Intel Xeon, AMD EPYC) have these.
FALLBACK = {"l1d": 32 * 1024, "l2": 1024 * 1024, "l3": 32 * 1024 * 1024}
_SYSFS = Path("/sys/devices/system/cpu/cpu0/cache")
_SYSCTL = {"l1d": "hw.l1dcachesize", "l2": "hw.l2cachesize", "l3": "hw.l3cachesize"}
_UNITS = {"K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024}


def _parse_size(text):
    """'1024K' -> 1048576 (sysfs's format)."""
    text = text.strip().upper()
    if text and text[-1] in _UNITS:
        return int(text[:-1]) * _UNITS[text[-1]]
    return int(text)


def _from_sysfs(root=_SYSFS):
    sizes = {}
    for index in sorted(root.glob("index*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = _parse_size((index / "size").read_text())
        except (OSError, ValueError):
            continue
        if kind == "Instruction" or size <= 0:
            continue
        name = "l1d" if level == 1 else f"l{level}"
        sizes.setdefault(name, size)
    return sizes


def _from_sysctl():
    sizes = {}
    for name, key in _SYSCTL.items():
        try:
            out = subprocess.run(["sysctl", "-n", key], capture_output=True,
                                 text=True, timeout=2, check=True).stdout  # fmt: skip
            if int(out) > 0:
                sizes[name] = int(out)
        except (OSError, ValueError, subprocess.SubprocessError):
            continue
    return sizes


@functools.cache
def cache_sizes():
    """({"l1d", "l2", "l3"}: bytes, source) for one core of this machine; a size
    the OS does not report is taken from :data:`FALLBACK` and the source says
    "fallback" for it.

    >>> sizes, source = cache_sizes()
    >>> sizes["l2"] > 0 and isinstance(source, str)
    True
    """
    found = {}
    source = "none"
    if sys.platform.startswith("linux") and _SYSFS.is_dir():
        found, source = _from_sysfs(), "sysfs"
    elif sys.platform == "darwin" and os.path.exists("/usr/sbin/sysctl"):
        found, source = _from_sysctl(), "sysctl"
    missing = sorted(set(FALLBACK) - set(found))
    if missing:
        source += f" (fallback for {', '.join(missing)})"
    return {**FALLBACK, **found}, source
