// Command gen writes the signed-note known-answer vectors in tests/vectors/notes.
//
// Every key, note and expected result in that folder comes from Go's own
// golang.org/x/mod/sumdb/note package, so that the Python implementation in
// ledger/note.py is checked against the reference implementation rather than
// against itself. The output is deterministic: keys come from fixed seeds and
// Ed25519 signing is deterministic, so running it twice gives identical files.
//
// Run from the repository root (see tests/vectors/notes/README.md):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go run tests/vectors/notes/gen/main.go -out tests/vectors/notes
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

const (
	logName     = "dozvil.example/log"
	witnessName = "witness.example/w1"
	// The signer key from the package documentation of golang.org/x/mod/sumdb/note.
	neumannSkey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
	neumannText = "If you think cryptography is the answer to your problem,\n" +
		"then you don't know what your problem is.\n"
	// The note text of the example in c2sp.org/signed-note: non-ASCII, with an empty line.
	quasimodoText = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
)

type key struct {
	Name string `json:"name"`
	Skey string `json:"skey"`
	Vkey string `json:"vkey"`
}

// signedCase records how a note file was made: by signing Text with Signers, or
// by opening Base with Known and re-signing it with Signers (note.Open + note.Sign).
type signedCase struct {
	Note    string   `json:"note"`
	Text    string   `json:"text,omitempty"`
	Base    string   `json:"base,omitempty"`
	Known   []string `json:"known,omitempty"`
	Signers []string `json:"signers"`
}

// openedCase records what note.Open returned for Note with the Known verifiers.
type openedCase struct {
	Note       string   `json:"note"`
	Known      []string `json:"known"`
	OK         bool     `json:"ok"`
	Error      string   `json:"error,omitempty"`
	Text       string   `json:"text,omitempty"`
	Verified   []string `json:"verified,omitempty"`
	Unverified []string `json:"unverified,omitempty"`
	Comment    string   `json:"comment"`
}

type manifest struct {
	Generator string            `json:"generator"`
	Keys      map[string]key    `json:"keys"`
	Signed    []signedCase      `json:"signed"`
	Opened    []openedCase      `json:"opened"`
	notes     map[string][]byte // file name -> contents
	signers   map[string]note.Signer
	verifiers map[string]note.Verifier
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// seedReader returns the deterministic "randomness" for the key called id.
func seedReader(id string) *bytes.Reader {
	seed := sha256.Sum256([]byte("dozvil/tests/vectors/notes: " + id))
	return bytes.NewReader(seed[:])
}

func (m *manifest) addKey(id, skey string) {
	signer, err := note.NewSigner(skey)
	check(err)
	m.signers[id] = signer
	m.Keys[id] = key{Name: signer.Name(), Skey: skey}
}

func (m *manifest) generateKey(id, name string) {
	skey, vkey, err := note.GenerateKey(seedReader(id), name)
	check(err)
	m.addKey(id, skey)
	k := m.Keys[id]
	k.Vkey = vkey
	m.Keys[id] = k
	v, err := note.NewVerifier(vkey)
	check(err)
	m.verifiers[id] = v
}

func (m *manifest) signersOf(ids []string) []note.Signer {
	var out []note.Signer
	for _, id := range ids {
		out = append(out, m.signers[id])
	}
	return out
}

func (m *manifest) sign(file, text string, ids ...string) {
	msg, err := note.Sign(&note.Note{Text: text}, m.signersOf(ids)...)
	check(err)
	m.notes[file] = msg
	m.Signed = append(m.Signed, signedCase{Note: file, Text: text, Signers: ids})
}

func (m *manifest) known(ids []string) note.Verifiers {
	var list []note.Verifier
	for _, id := range ids {
		list = append(list, m.verifiers[id])
	}
	return note.VerifierList(list...)
}

func (m *manifest) cosign(file, base string, known []string, ids ...string) {
	n, err := note.Open(m.notes[base], m.known(known))
	check(err)
	msg, err := note.Sign(n, m.signersOf(ids)...)
	check(err)
	m.notes[file] = msg
	m.Signed = append(m.Signed, signedCase{Note: file, Base: base, Known: known, Signers: ids})
}

func label(s note.Signature) string {
	return fmt.Sprintf("%s+%08x", s.Name, s.Hash)
}

func (m *manifest) open(file string, known []string, comment string) {
	c := openedCase{Note: file, Known: known, Comment: comment}
	n, err := note.Open(m.notes[file], m.known(known))
	if err != nil {
		c.Error = err.Error()
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			for _, s := range unverified.Note.UnverifiedSigs {
				c.Unverified = append(c.Unverified, label(s))
			}
		}
	} else {
		c.OK = true
		c.Text = n.Text
		for _, s := range n.Sigs {
			c.Verified = append(c.Verified, label(s))
		}
		for _, s := range n.UnverifiedSigs {
			c.Unverified = append(c.Unverified, label(s))
		}
	}
	m.Opened = append(m.Opened, c)
}

