"""Symbolic dimensions: integer expressions over named sizes such as ``T`` and ``H``.

A :data:`Dim` is a plain ``int`` or a :class:`SymDim`. Shape rules are written
once with ordinary Python arithmetic (``(n - k) // s + 1``) and work on both:
on ints they are ints, on symbols they build a normalised expression::

    >>> T = sym("T")
    >>> str(T - 3 + 1), str((T - 2) // 2 + 1), str((T + 2 - 1) // 2)
    ('T - 2', 'T // 2', '(T + 1) // 2')
    >>> (2 * T) // 2 == T, str(T * 8 // 8), str((T // 2) // 2)
    (True, 'T', 'T // 4')

Normal form. An expression is a sum of products with integer coefficients.
The factors of a product are symbols and *opaque terms* ``X // d`` and
``X % d``. Arithmetic that collapses to a constant returns an ``int``, so a
``SymDim`` is never constant. Division by a positive constant ``c`` is
simplified as far as it is exact for every integer value of the symbols:

* every coefficient of ``X`` is split as ``c * q + r`` with ``0 <= r < c`` and the
  ``q`` parts leave the floor: ``(2*T + 3) // 2 == T + 1``,
  ``(3*T) // 2 == T + T // 2``; ``% c`` keeps only the ``r`` parts;
* a common factor of ``c`` and the remainder cancels: ``(2*T + 2) // 4 == (T + 1) // 2``;
* nested floors merge: ``(X // a + k) // c == (X + k*a) // (a*c)``;
* ``x // 1 == x``, ``x % 1 == 0``, ``x // -c == (-x) // c``.

The remainder convention (``0 <= r < c``) makes the form canonical for the
arithmetic shape rules do, so the same size reached along different paths
compares equal (equality is structural after normalisation, so not every pair
of equal functions is recognised: ``T % 2`` is not ``T - 2 * (T // 2)``). A valid 3-kernel,
stride-2 window on ``T`` gives ``(T - 3) // 2 + 1``, printed in normal form as
``(T + 1) // 2 - 1``; the same value written ``(T - 1) // 2`` is equal to it.
Division by a symbolic dim is exact where one monomial divides every term
(``(T * H) // H == T``; dims are positive) and opaque otherwise.

Comparisons (``<``) and inexact true division (``T / 2``; ``(2 * T) / 2`` is ``T``)
of symbolic dims raise ``TypeError``: whether ``T < 5`` holds is not known at check time. Shape rules
check bounds only on static (``int``) dims and assume symbols are large
enough.

``str`` prints ``.nn`` syntax with minimal parentheses (``T // 2``, ``T + 5``,
``2 * T``, ``(T + 1) // 2 - 1``), so a printed dim can be pasted into a shape
assertion.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "Dim",
    "SymDim",
    "dim_str",
    "floordiv",
    "mod",
    "is_static",
    "is_static_shape",
    "product",
    "substitute",
    "sym",
]

# A monomial is a sorted tuple of atoms (symbol names or opaque terms); the
# empty tuple is the constant monomial. A polynomial maps monomials to nonzero
# integer coefficients.
_Poly = dict


@dataclass(frozen=True, slots=True)
class _Opaque:
    """``num // den`` or ``num % den`` that does not simplify further."""

    op: str  # "//" or "%"
    num: Dim
    den: Dim

    def __str__(self) -> str:
        return f"{_operand_str(self.num, left=True)} {self.op} {_operand_str(self.den)}"


def _atom_key(atom) -> tuple:
    return (0, atom) if isinstance(atom, str) else (1, str(atom))


def _mono_key(mono: tuple) -> tuple:
    return tuple(_atom_key(a) for a in mono)


def _mul_mono(a: tuple, b: tuple) -> tuple:
    return tuple(sorted(a + b, key=_atom_key))


