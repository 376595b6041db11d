"""A response body made of pieces, the large ones deflated once in advance with their checksums
known, so that its gzip encoding costs a copy rather than compressing and reading it again.

Each piece deflated in advance is a raw DEFLATE stream of its own, flushed to a byte boundary and
not final (zlib's ``Z_SYNC_FLUSH``), referring to nothing before it: such streams laid end to end
are one valid stream (pigz joins its blocks the same way). A gzip body is then the gzip header,
the pieces' streams (runs of small pieces deflated as the body is made, fast), a final empty
block, and the CRC-32 and length of the whole text (RFC 1952): the CRC-32 of a piece whose
checksums are known is combined (``crc``), not computed over its bytes.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from pipeline.server import crc

GZIP_HEADER = bytes([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF])
"""A gzip member's header: DEFLATE, no name, no time, OS unknown."""
LEVEL, LEVEL_NOW = 6, 1
"""zlib's levels for what is deflated once in advance, and for what is deflated as an answer is made."""


def deflated(text: bytes | memoryview, level: int = LEVEL) -> bytes:
    """``text`` as a raw DEFLATE stream that another may follow (flushed to a byte boundary, not final)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH)


FINAL_BLOCK = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS).flush()
"""An empty final block: what ends the stream."""


@dataclass(frozen=True)
class Piece:
    """A part of a body: its text, and that text ``deflated`` where that was done in advance, with
    its ``checksums``: the CRC-32s of a text it ends up to its end and up to its start (``crc.continued``)."""

    text: bytes | memoryview
    deflated: bytes | None = None
    checksums: tuple[int, int] | None = None


class Body:
    """A body as pieces, in order."""

    def __init__(self, pieces: list[Piece]):
        self.pieces = pieces

    def __len__(self) -> int:
        return sum(len(piece.text) for piece in self.pieces)

    def text(self) -> bytes:
        return b"".join(piece.text for piece in self.pieces)

    def gzipped(self) -> bytes:
        """The body gzip-encoded: pieces deflated in advance as they are, runs of the others deflated now."""
        streams, pending, checksum, length = [GZIP_HEADER], [], 0, 0
        for piece in self.pieces:
            if piece.checksums is None:
                checksum = zlib.crc32(piece.text, checksum)
            else:
                checksum = crc.continued(checksum, *piece.checksums, len(piece.text))
            length += len(piece.text)
            if piece.deflated is None:
                pending.append(piece.text)
                continue
            if pending:
                streams.append(deflated(b"".join(pending), LEVEL_NOW))
                pending = []
            streams.append(piece.deflated)
        if pending:
            streams.append(deflated(b"".join(pending), LEVEL_NOW))
        streams += [FINAL_BLOCK, struct.pack("<II", checksum, length & 0xFFFFFFFF)]
        return b"".join(streams)
