"""The rings hold: core modules import no I/O, no event loop and no clock.

Core (DESIGN.md "Rings"): engine/_core.pyx with its .pxi/.pxd files, engine/pdu/,
engine/session/, engine/scheduler/, engine/text.py, engine/receipts.py,
engine/reassembly.py, engine/errors.py, engine/lifecycle.py, engine/numbers.py,
engine/config.py, engine/model.py and engine/twilio/.  They must not import asyncio, socket,
time, aiohttp, threading or selectors (time is an argument), and may import from the engine
only other core modules (imports point inward).  Python files are parsed with ``ast``;
Cython files are checked line by line on their import/cimport lines.  Parts that do not
exist yet are skipped; _core.pyx and engine/pdu/ must be there.

The rings also hold at run time: importing a core module in a fresh interpreter loads none
of asyncio, socket, ssl, sqlite3, threading, selectors or aiohttp (the package face,
engine/__init__.py, is lazy), checked in a subprocess per module.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "engine"
FORBIDDEN = {"asyncio", "socket", "time", "aiohttp", "threading", "selectors"}
FORBIDDEN_C = {"libc.time", "posix.time"}  # Cython's clock: time is an argument here too
CORE_DIRS = ("pdu", "session", "scheduler", "twilio")
CORE_FILES = (
    "text.py",
    "receipts.py",
    "reassembly.py",
    "errors.py",
    "model.py",
    "lifecycle.py",
    "numbers.py",
    "config.py",
)
CORE_MODULES = {
    "_core",
    "errors",
    "model",
    "text",
    "receipts",
    "reassembly",
    "lifecycle",
    "numbers",
    "config",
    *CORE_DIRS,
}

_CY_FROM = re.compile(r"^\s*from\s+([\w.]+)\s+c?import\s+(.+)$")
_CY_IMPORT = re.compile(r"^\s*c?import\s+(.+)$")
_DYNAMIC = re.compile(r"(?:__import__|import_module)\(\s*['\"]([\w.]+)['\"]")


def core_files() -> list[Path]:
    """Every core source file that exists now."""
    files: list[Path] = []
    files += sorted(ENGINE.glob("_core*.pyx"))
    files += sorted(ENGINE.glob("*.pxi"))
    files += sorted(ENGINE.glob("*.pxd"))
    for name in CORE_FILES:
        if (ENGINE / name).is_file():
            files.append(ENGINE / name)
    for d in CORE_DIRS:
        if (ENGINE / d).is_dir():
            for pattern in ("*.py", "*.pyx", "*.pxi", "*.pxd"):
                files += sorted((ENGINE / d).rglob(pattern))
    return files


def _package_of(path: Path) -> list[str]:
    """The dotted package a file lives in, e.g. ['engine', 'session']."""
    rel = path.relative_to(ENGINE.parent).with_suffix("")
    parts = list(rel.parts)
    return parts[:-1]


def _resolve(path: Path, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    package = _package_of(path)
    base = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join([*base, *([module] if module else [])])


def imported_modules(path: Path, source: str) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in ``source``."""
    found: list[tuple[int, str]] = []
    if path.suffix == ".py":
        tree = ast.parse(source, filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(node.lineno, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(path, node.module, node.level)
                found.append((node.lineno, base))
                # `from engine import aio` imports the submodule engine.aio.
                found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    else:
        for lineno, line in enumerate(source.splitlines(), 1):
            code = line.split("#", 1)[0]
            if m := _CY_FROM.match(code):
                found.append((lineno, m.group(1)))
                names = m.group(2).strip("() ")
                found += [
                    (lineno, f"{m.group(1)}.{n.split(' as ')[0].strip()}")
                    for n in names.split(",")
                    if n.strip()
                ]
            elif m := _CY_IMPORT.match(code):
                for item in m.group(1).split(","):
                    name = item.split(" as ")[0].strip()
                    if name:
                        found.append((lineno, name))
    for lineno, line in enumerate(source.splitlines(), 1):
        found += [(lineno, m.group(1)) for m in _DYNAMIC.finditer(line)]
    return found


def violations(path: Path, source: str) -> list[str]:
    """Why ``source`` (at ``path``) breaks the rings; empty when it does not."""
    bad: list[str] = []
    for lineno, module in imported_modules(path, source):
        top = module.split(".")[0]
        if top in FORBIDDEN or any(module == c or module.startswith(c + ".") for c in FORBIDDEN_C):
            bad.append(f"{path.name}:{lineno} imports {module}")
        elif top == "engine":
            parts = module.split(".")
            if len(parts) == 1:
                continue  # the package itself, reached through a submodule import
            sub = parts[1]
            is_module = (ENGINE / f"{sub}.py").exists() or (ENGINE / sub).is_dir()
            if sub not in CORE_MODULES and (is_module or len(parts) > 2):
                bad.append(f"{path.name}:{lineno} imports non-core {module}")
            elif sub not in CORE_MODULES and not is_module:
                # `from engine import X` with X a public name: that is the package face,
                # which pulls in the I/O rings.
                bad.append(f"{path.name}:{lineno} imports {module} from the package face")
    return bad


def test_core_modules_import_no_io() -> None:
    files = core_files()
    names = {p.relative_to(ENGINE).as_posix() for p in files}
    assert "_core.pyx" in names
    assert any(n.startswith("pdu/") for n in names), names
    problems: list[str] = []
    for path in files:
        problems += violations(path, path.read_text(encoding="utf-8"))
    assert problems == []


@pytest.mark.parametrize(
    "name,source",
    [
        ("x.py", "import asyncio\n"),
        ("x.py", "import os, socket\n"),
        ("x.py", "from time import monotonic\n"),
        ("x.py", "import time as _t\n"),
        ("x.py", "def f():\n    import threading\n"),
        ("x.py", "from selectors import DefaultSelector\n"),
        ("x.py", "import aiohttp.web\n"),
        ("x.py", "import importlib\nclock = importlib.import_module('time')\n"),
        ("x.py", "from engine import aio\n"),
        ("x.py", "from engine.aio.client import Client\n"),
        ("x.pxi", "import time\n"),
        ("x.pxi", "from libc.time cimport time\n"),
        ("x.pyx", "from posix.time cimport clock_gettime\n"),
        ("x.pxi", "cimport cython\nimport asyncio, os\n"),
        ("x.pyx", "from asyncio import get_event_loop\n"),
        ("x.pyx", "    from socket import socket  # in a function\n"),
    ],
)
def test_the_checker_catches(name: str, source: str) -> None:
    assert violations(ENGINE / name, source) != []


@pytest.mark.parametrize(
    "name,source",
    [
        ("x.py", "import os\nfrom engine.errors import DecodeError\n"),
        ("x.py", "from engine.pdu.constants import Tag\nimport struct\n"),
        ("x.py", "from __future__ import annotations\nfrom typing import Any\n"),
        ("x.pxi", "from libc.string cimport memcpy\nfrom engine.errors import EncodeError\n"),
        ("x.pxi", "# import time would be wrong\ncimport cython\n"),
        ("x.py", '"""Time is an argument; asyncio lives elsewhere."""\nimport enum\n'),
    ],
)
def test_the_checker_allows(name: str, source: str) -> None:
    assert violations(ENGINE / name, source) == []


def test_session_relative_imports_resolve() -> None:
    path = ENGINE / "session" / "machine.py"
    assert _resolve(path, "errors", 2) == "engine.errors"
    assert _resolve(path, None, 1) == "engine.session"
    assert violations(path, "from ..aio import client\n") != []
    assert violations(path, "from ..errors import SessionError\n") == []


# -- at run time ----------------------------------------------------------------------

RUNTIME_FORBIDDEN = ("asyncio", "socket", "ssl", "sqlite3", "threading", "selectors", "aiohttp")
RUNTIME_CORE = [
    "engine",
    "engine.errors",
    "engine.pdu",
    "engine.pdu.constants",
    "engine.session",
    "engine.session.flow",
    "engine.scheduler",
    "engine.text",
    "engine.receipts",
    "engine.reassembly",
    "engine.lifecycle",
    "engine.twilio",
]

_PROBE = """
import json, sys
before = set(sys.modules)
import importlib
importlib.import_module(sys.argv[1])
new = set(sys.modules) - before
print(json.dumps(sorted(m for m in new if m.split(".")[0] in sys.argv[2].split(","))))
"""


def loaded_by(module: str) -> list[str]:
    """The forbidden modules that importing ``module`` loads in a fresh interpreter (those
    the interpreter itself loaded before, e.g. through a site hook, do not count)."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, module, ",".join(RUNTIME_FORBIDDEN)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ENGINE.parent,
    )
    assert out.returncode == 0, out.stderr
    loaded: list[str] = json.loads(out.stdout)
    return loaded


@pytest.mark.parametrize("module", RUNTIME_CORE)
def test_importing_a_core_module_loads_no_io(module: str) -> None:
    assert loaded_by(module) == []


def test_the_runtime_probe_sees_io() -> None:
    # the probe itself can fail: the asyncio client loads asyncio, the store sqlite3
    assert "asyncio" in loaded_by("engine.aio.client")
    assert "sqlite3" in loaded_by("engine.store.sqlite")


def test_the_package_face_is_lazy_and_complete() -> None:
    import engine

    assert sorted(engine.__all__) == sorted(set(engine.__all__))
    assert set(engine.__all__) <= set(dir(engine))
    for name in engine.__all__:
        assert getattr(engine, name) is not None, name
    with pytest.raises(AttributeError, match="no_such_name"):
        engine.no_such_name  # noqa: B018
