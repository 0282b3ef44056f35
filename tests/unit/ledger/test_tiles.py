"""C2SP tlog-tiles (https://c2sp.org/tlog-tiles): paths, the tiles of a tree, bundles, reading.

``tiles_for_size`` is checked against a transliteration of Go's ``tlog.NewTiles``
(golang.org/x/mod/sumdb/tlog/tile.go), whose outputs for the sizes below were also confirmed by
running Go. Go lists every intermediate width of a partial tile (the tiles a log wrote while
growing); a tree of one size needs only the widest, which is what ``tiles_for_size`` yields.
Go also spells paths with a height (``tile/8/0/...``) and ``data`` for entries; C2SP has no
height and says ``entries``, so only the coordinates are compared.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import cache

import pytest

from ledger.canonical import MAX_ENTRY_BYTES
from ledger.errors import MalformedInput
from ledger.merkle import (
    Node,
    consistency_proof,
    inclusion_proof,
    range_nodes,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from ledger.tiles import (
    ENTRIES,
    TILE_HEIGHT,
    TILE_WIDTH,
    TileHashReader,
    TileId,
    decode_entry_bundle,
    decode_hash_tile,
    encode_entry_bundle,
    encode_hash_tile,
    encode_index,
    parse_tile_path,
    tile_path,
    tiles_for_size,
)


def exact(message: str) -> str:
    return f"^{re.escape(message)}$"


# --- paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "text"),
    [
        (0, "000"),
        (5, "005"),
        (999, "999"),
        (1000, "x001/000"),
        (1001, "x001/001"),
        (1234067, "x001/x234/067"),
        (1000000, "x001/x000/000"),
        (2**63 - 1, "x009/x223/x372/x036/x854/x775/807"),
    ],
)
def test_encode_index(index: int, text: str) -> None:
    assert encode_index(index) == text


def test_encode_index_refuses_negative() -> None:
    with pytest.raises(MalformedInput, match=exact("tile index -1 is negative")):
        encode_index(-1)


TILES = [
    (TileId(0, 0), "tile/0/000"),
    (TileId(0, 1234067), "tile/0/x001/x234/067"),
    (TileId(0, 1234067, 255), "tile/0/x001/x234/067.p/255"),
    (TileId(1, 0, 1), "tile/1/000.p/1"),
    (TileId(2, 999, 17), "tile/2/999.p/17"),
    (TileId(63, 1000), "tile/63/x001/000"),
    (TileId(ENTRIES, 0), "tile/entries/000"),
    (TileId(ENTRIES, 5, 1), "tile/entries/005.p/1"),
    (TileId(ENTRIES, 1000, 128), "tile/entries/x001/000.p/128"),
]


@pytest.mark.parametrize(("tile", "path"), TILES)
def test_tile_path(tile: TileId, path: str) -> None:
    assert tile_path(tile) == path


@pytest.mark.parametrize(
    ("tile", "path"),
    [pytest.param(tile, path, id=path) for tile, path in TILES],
)
def test_parse_tile_path(tile: TileId, path: str) -> None:
    assert parse_tile_path(path) == tile


def test_tile_id() -> None:
    assert TileId(0, 3).width == TILE_WIDTH == 1 << TILE_HEIGHT == 256
    assert not TileId(0, 3).is_partial
    assert TileId(0, 3, 255).is_partial
    assert sorted([TileId(1, 0), TileId(0, 1), TileId(ENTRIES, 7)])[0] == TileId(ENTRIES, 7)


@pytest.mark.parametrize(
    ("tile", "message"),
    [
        (TileId(0, 0, 0), "tile width 0 is outside 1..256"),
        (TileId(0, 0, 257), "tile width 257 is outside 1..256"),
        (TileId(-2, 0), "tile level -2 is outside 0..63"),
        (TileId(0, -1), "tile index -1 is negative"),
    ],
)
def test_tile_path_refuses(tile: TileId, message: str) -> None:
    with pytest.raises(MalformedInput, match=exact(message)):
        tile_path(tile)


NON_CANONICAL = [
    "",
    "tile",
    "tile/0",
    "tile/0/",
    "tile/0/0",  # index groups are three digits
    "tile/0/00",
    "tile/0/0000",
    "tile/0/1000",
    "tile/0/x000/001",  # leading zero group
    "tile/0/x000/x001/000",
    "tile/0/001/000",  # all but the last group carry an x
    "tile/0/x001",  # ... and the last does not
    "tile/0/x001/x000",
    "tile/0/X001/000",
    "tile/0/xx01/000",
    "tile/0/x01/000",
    "tile/0/x0001/000",
    "tile/0/00a",
    "tile/0/+01",
    "tile/0/-01",
    "tile/0/ 01",
    "tile/0/\u0660\u0660\u0660",  # ARABIC-INDIC DIGIT ZERO: a Unicode digit, not ASCII
    "tile/00/000",  # no leading zeroes in the level
    "tile/01/000",
    "tile/-1/000",
    "tile/+1/000",
    "tile/1000/000",
    "tile/data/000",  # Go's sumdb name for entries
    "tile/Entries/000",
    "tile/entries",
    "tile/8/0/000",  # Go's sumdb spelling, with a height
    "tile/0/000.p/256",  # a full tile has no .p
    "tile/0/000.p/0",
    "tile/0/000.p/01",
    "tile/0/000.p/",
    "tile/0/000.p",
    "tile/0/000.p/1000",
    "tile/0/000.p/-1",
    "tile/0/000.P/5",
    "tile/0/000.p/5/",
    "tile/0/000.p/5.p/5",
    "tile/entries/000.p/256",
    "/tile/0/000",
    "./tile/0/000",
    "tile//0/000",
    "tile/0//000",
    "tile/0/000/",
    "tile/0/000\n",
    " tile/0/000",
    "tile\\0\\000",
    "TILE/0/000",
    "tile/0/x001/000.p/5x",
]


@pytest.mark.parametrize("path", NON_CANONICAL)
def test_parse_tile_path_refuses_non_canonical(path: str) -> None:
    with pytest.raises(MalformedInput, match=r"^malformed tile path "):
        parse_tile_path(path)


def test_parse_tile_path_messages() -> None:
    with pytest.raises(MalformedInput, match=exact("malformed tile path 'tile/0/0'")):
        parse_tile_path("tile/0/0")
    with pytest.raises(
        MalformedInput, match=exact("malformed tile path 'tile/0/x000/001': leading zero group")
    ):
        parse_tile_path("tile/0/x000/001")
    with pytest.raises(
        MalformedInput,
        match=exact("malformed tile path 'tile/0/000.p/256': partial width 256 >= 256"),
    ):
        parse_tile_path("tile/0/000.p/256")


@pytest.mark.parametrize("path", ["tile/64/000.p/1", "tile/999/x001/000.p/7"])
def test_parse_tile_path_refuses_levels_above_63(path: str) -> None:
    with pytest.raises(MalformedInput, match=r"^malformed tile path "):
        parse_tile_path(path)


def test_tile_path_refuses_levels_above_63() -> None:
    with pytest.raises(MalformedInput, match=r"^tile level 64 "):
        tile_path(TileId(64, 0, 1))


# --- the tiles of a tree, against Go's tlog.NewTiles ------------------------------------------


def go_new_tiles(h: int, old_size: int, new_size: int) -> list[tuple[int, int, int]]:
    """Go's ``tlog.NewTiles(h, oldTreeSize, newTreeSize)`` as ``(L, N, W)``, line by line."""
    tiles = []
    level = 0
    while new_size >> (h * level) > 0:
        old_n = old_size >> (h * level)
        new_n = new_size >> (h * level)
        for n in range(old_n >> h, new_n >> h):
            tiles.append((level, n, 1 << h))
        n = new_n >> h
        max_w = new_n - (n << h)
        min_w = old_n - (n << h) if old_n > n << h else 1
        for w in range(min_w, max_w + 1):
            tiles.append((level, n, w))
        level += 1
    return tiles


