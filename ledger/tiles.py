"""C2SP tlog-tiles coordinates and entry bundles (https://c2sp.org/tlog-tiles).

A hash tile at level ``L``, index ``N`` holds the hashes of tree level ``8 * L`` with indices
``256 * N`` to ``256 * N + W - 1``, concatenated (32 bytes each). A full tile has ``W = 256``
and path ``tile/<L>/<N>``; a partial one ``tile/<L>/<N>.p/<W>``. ``<N>`` is written in groups
of three digits, every group but the last prefixed with ``x`` (``1234067`` -> ``x001/x234/067``).
An entry bundle ``tile/entries/<N>[.p/<W>]`` holds entries ``256 * N`` onwards, each as a
big-endian uint16 length followed by that many bytes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from ledger.canonical import MAX_ENTRY_BYTES
from ledger.errors import MalformedInput

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
ENTRIES = -1
"""The ``level`` of an entry bundle in a :class:`TileId`."""
MAX_LEVEL = 63
"""C2SP tlog-tiles: a hash tile's level is 0 to 63."""


@dataclass(frozen=True, order=True)
class TileId:
    """One tile: ``level`` (or :data:`ENTRIES`), ``index`` and ``width`` (1..256)."""

    level: int
    index: int
    width: int = TILE_WIDTH

    @property
    def is_partial(self) -> bool:
        return self.width < TILE_WIDTH


def encode_index(index: int) -> str:
    """The ``<N>`` path element: three-digit groups, all but the last prefixed with ``x``."""
    if index < 0:
        raise MalformedInput(f"tile index {index} is negative")
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if index == 0:
            break
    groups.reverse()
    return "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])


def tile_path(tile: TileId) -> str:
    """The tlog-tiles path of ``tile`` (inverse of :func:`parse_tile_path`)."""
    if not 1 <= tile.width <= TILE_WIDTH:
        raise MalformedInput(f"tile width {tile.width} is outside 1..{TILE_WIDTH}")
    if not ENTRIES <= tile.level <= MAX_LEVEL:
        raise MalformedInput(f"tile level {tile.level} is outside 0..{MAX_LEVEL}")
    level = "entries" if tile.level == ENTRIES else str(tile.level)
    path = f"tile/{level}/{encode_index(tile.index)}"
    if tile.is_partial:
        path += f".p/{tile.width}"
    return path


