// Command tlogclient reads a Dozvil log over HTTP as a C2SP tlog-tiles client does, with Go's
// own golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog, and checks what it reads.
//
// Usage:
//
//	tlogclient -url URL -vkey VKEY [-vkey VKEY2 ...]
//
// In order:
//
//  1. checkpoint: GET URL/checkpoint opens with note.Open under the given keys;
//  2. tree hash: tlog.TreeHash over a tlog.TileHashReader fetching GET URL/tile/... equals the
//     checkpoint's root;
//  3. tiles: one hash of every hash tile is read through that reader, so every tile is
//     checked against its parent tile up to the root (TileHashReader checks only the tiles it
//     reads);
//  4. entries: every entry bundle's entries hash (tlog.RecordHash) to the level-0 hashes;
//  5. inclusion: every entry has tlog.ProveRecord / CheckRecord, and the server's
//     GET URL/proof/inclusion is byte for byte tlog.ProveRecord's proof;
//  6. consistency: for every published size (URL/dozvil/checkpoints.jsonl), the server's
//     GET URL/proof/consistency is tlog.ProveTree's proof and verifies with tlog.CheckTree.
//
// It prints one line per check and "OK", exiting 0; at the first fault "FAIL: <check>: ..."
// and exit 1; bad usage exits 2.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8 // C2SP tlog-tiles: 256 hashes a tile

var client = &http.Client{Timeout: 60 * time.Second}

type keys []string

func (k *keys) String() string     { return strings.Join(*k, ",") }
func (k *keys) Set(v string) error { *k = append(*k, v); return nil }

func main() {
	var base string
	var vkeys keys
	flag.StringVar(&base, "url", "", "the log's URL (where /checkpoint and /tile/ are)")
	flag.Var(&vkeys, "vkey", "a trusted log verifier key (repeatable)")
	flag.Parse()
	if base == "" || len(vkeys) == 0 || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: tlogclient -url URL -vkey VKEY [-vkey VKEY2 ...]")
		os.Exit(2)
	}
	var verifiers []note.Verifier
	for _, k := range vkeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tlogclient: bad -vkey %q: %v\n", k, err)
			os.Exit(2)
		}
		verifiers = append(verifiers, v)
	}
	if err := run(strings.TrimSuffix(base, "/"), note.VerifierList(verifiers...)); err != nil {
		fmt.Printf("FAIL: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("OK")
}

func get(base, path string) ([]byte, error) {
	resp, err := client.Get(base + "/" + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return body, nil
}

// c2spPath maps a Go tile to its tlog-tiles path: Go writes tile/<H>/<L>/<N>[.p/<W>] with
// "data" for the entries; tlog-tiles has no <H> (always 8) and says "entries".
func c2spPath(t tlog.Tile) string {
	rest := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", height))
	if t.L == -1 {
		rest = "entries" + strings.TrimPrefix(rest, "data")
	}
	return "tile/" + rest
}

// httpTiles is a tlog.TileReader over HTTP; tiles never change, so it keeps what it read.
type httpTiles struct {
	base  string
	cache map[tlog.Tile][]byte
}

func (h *httpTiles) Height() int { return height }

func (h *httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, ok := h.cache[t]
		if !ok {
			var err error
			if data, err = get(h.base, c2spPath(t)); err != nil {
				return nil, err
			}
			h.cache[t] = data
		}
		out[i] = data
	}
	return out, nil
}

func (h *httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}

func decodeHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != tlog.HashSize {
		return h, fmt.Errorf("%q is not base64 of a hash", s)
	}
	copy(h[:], raw)
	return h, nil
}

// sameProof compares a served proof (base64 hashes) with Go's own.
func sameProof(served []string, own []tlog.Hash) error {
	if len(served) != len(own) {
		return fmt.Errorf("served %d hashes, tlog has %d", len(served), len(own))
	}
	for i, s := range served {
		h, err := decodeHash(s)
		if err != nil {
			return err
		}
		if h != own[i] {
			return fmt.Errorf("hash %d is %s, tlog's is %s", i, h, own[i])
		}
	}
	return nil
}

