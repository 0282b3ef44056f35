// Command gocheck verifies a Dozvil ledger export with Go's own transparency-log code,
// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog, independently of the Python
// implementation that wrote it.
//
// Usage:
//
//	gocheck -dir EXPORT -vkey VKEY [-vkey VKEY2 ...] [-proofs FILE]
//
// EXPORT is a C2SP tlog-tiles folder (https://c2sp.org/tlog-tiles) with Dozvil's dozvil/
// sidecar. gocheck checks, in this order:
//
//  1. checkpoint: EXPORT/checkpoint opens with note.Open under the given keys (C2SP
//     signed-note) and its text is a C2SP tlog-checkpoint body;
//  2. checkpoints: every note in EXPORT/dozvil/checkpoints.jsonl opens likewise, the sizes
//     increase, and the last one is the latest checkpoint;
//  3. tiles: every entry bundle and hash tile of the latest tree exists with the right length,
//     every level-0 hash is the RFC 9162 leaf hash of its entry, and every hash at level L ≥ 1
//     is the root of its full child tile at level L-1;
//  4. tree hash: tlog.TreeHash over a tlog.TileHashReader equals the checkpoint root;
//  5. consistency: every published checkpoint is a prefix of the latest (tlog.ProveTree and
//     tlog.CheckTree), and its root is the one the latest tiles give for its size;
//  6. inclusion: tlog.ProveRecord / tlog.CheckRecord for every entry (or a spread sample of
//     about 1000 in a log of more than 2000 entries);
//  7. proofs: with -proofs, each inclusion and consistency proof made by Dozvil verifies with
//     tlog.CheckRecord / tlog.CheckTree and is byte-for-byte the proof Go makes itself.
//
// Every signature must be by one of the -vkey keys; following the log's key history (which
// key was in force at which size) is the Python verifier's job, not this one's.
//
// It prints one line per check and "OK" at the end, exiting 0; on the first fault it prints
// "FAIL: <check>: <detail>" naming the tile path or entry index and exits 1. Bad usage exits 2.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// tileHeight is the height of C2SP tlog-tiles tiles (tlog-tiles §Merkle Tree: 2^8 = 256
// hashes per full tile).
const tileHeight = 8

// tileWidth is the number of hashes in a full tile and of entries in a full entry bundle.
const tileWidth = 1 << tileHeight

// maxSample is the log size up to which every entry gets an inclusion proof; larger logs get
// about sampleCount entries spread over the log, including the first and the last.
const (
	maxSample   = 2000
	sampleCount = 1000
)

// failure is a fault in the export, reported as "FAIL: <check>: <detail>".
type failure struct {
	check  string
	detail string
}

func (f *failure) Error() string { return f.check + ": " + f.detail }

func fail(check, format string, args ...any) error {
	return &failure{check, fmt.Sprintf(format, args...)}
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	var (
		dir    string
		proofs string
		vkeys  stringList
	)
	flag.StringVar(&dir, "dir", "", "the export folder (C2SP tlog-tiles layout with dozvil/)")
	flag.Var(&vkeys, "vkey", "a trusted log verifier key (repeatable, e.g. before and after a rotation)")
	flag.StringVar(&proofs, "proofs", "", "a JSON file of Dozvil inclusion and consistency proofs to check")
	flag.Parse()
	if dir == "" || len(vkeys) == 0 || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: gocheck -dir EXPORT -vkey VKEY [-vkey VKEY2 ...] [-proofs FILE]")
		os.Exit(2)
	}
	var verifiers []note.Verifier
	for _, k := range vkeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gocheck: bad -vkey %q: %v\n", k, err)
			os.Exit(2)
		}
		verifiers = append(verifiers, v)
	}
	c := &checker{dir: dir, known: note.VerifierList(verifiers...), tiles: newTileDir(dir)}
	if err := c.run(proofs); err != nil {
		var f *failure
		if errors.As(err, &f) {
			fmt.Printf("FAIL: %s\n", f)
		} else {
			fmt.Printf("FAIL: %v\n", err)
		}
		os.Exit(1)
	}
	fmt.Println("OK")
}