def widest(tiles: Sequence[tuple[int, int, int]]) -> list[TileId]:
    """Go's tiles, keeping only the widest of each ``(L, N)``: the tiles of the final tree."""
    width: dict[tuple[int, int], int] = {}
    for level, n, w in tiles:
        width[level, n] = max(w, width.get((level, n), 0))
    return [TileId(level, n, w) for (level, n), w in width.items()]


def full(level: int, count: int) -> list[TileId]:
    return [TileId(level, n) for n in range(count)]


#: size -> (every tile tiles_for_size yields, how many tiles Go's NewTiles(8, 0, size) lists)
GO_SIZES: dict[int, tuple[list[TileId], int]] = {
    0: ([], 0),
    1: ([TileId(ENTRIES, 0, 1), TileId(0, 0, 1)], 1),
    255: ([TileId(ENTRIES, 0, 255), TileId(0, 0, 255)], 255),
    256: ([TileId(ENTRIES, 0), TileId(0, 0), TileId(1, 0, 1)], 2),
    257: (
        [
            TileId(ENTRIES, 0),
            TileId(ENTRIES, 1, 1),
            TileId(0, 0),
            TileId(0, 1, 1),
            TileId(1, 0, 1),
        ],
        3,
    ),
    65535: (
        [
            *full(ENTRIES, 255),
            TileId(ENTRIES, 255, 255),
            *full(0, 255),
            TileId(0, 255, 255),
            TileId(1, 0, 255),
        ],
        765,
    ),
    65536: ([*full(ENTRIES, 256), *full(0, 256), TileId(1, 0), TileId(2, 0, 1)], 258),
    65537: (
        [
            *full(ENTRIES, 256),
            TileId(ENTRIES, 256, 1),
            *full(0, 256),
            TileId(0, 256, 1),
            TileId(1, 0),
            TileId(2, 0, 1),
        ],
        259,
    ),
}


