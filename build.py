"""cffi builder for the loadable module (embedding mode).

The library is a cffi embedded module named ``softhsm_py._native``: native/shim.c holds the PKCS#11
function tables and trampolines, and every forwarded ``C_x`` calls ``py_C_x``, which
softhsm_py/pkcs11/abi/entry.py defines. native/functions.h is the one list of functions; native/pkcs11.h
the one set of types, read by cffi and by the C compiler alike.

``python build.py`` builds the library in place (softhsm_py/_native*.so) for development;
``pip install .`` builds it through setup.py's ``cffi_modules``.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

from cffi import FFI

NATIVE = Path(__file__).resolve().parent / "native"
FORWARDED = re.compile(r"^FWD(?:3|32)?\((\w+), (\(.*?\)), \(")

# Runs inside the embedded interpreter when the library is first used. It finds the package from the
# library's own location (no PYTHONPATH needed), then hands this copy's ffi/lib to the entry layer.
BOOTSTRAP = r"""
import os
import site
import sys

import _cffi_backend  # noqa: F401

def _find_site(library_path):
    d = os.path.dirname(library_path)
    while d and d != os.path.dirname(d):
        if os.path.isfile(os.path.join(d, "softhsm_py", "__init__.py")):
            return d
        d = os.path.dirname(d)
    return None

_native = sys.modules["softhsm_py._native"]
_owns = _native.lib.shim_owns_python()
_site = _find_site(_native.ffi.string(_native.lib.shim_library_path()).decode("utf-8", "surrogateescape"))
if _site and _site not in sys.path:
    if _owns:
        sys.path.insert(0, _site)  # a C host: our environment comes first
    else:
        sys.path.append(_site)  # a Python host: never shadow what the host imports
    site.addsitedir(_site)
import softhsm_py.pkcs11.abi.entry
softhsm_py.pkcs11.abi.entry.bind(_native.ffi, _native.lib)
"""


def forwarded_prototypes() -> str:
    """``CK_RV py_C_x(params);`` for every forwarded function of native/functions.h, and the floor
    (``softhsm_py_floor`` in shim.c: an empty embedded call, for bench/)."""
    lines = ["CK_RV py_softhsm_py_floor(void);"]
    for line in (NATIVE / "functions.h").read_text().splitlines():
        match = FORWARDED.match(line)
        if match:
            name, params = match.groups()
            lines.append(f"CK_RV py_{name}{params};")
    return "\n".join(lines)


def build_prefix() -> str:
    """The building environment as a C string: an in-place build (``python build.py``) runs in it."""
    return '"' + sys.prefix.replace("\\", "\\\\").replace('"', '\\"') + '"'


def libpython_soname() -> str:
    return sysconfig.get_config_var("INSTSONAME") or "libpython3.so"


def libpython_name() -> str:
    """``python3.11`` for ``-lpython3.11``: an embedding library links libpython itself (a plain
    extension module would not, and cffi adds it only in ``ffi.compile``, not under setuptools)."""
    return f"python{sysconfig.get_config_var('LDVERSION') or sysconfig.get_python_version()}"


ffibuilder = FFI()
ffibuilder.cdef((NATIVE / "pkcs11.h").read_text())
ffibuilder.cdef(
    """
    const char *shim_library_path(void);
    void shim_set_ready(void);
    int shim_owns_python(void);
    unsigned long *shim_fork_counter(void);
    """
)
ffibuilder.embedding_api(forwarded_prototypes())
ffibuilder.embedding_init_code(BOOTSTRAP)
ffibuilder.set_source(
    "softhsm_py._native",
    '#include "shim.c"',
    include_dirs=[str(NATIVE)],
    define_macros=[
        ("SOFTHSM_LIBPYTHON", f'"{libpython_soname()}"'),
        ("SOFTHSM_BUILD_PREFIX", build_prefix()),
    ],
    libraries=[libpython_name()],
    library_dirs=[sysconfig.get_config_var("LIBDIR")],
    extra_compile_args=["-fvisibility=hidden", "-Wall", "-Wno-unused-function"],
    # Find our libpython (e.g. pyenv's) even when a C host loads us; bind our own C_* symbols first.
    extra_link_args=[f"-Wl,-rpath,{sysconfig.get_config_var('LIBDIR')}", "-Wl,-Bsymbolic"],
    depends=[str(NATIVE / name) for name in ("shim.c", "pkcs11.h", "functions.h")],
    py_limited_api=False,
)

if __name__ == "__main__":
    # Development build: compile under build/ and place the library where the package expects it.
    import shutil

    root = Path(__file__).resolve().parent
    built = Path(ffibuilder.compile(tmpdir=str(root / "build" / "cffi"), verbose=False))
    target = root / "softhsm_py" / f"_native{sysconfig.get_config_var('EXT_SUFFIX')}"
    shutil.copyfile(built, target)
    print(target)