// checker holds what the checks learn, in the order they learn it.
type checker struct {
	dir    string
	known  note.Verifiers
	tiles  *tileDir
	latest checkpoint
	leaves []tlog.Hash     // RFC 9162 leaf hash of every entry, from the entry bundles
	hashes tlog.HashReader // authenticated against the latest checkpoint (nil at size 0)
	notes  []checkpoint    // every published checkpoint, in increasing size
}

func (c *checker) run(proofs string) error {
	steps := []func() error{
		c.checkLatest, c.checkPublished, c.checkTiles, c.checkTreeHash,
		c.checkConsistency, c.checkInclusion,
	}
	if proofs != "" {
		steps = append(steps, func() error { return c.checkProofs(proofs) })
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// --- checkpoints (C2SP signed-note, tlog-checkpoint) -------------------------------------

// checkpoint is a parsed C2SP tlog-checkpoint note text.
type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
	signer string // names of the keys whose signatures verified
}

// parseCheckpoint parses a checkpoint body (tlog-checkpoint §Note text): the origin line,
// the tree size in decimal (no sign, no leading zeros), the root hash in standard base64, then
// optional non-empty extension lines, each line ending in a newline. tlog.ParseTree is not
// used: it demands the go.sum origin line.
func parseCheckpoint(text string) (checkpoint, error) {
	var cp checkpoint
	if !strings.HasSuffix(text, "\n") {
		return cp, errors.New("text does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return cp, fmt.Errorf("got %d lines, want at least 3 (origin, size, root hash)", len(lines))
	}
	for i, l := range lines {
		if l == "" {
			return cp, fmt.Errorf("line %d is empty", i+1)
		}
	}
	cp.origin = lines[0]
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return cp, fmt.Errorf("tree size %q is not a canonical decimal number", lines[1])
	}
	cp.size = size
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize || base64.StdEncoding.EncodeToString(root) != lines[2] {
		return cp, fmt.Errorf("root hash %q is not canonical base64 of %d bytes", lines[2], tlog.HashSize)
	}
	copy(cp.root[:], root)
	return cp, nil
}

// openCheckpoint verifies a signed note with note.Open (signed-note §Signatures: signatures by
// unknown keys are ignored, one by a known key must verify, and at least one must) and parses
// its text.
func (c *checker) openCheckpoint(msg []byte) (checkpoint, error) {
	n, err := note.Open(msg, c.known)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			var by []string
			for _, s := range unverified.Note.UnverifiedSigs {
				by = append(by, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
			}
			return checkpoint{}, fmt.Errorf("no signature by a trusted key (signed by %s)", strings.Join(by, ", "))
		}
		return checkpoint{}, err
	}
	cp, err := parseCheckpoint(n.Text)
	if err != nil {
		return cp, err
	}
	var by []string
	for _, s := range n.Sigs {
		by = append(by, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
	}
	cp.signer = strings.Join(by, ", ")
	return cp, nil
}

// checkLatest opens EXPORT/checkpoint, the latest checkpoint (tlog-tiles §Checkpoints).
func (c *checker) checkLatest() error {
	msg, err := os.ReadFile(filepath.Join(c.dir, "checkpoint"))
	if err != nil {
		return fail("checkpoint", "%v", err)
	}
	c.latest, err = c.openCheckpoint(msg)
	if err != nil {
		return fail("checkpoint", "%v", err)
	}
	fmt.Printf("checkpoint: origin %s, size %d, root %s, signed by %s\n",
		c.latest.origin, c.latest.size, c.latest.root, c.latest.signer)
	return nil
}

// checkPublished opens every note of dozvil/checkpoints.jsonl.
func (c *checker) checkPublished() error {
	const check = "checkpoints"
	path := filepath.Join(c.dir, "dozvil", "checkpoints.jsonl")
	f, err := os.Open(path)
	if err != nil {
		return fail(check, "%v", err)
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	lines.Buffer(nil, 1<<20)
	for number := 1; lines.Scan(); number++ {
		var line struct {
			TreeSize *int64  `json:"tree_size"`
			Note     *string `json:"note"`
		}
		if err := json.Unmarshal(lines.Bytes(), &line); err != nil || line.TreeSize == nil || line.Note == nil {
			return fail(check, "dozvil/checkpoints.jsonl line %d: want {\"tree_size\": n, \"note\": \"...\"}", number)
		}
		cp, err := c.openCheckpoint([]byte(*line.Note))
		if err != nil {
			return fail(check, "dozvil/checkpoints.jsonl line %d (size %d): %v", number, *line.TreeSize, err)
		}
		switch {
		case cp.size != *line.TreeSize:
			return fail(check, "dozvil/checkpoints.jsonl line %d: tree_size %d, but the note says %d", number, *line.TreeSize, cp.size)
		case cp.origin != c.latest.origin:
			return fail(check, "dozvil/checkpoints.jsonl line %d: origin %q, the latest checkpoint's is %q", number, cp.origin, c.latest.origin)
		case cp.size > c.latest.size:
			return fail(check, "dozvil/checkpoints.jsonl line %d: size %d is beyond the latest checkpoint's %d", number, cp.size, c.latest.size)
		case len(c.notes) > 0 && cp.size <= c.notes[len(c.notes)-1].size:
			return fail(check, "dozvil/checkpoints.jsonl line %d: size %d does not increase", number, cp.size)
		}
		c.notes = append(c.notes, cp)
	}
	if err := lines.Err(); err != nil {
		return fail(check, "dozvil/checkpoints.jsonl: %v", err)
	}
	if len(c.notes) == 0 {
		return fail(check, "dozvil/checkpoints.jsonl holds no checkpoint")
	}
	if last := c.notes[len(c.notes)-1]; last.size != c.latest.size || last.root != c.latest.root {
		return fail(check, "the last published checkpoint (size %d) is not the latest checkpoint (size %d)", last.size, c.latest.size)
	}
	fmt.Printf("checkpoints: %d published checkpoints open with the given keys\n", len(c.notes))
	return nil
}

// --- tiles (C2SP tlog-tiles) --------------------------------------------------------------

// c2spPath maps a Go tile to its C2SP tlog-tiles path. Go writes tile/<H>/<L>/<N>[.p/<W>]
// with "data" for level -1; tlog-tiles §Merkle Tree has no height element (it is always 8)
// and names entry bundles tile/entries/<N>[.p/<W>]. Both encode <N> the same way: groups of
// three digits, all but the last prefixed with "x". The Go path is the source of that
// encoding, so both logs agree on which file holds what.
func c2spPath(t tlog.Tile) string {
	if t.H != tileHeight {
		panic(fmt.Sprintf("tile height %d, want %d", t.H, tileHeight))
	}
	rest := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", tileHeight))
	if t.L == -1 {
		rest = "entries" + strings.TrimPrefix(rest, "data")
	}
	return "tile/" + rest
}

// tileDir is a tlog.TileReader over an export folder, caching the hash tiles it read.
type tileDir struct {
	root  string
	cache map[tlog.Tile][]byte
}

func newTileDir(root string) *tileDir {
	return &tileDir{root: root, cache: make(map[tlog.Tile][]byte)}
}

// Height is the tile height of C2SP tlog-tiles.
func (d *tileDir) Height() int { return tileHeight }

// read returns the bytes of one tile file; a hash tile must be exactly W hashes long
// (tlog-tiles §Merkle Tree).
func (d *tileDir) read(t tlog.Tile) ([]byte, error) {
	if data, ok := d.cache[t]; ok {
		return data, nil
	}
	path := c2spPath(t)
	data, err := os.ReadFile(filepath.Join(d.root, filepath.FromSlash(path)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if t.L >= 0 && len(data) != t.W*tlog.HashSize {
		return nil, fmt.Errorf("%s: %d bytes, want %d (%d hashes)", path, len(data), t.W*tlog.HashSize, t.W)
	}
	if t.L >= 0 { // entry bundles are read once; hash tiles again for every proof
		d.cache[t] = data
	}
	return data, nil
}

// ReadTiles implements tlog.TileReader.
func (d *tileDir) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := d.read(t)
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

// SaveTiles implements tlog.TileReader; an export is read-only, so there is nothing to save.
func (d *tileDir) SaveTiles([]tlog.Tile, [][]byte) {}

// rowTiles lists the tiles of one level (or of the entry bundles, level -1) of a tree of size
// n: full tiles, then a partial one if the level's hash count is not a multiple of 256.
func rowTiles(level int, n int64) []tlog.Tile {
	count := n
	if level > 0 {
		count = n >> (tileHeight * level)
	}
	var tiles []tlog.Tile
	for i := int64(0); i*tileWidth < count; i++ {
		w := count - i*tileWidth
		if w > tileWidth {
			w = tileWidth
		}
		tiles = append(tiles, tlog.Tile{H: tileHeight, L: level, N: i, W: int(w)})
	}
	return tiles
}

// splitBundle splits an entry bundle (tlog-tiles §Log Entries: each entry is a big-endian
// uint16 length followed by that many bytes) and refuses truncated or trailing bytes.
func splitBundle(data []byte) ([][]byte, error) {
	var entries [][]byte
	for pos := 0; pos < len(data); {
		if len(data)-pos < 2 {
			return nil, fmt.Errorf("truncated length prefix at byte %d", pos)
		}
		n := int(binary.BigEndian.Uint16(data[pos:]))
		pos += 2
		if len(data)-pos < n {
			return nil, fmt.Errorf("entry %d wants %d bytes, only %d are left", len(entries), n, len(data)-pos)
		}
		entries = append(entries, data[pos:pos+n])
		pos += n
	}
	return entries, nil
}

// hashAt returns hash i of tile data.
func hashAt(data []byte, i int) tlog.Hash {
	var h tlog.Hash
	copy(h[:], data[i*tlog.HashSize:])
	return h
}

// subtreeRoot folds 2^k hashes into the root of the perfect subtree above them (RFC 9162
// §2.1.1: MTH(D[n]) = SHA-256(0x01 || MTH(left) || MTH(right)), split at the largest power of
// two, which for 2^k leaves is the middle).
func subtreeRoot(data []byte) tlog.Hash {
	row := make([]tlog.Hash, len(data)/tlog.HashSize)
	for i := range row {
		row[i] = hashAt(data, i)
	}
	for len(row) > 1 {
		for i := 0; i < len(row)/2; i++ {
			row[i] = tlog.NodeHash(row[2*i], row[2*i+1])
		}
		row = row[:len(row)/2]
	}
	return row[0]
}

// checkTiles checks every tile of the latest tree itself, bottom up. tlog.TileHashReader only
// authenticates the tiles a request touches, and a full tile only against its parent when it
// is read; this walk reads them all.
func (c *checker) checkTiles() error {
	const check = "tiles"
	size := c.latest.size
	// Level 0 against the entry bundles: hash i of tile/0/N is the leaf hash (RFC 9162 §2.1.1:
	// SHA-256(0x00 || entry), tlog.RecordHash) of entry 256*N + i.
	c.leaves = make([]tlog.Hash, 0, size)
	bundles := rowTiles(-1, size)
	for _, b := range bundles {
		data, err := c.tiles.read(b)
		if err != nil {
			return fail(check, "entry bundle %v", err)
		}
		entries, err := splitBundle(data)
		if err != nil {
			return fail(check, "entry bundle %s: %v", c2spPath(b), err)
		}
		if len(entries) != b.W {
			return fail(check, "entry bundle %s holds %d entries, want %d", c2spPath(b), len(entries), b.W)
		}
		t := tlog.Tile{H: tileHeight, L: 0, N: b.N, W: b.W}
		hashes, err := c.tiles.read(t)
		if err != nil {
			return fail(check, "level 0 tile %v", err)
		}
		for i, e := range entries {
			leaf := tlog.RecordHash(e)
			if leaf != hashAt(hashes, i) {
				return fail(check, "entry %d: %s hash %d is %s, but the entry in %s hashes to %s",
					b.N*tileWidth+int64(i), c2spPath(t), i, hashAt(hashes, i), c2spPath(b), leaf)
			}
			c.leaves = append(c.leaves, leaf)
		}
	}
	counts := []int{len(bundles)}
	// Level L ≥ 1: hash i of tile/L/N is the tree node at level 8L, index 256*N + i, which is
	// the root of the full tile 256*N + i at level L-1 (tlog-tiles §Merkle Tree).
	for level := 1; size>>(tileHeight*level) > 0; level++ {
		row := rowTiles(level, size)
		for _, t := range row {
			hashes, err := c.tiles.read(t)
			if err != nil {
				return fail(check, "level %d tile %v", level, err)
			}
			for i := 0; i < t.W; i++ {
				child := tlog.Tile{H: tileHeight, L: level - 1, N: t.N*tileWidth + int64(i), W: tileWidth}
				data, err := c.tiles.read(child)
				if err != nil {
					return fail(check, "level %d tile %v", level-1, err)
				}
				if got, want := hashAt(hashes, i), subtreeRoot(data); got != want {
					return fail(check, "%s hash %d is %s, but its child tile %s has root %s",
						c2spPath(t), i, got, c2spPath(child), want)
				}
			}
		}
		counts = append(counts, len(row))
	}
	// The partial tiles at the right edge have no parent hash; their hashes were checked
	// against the level below, and the tree hash (next check) commits to all of them.
	level0 := len(rowTiles(0, size))
	var summary []string
	summary = append(summary, fmt.Sprintf("%d entry bundles (%d entries)", counts[0], len(c.leaves)))
	summary = append(summary, fmt.Sprintf("%d level-0 tiles", level0))
	for l, n := range counts[1:] {
		summary = append(summary, fmt.Sprintf("%d level-%d tiles", n, l+1))
	}
	fmt.Printf("tiles: %s match their entries and child tiles\n", strings.Join(summary, ", "))
	return nil
}

// emptyRoot is the root of the empty tree, SHA-256 of the empty string (RFC 9162 §2.1.1).
// tlog.TreeHash returns all zeros for size 0 instead.
var emptyRoot = tlog.Hash(sha256.Sum256(nil))

// checkTreeHash recomputes the latest root with Go's tile reader.
func (c *checker) checkTreeHash() error {
	const check = "tree hash"
	if c.latest.size == 0 {
		if c.latest.root != emptyRoot {
			return fail(check, "size 0: root %s, want SHA-256 of the empty string %s", c.latest.root, emptyRoot)
		}
		fmt.Println("tree hash: size 0, root is SHA-256 of the empty string")
		return nil
	}
	tree := tlog.Tree{N: c.latest.size, Hash: c.latest.root}
	c.hashes = tlog.TileHashReader(tree, c.tiles)
	root, err := tlog.TreeHash(c.latest.size, c.hashes)
	if err != nil {
		return fail(check, "size %d: %v", c.latest.size, err)
	}
	if root != c.latest.root {
		return fail(check, "size %d: tiles give %s, the checkpoint says %s", c.latest.size, root, c.latest.root)
	}
	fmt.Printf("tree hash: tlog.TreeHash(%d) over the tiles equals the checkpoint root\n", c.latest.size)
	return nil
}

// rootAt is the root of the tree of the first n entries, from the tiles of the latest tree
// (whose hashes tlog.TileHashReader authenticates against the latest root).
func (c *checker) rootAt(n int64) (tlog.Hash, error) {
	if n == 0 {
		return emptyRoot, nil
	}
	return tlog.TreeHash(n, c.hashes)
}

// --- proofs (RFC 9162 §2.1.3, §2.1.4) -----------------------------------------------------

// checkConsistency proves every published checkpoint a prefix of the latest.
func (c *checker) checkConsistency() error {
	const check = "consistency"
	for _, old := range c.notes {
		root, err := c.rootAt(old.size)
		if err != nil {
			return fail(check, "size %d: %v", old.size, err)
		}
		if root != old.root {
			return fail(check, "checkpoint of size %d has root %s, the latest tree's first %d entries give %s",
				old.size, old.root, old.size, root)
		}
		if old.size == 0 {
			continue // every tree extends the empty one; tlog.ProveTree wants n ≥ 1
		}
		proof, err := tlog.ProveTree(c.latest.size, old.size, c.hashes)
		if err != nil {
			return fail(check, "tlog.ProveTree(%d, %d): %v", c.latest.size, old.size, err)
		}
		if err := tlog.CheckTree(proof, c.latest.size, c.latest.root, old.size, old.root); err != nil {
			return fail(check, "size %d -> %d: %v", old.size, c.latest.size, err)
		}
	}
	fmt.Printf("consistency: %d published checkpoints are prefixes of size %d\n", len(c.notes), c.latest.size)
	return nil
}

// sample picks the entries to prove: all of a small log, else about sampleCount spread evenly
// from the first to the last.
func sample(size int64) []int64 {
	if size <= maxSample {
		out := make([]int64, size)
		for i := range out {
			out[i] = int64(i)
		}
		return out
	}
	out := make([]int64, 0, sampleCount)
	for i := int64(0); i < sampleCount; i++ {
		out = append(out, i*(size-1)/(sampleCount-1))
	}
	return out
}

// checkInclusion proves entries included under the latest checkpoint.
func (c *checker) checkInclusion() error {
	const check = "inclusion"
	picked := sample(c.latest.size)
	for _, n := range picked {
		proof, err := tlog.ProveRecord(c.latest.size, n, c.hashes)
		if err != nil {
			return fail(check, "entry %d: tlog.ProveRecord: %v", n, err)
		}
		if err := tlog.CheckRecord(proof, c.latest.size, c.latest.root, n, c.leaves[n]); err != nil {
			return fail(check, "entry %d: tlog.CheckRecord: %v", n, err)
		}
	}
	fmt.Printf("inclusion: %d of %d entries proved included with tlog.ProveRecord/CheckRecord\n",
		len(picked), c.latest.size)
	return nil
}

// b64Hash is a hash in standard base64, as Dozvil's JSON writes it.
type b64Hash tlog.Hash

func (h *b64Hash) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != tlog.HashSize {
		return fmt.Errorf("%q is not base64 of %d bytes", s, tlog.HashSize)
	}
	copy(h[:], raw)
	return nil
}

// proofsFile is the -proofs input; other keys (the CLI adds the checkpoints) are ignored.
type proofsFile struct {
	Inclusion []struct {
		LeafIndex *int64    `json:"leaf_index"`
		TreeSize  *int64    `json:"tree_size"`
		LeafHash  *b64Hash  `json:"leaf_hash"`
		RootHash  *b64Hash  `json:"root_hash"`
		Proof     []b64Hash `json:"proof"`
	} `json:"inclusion"`
	Consistency []struct {
		OldSize *int64    `json:"old_size"`
		NewSize *int64    `json:"new_size"`
		OldRoot *b64Hash  `json:"old_root"`
		NewRoot *b64Hash  `json:"new_root"`
		Proof   []b64Hash `json:"proof"`
	} `json:"consistency"`
}

// sameProof reports where two proofs first differ, or "" when they are identical.
func sameProof(got []b64Hash, want []tlog.Hash) string {
	if len(got) != len(want) {
		return fmt.Sprintf("Dozvil's proof has %d hashes, Go's has %d", len(got), len(want))
	}
	for i := range got {
		if tlog.Hash(got[i]) != want[i] {
			return fmt.Sprintf("hash %d is %s in Dozvil's proof, %s in Go's", i, tlog.Hash(got[i]), want[i])
		}
	}
	return ""
}

func toHashes(p []b64Hash) []tlog.Hash {
	out := make([]tlog.Hash, len(p))
	for i, h := range p {
		out[i] = tlog.Hash(h)
	}
	return out
}

// checkProofs checks Dozvil's proofs with Go and compares them with Go's own.
func (c *checker) checkProofs(path string) error {
	const check = "proofs"
	data, err := os.ReadFile(path)
	if err != nil {
		return fail(check, "%v", err)
	}
	var file proofsFile
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&file); err != nil {
		return fail(check, "%s: %v", path, err)
	}
	size := c.latest.size
	for i, p := range file.Inclusion {
		where := fmt.Sprintf("inclusion[%d]", i)
		if p.LeafIndex == nil || p.TreeSize == nil || p.LeafHash == nil || p.RootHash == nil || p.Proof == nil {
			return fail(check, "%s: want leaf_index, tree_size, leaf_hash, root_hash and proof", where)
		}
		n, t := *p.LeafIndex, *p.TreeSize
		where = fmt.Sprintf("%s (entry %d, size %d)", where, n, t)
		if n < 0 || n >= t || t > size {
			return fail(check, "%s: want 0 <= leaf_index < tree_size <= %d", where, size)
		}
		if leaf := tlog.Hash(*p.LeafHash); leaf != c.leaves[n] {
			return fail(check, "%s: leaf_hash %s, but entry %d in the export hashes to %s", where, leaf, n, c.leaves[n])
		}
		root, err := c.rootAt(t)
		if err != nil {
			return fail(check, "%s: %v", where, err)
		}
		if tlog.Hash(*p.RootHash) != root {
			return fail(check, "%s: root_hash %s, the export's tree of size %d has %s", where, tlog.Hash(*p.RootHash), t, root)
		}
		if err := tlog.CheckRecord(toHashes(p.Proof), t, root, n, c.leaves[n]); err != nil {
			return fail(check, "%s: tlog.CheckRecord: %v", where, err)
		}
		own, err := tlog.ProveRecord(t, n, c.hashes)
		if err != nil {
			return fail(check, "%s: tlog.ProveRecord: %v", where, err)
		}
		if diff := sameProof(p.Proof, own); diff != "" {
			return fail(check, "%s: differs from tlog.ProveRecord: %s", where, diff)
		}
	}
	for i, p := range file.Consistency {
		where := fmt.Sprintf("consistency[%d]", i)
		if p.OldSize == nil || p.NewSize == nil || p.OldRoot == nil || p.NewRoot == nil || p.Proof == nil {
			return fail(check, "%s: want old_size, new_size, old_root, new_root and proof", where)
		}
		m, t := *p.OldSize, *p.NewSize
		where = fmt.Sprintf("%s (size %d -> %d)", where, m, t)
		if m < 0 || m > t || t > size {
			return fail(check, "%s: want 0 <= old_size <= new_size <= %d", where, size)
		}
		for _, r := range []struct {
			n   int64
			got *b64Hash
		}{{m, p.OldRoot}, {t, p.NewRoot}} {
			root, err := c.rootAt(r.n)
			if err != nil {
				return fail(check, "%s: %v", where, err)
			}
			if tlog.Hash(*r.got) != root {
				return fail(check, "%s: root of size %d is %s in the file, %s in the export", where, r.n, tlog.Hash(*r.got), root)
			}
		}
		if m == 0 {
			// RFC 9162 §2.1.4.1: the proof from the empty tree is empty (tlog wants n ≥ 1).
			if len(p.Proof) != 0 {
				return fail(check, "%s: a proof from the empty tree must be empty, got %d hashes", where, len(p.Proof))
			}
			continue
		}
		if err := tlog.CheckTree(toHashes(p.Proof), t, tlog.Hash(*p.NewRoot), m, tlog.Hash(*p.OldRoot)); err != nil {
			return fail(check, "%s: tlog.CheckTree: %v", where, err)
		}
		own, err := tlog.ProveTree(t, m, c.hashes)
		if err != nil {
			return fail(check, "%s: tlog.ProveTree: %v", where, err)
		}
		if diff := sameProof(p.Proof, own); diff != "" {
			return fail(check, "%s: differs from tlog.ProveTree: %s", where, diff)
		}
	}
	fmt.Printf("proofs: %d inclusion and %d consistency proofs from %s verify and equal Go's own\n",
		len(file.Inclusion), len(file.Consistency), filepath.Base(path))
	return nil
}
