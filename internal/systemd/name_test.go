package systemd

import (
	"strings"
	"testing"
)

func TestUnitName(t *testing.T) {
	long := strings.Repeat("a", maxPart)
	tests := []struct {
		name  string
		kind  string
		parts []string
		want  string // "" means an error is expected
	}{
		{"image file name", "udpcast", []string{"Ubuntu24.img"},
			"ogrepository-udpcast-Ubuntu24.img.service"},
		{"several parts", "job", []string{"torrent", "Ubuntu24.img", "a_b-c"},
			"ogrepository-job-torrent-Ubuntu24.img-a_b-c.service"},
		{"longest part", "k", []string{long}, "ogrepository-k-" + long + ".service"},
		{"path traversal", "udpcast", []string{"../x"}, ""},
		{"slash", "udpcast", []string{"a/b"}, ""},
		{"only dots", "udpcast", []string{".."}, ""},
		{"space", "udpcast", []string{"a b"}, ""},
		{"semicolon", "udpcast", []string{"x;y"}, ""},
		{"empty part", "udpcast", []string{""}, ""},
		{"no parts", "udpcast", nil, ""},
		{"NUL", "udpcast", []string{"a\x00b"}, ""},
		{"newline", "udpcast", []string{"a\nb"}, ""},
		{"unicode", "udpcast", []string{"imagen-ñ.img"}, ""},
		{"template at", "udpcast", []string{"a@b"}, ""},
		{"backslash", "udpcast", []string{`a\x2db`}, ""},
		{"glob", "udpcast", []string{"a*"}, ""},
		{"part too long", "udpcast", []string{long + "a"}, ""},
		{"name too long", "k", []string{long, strings.Repeat("b", 40)}, ""},
		{"bad kind", "ud pcast", []string{"x"}, ""},
		{"empty kind", "", []string{"x"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UnitName(tt.kind, tt.parts...)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("UnitName(%q, %q) = %q, want an error", tt.kind, tt.parts, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("UnitName(%q, %q) = %q, %v; want %q", tt.kind, tt.parts, got, err,
					tt.want)
			}
			if err := checkOwnUnit(got); err != nil {
				t.Errorf("built name %q refused as this project's: %v", got, err)
			}
		})
	}
}

func TestUnitNameWithSuffix(t *testing.T) {
	got, err := UnitNameWithSuffix("tracker", ".socket", "main")
	if err != nil || got != "ogrepository-tracker-main.socket" {
		t.Fatalf("UnitNameWithSuffix = %q, %v", got, err)
	}
	for _, suffix := range []string{"", "service", ".bogus", ".service/x"} {
		if got, err := UnitNameWithSuffix("tracker", suffix, "main"); err == nil {
			t.Errorf("UnitNameWithSuffix with suffix %q = %q, want an error", suffix, got)
		}
	}
}

func TestCheckOwnUnit(t *testing.T) {
	for _, name := range []string{"ssh.service", "ogrepository-x", "ogrepository-a b.service",
		"ogrepository-x.bogus", "ogrepository-a@b.service", ""} {
		if err := checkOwnUnit(name); err == nil {
			t.Errorf("checkOwnUnit(%q) accepted", name)
		}
	}
}

func TestParseBus(t *testing.T) {
	for _, s := range []string{"system", "user"} {
		if b, err := ParseBus(s); err != nil || string(b) != s {
			t.Errorf("ParseBus(%q) = %q, %v", s, b, err)
		}
	}
	for _, s := range []string{"", "session", "System"} {
		if _, err := ParseBus(s); err == nil {
			t.Errorf("ParseBus(%q) accepted", s)
		}
	}
}