@pytest.mark.parametrize("size", sorted(GO_SIZES))
def test_tiles_for_size_matches_go_new_tiles(size: int) -> None:
    want, go_count = GO_SIZES[size]
    got = list(tiles_for_size(size))
    assert got == want
    go = go_new_tiles(TILE_HEIGHT, 0, size)
    assert len(go) == go_count
    hash_tiles = [t for t in got if t.level != ENTRIES]
    assert hash_tiles == widest(go)
    # Entry bundles mirror the level-0 tiles.
    bundles = [t for t in got if t.level == ENTRIES]
    assert [(t.index, t.width) for t in bundles] == [
        (t.index, t.width) for t in hash_tiles if t.level == 0
    ]


def test_tiles_for_size_agrees_with_go_on_many_sizes() -> None:
    for size in [*range(0, 300), 511, 512, 513, 4095, 4096, 4097, 70_000, 131_073]:
        got = [t for t in tiles_for_size(size) if t.level != ENTRIES]
        assert got == widest(go_new_tiles(TILE_HEIGHT, 0, size)), size


def test_tiles_for_size_the_c2sp_example() -> None:
    """tlog-tiles: "a tree of size 70,000 will be represented by 273 full level 0 tiles, one
    partial level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of width
    17, and one partial level 2 tile of width 1"."""
    got = [t for t in tiles_for_size(70_000) if t.level != ENTRIES]
    want = [*full(0, 273), TileId(0, 273, 112), TileId(1, 0), TileId(1, 1, 17), TileId(2, 0, 1)]
    assert got == want


# --- entry bundles and hash tiles -------------------------------------------------------------


