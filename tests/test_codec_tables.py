"""The SMPP 3.4 tables have one source (tools/smpp_tables.py) and the files generated from it
are up to date (issue 11, "one source for the SMPP tables").

If a test here fails after an edit of the table: ``python tools/gen_tables.py`` and
``python setup.py build_ext --inplace``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import engine
import engine._core as core
from engine.pdu import CommandId, CommandStatus, Tag

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


GEN = _load("gen_tables")
TABLES = GEN.load_tables()

# Kind codes of the compiled table (_pdu.pxi's TLV_* constants).
_KIND_CODES = {"u8": 1, "u16": 2, "u32": 4, "cstr": 5, "octets": 6, "flag": 7}


def test_regenerating_changes_nothing() -> None:
    generated = GEN.generate()
    assert set(generated) == {ROOT / rel for rel in GEN.OUTPUTS}
    for path, text in generated.items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(ROOT)} is stale: run python tools/gen_tables.py and rebuild"
        )


def test_check_mode_reports_nothing_stale(capsys: pytest.CaptureFixture[str]) -> None:
    assert GEN.main(["--check"]) == 0
    assert capsys.readouterr().out == ""


def test_enums_are_the_table() -> None:
    assert [(m.name.lower(), m.value) for m in CommandId] == [c[:2] for c in TABLES.COMMANDS]
    assert [(m.name, m.value) for m in CommandStatus] == list(TABLES.STATUSES)
    assert [(m.value, m.name) for m in Tag] == [(t[0], t[1]) for t in TABLES.TLVS]


def test_compiled_core_is_built_from_the_table() -> None:
    # The .so must be rebuilt after generation: the compiled tables show whether it was.
    compiled: Any = core
    expected = tuple((tag, name, _KIND_CODES[kind], size) for tag, name, kind, size in TABLES.TLVS)
    assert expected == compiled._TLV_TABLE
    names = {t[0]: t[1] for t in TABLES.TLVS}
    assert names == compiled.TLV_NAMES
    assert set(engine.PDU_CLASSES) == {c[1] for c in TABLES.COMMANDS}
    for name, cid, cls_name in TABLES.COMMANDS:
        cls: Any = engine.PDU_CLASSES[cid]
        assert cls.__name__ == cls_name
        assert getattr(engine, cls_name) is cls
        assert (cls.command_id, cls.command_name) == (cid, name)
        # The decoder's factory switch and the encoder's _cid() agree with the table.
        pdu = engine.decode(engine.encode(cls()))
        assert type(pdu) is cls
        assert int.from_bytes(engine.encode(pdu)[4:8], "big") == cid


_SAMPLE = {"u8": 7, "u16": 513, "u32": 70000, "cstr": "ab", "octets": b"\x01", "flag": True}


@pytest.mark.parametrize(("tag", "name", "kind", "size"), TABLES.TLVS, ids=lambda x: str(x))
def test_every_tlv_property(tag: int, name: str, kind: str, size: int) -> None:
    submit: Any = engine.SubmitSm
    pdu: Any = submit(**{name: _SAMPLE[kind]})
    assert getattr(pdu, name) == _SAMPLE[kind]
    assert pdu.tlvs == [(tag, _SAMPLE[kind])]
    back: Any = engine.decode(engine.encode(pdu))
    assert getattr(back, name) == _SAMPLE[kind]
    setattr(back, name, None)
    assert back.tlvs == []


def test_stub_declares_every_tlv() -> None:
    stub = (ROOT / "engine" / "_core.pyi").read_text(encoding="utf-8")
    types = {"u8": "int", "u16": "int", "u32": "int", "cstr": "str", "octets": "bytes"}
    for _tag, name, kind, _size in TABLES.TLVS:
        assert f"    {name}: {types.get(kind, 'bool')} | None\n" in stub


def _table(**changes: Any) -> ModuleType:
    module = ModuleType("smpp_tables_test")
    for name in ("COMMANDS", "STATUSES", "TLVS"):
        setattr(module, name, changes.get(name, getattr(TABLES, name)))
    return module


@pytest.mark.parametrize(
    "changes",
    [
        {"TLVS": (*TABLES.TLVS, (0x0005, "again", "u8", 1))},
        {"TLVS": (*TABLES.TLVS, (0x7000, "odd", "float", 8))},
        {"TLVS": (*TABLES.TLVS, (0x7000, "flagish", "flag", 1))},
        {"COMMANDS": (*TABLES.COMMANDS, ("submit_sm", 0x44, "Again"))},
        {"STATUSES": (*TABLES.STATUSES, ("NOT_A_STATUS", 0x99))},
    ],
)
def test_generator_refuses_a_bad_table(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        GEN._validate(_table(**changes))


def test_generator_rewrites_only_its_blocks(tmp_path: Path) -> None:
    for rel in GEN.OUTPUTS:
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((ROOT / rel).read_text(encoding="utf-8"), encoding="utf-8")
    same = GEN.generate(tmp_path, TABLES)
    assert list(same.values()) == [(ROOT / rel).read_text(encoding="utf-8") for rel in GEN.OUTPUTS]
    # A new TLV reaches every output, and nothing outside the blocks changes.
    grown = GEN.generate(tmp_path, _table(TLVS=(*TABLES.TLVS, (0x1400, "vendor_x", "u16", 2))))
    pxi = grown[tmp_path / "engine" / "_pdu.pxi"]
    assert '(0x1400, "vendor_x", TLV_U16, 2),' in pxi
    assert "    property vendor_x:\n" in pxi
    assert "    vendor_x = 0x1400\n" in grown[tmp_path / "engine" / "pdu" / "constants.py"]
    assert "    vendor_x: int | None\n" in grown[tmp_path / "engine" / "_core.pyi"]
    for path, text in grown.items():
        assert len(text.splitlines()) > len(same[path].splitlines())


def test_generator_refuses_missing_markers(tmp_path: Path) -> None:
    for rel in GEN.OUTPUTS:
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((ROOT / rel).read_text(encoding="utf-8"), encoding="utf-8")
    pxi = tmp_path / "engine" / "_pdu.pxi"
    pxi.write_text(pxi.read_text().replace("# END GENERATED: factory\n", ""))
    with pytest.raises(ValueError, match="no END marker for block 'factory'"):
        GEN.generate(tmp_path, TABLES)