// splitNote returns the text (with its final newline) and the signature lines of msg.
func splitNote(msg []byte) (string, []string) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	lines := strings.SplitAfter(string(msg[i+2:]), "\n")
	return string(msg[:i+1]), lines[:len(lines)-1]
}

func joinNote(text string, lines ...string) []byte {
	return []byte(text + "\n" + strings.Join(lines, ""))
}

// sigLine builds a signature line from a name, key hash and signature bytes.
func sigLine(name string, hash uint32, sig []byte) string {
	raw := append([]byte{byte(hash >> 24), byte(hash >> 16), byte(hash >> 8), byte(hash)}, sig...)
	return "— " + name + " " + base64.StdEncoding.EncodeToString(raw) + "\n"
}

// mutateSig rewrites the base64 part of a signature line with f.
func mutateSig(line string, f func(b64 string) string) string {
	i := strings.LastIndex(line, " ")
	return line[:i+1] + f(strings.TrimSuffix(line[i+1:], "\n")) + "\n"
}

func flipSignatureBit(b64 string) string {
	raw, err := base64.StdEncoding.DecodeString(b64)
	check(err)
	raw[4+10] ^= 0x01
	return base64.StdEncoding.EncodeToString(raw)
}

// nonCanonical sets the unused low bits of the last base64 character: the decoded
// bytes do not change, so Go (which does not decode strictly) still accepts it.
func nonCanonical(b64 string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	body := strings.TrimRight(b64, "=")
	pad := b64[len(body):]
	last := strings.IndexByte(alphabet, body[len(body)-1])
	if pad == "" {
		log.Fatal("signature base64 has no padding bits")
	}
	return body[:len(body)-1] + string(alphabet[last|1]) + pad
}

func fakeSig(i int) []byte {
	a := sha256.Sum256([]byte(fmt.Sprintf("fake signature %d a", i)))
	b := sha256.Sum256([]byte(fmt.Sprintf("fake signature %d b", i)))
	return append(a[:], b[:]...)
}

func checkpointText(size int) string {
	root := sha256.Sum256([]byte(fmt.Sprintf("dozvil vector tree %d", size)))
	return fmt.Sprintf("%s\n%d\n%s\n", logName, size, base64.StdEncoding.EncodeToString(root[:]))
}