def test_entry_bundle_encoding() -> None:
    assert encode_entry_bundle([b""]) == b"\x00\x00"
    assert encode_entry_bundle([b"ab", b"c"]) == b"\x00\x02ab\x00\x01c"
    big = b"x" * MAX_ENTRY_BYTES
    assert encode_entry_bundle([big]) == b"\xff\xff" + big
    entries = [bytes([i]) * (i % 7) for i in range(256)]
    assert decode_entry_bundle(encode_entry_bundle(entries)) == entries
    assert decode_entry_bundle(b"\x00\x02ab\x00\x01c") == [b"ab", b"c"]
    assert decode_entry_bundle(b"\xff\xff" + big) == [big]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], "an entry bundle holds 1..256 entries, not 0"),
        ([b""] * 257, "an entry bundle holds 1..256 entries, not 257"),
        ([b"a", b"x" * 65_536], "entry of 65536 bytes does not fit a bundle"),
    ],
)
def test_encode_entry_bundle_refuses(entries: list[bytes], message: str) -> None:
    with pytest.raises(MalformedInput, match=exact(message)):
        encode_entry_bundle(entries)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00", "entry bundle truncated in a length prefix at byte 0"),
        (b"\x00\x01a\x00", "entry bundle truncated in a length prefix at byte 3"),  # trailing
        (b"\x00\x02a", "entry bundle truncated: entry 0 wants 2 bytes"),
        (b"\x00\x01a\x00\x03bc", "entry bundle truncated: entry 1 wants 3 bytes"),
        (b"\x00\x01a\xff\xff", "entry bundle truncated: entry 1 wants 65535 bytes"),
        (b"\x00\x00" * 257, "entry bundle holds 257 entries, more than 256"),
    ],
)
def test_decode_entry_bundle_refuses(data: bytes, message: str) -> None:
    with pytest.raises(MalformedInput, match=exact(message)):
        decode_entry_bundle(data)


def test_decode_entry_bundle_refuses_empty() -> None:
    with pytest.raises(MalformedInput):
        decode_entry_bundle(b"")


def test_hash_tiles() -> None:
    hashes = [bytes([i]) * 32 for i in range(3)]
    data = encode_hash_tile(hashes)
    assert data == b"".join(hashes)
    assert decode_hash_tile(data, 3) == hashes
    with pytest.raises(MalformedInput, match=exact("hash tile is 96 bytes, want 64")):
        decode_hash_tile(data, 2)
    with pytest.raises(MalformedInput, match=exact("hash tile is 95 bytes, want 96")):
        decode_hash_tile(data[:-1], 3)
    with pytest.raises(MalformedInput, match=exact("a hash tile holds 1..256 hashes, not 0")):
        encode_hash_tile([])
    with pytest.raises(MalformedInput, match=exact("a hash tile holds 1..256 hashes, not 257")):
        encode_hash_tile([b"\x00" * 32] * 257)


# --- TileHashReader ---------------------------------------------------------------------------

LEAF_COUNT = 70_000


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@cache
def levels() -> list[list[bytes]]:
    """Every complete node of the tree of LEAF_COUNT leaves, level by level, bottom-up."""
    rows = [[sha256(b"\x00" + i.to_bytes(4, "big")) for i in range(LEAF_COUNT)]]
    while len(rows[-1]) > 1:
        below = rows[-1]
        rows.append(
            [sha256(b"\x01" + below[i] + below[i + 1]) for i in range(0, len(below) - 1, 2)]
        )
    return rows


