package imagename

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	good := []struct {
		in, base, typ string
		kind          Kind
	}{
		{"Ubuntu24.img", "Ubuntu24", "img", Image},
		{"win_10-pro.v2.img", "win_10-pro.v2", "img", Image},
		{"Disk.dsk", "Disk", "dsk", Image},
		{"VM.VDI", "VM", "vdi", Virtual},
		{"vm.qcow2", "vm", "qcow2", Virtual},
		{"UbuntuVM.vdi", "UbuntuVM", "vdi", Virtual},
		{"a.vhdx", "a", "vhdx", Virtual},
	}
	for _, c := range good {
		n, err := Parse(c.in, c.kind)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if n.String() != c.in || n.Base() != c.base || n.Type() != c.typ {
			t.Errorf("Parse(%q) = %q base %q type %q", c.in, n, n.Base(), n.Type())
		}
	}

	bad := []struct {
		in   string
		kind Kind
	}{
		{"", Image},
		{".img", Image},
		{".hidden.img", Image},
		{"..", Image},
		{"../etc/passwd.img", Image},
		{"/etc/shadow.img", Image},
		{"a/b.img", Image},
		{"a\\b.img", Image},
		{"nul\x00.img", Image},
		{"space name.img", Image},
		{"semi;colon.img", Image},
		{"$(reboot).img", Image},
		{"name.img\n", Image},
		{"ñandú.img", Image},
		{"image.iso", Image},
		{"UP.IMG", Image},
		{"-dash.img", Image},
		{"--file=x.img", Image},
		{"image.img.sum", Image},
		{"image", Image},
		{"vm.img", Virtual},
		{strings.Repeat("a", 300) + ".img", Image},
	}
	for _, c := range bad {
		if n, err := Parse(c.in, c.kind); err == nil {
			t.Errorf("Parse(%q) accepted as %q", c.in, n)
		} else if !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q): %v does not wrap ErrInvalid", c.in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"a.img", "../x.img", ".x.img", "x\x00.img", "a/b.dsk"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s, Image)
		if err != nil {
			return
		}
		if filepath.Base(n.In("/repo")) != s || filepath.Dir(n.In("/repo")) != "/repo" {
			t.Fatalf("%q escapes its directory: %s", s, n.In("/repo"))
		}
		if s[0] == '.' || strings.ContainsAny(s, "/\x00") {
			t.Fatalf("%q accepted", s)
		}
	})
}

func TestCheckInside(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "images")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(sub, "real.img"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "outside.img"), []byte("x"), 0o644)
	os.Symlink("real.img", filepath.Join(sub, "in.img"))
	os.Symlink("../outside.img", filepath.Join(sub, "out.img"))
	os.Symlink("/etc/passwd", filepath.Join(sub, "abs.img"))

	for name, want := range map[string]error{
		"real.img": nil, "in.img": nil, "out.img": ErrOutside, "abs.img": ErrOutside,
		"none.img": os.ErrNotExist,
	} {
		_, err := CheckInside(sub, filepath.Join(sub, name))
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("CheckInside(%s) = %v, want %v", name, err, want)
		}
	}
}
