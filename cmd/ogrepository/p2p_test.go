package main_test

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/opengnsys/ogrepository/internal/imagehash"
	"github.com/opengnsys/ogrepository/internal/netnstest"
	"github.com/opengnsys/ogrepository/internal/p2p"
	"github.com/opengnsys/ogrepository/internal/partclone/partclonetest"
	"github.com/opengnsys/ogrepository/internal/repotest"
	"github.com/opengnsys/ogrepository/internal/systemd"
)

// p2pTimeout guards each wait of these tests against a hang; it asserts nothing about speed.
const p2pTimeout = 5 * time.Minute

// p2pHosts is a repository daemon and its private manager in the sender namespace of a
// Pair, with the tracker's address IPlocal there, and clients in the receiver namespace.
type p2pHosts struct {
	*testHosts
	units *systemd.Conn
	// receiver is an HTTP client inside the receiver namespace, to ask the tracker as a
	// client would.
	receiver *http.Client
}

func newP2PHosts(t *testing.T) *p2pHosts {
	t.Helper()
	partclonetest.RequireTools(t, "opentracker", "aria2c", "ctorrent", "nsenter")
	hosts := newTestHosts(t, "--log-level", "debug")
	p, mgr, tree := hosts.p, hosts.mgr, hosts.tree
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	units, err := systemd.DialAddress(ctx, mgr.BusAddress)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(units.Close)
	h := &p2pHosts{testHosts: hosts, units: units,
		receiver: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: netnstest.DialContext(p.Receiver)}}}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		logs, _ := filepath.Glob(filepath.Join(tree.Log, "units", "*"))
		for _, l := range logs {
			data, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", filepath.Base(l), tail(string(data)))
		}
		if h.d.stder != nil {
			t.Logf("daemon:\n%s", tail(h.d.stder.String()))
		}
		if h.d.cmd != nil && h.d.cmd.Process != nil {
			var info unix.Siginfo
			err := unix.Waitid(unix.P_PID, h.d.cmd.Process.Pid, &info,
				unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
			t.Logf("daemon process: %+v %v", info, err)
		}
	})
	return h
}

// active lists the P2P units that are not inactive.
func (h *p2pHosts) active() []string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	units, err := h.units.List(ctx, p2p.SeederPattern, systemd.Prefix+"tracker*")
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, u := range units {
		if u.ActiveState != "inactive" {
			out = append(out, u.Name+"="+u.ActiveState)
		}
	}
	return out
}

// trackerPID is the tracker unit's main process.
func (h *p2pHosts) trackerPID() uint32 {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, err := h.units.Unit(ctx, p2p.TrackerUnit)
	if err != nil {
		h.t.Fatal(err)
	}
	return u.MainPID
}

// infoHash reads the info-hash of an image's .torrent.
func (h *p2pHosts) infoHash(image string) string {
	h.t.Helper()
	tor, err := p2p.ReadTorrent(filepath.Join(h.tree.Images, image+".torrent"))
	if err != nil {
		h.t.Fatal(err)
	}
	return tor.InfoHash
}

// tracker asks the tracker, from the receiver namespace, what="scrape" or "announce" about
// the info-hash, and returns its bencoded answer. An announce is a client's first; one the
// tracker takes is followed by a "stopped" one, so the test leaves no peer behind.
func (h *p2pHosts) tracker(what, infoHash string) string {
	h.t.Helper()
	raw, err := hex.DecodeString(infoHash)
	if err != nil {
		h.t.Fatal(err)
	}
	// Every byte escaped, as clients do: opentracker takes a "+" for a "+", not a space,
	// so url.QueryEscape would ask about another info-hash whenever one holds a 0x20.
	q := "info_hash="
	for _, c := range raw {
		q += fmt.Sprintf("%%%02X", c)
	}
	if what == "announce" {
		q += "&peer_id=-OGRTEST-0123456789a&port=6881&uploaded=0&downloaded=0&left=1&compact=1"
		if got := h.get(what, q); strings.Contains(got, "failure reason") {
			return got
		}
		// The tracker checks no whitelist for a peer leaving.
		return h.get(what, q+"&event=stopped")
	}
	return h.get(what, q)
}