def mth(lo: int, hi: int) -> bytes:
    """RFC 9162 MTH of leaves [lo, hi), using the complete nodes where the range is one."""
    n = hi - lo
    if n == 0:
        return sha256(b"")
    if n & (n - 1) == 0 and lo % n == 0:
        return levels()[n.bit_length() - 1][lo // n]
    k = 1 << ((n - 1).bit_length() - 1)
    return sha256(b"\x01" + mth(lo, lo + k) + mth(lo + k, hi))


class FakeFetcher:
    """Serves the tiles of a tlog-tiles log of ``size`` leaves, as C2SP defines them."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.served = {t for t in tiles_for_size(size) if t.level != ENTRIES}
        self.fetched: list[TileId] = []

    def read_tile(self, tile: TileId) -> list[bytes]:
        assert tile in self.served, f"{tile_path(tile)} does not exist at size {self.size}"
        self.fetched.append(tile)
        row = levels()[TILE_HEIGHT * tile.level]
        start = tile.index * TILE_WIDTH
        return row[start : start + tile.width]


TREE_SIZES = [1, 2, 255, 256, 257, 511, 4096, 65535, 65536, 65537, LEAF_COUNT]


@pytest.mark.parametrize("size", TREE_SIZES)
def test_tile_hash_reader_gives_the_reference_nodes(size: int) -> None:
    fetcher = FakeFetcher(size)
    reader = TileHashReader(fetcher, size)
    nodes: list[Node] = list(range_nodes(0, size))
    for level in range(size.bit_length()):
        count = size >> level
        nodes += [(level, i) for i in sorted({0, count // 2, count - 1}) if count]
    assert reader.read_nodes(nodes) == [levels()[lvl][i] for lvl, i in nodes]
    assert root_hash(TileHashReader(FakeFetcher(size), size), size) == mth(0, size)


@pytest.mark.parametrize("size", TREE_SIZES)
def test_tile_hash_reader_proofs(size: int) -> None:
    root = mth(0, size)
    # TileHashReader's promise: a proof costs at most 2 tiles per tile level.
    bound = 2 * len({t.level for t in tiles_for_size(size) if t.level != ENTRIES})
    for index in sorted({0, 1, size // 3, size - 2, size - 1} & set(range(size))):
        fetcher = FakeFetcher(size)
        proof = inclusion_proof(TileHashReader(fetcher, size), index, size)
        verify_inclusion(index, size, levels()[0][index], proof, root)
        assert len(set(fetcher.fetched)) == len(fetcher.fetched)  # cached per reader
        assert len(fetcher.fetched) <= bound, (index, fetcher.fetched)
    for old in sorted({1, size // 2, size - 1, size} & set(range(1, size + 1))):
        proof = consistency_proof(TileHashReader(FakeFetcher(size), size), old, size)
        verify_consistency(old, size, mth(0, old), root, proof)


class ShortFetcher:
    def read_tile(self, tile: TileId) -> list[bytes]:
        return [b"\x00" * 32] * (tile.width - 1)


def test_tile_hash_reader_refuses() -> None:
    with pytest.raises(MalformedInput, match=exact("tile/0/000.p/5 holds 4 hashes, want 5")):
        TileHashReader(ShortFetcher(), 5).read_nodes([(0, 0)])
    reader = TileHashReader(FakeFetcher(5), 5)
    with pytest.raises(MalformedInput, match=exact("hash 5 at tile level 0 is beyond tree size 5")):
        reader.read_nodes([(0, 5)])
    with pytest.raises(MalformedInput, match=exact("hash 5 at tile level 0 is beyond tree size 5")):
        reader.read_nodes([(1, 2)])  # leaves 4 and 5: not complete at size 5


def test_shared_node_cache_keeps_upper_nodes_across_readers_and_sizes() -> None:
    """Nodes of level 8 and up are final once complete: a reader of the grown log that shares
    the node cache reads no full upper tile again, and still gives the reference proofs."""
    for index in (0, 300, 40_000, 65_535):
        cache: dict[Node, bytes] = {}
        for size in (65_537, LEAF_COUNT):
            fetcher = FakeFetcher(size)
            proof = inclusion_proof(TileHashReader(fetcher, size, cache), index, size)
            verify_inclusion(index, size, levels()[0][index], proof, mth(0, size))
        upper = [t for t in fetcher.fetched if t.level > 0 and not t.is_partial]
        assert not upper, (index, upper)
        assert cache and all(level >= TILE_HEIGHT for level, _ in cache)
        assert all(cache[node] == levels()[node[0]][node[1]] for node in cache)
