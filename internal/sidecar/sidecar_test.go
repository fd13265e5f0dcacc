package sidecar

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/opengnsys/ogrepository/internal/imagename"
)

func TestParseInfo(t *testing.T) {
	in, err := ParseInfo("PARTCLONE:LZOP:EXTFS:5642158:pc1\n")
	if err != nil {
		t.Fatal(err)
	}
	want := ImageInfo{"partclone", "lzop", "EXTFS", 5642158 * 1024, "pc1"}
	if in != want {
		t.Errorf("got %+v, want %+v", in, want)
	}
	if in, err := ParseInfo("PARTCLONE:LZOP:NTFS:1:name:with:colons"); err != nil || in.ClientName != "name:with:colons" {
		t.Errorf("client name with colons: %+v %v", in, err)
	}
	for _, bad := range []string{"", "A:B:C:D", "PARTCLONE:LZOP:EXTFS:many:pc", "P:L:E:-1:pc", "P:L:E:99999999999999999:pc"} {
		if _, err := ParseInfo(bad); err == nil {
			t.Errorf("ParseInfo(%q) accepted", bad)
		}
	}
}

func TestWriteAndRead(t *testing.T) {
	dir := t.TempDir()
	n := imagename.MustParse("a.img", imagename.Image)
	h := Hashes{Size: 42, Sum: "0123456789abcdef0123456789abcdef",
		FullSum: "fedcba9876543210fedcba9876543210", Torrent: []byte("d4:infod4:name5:a.imgee")}
	if err := Write(dir, n, h); err != nil {
		t.Fatal(err)
	}
	for suffix, want := range map[string]string{
		Size: "42\n", Sum: h.Sum + "\n", FullSum: h.FullSum + "\n", Torrent: string(h.Torrent),
	} {
		b, err := os.ReadFile(n.Sidecar(dir, suffix))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q (%v), want %q", suffix, b, err, want)
		}
	}
	if size, err := ReadSize(dir, n); err != nil || size != 42 {
		t.Errorf("ReadSize = %d, %v", size, err)
	}
	if s, err := ReadMD5(dir, n, FullSum); err != nil || s != h.FullSum {
		t.Errorf("ReadMD5 = %s, %v", s, err)
	}
	if err := Write(dir, n, Hashes{Sum: "nope", FullSum: h.FullSum}); err == nil {
		t.Error("Write accepted a malformed MD5")
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	os.WriteFile(n.Sidecar(dir, Sum), []byte("not a sum\n"), 0o644)
	if _, err := ReadMD5(dir, n, Sum); err == nil {
		t.Error("ReadMD5 accepted garbage")
	}
}