class SymDim:
    """An immutable, normalised symbolic integer expression (see the module docs).

    Build one with :func:`sym` and ordinary arithmetic; never directly.
    """

    __slots__ = ("_terms", "_hash", "_str")

    def __init__(self, terms: tuple[tuple[tuple, int], ...]):
        self._terms = terms
        self._hash = hash(("SymDim", terms))
        self._str: str | None = None

    # -------------------------------------------------------------- inspection

    def is_symbol(self) -> bool:
        """True for a bare symbol such as ``T``."""
        return (
            len(self._terms) == 1
            and self._terms[0][1] == 1
            and len(self._terms[0][0]) == 1
            and isinstance(self._terms[0][0][0], str)
        )

    @property
    def name(self) -> str | None:
        """The symbol's name when :meth:`is_symbol`, else None."""
        return self._terms[0][0][0] if self.is_symbol() else None

    def symbols(self) -> frozenset[str]:
        """Every symbol name that occurs, also inside ``//`` and ``%`` terms."""
        out: set[str] = set()
        for mono, _ in self._terms:
            for atom in mono:
                if isinstance(atom, str):
                    out.add(atom)
                else:
                    for part in (atom.num, atom.den):
                        if isinstance(part, SymDim):
                            out |= part.symbols()
        return frozenset(out)

    # -------------------------------------------------------------- arithmetic

    def __add__(self, other):
        p = _as_poly(other)
        return NotImplemented if p is None else _from_poly(_add(_poly(self), p))

    __radd__ = __add__

    def __sub__(self, other):
        p = _as_poly(other)
        return (
            NotImplemented
            if p is None
            else _from_poly(_add(_poly(self), _scale(p, -1)))
        )

    def __rsub__(self, other):
        p = _as_poly(other)
        return (
            NotImplemented
            if p is None
            else _from_poly(_add(p, _scale(_poly(self), -1)))
        )

    def __mul__(self, other):
        p = _as_poly(other)
        return NotImplemented if p is None else _from_poly(_mul(_poly(self), p))

    __rmul__ = __mul__

    def __neg__(self):
        return _from_poly(_scale(_poly(self), -1))

    def __pos__(self):
        return self

    def __floordiv__(self, other):
        return floordiv(self, other) if _is_dim(other) else NotImplemented

    def __rfloordiv__(self, other):
        return floordiv(other, self) if _is_dim(other) else NotImplemented

    def __mod__(self, other):
        return mod(self, other) if _is_dim(other) else NotImplemented

    def __rmod__(self, other):
        return mod(other, self) if _is_dim(other) else NotImplemented

    def __truediv__(self, other):
        if _is_dim(other) and other != 0 and mod(self, other) == 0:
            return floordiv(self, other)
        raise TypeError(
            f"{self} / {dim_str(other)} is not a whole number of elements; "
            "use // for floor division"
        )

    def __rtruediv__(self, other):
        raise TypeError(
            f"{dim_str(other)} / {self} is not a whole number of elements; "
            "use // for floor division"
        )

    def _compare(self, other):
        raise TypeError(
            f"cannot compare the symbolic dim {self} with {dim_str(other)} "
            "at check time"
        )

    __lt__ = __le__ = __gt__ = __ge__ = _compare

    # -------------------------------------------------------------- identity

    def __eq__(self, other):
        if isinstance(other, SymDim):
            return self._terms == other._terms
        if isinstance(other, int):
            return False  # a SymDim is never constant
        return NotImplemented

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        if self._str is None:
            self._str = _sum_str(self._terms)
        return self._str

    __repr__ = __str__

    def __reduce__(self):
        return (SymDim, (self._terms,))


Dim = int | SymDim
"""A dimension: a known ``int`` or a :class:`SymDim`."""


# ------------------------------------------------------------------ helpers


def sym(name: str) -> SymDim:
    """The symbolic dim named ``name`` (an identifier such as ``T``)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a symbolic dim needs an identifier name; got {name!r}")
    return SymDim((((str(name),), 1),))


def is_static(d: Dim) -> bool:
    """True when ``d`` is a known integer."""
    return isinstance(d, int) and not isinstance(d, bool)


def is_static_shape(shape: Iterable[Dim]) -> bool:
    """True when every dim of ``shape`` is a known integer."""
    return all(is_static(d) for d in shape)


def dim_str(d: Dim) -> str:
    """``d`` in ``.nn`` syntax: ``8``, ``T``, ``(T + 1) // 2``."""
    return str(d)


