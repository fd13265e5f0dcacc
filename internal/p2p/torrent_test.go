package p2p

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/opengnsys/ogrepository/internal/imagehash"
)

// TestParseTorrentOfImagehash reads back what the hashing engine writes, and checks the
// info-hash against one taken by hand: the info dictionary is the last key of the canonical
// encoding, so its bytes run from after "4:info" to the final "e".
func TestParseTorrentOfImagehash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Ubuntu24.img")
	if err := os.WriteFile(path, bytes.Repeat([]byte("partclone"), 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	announce := "http://10.77.0.1:6969/announce"
	sums, err := imagehash.Compute(context.Background(), path, imagehash.Options{Announce: announce})
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(sums.Torrent, []byte("4:info"))
	if at < 0 {
		t.Fatal("no info key")
	}
	sum := sha1.Sum(sums.Torrent[at+len("4:info") : len(sums.Torrent)-1])

	got, err := ParseTorrent(sums.Torrent)
	if err != nil {
		t.Fatal(err)
	}
	want := Torrent{InfoHash: hex.EncodeToString(sum[:]), Announce: announce,
		Name: "Ubuntu24.img", Length: 9 << 20}
	if got != want {
		t.Errorf("ParseTorrent = %+v, want %+v", got, want)
	}
}

func TestParseTorrentRefusesMalformed(t *testing.T) {
	info := "d6:lengthi5e4:name5:a.img12:piece lengthi4e6:pieces0:e"
	cases := map[string]string{
		"empty":            "",
		"not a dict":       "i1e",
		"no info":          "d8:announce3:urle",
		"info not a dict":  "d4:infoi1ee",
		"truncated":        "d4:info" + info[:20],
		"trailing bytes":   "d4:info" + info + "eXX",
		"bad integer":      "d4:infod6:lengthi5x5e4:name5:a.imgee",
		"negative length":  "d4:infod4:name-1:ee",
		"huge length":      "d4:infod4:name99999999999:ee",
		"non-string key":   "d4:infodi1ei2eee",
		"no name":          "d4:infod6:lengthi5eee",
		"bad byte":         "d4:infod4:name1:ax5:b.imgee",
		"nested too deep":  "d4:info" + strings.Repeat("l", 100) + strings.Repeat("e", 100) + "e",
		"unterminated str": "d4:infod4:name",
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if got, err := ParseTorrent([]byte(data)); err == nil {
				t.Errorf("ParseTorrent(%q) = %+v, want an error", data, got)
			}
		})
	}
	good := "d8:announce3:url4:info" + info + "e"
	if got, err := ParseTorrent([]byte(good)); err != nil || got.Name != "a.img" || got.Length != 5 {
		t.Errorf("ParseTorrent(%q) = %+v, %v", good, got, err)
	}
	multi := "d4:infod5:filesle4:name1:xee"
	if got, err := ParseTorrent([]byte(multi)); err != nil || !got.Files {
		t.Errorf("ParseTorrent(%q) = %+v, %v; want Files", multi, got, err)
	}
}

func TestReadTorrentMissingAndBad(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadTorrent(filepath.Join(dir, "none.torrent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	bad := filepath.Join(dir, "bad.torrent")
	os.WriteFile(bad, []byte("garbage"), 0o644)
	if _, err := ReadTorrent(bad); !errors.Is(err, ErrBadTorrent) {
		t.Errorf("garbage: %v, want ErrBadTorrent", err)
	}
	if _, err := ReadTorrent(dir); !errors.Is(err, ErrBadTorrent) {
		t.Errorf("directory: %v, want ErrBadTorrent", err)
	}
}

// TestWhitelistNeverEmpty checks the list is sorted and unique, and that a list sharing
// nothing still holds a line: opentracker ignores a reload of an empty file.
func TestWhitelistNeverEmpty(t *testing.T) {
	dir := filepath.Join(t.TempDir(), DirName)
	a, b := strings.Repeat("a", 40), strings.Repeat("b", 40)
	if err := writeWhitelist(dir, []string{b, a, b}); err != nil {
		t.Fatal(err)
	}
	if got, err := readWhitelist(dir); err != nil || !reflect.DeepEqual(got, []string{a, b}) {
		t.Errorf("whitelist %v, %v", got, err)
	}
	if err := writeWhitelist(dir, nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, WhitelistFile))
	if len(data) == 0 || !strings.HasPrefix(string(data), "#") {
		t.Errorf("empty whitelist is %q, want a comment line", data)
	}
	if got, _ := readWhitelist(dir); len(got) != 0 {
		t.Errorf("empty whitelist reads %v", got)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("tracker directory mode: %v %v", fi.Mode(), err)
	}
}