func main() {
	out := flag.String("out", ".", "folder to write the vectors to")
	flag.Parse()

	m := &manifest{
		Generator: "tests/vectors/notes/gen/main.go (golang.org/x/mod/sumdb/note)",
		Keys:      map[string]key{},
		notes:     map[string][]byte{},
		signers:   map[string]note.Signer{},
		verifiers: map[string]note.Verifier{},
	}
	m.generateKey("log", logName)
	m.generateKey("log-next", logName) // the rotated log key: same name, new key
	m.generateKey("witness", witnessName)
	m.addKey("neumann", neumannSkey)
	neumannVkey := "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
	v, err := note.NewVerifier(neumannVkey)
	check(err)
	m.verifiers["neumann"] = v
	k := m.Keys["neumann"]
	k.Vkey = neumannVkey
	m.Keys["neumann"] = k

	// Notes signed by Go.
	m.sign("checkpoint.note", checkpointText(1041), "log")
	m.sign("rotation.note", checkpointText(1042)+"rotation to log-next\n", "log", "log-next")
	m.sign("blank-lines.note", quasimodoText, "log")
	m.sign("neumann.note", neumannText, "neumann")
	m.cosign("cosigned.note", "checkpoint.note", []string{"log"}, "witness")
	m.cosign("rotation-reordered.note", "cosigned.note", []string{"witness"}, "log-next")

	// Notes derived from them by hand.
	text, lines := splitNote(m.notes["checkpoint.note"])
	logLine := lines[0]
	_, cosignedLines := splitNote(m.notes["cosigned.note"])
	witnessLine := cosignedLines[1]
	logHash := m.signers["log"].KeyHash()

	m.notes["bad-signature.note"] = joinNote(text, mutateSig(logLine, flipSignatureBit))
	m.notes["bad-text.note"] = joinNote(strings.Replace(text, "1041", "1040", 1), logLine)
	m.notes["duplicate-signatures.note"] = joinNote(text,
		logLine, sigLine(logName, logHash, fakeSig(0)), witnessLine, witnessLine)
	m.notes["noncanonical-base64.note"] = joinNote(text, mutateSig(logLine, nonCanonical))
	var many []string
	many = append(many, logLine)
	for i := 1; i < 100; i++ {
		many = append(many, sigLine(fmt.Sprintf("witness.example/x%02d", i), uint32(i), fakeSig(i)))
	}
	m.notes["many-signatures.note"] = joinNote(text, many...)
	many = append(many, sigLine("witness.example/x100", 100, fakeSig(100)))
	m.notes["malformed-too-many-signatures.note"] = joinNote(text, many...)
	m.notes["malformed-no-blank-line.note"] = []byte(text + logLine)
	m.notes["malformed-crlf.note"] = bytes.ReplaceAll(m.notes["checkpoint.note"], []byte("\n"), []byte("\r\n"))
	m.notes["malformed-not-utf8.note"] = joinNote(strings.Replace(text, "dozvil", "d\xffzvil", 1), logLine)
	m.notes["malformed-name-plus.note"] = joinNote(text, strings.Replace(logLine, "/log", "/log+1", 1))
	m.notes["malformed-short-signature.note"] = joinNote(text, sigLine(logName, logHash, nil))
	m.notes["malformed-bad-base64.note"] = joinNote(text, mutateSig(logLine, func(s string) string { return s[:10] + "*" + s[11:] }))
	m.notes["malformed-no-final-newline.note"] = bytes.TrimSuffix(m.notes["checkpoint.note"], []byte("\n"))
	m.notes["malformed-hyphen.note"] = joinNote(text, "-"+strings.TrimPrefix(logLine, "—"))

	// What Go's note.Open makes of them.
	m.open("checkpoint.note", []string{"log"}, "a checkpoint signed by the log key")
	m.open("checkpoint.note", []string{"witness"}, "no known key signed it")
	m.open("checkpoint.note", []string{"log-next", "witness"}, "same name, other key: not a known key")
	m.open("rotation.note", []string{"log"}, "rotation: old key only")
	m.open("rotation.note", []string{"log-next"}, "rotation: new key only")
	m.open("rotation.note", []string{"log", "log-next"}, "rotation: both keys")
	m.open("blank-lines.note", []string{"log"}, "text with an empty line and non-ASCII characters")
	m.open("neumann.note", []string{"neumann"}, "the example of the Go package documentation")
	m.open("cosigned.note", []string{"log"}, "witness cosignature kept unverified")
	m.open("cosigned.note", []string{"log", "witness"}, "log signature and witness cosignature")
	m.open("rotation-reordered.note", []string{"witness", "log", "log-next"}, "signatures in Open+Sign order")
	m.open("bad-signature.note", []string{"log"}, "one bit of the signature flipped")
	m.open("bad-signature.note", []string{"witness"}, "bad signature by an unknown key is not checked")
	m.open("bad-text.note", []string{"log"}, "text altered after signing")
	m.open("duplicate-signatures.note", []string{"log"}, "a second signature by a known key is ignored; identical unknown lines are dropped")
	m.open("noncanonical-base64.note", []string{"log"}, "Go decodes base64 leniently")
	m.open("many-signatures.note", []string{"log"}, "100 signatures is the most Go accepts")
	m.open("malformed-too-many-signatures.note", []string{"log"}, "101 signatures")
	m.open("malformed-no-blank-line.note", []string{"log"}, "no blank line before the signatures")
	m.open("malformed-crlf.note", []string{"log"}, "carriage return is a control character")
	m.open("malformed-not-utf8.note", []string{"log"}, "not UTF-8")
	m.open("malformed-name-plus.note", []string{"log"}, "key name with a plus")
	m.open("malformed-short-signature.note", []string{"log"}, "signature shorter than 5 bytes")
	m.open("malformed-bad-base64.note", []string{"log"}, "not base64")
	m.open("malformed-no-final-newline.note", []string{"log"}, "last signature line has no newline")
	m.open("malformed-hyphen.note", []string{"log"}, "hyphen instead of em dash")

	check(os.MkdirAll(*out, 0o755))
	for id, k := range m.Keys {
		check(os.WriteFile(filepath.Join(*out, id+".skey"), []byte(k.Skey+"\n"), 0o600))
		check(os.WriteFile(filepath.Join(*out, id+".vkey"), []byte(k.Vkey+"\n"), 0o644))
	}
	for file, msg := range m.notes {
		check(os.WriteFile(filepath.Join(*out, file), msg, 0o644))
	}
	js, err := json.MarshalIndent(m, "", "  ")
	check(err)
	check(os.WriteFile(filepath.Join(*out, "vectors.json"), append(js, '\n'), 0o644))
}