def product(dims: Iterable[Dim]) -> Dim:
    """The product of ``dims`` (1 for none); symbolic if any factor is."""
    out: Dim = 1
    for d in dims:
        out = out * d
    return out


def substitute(d: Dim, env: Mapping[str, Dim]) -> Dim:
    """Replace the symbols named in ``env`` by their values and re-normalise.

    Values may be ints or dims; symbols not in ``env`` stay symbolic, so a
    partial environment gives a partially evaluated dim.

    >>> T, H = sym("T"), sym("H")
    >>> substitute((T + 1) // 2, {"T": 7})
    4
    >>> str(substitute(T * H, {"H": 3}))
    '3 * T'
    """
    if not isinstance(d, SymDim):
        return d
    total: Dim = 0
    for mono, coeff in d._terms:
        term: Dim = coeff
        for atom in mono:
            if isinstance(atom, str):
                value = env.get(atom)
                term = term * (sym(atom) if value is None else value)
            else:
                num, den = substitute(atom.num, env), substitute(atom.den, env)
                term = term * (floordiv(num, den) if atom.op == "//" else mod(num, den))
        total = total + term
    return total


def floordiv(a: Dim, b: Dim) -> Dim:
    """``a // b`` with the simplifications of the module docs."""
    if not isinstance(a, SymDim) and not isinstance(b, SymDim):
        return a // b
    if isinstance(b, SymDim):
        quotient = _exact_quotient(a, b)
        return quotient if quotient is not None else _atom_dim(_Opaque("//", a, b))
    if b == 0:
        raise ZeroDivisionError("integer division of a dim by zero")
    if b < 0:
        return floordiv(-a, -b)
    if b == 1:
        return a
    whole, rest = _split(_poly(a), b)
    if not rest:
        return _from_poly(whole)
    rest, c = _cancel(rest, b)
    if c == 1:  # cannot happen (coefficients < c), kept for safety
        return _from_poly(_add(whole, rest))
    return _from_poly(whole) + _nested_floor(rest, c)


def mod(a: Dim, b: Dim) -> Dim:
    """``a % b`` with the simplifications of the module docs."""
    if not isinstance(a, SymDim) and not isinstance(b, SymDim):
        return a % b
    if isinstance(b, SymDim):
        return 0 if _exact_quotient(a, b) is not None else _atom_dim(_Opaque("%", a, b))
    if b == 0:
        raise ZeroDivisionError("integer modulo of a dim by zero")
    if b < 0:
        return -mod(-a, -b)
    if b == 1:
        return 0
    _, rest = _split(_poly(a), b)
    if not rest:
        return 0
    g = math.gcd(b, *rest.values())
    rest, c = _scale_down(rest, g), b // g
    value = _from_poly(rest)
    if isinstance(value, int):
        return g * (value % c)
    return g * _atom_dim(_Opaque("%", value, c))


# ------------------------------------------------------------------ polynomials


def _is_dim(x) -> bool:
    return isinstance(x, SymDim) or (isinstance(x, int) and not isinstance(x, bool))


def _poly(d: Dim) -> _Poly:
    if isinstance(d, SymDim):
        return dict(d._terms)
    return {(): d} if d else {}


def _as_poly(x) -> _Poly | None:
    return _poly(x) if _is_dim(x) else None


def _from_poly(p: _Poly) -> Dim:
    terms = [(m, c) for m, c in p.items() if c]
    if not terms:
        return 0
    if len(terms) == 1 and terms[0][0] == ():
        return terms[0][1]
    terms.sort(key=lambda t: (t[0] == (), _mono_key(t[0])))
    return SymDim(tuple(terms))


def _add(a: _Poly, b: _Poly) -> _Poly:
    out = dict(a)
    for m, c in b.items():
        out[m] = out.get(m, 0) + c
    return out


