package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	cases := []struct {
		name, text, wantErr string
	}{
		{"ok", "# repository\nIPlocal=10.1.2.3\nIPcore=core.example\nApiToken=0123456789abcdef\nOther=x\n", ""},
		{"quoted", "IPlocal=\"10.1.2.3\"\nIPcore='10.1.2.4'\nApiToken=0123456789abcdef\n", ""},
		{"comments", "\uFEFFIPlocal=10.1.2.3   # this repository\nexport IPcore=10.1.2.4\n" +
			"ApiToken='0123456789abcdef' # the key\n", ""},
		{"blank in value", "IPlocal=10.1.2.3\nIPcore=10.1.2.4\nApiToken=0123456789abcdef x\n", "after the value"},
		{"open quote", "IPlocal=\"10.1.2.3\n", "unterminated"},
		{"missing key", "IPlocal=10.1.2.3\nApiToken=0123456789abcdef\n", "IPcore is missing"},
		{"bad ip", "IPlocal=ten\nIPcore=10.1.2.4\nApiToken=0123456789abcdef\n", "IPlocal \"ten\""},
		{"bad host", "IPlocal=10.1.2.3\nIPcore=a b\nApiToken=0123456789abcdef\n", "IPcore"},
		{"short token", "IPlocal=10.1.2.3\nIPcore=10.1.2.4\nApiToken=abc\n", "shorter"},
		{"malformed", "IPlocal 10.1.2.3\n", "line 1"},
		{"empty", "", "IPlocal is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ConfigFileName)
			if err := os.WriteFile(path, []byte(c.text), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.IPlocal != "10.1.2.3" || cfg.APIToken != "0123456789abcdef" {
					t.Errorf("loaded %+v", cfg)
				}
				if cfg.Announce() != "http://10.1.2.3:6969/announce" {
					t.Errorf("announce %s", cfg.Announce())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, c.wantErr)
			}
			if strings.Contains(err.Error(), "0123456789abcdef") {
				t.Errorf("error message reveals the API key: %v", err)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.cfg")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestAnnounceIPv6(t *testing.T) {
	c := Config{IPlocal: "fd00::1"}
	if got := c.Announce(); got != "http://[fd00::1]:6969/announce" {
		t.Errorf("announce %s", got)
	}
}
