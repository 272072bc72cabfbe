"""Write the SMPP 3.4 tables from their single source, ``tools/smpp_tables.py``.

Each output file holds blocks between two marker lines::

    # BEGIN GENERATED: <block> (tools/gen_tables.py; edit tools/smpp_tables.py)
    ...
    # END GENERATED: <block>

and this script replaces what lies between them; everything else in the file is left as it
is.  Blocks:

- ``engine/pdu/constants.py``: ``enums`` (CommandId, CommandStatus, Tag);
- ``engine/_pdu.pxi``: ``statuses`` (the codec's command_status constants), ``commands``
  (one C constant per command_id, used by the PDU classes), ``tlv_table``
  (``_TLV_TABLE``), ``tlv_properties`` (one property of ``Pdu`` per TLV) and ``factory``
  (``_new_pdu``, the decoder's command_id switch, and ``PDU_CLASSES``);
- ``engine/_core.pyi``: ``tlv_attributes`` (the TLV attributes of ``Pdu``).

Usage::

    python tools/gen_tables.py          # rewrite the blocks, then rebuild the core
    python tools/gen_tables.py --check  # exit 1 (listing the files) if a block is stale

``tests/test_codec_tables.py`` runs :func:`generate` in memory and compares.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
TABLES = ROOT / "tools" / "smpp_tables.py"

_BEGIN = "# BEGIN GENERATED: {name} (tools/gen_tables.py; edit tools/smpp_tables.py)"
_END = "# END GENERATED: {name}"

# TLV kinds of the table -> the codec's C constant and the stub's Python type.
_KIND_CONST = {
    "u8": "TLV_U8",
    "u16": "TLV_U16",
    "u32": "TLV_U32",
    "cstr": "TLV_CSTR",
    "octets": "TLV_OCTETS",
    "flag": "TLV_FLAG",
}
_KIND_TYPE = {
    "u8": "int",
    "u16": "int",
    "u32": "int",
    "cstr": "str",
    "octets": "bytes",
    "flag": "bool",
}

# The decoder tests command_ids in this order first (the traffic of a busy bind), then the
# rest in table order.
_HOT = ("submit_sm", "submit_sm_resp", "deliver_sm", "deliver_sm_resp", "enquire_link")


def load_tables(path: Path = TABLES) -> ModuleType:
    """Import the table module from its path (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("smpp_tables", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _validate(module)
    return module


def _validate(t: ModuleType) -> None:
    """Refuse a table that would generate wrong code: duplicates, bad kinds, bad ranges."""
    names = [c[0] for c in t.COMMANDS]
    ids = [c[1] for c in t.COMMANDS]
    if len(set(names)) != len(names) or len(set(ids)) != len(ids):
        raise ValueError("COMMANDS: duplicate name or command_id")
    for name, cid, cls in t.COMMANDS:
        if not re.fullmatch(r"[a-z_]+", name) or not re.fullmatch(r"[A-Z]\w*", cls):
            raise ValueError(f"COMMANDS: bad name {name!r} or class {cls!r}")
        if not 0 <= cid <= 0xFFFFFFFF:
            raise ValueError(f"COMMANDS: {name} id out of range")
    if len({s[0] for s in t.STATUSES}) != len(t.STATUSES):
        raise ValueError("STATUSES: duplicate name")
    for name, value in t.STATUSES:
        if not re.fullmatch(r"ESME_R\w+", name) or not 0 <= value <= 0xFFFFFFFF:
            raise ValueError(f"STATUSES: bad entry {name!r}")
    tags = [x[0] for x in t.TLVS]
    if len(set(tags)) != len(tags) or len({x[1] for x in t.TLVS}) != len(tags):
        raise ValueError("TLVS: duplicate tag or name")
    for tag, name, kind, size in t.TLVS:
        if kind not in _KIND_CONST or not 0 <= tag <= 0xFFFF or not 0 <= size <= 0xFFFF:
            raise ValueError(f"TLVS: bad entry {name!r}")
        if (kind == "flag") != (size == 0):
            raise ValueError(f"TLVS: {name}: a flag and only a flag has size 0")


# ---- the blocks ----------------------------------------------------------------------------


def _enums(t: ModuleType) -> list[str]:
    out = [
        "class CommandId(IntEnum):",
        '    """command_id values (SMPP 3.4 §5.1.2.1).  A response is its request | 0x80000000."""',
        "",
    ]
    out += [f"    {name.upper()} = 0x{cid:08X}" for name, cid, _cls in t.COMMANDS]
    out += [
        "",
        "",
        "class CommandStatus(IntEnum):",
        '    """command_status error codes (SMPP 3.4 §5.1.3)."""',
        "",
    ]
    out += [f"    {name} = 0x{value:08X}" for name, value in t.STATUSES]
    out += [
        "",
        "",
        "class Tag(IntEnum):",
        '    """TLV tags defined by SMPP 3.4 (§5.3.2).  Names are the spec\'s parameter names."""',
        "",
    ]
    out += [f"    {name} = 0x{tag:04X}" for tag, name, _kind, _size in t.TLVS]
    return [*out, "", ""]  # two blank lines before the END marker, as ruff format wants


def _statuses(t: ModuleType) -> list[str]:
    out = ["# command_status values (SMPP 3.4 §5.1.3), for the codec's errors.", "cdef enum:"]
    out += [f"    {name} = 0x{value:02X}" for name, value in t.STATUSES]
    return out


def _commands(t: ModuleType) -> list[str]:
    out = ["# command_id of each PDU (SMPP 3.4 §5.1.2.1), for the classes' command_id and _cid()."]
    out += [f"cdef uint32_t CMD_{name.upper()} = 0x{cid:08X}" for name, cid, _cls in t.COMMANDS]
    return out


def _tlv_table(t: ModuleType) -> list[str]:
    out = [
        "# (tag, spec name, kind, maximum encoded length) for every TLV of SMPP 3.4 §5.3.2.",
        "_TLV_TABLE = (",
    ]
    out += [
        f'    (0x{tag:04X}, "{name}", {_KIND_CONST[kind]}, {size}),'
        for tag, name, kind, size in t.TLVS
    ]
    out.append(")")
    return out


def _tlv_properties(t: ModuleType) -> list[str]:
    out = ["# TLV properties (SMPP 3.4 §5.3.2), one per tag of _TLV_TABLE."]
    for tag, name, _kind, _size in t.TLVS:
        out += [
            f"property {name}:",
            f'    """TLV {name} (0x{tag:04X}), SMPP 3.4 §5.3.2; None when absent."""',
            "",
            "    def __get__(self):",
            f"        return self._get_tlv(0x{tag:04X})",
            "",
            "    def __set__(self, value):",
            f"        self._put_tlv(0x{tag:04X}, value)",
            "",
        ]
    return out[:-1]


def _factory(t: ModuleType) -> list[str]:
    by_name = {c[0]: c for c in t.COMMANDS}
    order = [by_name[n] for n in _HOT if n in by_name]
    order += [c for c in t.COMMANDS if c[0] not in _HOT]
    out = [
        "cdef Pdu _new_pdu(uint32_t command_id):",
        "    # A C switch on the command_id, then tp_new without __init__; None if unknown.",
    ]
    for i, (name, cid, cls) in enumerate(order):
        keyword = "if" if i == 0 else "elif"
        out += [
            f"    {keyword} command_id == 0x{cid:08X}:  # {name}",
            f"        return {cls}.__new__({cls})",
        ]
    out += [
        "    return None",
        "",
        "",
        "PDU_CLASSES = {",
        "    cls.command_id: cls",
        "    for cls in (",
    ]
    out += [f"        {cls}," for _name, _cid, cls in t.COMMANDS]
    out += ["    )", "}"]
    return out


def _tlv_attributes(t: ModuleType) -> list[str]:
    out = ["# TLVs of SMPP 3.4 §5.3.2"]
    out += [f"{name}: {_KIND_TYPE[kind]} | None" for _tag, name, kind, _size in t.TLVS]
    return out


Block = Callable[[ModuleType], list[str]]

OUTPUTS: dict[str, tuple[tuple[str, Block], ...]] = {
    "engine/pdu/constants.py": (("enums", _enums),),
    "engine/_pdu.pxi": (
        ("statuses", _statuses),
        ("commands", _commands),
        ("tlv_table", _tlv_table),
        ("tlv_properties", _tlv_properties),
        ("factory", _factory),
    ),
    "engine/_core.pyi": (("tlv_attributes", _tlv_attributes),),
}


def _replace_block(text: str, name: str, lines: Sequence[str], where: str) -> str:
    """``text`` with the lines between the markers of block ``name`` replaced by ``lines``."""
    begin = re.compile(r"^([ \t]*)" + re.escape(_BEGIN.format(name=name)) + r"$", re.M)
    found = list(begin.finditer(text))
    if len(found) != 1:
        raise ValueError(f"{where}: {len(found)} BEGIN markers for block {name!r}, want 1")
    indent = found[0].group(1)
    end = re.compile(r"^" + re.escape(indent + _END.format(name=name)) + r"$", re.M)
    stop = end.search(text, found[0].end())
    if stop is None:
        raise ValueError(f"{where}: no END marker for block {name!r}")
    body = "".join((indent + line).rstrip() + "\n" for line in lines)
    return text[: found[0].end()] + "\n" + body + text[stop.start() :]


def generate(root: Path = ROOT, tables: ModuleType | None = None) -> dict[Path, str]:
    """The new text of every output file (nothing is written)."""
    t = tables if tables is not None else load_tables()
    out: dict[Path, str] = {}
    for rel, blocks in OUTPUTS.items():
        path = root / rel
        text = path.read_text(encoding="utf-8")
        for name, block in blocks:
            text = _replace_block(text, name, block(t), rel)
        out[path] = text
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generate().items():
        if path.read_text(encoding="utf-8") != text:
            stale.append(path)
            if not args.check:
                path.write_text(text, encoding="utf-8")
    for path in stale:
        verb = "stale" if args.check else "rewrote"
        print(f"{verb}: {path.relative_to(ROOT)}")
    if stale and not args.check:
        print("now rebuild the core: python setup.py build_ext --inplace")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