def _scale(p: _Poly, k: int) -> _Poly:
    return {m: c * k for m, c in p.items()}


def _scale_down(p: _Poly, g: int) -> _Poly:
    return {m: c // g for m, c in p.items()}


def _mul(a: _Poly, b: _Poly) -> _Poly:
    out: _Poly = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            m = _mul_mono(ma, mb)
            out[m] = out.get(m, 0) + ca * cb
    return out


def _atom_dim(atom) -> SymDim:
    return SymDim((((atom,), 1),))


def _split(p: _Poly, c: int) -> tuple[_Poly, _Poly]:
    """``p == c * whole + rest`` with every coefficient of ``rest`` in ``[0, c)``."""
    whole, rest = {}, {}
    for m, coeff in p.items():
        q, r = divmod(coeff, c)
        if q:
            whole[m] = q
        if r:
            rest[m] = r
    return whole, rest


def _cancel(rest: _Poly, c: int) -> tuple[_Poly, int]:
    g = math.gcd(c, *rest.values())
    return (_scale_down(rest, g), c // g) if g > 1 else (rest, c)


def _nested_floor(rest: _Poly, c: int) -> Dim:
    """``rest // c`` for a remainder polynomial; merges ``(X // a + k) // c``."""
    const = rest.get((), 0)
    others = [(m, k) for m, k in rest.items() if m != ()]
    if not others:
        return const // c
    if len(others) == 1:
        ((mono, coeff),) = others
        if coeff == 1 and len(mono) == 1 and isinstance(mono[0], _Opaque):
            atom = mono[0]
            if atom.op == "//" and isinstance(atom.den, int):
                return floordiv(atom.num + const * atom.den, atom.den * c)
    return _atom_dim(_Opaque("//", _from_poly(rest), c))


def _exact_quotient(a: Dim, b: SymDim) -> Dim | None:
    """``a / b`` when a single monomial ``b`` divides every term of ``a``, else None."""
    if a == b:
        return 1
    if len(b._terms) != 1:
        return None
    ((bmono, bcoeff),) = b._terms
    out: _Poly = {}
    for mono, coeff in _poly(a).items():
        if coeff % bcoeff:
            return None
        rest = list(mono)
        for atom in bmono:
            if atom not in rest:
                return None
            rest.remove(atom)
        out[tuple(rest)] = coeff // bcoeff
    return _from_poly(out) if out else None


# ------------------------------------------------------------------ printing


def _operand_str(d: Dim, left: bool = False) -> str:
    """An operand of ``//`` or ``%``: parenthesised unless it binds tightly enough."""
    if isinstance(d, int):
        return f"({d})" if d < 0 else str(d)
    if len(d._terms) > 1 or d._terms[0][1] < 0:
        return f"({d})"
    if left:  # the operators are left-associative: `a * b // c` is `(a * b) // c`
        return str(d)
    return str(d) if d.is_symbol() else f"({d})"


def _mono_str(mono: tuple, coeff: int) -> str:
    """A product with a nonnegative coefficient: ``T``, ``2 * T * H``, ``3 * (T // 2)``."""
    factors = [] if coeff == 1 else [str(coeff)]
    several = len(mono) + len(factors) > 1
    for atom in mono:
        text = str(atom)
        factors.append(f"({text})" if several and isinstance(atom, _Opaque) else text)
    return " * ".join(factors) if factors else str(coeff)


def _sum_str(terms: tuple) -> str:
    parts: list[str] = []
    for i, (mono, coeff) in enumerate(terms):
        text = _mono_str(mono, abs(coeff)) if mono else str(abs(coeff))
        if i == 0:
            if coeff < 0:
                bare = (
                    len(mono) == 1 and abs(coeff) == 1 and isinstance(mono[0], _Opaque)
                )
                text = "-" + (f"({text})" if bare else text)
            parts.append(text)
        else:
            parts.append(("- " if coeff < 0 else "+ ") + text)
    return " ".join(parts)
