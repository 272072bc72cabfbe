"""A bind's ``address_range`` as a matcher that cannot backtrack.

SMPP 3.4 §4.1.1 calls ``address_range`` a regular expression, and the simulated carrier
used to hand it to :mod:`re`: ``((((\\d+)+)+)+)+x`` then stalled the event loop for
seconds.  A peer's pattern is untrusted input, so it is parsed here into a safe subset and
checked in time linear in the number (times the pattern's length), whatever the pattern:

- literal characters (digits, letters, ``+``, ``#``, ``-`` ...), ``\\d``, ``.``, and a
  bracket class of literals and ranges (``[0-9]``, ``[1-35]``, ``[^0]``);
- ``*``, ``+``, ``?`` or ``{n}`` / ``{n,m}`` (m at most 21, the longest address) on one of
  those atoms;
- ``^`` at the start and ``$`` at the end (a range always matches the whole number).

Groups, alternation, back-references and quantified quantifiers are refused with a
ValueError naming the construct.  A plain prefix such as ``4477`` matches the number
itself only; many ESMEs mean "numbers starting with": write ``4477\\d*`` or use
:func:`compile_range` with ``prefix=True``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["AddressRange", "compile_range"]

MAX_PATTERN = 41  # address_range is a C-Octet String of at most 41 octets (§4.1.1)
MAX_ADDRESS = 21
_DIGITS = frozenset("0123456789")


class _Atom:
    """One position of the pattern: a set of characters (None: any) and its quantifier."""

    __slots__ = ("chars", "negate", "repeat")

    def __init__(self, chars: frozenset[str] | None, negate: bool = False) -> None:
        self.chars = chars
        self.negate = negate
        self.repeat = False  # True: '*' (zero or more); otherwise exactly one

    def matches(self, c: str) -> bool:
        if self.chars is None:
            return True
        return (c in self.chars) != self.negate


class AddressRange:
    """A compiled range: ``matches(number)`` checks the whole number in linear time."""

    __slots__ = ("_atoms", "pattern")

    def __init__(self, pattern: str, atoms: list[tuple[_Atom, bool]]) -> None:
        self.pattern = pattern
        # (atom, optional): optional atoms may be skipped ('?', '*', the tail of {n,m})
        self._atoms = atoms

    def __repr__(self) -> str:
        return f"AddressRange({self.pattern!r})"

    def _closure(self, states: set[int]) -> set[int]:
        atoms = self._atoms
        todo = list(states)
        while todo:
            i = todo.pop()
            if i < len(atoms) and atoms[i][1] and i + 1 not in states:
                states.add(i + 1)
                todo.append(i + 1)
        return states

    def matches(self, number: str) -> bool:
        """True when the whole of ``number`` is in the range."""
        atoms = self._atoms
        end = len(atoms)
        states = self._closure({0})
        for c in number:
            nxt: set[int] = set()
            for i in states:
                if i < end:
                    atom = atoms[i][0]
                    if atom.matches(c):
                        nxt.add(i if atom.repeat else i + 1)
            if not nxt:
                return False
            states = self._closure(nxt)
        return end in states


def _parse_class(p: str, i: int) -> tuple[_Atom, int]:
    # p[i] == "["; literals and ranges only
    i += 1
    negate = i < len(p) and p[i] == "^"
    if negate:
        i += 1
    chars: set[str] = set()
    first = True
    while i < len(p) and (p[i] != "]" or first):
        c = p[i]
        if c == "\\":
            if p[i + 1 : i + 2] != "d":
                raise ValueError(f"address_range: unsupported escape in class at {i}")
            chars |= _DIGITS
            i += 2
        elif i + 2 < len(p) and p[i + 1] == "-" and p[i + 2] != "]":
            lo, hi = c, p[i + 2]
            if ord(hi) - ord(lo) > 255 or hi < lo:
                raise ValueError(f"address_range: bad class range {lo}-{hi}")
            chars.update(chr(k) for k in range(ord(lo), ord(hi) + 1))
            i += 3
        else:
            chars.add(c)
            i += 1
        first = False
    if i >= len(p):
        raise ValueError("address_range: '[' without ']'")
    return _Atom(frozenset(chars), negate), i + 1


def _parse_count(p: str, i: int) -> tuple[int, int, int]:
    # p[i] == "{": {n} or {n,m}
    close = p.find("}", i)
    if close < 0:
        raise ValueError("address_range: '{' without '}'")
    body = p[i + 1 : close]
    lo_s, sep, hi_s = body.partition(",")
    if not lo_s.isdigit() or (sep and not hi_s.isdigit()):
        raise ValueError(f"address_range: bad repeat count {{{body}}}")
    lo = int(lo_s)
    hi = int(hi_s) if sep else lo
    if hi < lo or hi > MAX_ADDRESS:
        raise ValueError(f"address_range: repeat count {{{body}}} outside 0..{MAX_ADDRESS}")
    return lo, hi, close + 1


def compile_range(pattern: str, *, prefix: bool = False) -> AddressRange:
    """Parse ``pattern`` (the safe subset in the module docstring).  ``prefix=True`` lets it
    match the start of a number (as if it ended with ``.*``).  ValueError names what is
    refused."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"address_range: longer than {MAX_PATTERN} characters")
    p = pattern
    if p.startswith("^"):
        p = p[1:]
    if p.endswith("$") and not p.endswith("\\$"):
        p = p[:-1]
    atoms: list[tuple[_Atom, bool]] = []
    i = 0
    while i < len(p):
        c = p[i]
        if c in "()|":
            raise ValueError(f"address_range: groups and alternation are not supported ({c!r})")
        if c in "*+?{":
            raise ValueError(f"address_range: {c!r} at {i} has nothing to repeat")
        if c in "^$":
            raise ValueError(f"address_range: {c!r} only at the start or the end")
        if c == "[":
            atom, i = _parse_class(p, i)
        elif c == "\\":
            esc = p[i + 1 : i + 2]
            if esc == "d":
                atom = _Atom(_DIGITS)
            elif esc and not esc.isalnum():
                atom = _Atom(frozenset(esc))  # an escaped symbol: itself
            else:
                raise ValueError(f"address_range: unsupported escape \\{esc}")
            i += 2
        elif c == ".":
            atom, i = _Atom(None), i + 1
        else:
            atom, i = _Atom(frozenset(c)), i + 1
        q = p[i : i + 1]
        if q == "*":
            atom.repeat = True
            atoms.append((atom, True))
            i += 1
        elif q == "+":
            atoms.append((atom, False))
            star = _Atom(atom.chars, atom.negate)
            star.repeat = True
            atoms.append((star, True))
            i += 1
        elif q == "?":
            atoms.append((atom, True))
            i += 1
        elif q == "{":
            lo, hi, i = _parse_count(p, i)
            atoms.extend((atom, False) for _ in range(lo))
            atoms.extend((atom, True) for _ in range(hi - lo))
        else:
            atoms.append((atom, False))
        if p[i : i + 1] in ("*", "+", "?", "{"):
            raise ValueError(f"address_range: a repeat of a repeat at {i} is not supported")
    if prefix:
        tail = _Atom(None)
        tail.repeat = True
        atoms.append((tail, True))
    return AddressRange(pattern, atoms)


def starts_with_any(number: str, prefixes: Sequence[str]) -> bool:
    """True when ``number`` (a leading ``+`` ignored on both sides) starts with a prefix."""
    n = number.lstrip("+")
    return any(n.startswith(pfx.lstrip("+")) for pfx in prefixes)