_PATH_RE = re.compile(
    r"tile/(?P<level>entries|0|[1-9][0-9]{0,2})/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})"
    r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


def parse_tile_path(path: str) -> TileId:
    """Parse a tlog-tiles path, refusing every non-canonical spelling."""
    m = _PATH_RE.fullmatch(path)
    if m is None:
        raise MalformedInput(f"malformed tile path {path!r}")
    groups = m.group("index").split("/")
    if len(groups) > 1 and groups[0] == "x000":
        raise MalformedInput(f"malformed tile path {path!r}: leading zero group")
    index = int("".join(g.lstrip("x") for g in groups))
    width = TILE_WIDTH
    if m.group("width"):
        width = int(m.group("width"))
        if width >= TILE_WIDTH:
            raise MalformedInput(f"malformed tile path {path!r}: partial width {width} >= 256")
    level = ENTRIES if m.group("level") == "entries" else int(m.group("level"))
    if level > MAX_LEVEL:
        raise MalformedInput(f"malformed tile path {path!r}: level {level} > {MAX_LEVEL}")
    return TileId(level, index, width)


def tiles_for_size(size: int) -> Iterator[TileId]:
    """Every hash tile and entry bundle of a tree of ``size`` leaves, lowest level first."""
    yield from _row(ENTRIES, size)
    level = 0
    while size >> (TILE_HEIGHT * level):
        yield from _row(level, size >> (TILE_HEIGHT * level))
        level += 1


def _row(level: int, count: int) -> Iterator[TileId]:
    full, rest = divmod(count, TILE_WIDTH)
    for n in range(full):
        yield TileId(level, n)
    if rest:
        yield TileId(level, full, rest)


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """tlog-tiles entry bundle: each entry as a big-endian uint16 length and its bytes."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise MalformedInput(f"an entry bundle holds 1..256 entries, not {len(entries)}")
    out = bytearray()
    for e in entries:
        if len(e) > MAX_ENTRY_BYTES:
            raise MalformedInput(f"entry of {len(e)} bytes does not fit a bundle")
        out += len(e).to_bytes(2, "big")
        out += e
    return bytes(out)


def decode_entry_bundle(data: bytes) -> list[bytes]:
    """Inverse of :func:`encode_entry_bundle`; refuses empty, truncated or trailing bytes."""
    if not data:
        raise MalformedInput("entry bundle is empty (tlog-tiles never serves an empty tile)")
    entries: list[bytes] = []
    pos = 0
    data = bytes(data)  # slices of bytes are bytes
    end = len(data)
    while pos < end:
        if pos + 2 > end:
            raise MalformedInput(f"entry bundle truncated in a length prefix at byte {pos}")
        n = data[pos] << 8 | data[pos + 1]
        pos += 2
        if pos + n > end:
            raise MalformedInput(f"entry bundle truncated: entry {len(entries)} wants {n} bytes")
        entries.append(data[pos : pos + n])
        pos += n
    if len(entries) > TILE_WIDTH:
        raise MalformedInput(f"entry bundle holds {len(entries)} entries, more than 256")
    return entries


def encode_hash_tile(hashes: Sequence[bytes]) -> bytes:
    """A hash tile: the hashes concatenated."""
    if not 1 <= len(hashes) <= TILE_WIDTH:
        raise MalformedInput(f"a hash tile holds 1..256 hashes, not {len(hashes)}")
    return b"".join(hashes)


def decode_hash_tile(data: bytes, width: int) -> list[bytes]:
    """Split a hash tile of ``width`` hashes; refuses any other length."""
    if len(data) != 32 * width:
        raise MalformedInput(f"hash tile is {len(data)} bytes, want {32 * width}")
    return [data[i : i + 32] for i in range(0, len(data), 32)]


class TileFetcher(Protocol):
    """Returns the hashes of one hash tile (level >= 0) of some stored or exported log."""

    def read_tile(self, tile: TileId) -> list[bytes]: ...


class TileHashReader:
    """A :class:`ledger.merkle.HashReader` over the hash tiles of a tree of ``size`` leaves.

    A node at tree level ``l`` is folded from the hashes at level ``8 * (l // 8)``, which are
    one tile row; so any node costs at most one or two tile reads, and a proof or root at
    most ``2 * ceil(log256(size))`` tiles. Tiles are cached per reader.

    ``node_cache``, shared between readers of one growing log, keeps the nodes of level 8 and
    up once computed: a complete subtree never changes as the log grows, and there is one such
    node per 256 entries, so a proof server stops re-reading and re-folding the upper tiles.
    """

    def __init__(
        self,
        fetcher: TileFetcher,
        size: int,
        node_cache: dict[tuple[int, int], bytes] | None = None,
    ) -> None:
        self._fetcher = fetcher
        self._size = size
        self._cache: dict[TileId, list[bytes]] = {}
        self._nodes = node_cache
        # Nodes this reader has folded from its cached tiles: proofs of nearby entries share
        # most of their siblings, and each would otherwise fold up to 255 hashes again.
        self._folded: dict[tuple[int, int], bytes] = {}

    def _tile_for(self, tile_level: int, index: int) -> TileId:
        count = self._size >> (TILE_HEIGHT * tile_level)
        n = index // TILE_WIDTH
        if index >= count:
            raise MalformedInput(
                f"hash {index} at tile level {tile_level} is beyond tree size {self._size}"
            )
        width = min(TILE_WIDTH, count - n * TILE_WIDTH)
        return TileId(tile_level, n, width)

    def _tile_hashes(self, tile: TileId) -> list[bytes]:
        hashes = self._cache.get(tile)
        if hashes is None:
            hashes = self._fetcher.read_tile(tile)
            if len(hashes) != tile.width:
                raise MalformedInput(
                    f"{tile_path(tile)} holds {len(hashes)} hashes, want {tile.width}"
                )
            self._cache[tile] = hashes
        return hashes

    def _hash_at(self, tile_level: int, index: int) -> bytes:
        return self._tile_hashes(self._tile_for(tile_level, index))[index % TILE_WIDTH]

    def read_nodes(self, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        if self._nodes is None:
            return self._read_nodes(nodes)
        out = []
        for node in nodes:
            cached = self._nodes.get(node)
            if cached is None:
                cached = self._read_nodes([node])[0]
                if node[0] >= TILE_HEIGHT:
                    if len(self._nodes) >= _NODE_CACHE_MAX:
                        self._nodes.clear()
                    self._nodes[node] = cached
            out.append(cached)
        return out

    def _read_nodes(self, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        out = []
        for level, index in nodes:
            tile_level, rest = divmod(level, TILE_HEIGHT)
            span = 1 << rest
            first = index * span
            if level < 0 or index < 0:  # never asked by the proofs: hash by hash
                row = [self._hash_at(tile_level, i) for i in range(first, first + span)]
                out.append(_fold_perfect(row))
                continue
            # The node's 2**rest hashes are aligned, so they lie in one tile: read it once
            # (refusing exactly what reading them one by one would refuse, in the same order).
            tile = self._tile_for(tile_level, first)
            hashes = self._tile_hashes(tile)
            end = first + span
            if end > self._size >> (TILE_HEIGHT * tile_level):
                self._tile_for(tile_level, self._size >> (TILE_HEIGHT * tile_level))  # raises
            folded = self._folded.get((level, index))
            if folded is None:
                offset = first - tile.index * TILE_WIDTH
                folded = self._folded[level, index] = _fold_perfect(hashes[offset : offset + span])
            out.append(folded)
        return out


_NODE_CACHE_MAX = 1 << 20  # 32 MiB of hashes: one node per 256 entries of a 2**28-entry log


def _fold_perfect(row: list[bytes]) -> bytes:
    """Root of a perfect subtree from its 2**k bottom hashes.

    The same as folding with :func:`ledger.merkle.node_hash` (SHA-256 of 0x01, left, right),
    inlined: a proof folds a few hundred hashes.
    """
    sha256 = hashlib.sha256
    while len(row) > 1:
        row = [sha256(b"\x01" + row[i] + row[i + 1]).digest() for i in range(0, len(row), 2)]
    return row[0]
