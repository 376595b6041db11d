"""CRC-32 (gzip's, zlib's ``crc32``) of joined texts from the CRC-32s of their parts, without their bytes.

CRC-32 is linear over GF(2): the checksum of A then B is the checksum of A carried past len(B) zero
bytes (a multiplication by x^(8·len(B)) modulo the polynomial) XOR the checksum of B. That is
zlib's ``crc32_combine``, which Python's ``zlib`` does not offer; the arithmetic here is the same
(``multmodp`` and ``x2nmodp`` of zlib's crc32.c), a few dozen integer operations per combination.
"""

from __future__ import annotations

POLY = 0xEDB88320
"""The CRC-32 polynomial, bit-reversed, as zlib writes it."""


def _times(a: int, b: int) -> int:
    """a(x)·b(x) modulo the polynomial (both bit-reversed, as CRC-32 holds them)."""
    m, product = 1 << 31, 0
    while True:
        if a & m:
            product ^= b
            if not a & (m - 1):
                return product
        m >>= 1
        b = (b >> 1) ^ POLY if b & 1 else b >> 1


def _byte_powers() -> list[list[int]]:
    """x^(8·v·256^j) modulo the polynomial, for each byte v = 0..255 of a length's byte j = 0..3:
    a length's shift is then at most four products."""
    tables = []
    step = 1 << 23  # x^8: one byte
    for _ in range(4):
        table = [1 << 31]  # x^0
        for _ in range(255):
            table.append(_times(table[-1], step))
        tables.append(table)
        step = _times(table[-1], step)  # x^(8·256^(j+1))
    return tables


_BYTE_POWERS = _byte_powers()


def shift(length: int) -> int:
    """x^(8·length) modulo the polynomial: what carries a checksum past ``length`` bytes (< 4 GiB)."""
    power = 1 << 31
    for table in _BYTE_POWERS:
        if length & 0xFF:
            power = _times(table[length & 0xFF], power)
        length >>= 8
    return power


def continued(running: int, whole: int, prefix: int, length: int) -> int:
    """The CRC-32 of T then B, from T's (``running``), that of A then B (``whole``), A's (``prefix``)
    and B's length: a slice B of a text A·B whose checksums at its ends are known, appended to T."""
    return _times(shift(length), running ^ prefix) ^ whole