func (h *p2pHosts) get(what, query string) string {
	h.t.Helper()
	resp, err := h.receiver.Get("http://" + netnstest.SenderIP + ":6969/" + what + "?" + query)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

var scrapeComplete = regexp.MustCompile(`8:completei([0-9]+)e`)

// waitSeeded waits until the tracker counts a seeder of the info-hash: ctorrent started
// before the seeder's first announce would find no peer until its next one.
func (h *p2pHosts) waitSeeded(infoHash string) {
	h.t.Helper()
	deadline := time.Now().Add(p2pTimeout)
	for time.Now().Before(deadline) {
		m := scrapeComplete.FindStringSubmatch(h.tracker("scrape", infoHash))
		if m != nil && m[1] != "0" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("the tracker never counted a seeder of %s", infoHash)
}

// download fetches the image with ctorrent in the receiver namespace, as a client does, and
// returns the received file's MD5 and how long ctorrent took to have it all (it then takes
// its leave of the tracker and peers before it exits).
func (h *p2pHosts) download(image string) (string, time.Duration) {
	h.t.Helper()
	h.waitSeeded(h.infoHash(image))
	dir := h.t.TempDir()
	torrent := filepath.Join(dir, image+".torrent")
	repotest.CopyFile(h.t, filepath.Join(h.tree.Images, image+".torrent"), torrent)
	out := filepath.Join(dir, image)
	ctx, cancel := context.WithTimeout(context.Background(), p2pTimeout)
	defer cancel()
	// -e 0: exit as soon as the download is complete, seeding for no one.
	cmd := netnstest.Command(ctx, h.p.Receiver, "ctorrent", "-e", "0", "-i", netnstest.ReceiverIP,
		"-b", filepath.Join(dir, "bitfield"), "-s", out, torrent)
	log := &progressLog{want: "Download complete", start: time.Now()}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		h.t.Fatalf("ctorrent %s: %v\n%s", image, err, tail(log.String()))
	}
	h.t.Logf("ctorrent %s: complete after %v, exited after %v", image, log.seen,
		time.Since(log.start))
	if log.seen == 0 {
		h.t.Fatalf("ctorrent exited without completing %s:\n%s", image, tail(log.String()))
	}
	return p2pMD5(h.t, out), log.seen
}

// progressLog keeps a program's output and notes when a line first says want.
type progressLog struct {
	strings.Builder
	want  string
	start time.Time
	seen  time.Duration
}

func (l *progressLog) Write(p []byte) (int, error) {
	l.Builder.Write(p)
	if l.seen == 0 && strings.Contains(l.String(), l.want) {
		l.seen = time.Since(l.start)
	}
	return len(p), nil
}

func tail(s string) string {
	if len(s) > 20000 {
		return s[len(s)-20000:]
	}
	return s
}

func p2pMD5(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum := md5.New()
	if _, err := io.Copy(sum, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(sum.Sum(nil))
}

func (h *p2pHosts) whitelist() string {
	h.t.Helper()
	data, err := os.ReadFile(filepath.Join(h.tree.Etc, p2p.DirName, p2p.WhitelistFile))
	if err != nil {
		h.t.Fatal(err)
	}
	return string(data)
}

// post starts seeding an image, failing the test unless it answers 200; it returns how long
// the call took: it returns once the seeder unit runs.
func (h *p2pHosts) post(id string) (map[string]any, time.Duration) {
	h.t.Helper()
	start := time.Now()
	status, body := h.d.call("POST", "/p2p", `{"ID_img": "`+id+`"}`)
	took := time.Since(start)
	if status != 200 || body["success"] != true {
		h.t.Fatalf("POST /p2p %s: %d %v\n%s", id, status, body, h.d.stder)
	}
	return body, took
}

// imageWithSpaceInInfoHash adds a random image whose info-hash holds a 0x20 byte, which a
// query escaper may write as "+" and opentracker would then read as another info-hash:
// about one random image in thirteen has one, so this tries until one does.
func (h *p2pHosts) imageWithSpaceInInfoHash(name string, size int64) string {
	h.t.Helper()
	src := filepath.Join(h.t.TempDir(), name)
	for try := 1; try <= 500; try++ {
		data := make([]byte, size)
		if _, err := rand.Read(data); err != nil {
			h.t.Fatal(err)
		}
		if err := os.WriteFile(src, data, 0o644); err != nil {
			h.t.Fatal(err)
		}
		sums, err := imagehash.Compute(context.Background(), src,
			imagehash.Options{Announce: h.tree.Config.Announce()})
		if err != nil {
			h.t.Fatal(err)
		}
		tor, err := p2p.ParseTorrent(sums.Torrent)
		if err != nil {
			h.t.Fatal(err)
		}
		if raw, _ := hex.DecodeString(tor.InfoHash); slices.Contains(raw, ' ') {
			id := h.tree.AddImage(h.t, name, src)
			if got := h.infoHash(name); got != tor.InfoHash {
				h.t.Fatalf("the repository's torrent of %s has info-hash %s, not %s", name, got,
					tor.InfoHash)
			}
			return id
		}
	}
	h.t.Fatalf("500 random images of %d bytes, none with a 0x20 byte in its info-hash", size)
	return ""
}

// TestP2PBadRequestsStartNothing sends hostile and malformed bodies: each is a 400 naming
// its field or its problem, and no unit starts.
func TestP2PBadRequestsStartNothing(t *testing.T) {
	h := newP2PHosts(t)
	id := h.randomImage("Plain.img", 1<<20)
	noTorrent := h.randomImage("NoTorrent.img", 1<<20)
	os.Remove(filepath.Join(h.tree.Images, "NoTorrent.img.torrent"))
	wrongTracker := h.randomImage("Elsewhere.img", 1<<20)
	moved := h.randomImage("Moved.img", 1<<20)
	// A torrent for another repository's tracker, and one naming another file.
	for image, from := range map[string]string{"Elsewhere.img": netnstest.SenderIP + ":6969",
		"Moved.img": "9:Moved.img"} {
		path := filepath.Join(h.tree.Images, image+".torrent")
		data, _ := os.ReadFile(path)
		to := map[string]string{"Elsewhere.img": "10.77.0.9:6969", "Moved.img": "9:Other.img"}[image]
		os.WriteFile(path, []byte(strings.Replace(string(data), from, to, 1)), 0o644)
	}
	before := repotest.Files(t, h.tree.Images)

	cases := []struct{ name, body, says string }{
		{"empty body", ``, "body"},
		{"not JSON", `ID_img=` + id, "body"},
		{"missing ID", `{}`, "ID_img"},
		{"ID a number", `{"ID_img": 12345}`, "ID_img"},
		{"ID too short", `{"ID_img": "abc"}`, "ID_img"},
		{"ID with a path", `{"ID_img": "../../../etc/passwd"}`, "ID_img"},
		{"ID with shell", `{"ID_img": "` + id[:30] + `;reboot"}`, "ID_img"},
		{"ID with NUL", `{"ID_img": "` + id[:31] + `\u0000"}`, "ID_img"},
		{"ID an array", `{"ID_img": ["` + id + `"]}`, "ID_img"},
		{"unknown image", `{"ID_img": "0123456789abcdef0123456789abcdef"}`, "no image with ID"},
		{"no torrent", `{"ID_img": "` + noTorrent + `"}`, "run torrentsum first"},
		{"other tracker", `{"ID_img": "` + wrongTracker + `"}`, "not to this repository's tracker"},
		{"other file", `{"ID_img": "` + moved + `"}`, `names the file "Other.img"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := h.d.call("POST", "/p2p", c.body)
			msg, _ := body["error"].(string)
			if status != 400 || !strings.Contains(msg, c.says) {
				t.Errorf("POST /p2p %s: %d %v, want 400 saying %q", c.body, status, body, c.says)
			}
		})
	}
	for _, path := range []string{"/p2p/images/" + id, "/p2p/images/0123456789abcdef0123456789abcdef",
		"/p2p/images/xyz", "/p2p/images/" + id + "x"} {
		if status, body := h.d.call("DELETE", path, ""); status != 400 {
			t.Errorf("DELETE %s: %d %v, want 400", path, status, body)
		}
	}
	if units := h.active(); len(units) != 0 {
		t.Errorf("bad requests left units: %v", units)
	}
	if after := repotest.Files(t, h.tree.Images); !slices.Equal(before, after) {
		t.Errorf("images/ changed: %v, then %v", before, after)
	}
}

// TestP2PToCtorrent seeds two images, downloads both with ctorrent from another namespace,
// restarts the daemon, stops one image by its own DELETE (its info-hash then refused by the
// tracker) while the other still downloads, reports a seeder that died, and stops all.
func TestP2PToCtorrent(t *testing.T) {
	h := newP2PHosts(t)
	// Pieces of 4 MiB, the last one short; and an info-hash that must be escaped byte by byte.
	small := h.imageWithSpaceInInfoHash("Small.img", 4<<20+12345)
	big := h.randomImage("Big.img", 128<<20)
	before := repotest.Files(t, h.tree.Images)

	body, took := h.post(small)
	t.Logf("POST /p2p (tracker and seeder started): %v: %v", took, body["output"])
	if units := h.active(); !slices.Equal(units, []string{"ogrepository-seeder-Small.img.service=active",
		"ogrepository-tracker.service=active"}) {
		t.Fatalf("units after POST: %v", units)
	}
	// Every later change of the whitelist must be taken by this tracker, by rereading it:
	// a restart would mean the daemon found the tracker refusing what the list says.
	tracker := h.trackerPID()
	body, took = h.post(small)
	t.Logf("POST /p2p again: %v: %v", took, body["output"])
	if len(h.active()) != 2 {
		t.Errorf("second POST of the same image: units %v, want still one seeder", h.active())
	}
	_, took = h.post(big)
	t.Logf("POST /p2p of a second image (seeder started): %v", took)
	for _, img := range []string{"Small.img", "Big.img"} {
		if !strings.Contains(h.whitelist(), h.infoHash(img)+"\n") {
			t.Errorf("whitelist lacks %s:\n%s", img, h.whitelist())
		}
	}
	_, rep := h.d.call("GET", "/status", "")
	if p, _ := rep["processes"].(map[string]any); p["tracker"] != "running" || p["seeder"] != "running" {
		t.Errorf("GET /status while seeding: processes %v", rep["processes"])
	}
	h.socketsOnIPlocal()
	h.checkReadOnly(p2p.TrackerUnit)
	h.checkReadOnly("ogrepository-seeder-Small.img.service")

	sum, took := h.download("Small.img")
	if sum != small {
		t.Errorf("received Small.img has MD5 %s, want %s", sum, small)
	}
	t.Logf("ctorrent download of Small.img (4 MiB): %v", took)

	h.d.kill()
	h.d.start()
	if status, body := h.d.call("DELETE", "/p2p/images/"+small, ""); status != 200 {
		t.Fatalf("DELETE /p2p/images/%s after a restart: %d %v\n%s", small, status, body, h.d.stder)
	}
	if units := h.active(); !slices.Equal(units, []string{"ogrepository-seeder-Big.img.service=active",
		"ogrepository-tracker.service=active"}) {
		t.Errorf("units after stopping Small.img: %v", units)
	}
	if wl := h.whitelist(); strings.Contains(wl, h.infoHash("Small.img")) ||
		!strings.Contains(wl, h.infoHash("Big.img")) {
		t.Errorf("whitelist after stopping Small.img:\n%s", wl)
	}
	h.waitRefused(h.infoHash("Small.img"))
	if pid := h.trackerPID(); pid != tracker {
		t.Errorf("the tracker was restarted (pid %d, then %d): it did not take a whitelist", tracker, pid)
	}
	if got := h.tracker("announce", h.infoHash("Big.img")); strings.Contains(got, "failure reason") {
		t.Errorf("tracker refuses Big.img still seeding: %s", got)
	}
	if status, body := h.d.call("DELETE", "/p2p/images/"+small, ""); status != 400 ||
		!strings.Contains(body["error"].(string), "no seeder of Small.img") {
		t.Errorf("DELETE of an image not seeded: %d %v", status, body)
	}

	sum, took = h.download("Big.img")
	if sum != big {
		t.Errorf("received Big.img has MD5 %s, want %s", sum, big)
	}
	t.Logf("ctorrent download of Big.img (128 MiB) over the veth: %v (%.0f MiB/s)", took,
		128/took.Seconds())

	h.seederDies("Big.img", big)

	h.post(small) // seeding again, for DELETE /p2p to stop
	for _, method := range []string{"trash", "permanent"} {
		if status, body := h.d.call("DELETE", "/images/"+small+"?method="+method, ""); status != 409 {
			t.Errorf("DELETE ?method=%s of an image being seeded: %d %v", method, status, body)
		}
	}
	status, body := h.d.call("DELETE", "/p2p", "")
	if status != 200 {
		t.Fatalf("DELETE /p2p: %d %v", status, body)
	}
	t.Logf("DELETE /p2p: %v", body["output"])
	if units := h.active(); len(units) != 0 {
		t.Errorf("units after DELETE /p2p: %v", units)
	}
	if wl := h.whitelist(); strings.Contains(wl, h.infoHash("Small.img")) {
		t.Errorf("whitelist after DELETE /p2p:\n%s", wl)
	}
	_, rep = h.d.call("GET", "/status", "")
	if p, _ := rep["processes"].(map[string]any); p["tracker"] != "stopped" || p["seeder"] != "stopped" {
		t.Errorf("GET /status after DELETE /p2p: processes %v", rep["processes"])
	}
	if status, body := h.d.call("DELETE", "/p2p", ""); status != 200 {
		t.Errorf("DELETE /p2p with nothing running: %d %v", status, body)
	}

	after := repotest.Files(t, h.tree.Images)
	if !slices.Equal(before, after) {
		t.Errorf("seeding changed images/: %v, then %v", before, after)
	}
	if got := p2pMD5(t, filepath.Join(h.tree.Images, "Big.img")); got != big {
		t.Errorf("Big.img changed while seeded: MD5 %s", got)
	}
}

// socketsOnIPlocal checks, with ss in the sender namespace, that every socket of the
// tracker and the seeders is on IPlocal, and that the seeders have no UDP socket at all (no
// DHT, no local peer discovery).
func (h *p2pHosts) socketsOnIPlocal() {
	h.t.Helper()
	// A seeder opens its sockets once it has verified its image: wait for both seeders'.
	deadline := time.Now().Add(p2pTimeout)
	for {
		seen, out := h.sockets()
		if seen["aria2c"] >= 2 && seen["opentracker"] >= 2 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Errorf("sockets seen %v, want the seeders' and the tracker's:\n%s", seen, out)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sockets counts the seeders' and the tracker's sockets in the sender namespace, failing
// the test for any that is not on IPlocal or, for a seeder, not TCP.
func (h *p2pHosts) sockets() (map[string]int, string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := netnstest.Command(ctx, h.p.Sender, "ss", "-Htuanp").CombinedOutput()
	if err != nil {
		h.t.Fatalf("ss: %v\n%s", err, out)
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 7 {
			continue
		}
		for _, prog := range []string{"aria2c", "opentracker"} {
			if !strings.Contains(f[6], `"`+prog+`"`) {
				continue
			}
			seen[prog]++
			if !strings.HasPrefix(f[4], netnstest.SenderIP+":") {
				h.t.Errorf("%s socket not on IPlocal: %s", prog, line)
			}
			if prog == "aria2c" && f[0] != "tcp" {
				h.t.Errorf("seeder has a %s socket: %s", f[0], line)
			}
		}
	}
	return seen, string(out)
}

// waitRefused waits until the tracker, which rereads its whitelist on a signal, refuses
// announces of the info-hash.
func (h *p2pHosts) waitRefused(infoHash string) {
	h.t.Helper()
	deadline := time.Now().Add(p2pTimeout)
	var got string
	for time.Now().Before(deadline) {
		if got = h.tracker("announce", infoHash); strings.Contains(got, "not authorized") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("tracker still takes announces of %s: %s", infoHash, got)
}

// seederDies kills the image's seeder: GET /p2p reports it failed, once, and resets its
// unit; DELETE of the image is then a 400, since nothing seeds it.
func (h *p2pHosts) seederDies(image, id string) {
	h.t.Helper()
	unit := "ogrepository-seeder-" + image + ".service"
	h.signal(unit, unix.SIGKILL)

	status, body := h.d.call("GET", "/p2p", "")
	failed, _ := body["failed"].([]any)
	if status != 200 || len(failed) != 1 ||
		failed[0].(map[string]any)["image_id"] != id || failed[0].(map[string]any)["result"] != "signal" {
		h.t.Errorf("GET /p2p after the seeder died: %d %v", status, body)
	}
	if seeders, _ := body["seeders"].([]any); len(seeders) != 0 {
		h.t.Errorf("GET /p2p lists a dead seeder as running: %v", body)
	}
	if _, body := h.d.call("GET", "/p2p", ""); body["failed"] != nil {
		h.t.Errorf("GET /p2p reports the failure twice: %v", body)
	}
	if units := h.active(); slices.Contains(units, unit+"=failed") {
		h.t.Errorf("failed seeder not reset: %v", units)
	}
	if wl := h.whitelist(); strings.Contains(wl, h.infoHash(image)) {
		h.t.Errorf("a dead seeder's info-hash stays on the whitelist:\n%s", wl)
	}
	if status, body := h.d.call("DELETE", "/p2p/images/"+id, ""); status != 400 {
		h.t.Errorf("DELETE of a dead seeder: %d %v", status, body)
	}
}

// TestP2PStoppedFromOutside stops a seeder and then the tracker with a plain SIGTERM, as
// an administrator's kill would: systemd counts both as clean exits, so no failed unit is
// left to report. GET /p2p must still notice: the seeder's info-hash is reported once and
// leaves the whitelist, and the tracker is started again for the seeder still running.
func TestP2PStoppedFromOutside(t *testing.T) {
	h := newP2PHosts(t)
	gone := h.randomImage("Gone.img", 1<<20)
	kept := h.randomImage("Kept.img", 1<<20)
	h.post(gone)
	h.post(kept)
	goneHash, keptHash := h.infoHash("Gone.img"), h.infoHash("Kept.img")

	h.signal("ogrepository-seeder-Gone.img.service", unix.SIGTERM)
	// A DELETE finds it gone first, and cleans the whitelist; the listing must still tell.
	if status, body := h.d.call("DELETE", "/p2p/images/"+gone, ""); status != 400 {
		t.Errorf("DELETE of a seeder stopped from outside: %d %v", status, body)
	}
	status, body := h.d.call("GET", "/p2p", "")
	vanished, _ := body["vanished"].([]any)
	seeders, _ := body["seeders"].([]any)
	if status != 200 || len(vanished) != 1 || vanished[0] != goneHash || len(seeders) != 1 {
		t.Errorf("GET /p2p after a SIGTERM to a seeder: %d %v", status, body)
	}
	if _, body := h.d.call("GET", "/p2p", ""); body["vanished"] != nil {
		t.Errorf("GET /p2p reports the vanished seeder twice: %v", body)
	}
	if wl := h.whitelist(); strings.Contains(wl, goneHash) || !strings.Contains(wl, keptHash) {
		t.Errorf("whitelist after a seeder was stopped from outside:\n%s", wl)
	}
	h.waitRefused(goneHash)

	old := h.trackerPID()
	h.signal(p2p.TrackerUnit, unix.SIGTERM)
	status, body = h.d.call("GET", "/p2p", "")
	if pid, _ := body["tracker_pid"].(float64); status != 200 || body["tracker"] != "active" ||
		pid == 0 || uint32(pid) == old {
		t.Errorf("GET /p2p after a SIGTERM to the tracker (pid %d): %d %v", old, status, body)
	}
	if got := h.tracker("announce", keptHash); strings.Contains(got, "failure reason") {
		t.Errorf("the restarted tracker refuses Kept.img, still seeding: %s", got)
	}
	h.checkReadOnly(p2p.TrackerUnit)
	if status, body := h.d.call("DELETE", "/p2p", ""); status != 200 {
		t.Errorf("DELETE /p2p: %d %v", status, body)
	}
}

// signal sends sig to the unit's main process and waits until the unit has stopped: a
// SIGTERM must leave it inactive (a clean exit, which systemd then forgets), a SIGKILL
// failed.
func (h *p2pHosts) signal(unit string, sig unix.Signal) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, err := h.units.Unit(ctx, unit)
	if err != nil || u.MainPID == 0 {
		h.t.Fatalf("%s: %+v %v", unit, u, err)
	}
	// The process is this test's: its private manager started it.
	if err := unix.Kill(int(u.MainPID), sig); err != nil {
		h.t.Fatalf("%v to %s (pid %d): %v", sig, unit, u.MainPID, err)
	}
	for running := true; running; {
		time.Sleep(20 * time.Millisecond)
		if u, err = h.units.Unit(ctx, unit); err != nil {
			h.t.Fatal(err)
		}
		running = u.ActiveState == "active" || u.ActiveState == "deactivating"
	}
	if failed := u.ActiveState == "failed"; failed != (sig == unix.SIGKILL) {
		h.t.Fatalf("%s after %v: %s (%s)", unit, sig, u.ActiveState, u.Result)
	}
}

// TestP2PHungTracker stops the tracker's process (SIGSTOP): it still accepts connections
// but answers nothing. The next POST /p2p must find it hung, restart it and seed, within
// seconds. Then a POST /p2p that fails (the tracker's port taken) must leave no info-hash
// on the whitelist and report no seeder as vanished afterwards.
func TestP2PHungTracker(t *testing.T) {
	h := newP2PHosts(t)
	first := h.randomImage("First.img", 1<<20)
	second := h.randomImage("Second.img", 1<<20)
	h.post(first)
	hung := h.trackerPID()
	if err := unix.Kill(int(hung), unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// The process is this test's; should anything fail before its restart, let it go on.
	t.Cleanup(func() { _ = unix.Kill(int(hung), unix.SIGCONT) })

	_, took := h.post(second)
	t.Logf("POST /p2p with the tracker hung: %v", took)
	if pid := h.trackerPID(); pid == hung || pid == 0 {
		t.Errorf("tracker pid %d after POST /p2p, was %d (hung)", pid, hung)
	}
	for _, img := range []string{"First.img", "Second.img"} {
		if got := h.tracker("announce", h.infoHash(img)); strings.Contains(got, "failure reason") {
			t.Errorf("restarted tracker refuses %s: %s", img, got)
		}
	}
	if _, body := h.d.call("GET", "/p2p", ""); body["vanished"] != nil || body["failed"] != nil {
		t.Errorf("GET /p2p after the restart: %v", body)
	}

	if status, body := h.d.call("DELETE", "/p2p", ""); status != 200 {
		t.Fatalf("DELETE /p2p: %d %v", status, body)
	}
	taken, err := netnstest.ListenPacket(h.p.Sender, netnstest.SenderIP+":6969")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	status, body := h.d.call("POST", "/p2p", `{"ID_img": "`+first+`"}`)
	if status < 500 {
		t.Errorf("POST /p2p with the tracker's port taken: %d %v", status, body)
	}
	if wl := h.whitelist(); strings.Contains(wl, h.infoHash("First.img")) {
		t.Errorf("a seeder that never started left its hash on the whitelist:\n%s", wl)
	}
	if _, body := h.d.call("GET", "/p2p", ""); body["vanished"] != nil {
		t.Errorf("GET /p2p reports a seeder that never ran as vanished: %v", body)
	}
}

// TestP2PStopAllReportsEndings: DELETE /p2p stops everything, but seeders that had ended
// before it (one killed, one stopped from outside) are still reported by the next GET.
func TestP2PStopAllReportsEndings(t *testing.T) {
	h := newP2PHosts(t)
	killed := h.randomImage("Killed.img", 1<<20)
	termed := h.randomImage("Termed.img", 1<<20)
	h.post(killed)
	h.post(termed)
	h.signal("ogrepository-seeder-Killed.img.service", unix.SIGKILL)
	h.signal("ogrepository-seeder-Termed.img.service", unix.SIGTERM)
	if status, body := h.d.call("DELETE", "/p2p", ""); status != 200 {
		t.Fatalf("DELETE /p2p: %d %v", status, body)
	}
	status, body := h.d.call("GET", "/p2p", "")
	failed, _ := body["failed"].([]any)
	vanished, _ := body["vanished"].([]any)
	if status != 200 || len(failed) != 1 || failed[0].(map[string]any)["image_id"] != killed ||
		len(vanished) != 1 || vanished[0] != h.infoHash("Termed.img") {
		t.Errorf("GET /p2p after DELETE /p2p: %d %v", status, body)
	}
}
