package main_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opengnsys/ogrepository/internal/repotest"
)

// binary is the ogrepository command built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ogrepository-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "ogrepository")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	repotest.Cleanup()
	os.Exit(code)
}

func ogrepository(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
	return string(out), err
}

func TestServeRefusesBrokenSetups(t *testing.T) {
	cases := []struct {
		name    string
		breakIt func(t *testing.T, tree *repotest.Tree)
		says    string
	}{
		{"missing config", func(t *testing.T, tr *repotest.Tree) { os.Remove(tr.ConfigFile()) },
			"ogAdmRepo.cfg: no such file"},
		{"malformed config", func(t *testing.T, tr *repotest.Tree) {
			os.WriteFile(tr.ConfigFile(), []byte("IPlocal=127.0.0.1\nnonsense\n"), 0o600)
		}, "line 2: want KEY=VALUE"},
		{"missing key", func(t *testing.T, tr *repotest.Tree) {
			os.WriteFile(tr.ConfigFile(), []byte("IPlocal=127.0.0.1\nIPcore=127.0.0.1\n"), 0o600)
		}, "ApiToken is missing"},
		{"trash elsewhere", func(t *testing.T, tr *repotest.Tree) {
			other, err := os.MkdirTemp("/dev/shm", "ogrepository-trash-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(other) })
			os.Remove(tr.Trash)
			if err := os.Symlink(other, tr.Trash); err != nil {
				t.Fatal(err)
			}
		}, "different filesystems"},
		{"no images dir", func(t *testing.T, tr *repotest.Tree) { os.Remove(tr.Images) },
			"images: no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tree := repotest.New(t)
			c.breakIt(t, tree)
			out, err := ogrepository(t, "serve", "--root", tree.Root, "--listen", "127.0.0.1:0")
			if err == nil {
				t.Fatalf("serve started:\n%s", out)
			}
			if !strings.Contains(out, c.says) {
				t.Errorf("message %q does not say %q", out, c.says)
			}
			if strings.Contains(out, tree.Config.APIToken) {
				t.Errorf("the message reveals the API key")
			}
		})
	}
}

func TestTorrentsumCommand(t *testing.T) {
	tree := repotest.New(t)
	repotest.CopyFile(t, repotest.SampleImage(t, "lzop"), filepath.Join(tree.Images, "Cli.img"))
	out, err := ogrepository(t, "torrentsum", "--root", tree.Root, "Cli.img")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, s := range []string{".sum", ".full.sum", ".size", ".torrent"} {
		if _, err := os.Stat(filepath.Join(tree.Images, "Cli.img"+s)); err != nil {
			t.Errorf("sidecar %s: %v", s, err)
		}
	}
	before := repotest.Files(t, tree.Images)
	for _, hostile := range []string{"../etc/passwd.img", "/etc/x.img", ".Cli.img", "Cli.img.sum", "a;b.img", "Missing.img"} {
		if out, err := ogrepository(t, "torrentsum", "--root", tree.Root, hostile); err == nil {
			t.Errorf("torrentsum %q succeeded:\n%s", hostile, out)
		}
	}
	if after := repotest.Files(t, tree.Images); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("refused names touched images/: %v, was %v", after, before)
	}
}

// TestServeAnswers runs the daemon as a process on a loopback port and lists the images.
func TestServeAnswers(t *testing.T) {
	tree := repotest.New(t)
	id := tree.AddImage(t, "Served.img", repotest.SampleImage(t, "lzop"))
	addr := freeAddr(t)
	cmd := exec.Command(binary, "serve", "--root", tree.Root, "--listen", addr)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitLog(t, stderr, "msg=serving")

	req, _ := http.NewRequest("GET", "http://"+addr+"/ogrepository/v1/images/"+id, nil)
	req.Header.Set("Authorization", tree.Config.APIToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"name":"Served"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitLog reads the daemon's log until a line holds want, and keeps draining it after.
func waitLog(t *testing.T, r io.Reader, want string) {
	t.Helper()
	sc := bufio.NewScanner(r)
	found := make(chan struct{})
	go func() {
		seen := false
		for sc.Scan() {
			if !seen && strings.Contains(sc.Text(), want) {
				seen = true
				close(found)
			}
		}
		if !seen {
			close(found)
		}
	}()
	select {
	case <-found:
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon never logged %q", want)
	}
}
