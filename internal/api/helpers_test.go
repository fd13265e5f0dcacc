package api_test

import (
	"os/exec"
	"strconv"
	"testing"

	"github.com/opengnsys/ogrepository/internal/partclone/partclonetest"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func repotestRequire(t *testing.T, tools ...string) { partclonetest.RequireTools(t, tools...) }

func execCommand(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// runShell runs a fixed script with sh; the test's values arrive as positional arguments.
func runShell(t *testing.T, script string, args ...string) string {
	t.Helper()
	repotestRequire(t, "sh")
	out, err := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("sh -c %q: %v\n%s", script, err, out)
	}
	return string(out)
}

func ntfsImage(t *testing.T) string {
	t.Helper()
	return partclonetest.MakeNTFSImage(t, t.TempDir(), 16,
		map[string][]byte{"pagefile.sys": make([]byte, 1<<20), "boot.ini": []byte("[boot]\n")}, "lzop")
}