func run(base string, known note.Verifiers) error {
	msg, err := get(base, "checkpoint")
	if err != nil {
		return fmt.Errorf("checkpoint: %v", err)
	}
	n, err := note.Open(msg, known)
	if err != nil {
		return fmt.Errorf("checkpoint: note.Open: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		return fmt.Errorf("checkpoint: %q is not a tlog-checkpoint body", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return fmt.Errorf("checkpoint: size %q: %v", lines[1], err)
	}
	root, err := decodeHash(lines[2])
	if err != nil {
		return fmt.Errorf("checkpoint: root: %v", err)
	}
	fmt.Printf("checkpoint: %s, size %d, %d signature(s) verified\n", lines[0], size, len(n.Sigs))
	if size == 0 {
		return nil
	}

	tiles := &httpTiles{base: base, cache: make(map[tlog.Tile][]byte)}
	hr := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, tiles)
	th, err := tlog.TreeHash(size, hr)
	if err != nil {
		return fmt.Errorf("tree hash: %v", err)
	}
	if th != root {
		return fmt.Errorf("tree hash: the tiles give %s, the checkpoint says %s", th, root)
	}
	fmt.Println("tree hash: tlog.TreeHash over the served tiles equals the checkpoint root")

	var firsts []int64
	for level := 0; size>>(height*level) > 0; level++ {
		for i := int64(0); i < size>>(height*level); i += 1 << height {
			firsts = append(firsts, tlog.StoredHashIndex(height*level, i))
		}
	}
	if _, err := hr.ReadHashes(firsts); err != nil {
		return fmt.Errorf("tiles: %v", err)
	}
	fmt.Printf("tiles: all %d hash tiles check against their parents and the root\n", len(tiles.cache))

	leafIndexes := make([]int64, size)
	for i := range leafIndexes {
		leafIndexes[i] = tlog.StoredHashIndex(0, int64(i))
	}
	leaves, err := hr.ReadHashes(leafIndexes)
	if err != nil {
		return fmt.Errorf("entries: %v", err)
	}
	for start := int64(0); start < size; start += 1 << height {
		width := size - start
		if width > 1<<height {
			width = 1 << height
		}
		t := tlog.Tile{H: height, L: -1, N: start >> height, W: int(width)}
		data, err := get(base, c2spPath(t))
		if err != nil {
			return fmt.Errorf("entries: %v", err)
		}
		var count int64
		for pos := 0; pos < len(data); count++ {
			if len(data)-pos < 2 {
				return fmt.Errorf("entries: %s: truncated length at byte %d", c2spPath(t), pos)
			}
			end := pos + 2 + int(binary.BigEndian.Uint16(data[pos:]))
			if end > len(data) || start+count >= size {
				return fmt.Errorf("entries: %s: entry %d overruns the bundle", c2spPath(t), start+count)
			}
			if tlog.RecordHash(data[pos+2:end]) != leaves[start+count] {
				return fmt.Errorf("entries: entry %d does not hash to its level-0 hash", start+count)
			}
			pos = end
		}
		if count != width {
			return fmt.Errorf("entries: %s holds %d entries, want %d", c2spPath(t), count, width)
		}
	}
	fmt.Printf("entries: all %d entries hash to their level-0 hashes\n", size)

	for i := int64(0); i < size; i++ {
		own, err := tlog.ProveRecord(size, i, hr)
		if err != nil {
			return fmt.Errorf("inclusion: entry %d: tlog.ProveRecord: %v", i, err)
		}
		if err := tlog.CheckRecord(own, size, root, i, leaves[i]); err != nil {
			return fmt.Errorf("inclusion: entry %d: tlog.CheckRecord: %v", i, err)
		}
		body, err := get(base, fmt.Sprintf("proof/inclusion?seq=%d&size=%d", i, size))
		if err != nil {
			return fmt.Errorf("inclusion: entry %d: %v", i, err)
		}
		var served struct {
			Proof []string `json:"proof"`
		}
		if err := json.Unmarshal(body, &served); err != nil {
			return fmt.Errorf("inclusion: entry %d: %v", i, err)
		}
		if err := sameProof(served.Proof, own); err != nil {
			return fmt.Errorf("inclusion: entry %d: the served proof differs: %v", i, err)
		}
	}
	fmt.Printf("inclusion: %d served proofs equal tlog.ProveRecord's\n", size)

	published, err := get(base, "dozvil/checkpoints.jsonl")
	if err != nil {
		return fmt.Errorf("consistency: %v", err)
	}
	proved := 0
	scan := bufio.NewScanner(bytes.NewReader(published))
	scan.Buffer(nil, 1<<20)
	for scan.Scan() {
		var line struct {
			TreeSize int64 `json:"tree_size"`
		}
		if err := json.Unmarshal(scan.Bytes(), &line); err != nil {
			return fmt.Errorf("consistency: dozvil/checkpoints.jsonl: %v", err)
		}
		old := line.TreeSize
		if old == 0 || old > size {
			continue // tlog.ProveTree wants 1 <= old <= size
		}
		body, err := get(base, fmt.Sprintf("proof/consistency?old=%d&new=%d", old, size))
		if err != nil {
			return fmt.Errorf("consistency: size %d: %v", old, err)
		}
		var served struct {
			OldRoot string   `json:"old_root"`
			Proof   []string `json:"proof"`
		}
		if err := json.Unmarshal(body, &served); err != nil {
			return fmt.Errorf("consistency: size %d: %v", old, err)
		}
		oldRoot, err := tlog.TreeHash(old, hr)
		if err != nil {
			return fmt.Errorf("consistency: size %d: %v", old, err)
		}
		if got, err := decodeHash(served.OldRoot); err != nil || got != oldRoot {
			return fmt.Errorf("consistency: size %d: served old_root %q, the tiles give %s", old, served.OldRoot, oldRoot)
		}
		own, err := tlog.ProveTree(size, old, hr)
		if err != nil {
			return fmt.Errorf("consistency: size %d: tlog.ProveTree: %v", old, err)
		}
		if err := tlog.CheckTree(own, size, root, old, oldRoot); err != nil {
			return fmt.Errorf("consistency: size %d: tlog.CheckTree: %v", old, err)
		}
		if err := sameProof(served.Proof, own); err != nil {
			return fmt.Errorf("consistency: size %d: the served proof differs: %v", old, err)
		}
		proved++
	}
	fmt.Printf("consistency: %d served proofs equal tlog.ProveTree's\n", proved)
	return nil
}
