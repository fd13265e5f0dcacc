package main_test

import (
	"context"
	"crypto/rand"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opengnsys/ogrepository/internal/netnstest"
	"github.com/opengnsys/ogrepository/internal/repotest"
	"github.com/opengnsys/ogrepository/internal/systemdtest"
)

// testHosts is a repository whose daemon and private systemd manager run in the sender
// namespace of a netnstest.Pair, with IPlocal on the sender's veth; real clients run in
// the receiver's namespace.
type testHosts struct {
	t    *testing.T
	p    *netnstest.Pair
	mgr  *systemdtest.Manager
	tree *repotest.Tree
	d    *daemon
}

func newTestHosts(t *testing.T, serveFlags ...string) *testHosts {
	t.Helper()
	p := netnstest.New(t)
	mgr := systemdtest.ForTest(t, systemdtest.Options{NetNS: netnstest.Path(p.Sender)})
	tree := repotest.New(t)
	useTestHosts(t, tree)
	h := &testHosts{t: t, p: p, mgr: mgr, tree: tree}
	h.d = startDaemonIn(t, p.Sender, tree, mgr, newOgCore(t), serveFlags...)
	return h
}

// startDaemonIn runs the daemon inside network namespace ns, where mgr must run too; extra
// flags are added to serve's. The callback server must then be reachable from ns.
func startDaemonIn(t *testing.T, ns string, tree *repotest.Tree, mgr *systemdtest.Manager,
	core *ogCore, extra ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, tree: tree, mgr: mgr, core: core, addr: "127.0.0.1:8006", netns: ns,
		extra:  extra,
		client: &http.Client{Transport: &http.Transport{DialContext: netnstest.DialContext(ns)}}}
	d.start()
	t.Cleanup(d.kill)
	return d
}

// useTestHosts points the tree's IPlocal at the sender of a netnstest.Pair.
func useTestHosts(t *testing.T, tree *repotest.Tree) {
	t.Helper()
	tree.Config.IPlocal = netnstest.SenderIP
	text := "IPlocal=" + netnstest.SenderIP + "\nIPcore=" + tree.Config.IPcore +
		"\nApiToken=" + tree.Config.APIToken + "\n"
	if err := os.WriteFile(tree.ConfigFile(), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// randomImage adds an image of size random bytes (a stand-in: transmissions send any
// file) with its sidecars, and returns its ID.
func (h *testHosts) randomImage(name string, size int64) string {
	h.t.Helper()
	src := filepath.Join(h.t.TempDir(), name)
	f, err := os.Create(src)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		h.t.Fatal(err)
	}
	f.Close()
	id := h.tree.AddImage(h.t, name, src)
	os.Remove(src)
	return id
}

// checkReadOnly fails the test unless unit, which must be running, has the file system
// read-only to it and the rest of systemd.ReadOnly.
func (h *testHosts) checkReadOnly(unit string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := h.mgr.Systemctl(ctx, "show", "-p",
		"ActiveState,ProtectSystem,ProtectHome,PrivateDevices,NoNewPrivileges", unit)
	if err != nil {
		h.t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	want := map[string]string{"ActiveState": "active", "ProtectSystem": "strict",
		"ProtectHome": "read-only", "PrivateDevices": "yes", "NoNewPrivileges": "yes"}
	if !maps.Equal(got, want) {
		h.t.Errorf("%s runs with %v, want %v", unit, got, want)
	}
}
