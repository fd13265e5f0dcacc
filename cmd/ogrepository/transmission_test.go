package main_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opengnsys/ogrepository/internal/netnstest"
	"github.com/opengnsys/ogrepository/internal/partclone/partclonetest"
	"github.com/opengnsys/ogrepository/internal/transmission"
)

// castTimeout bounds each transfer and wait of these tests; a guard against a hang, not
// an assertion on speed.
const castTimeout = 2 * time.Minute

// castHosts are the test hosts of UDPcast and UFTP tests.
type castHosts struct{ *testHosts }

func newCastHosts(t *testing.T) *castHosts {
	t.Helper()
	partclonetest.RequireTools(t, "udp-sender", "udp-receiver", "uftp", "uftpd", "nsenter")
	return &castHosts{newTestHosts(t)}
}

// units lists this project's units in the manager, as systemctl shows them.
func (h *castHosts) units() string {
	h.t.Helper()
	out, err := h.mgr.Systemctl(context.Background(), "list-units", "--all", "--no-legend",
		"ogrepository-*")
	if err != nil {
		h.t.Fatalf("list-units: %v\n%s", err, out)
	}
	return strings.TrimSpace(out)
}

// receive runs udp-receiver in the receiver namespace until it has the whole file.
func (h *castHosts) receive(ctx context.Context, port int, out string, extra ...string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, castTimeout)
	defer cancel()
	args := append([]string{"--nokbd", "--portbase", strconv.Itoa(port), "--interface",
		h.p.ReceiverIf, "--file", out}, extra...)
	cmd := netnstest.Command(ctx, h.p.Receiver, "udp-receiver", args...)
	start := time.Now()
	b, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("udp-receiver: %w\n%s", err, b)
	}
	return time.Since(start), nil
}

func fileMD5(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// waitNone polls GET path until no transmission runs and no unit is left.
func (h *castHosts) waitNone(path string) map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(castTimeout)
	for time.Now().Before(deadline) {
		// Not listed is not gone: a unit stopping still holds its ports.
		status, body := h.d.call("GET", path, "")
		if status == 400 && h.units() == "" {
			return body
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("GET %s still lists transmissions, or their units linger:\n%s", path, h.units())
	return nil
}

func udpcastBody(id string, port int, clients int) string {
	return fmt.Sprintf(`{"ID_img":%q,"port":"%d","method":"full","ip":"239.194.77.1",`+
		`"bitrate":"1G","nclients":%d,"maxtime":"60"}`, id, port, clients)
}

// TestUDPcastToReceiver sends an image to a real udp-receiver in the other namespace and
// compares what arrived with the image's ID. It logs the time from POST to a running
// sender.
func TestUDPcastToReceiver(t *testing.T) {
	h := newCastHosts(t)
	id := h.randomImage("Cast.img", 8<<20)

	start := time.Now()
	status, rep := h.d.call("POST", "/udpcast", udpcastBody(id, 9000, 1))
	postTime := time.Since(start)
	if status != 200 || rep["success"] != true {
		t.Fatalf("POST /udpcast: %d %v", status, rep)
	}
	t.Logf("UDPcast: POST returned, sender unit running, after %v", postTime)
	if out, _ := rep["output"].(string); strings.Contains(out, "Note") {
		t.Errorf("POST /udpcast on an interface with a broadcast address: %s", out)
	}
	status, list := h.d.call("GET", "/udpcast", "")
	if status != 200 || len(list) != 1 {
		t.Fatalf("GET /udpcast: %d %v", status, list)
	}
	for pid, v := range list {
		img := v.(map[string]any)
		if img["image_id"] != id || img["image_name"] != "Cast.img" {
			t.Errorf("listed %s: %v", pid, img)
		}
		if _, err := strconv.Atoi(pid); err != nil {
			t.Errorf("key %q is not a PID", pid)
		}
	}
	if _, st := h.d.call("GET", "/status", ""); st["processes"].(map[string]any)["udp-sender"] != "running" {
		t.Errorf("GET /status while sending: %v", st["processes"])
	}
	argv, err := h.mgr.Systemctl(context.Background(), "show", "-P", "ExecStart",
		"ogrepository-udpcast-9000-Cast.img.service")
	if err != nil || !strings.Contains(argv, "--interface "+h.p.SenderIf) ||
		!strings.Contains(argv, "--max-bitrate 1000m") || !strings.Contains(argv, "--ttl 1 ") {
		t.Errorf("unit's command: %v %s", err, argv)
	}
	h.checkReadOnly("ogrepository-udpcast-9000-Cast.img.service")

	ctx, cancel := context.WithTimeout(context.Background(), castTimeout)
	defer cancel()
	out := filepath.Join(t.TempDir(), "received.img")
	if _, err := h.receive(ctx, 9000, out); err != nil {
		t.Fatal(err)
	}
	if got := fileMD5(t, out); got != id {
		t.Fatalf("received MD5 %s, image ID %s", got, id)
	}
	// The sender ends with the transfer: the listing empties and no unit is left.
	h.waitNone("/udpcast")
	if u := h.units(); u != "" {
		t.Errorf("units after the transfer:\n%s", u)
	}
}

// TestUDPcastCancelAndRestart covers a sender waiting for receivers that never come: it
// is listed, holds its port base, survives a restart of the daemon, and is cancelled.
func TestUDPcastCancelAndRestart(t *testing.T) {
	h := newCastHosts(t)
	id := h.randomImage("Wait.img", 1<<20)
	other := h.randomImage("Other.img", 1<<20)

	if status, rep := h.d.call("POST", "/udpcast", udpcastBody(id, 9010, 5)); status != 200 {
		t.Fatalf("POST /udpcast: %d %v", status, rep)
	}
	// A second UDPcast on the same port base, of this image or another, is refused.
	for _, img := range []string{id, other} {
		status, rep := h.d.call("POST", "/udpcast", udpcastBody(img, 9010, 1))
		if msg, _ := rep["error"].(string); status != 409 || !strings.Contains(msg, "9010") {
			t.Errorf("second UDPcast on port base 9010: %d %v", status, rep)
		}
	}
	// Another port base is free.
	if status, rep := h.d.call("POST", "/udpcast", udpcastBody(other, 9012, 5)); status != 200 {
		t.Fatalf("POST /udpcast on 9012: %d %v", status, rep)
	}
	_, before := h.d.call("GET", "/udpcast", "")
	if len(before) != 2 {
		t.Fatalf("GET /udpcast: %v", before)
	}

	h.d.kill()
	h.d.start()
	status, after := h.d.call("GET", "/udpcast", "")
	if status != 200 || fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("after a restart: %d %v, before %v", status, after, before)
	}

	if status, rep := h.d.call("DELETE", "/udpcast/images/"+id, ""); status != 200 {
		t.Fatalf("DELETE: %d %v", status, rep)
	}
	status, left := h.d.call("GET", "/udpcast", "")
	if status != 200 || len(left) != 1 {
		t.Fatalf("after cancelling one: %d %v", status, left)
	}
	if status, rep := h.d.call("DELETE", "/udpcast/images/"+id, ""); status != 400 {
		t.Errorf("second DELETE: %d %v", status, rep)
	}
	if status, rep := h.d.call("DELETE", "/udpcast/images/"+other, ""); status != 200 {
		t.Fatalf("DELETE other: %d %v", status, rep)
	}
	if status, rep := h.d.call("GET", "/udpcast", ""); status != 400 {
		t.Errorf("GET /udpcast after cancel: %d %v", status, rep)
	}
	if _, st := h.d.call("GET", "/status", ""); st["processes"].(map[string]any)["udp-sender"] != "stopped" {
		t.Errorf("GET /status after cancel: %v", st["processes"])
	}
	if u := h.units(); u != "" {
		t.Errorf("units after cancel:\n%s", u)
	}
}

// TestUDPcastWithoutBroadcast gives IPlocal's interface no broadcast address, as an
// address added without "brd" has: udp-sender then sends its control messages to
// 224.0.0.1, and a plain udp-receiver never hears it. POST /udpcast must say so and what
// clients need, and a client that does as it says must receive the image whole.
func TestUDPcastWithoutBroadcast(t *testing.T) {
	h := newCastHosts(t)
	id := h.randomImage("NoBrd.img", 2<<20)
	addr := netnstest.SenderIP + "/24"
	for _, args := range [][]string{
		{"-n", h.p.Sender, "addr", "del", addr, "dev", h.p.SenderIf},
		{"-n", h.p.Sender, "addr", "add", addr, "dev", h.p.SenderIf},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	status, rep := h.d.call("POST", "/udpcast", udpcastBody(id, 9050, 1))
	out, _ := rep["output"].(string)
	if status != 200 || !strings.Contains(out, "--mcast-rdv-address "+netnstest.SenderIP) {
		t.Fatalf("POST /udpcast with no broadcast address: %d %v", status, rep)
	}
	t.Logf("POST /udpcast: %s", out)
	ctx, cancel := context.WithTimeout(context.Background(), castTimeout)
	defer cancel()
	received := filepath.Join(t.TempDir(), "received.img")
	if _, err := h.receive(ctx, 9050, received, "--mcast-rdv-address", netnstest.SenderIP); err != nil {
		t.Fatal(err)
	}
	if got := fileMD5(t, received); got != id {
		t.Fatalf("received MD5 %s, image ID %s", got, id)
	}
	h.waitNone("/udpcast")
}

// TestUDPcastRacesTrash sends POST /udpcast and a trash of the same image at the same
// moment, again and again: exactly one may win. A sender left running on an image in the
// trash, or a trash refused with no sender, is a failure.
func TestUDPcastRacesTrash(t *testing.T) {
	h := newCastHosts(t)
	id := h.randomImage("Race.img", 1<<20)
	var cast, trashed int
	for round := 1; round <= 12; round++ {
		var wg sync.WaitGroup
		var castStatus, trashStatus int
		var castRep, trashRep map[string]any
		wg.Add(2)
		go func() {
			defer wg.Done()
			castStatus, castRep = h.d.call("POST", "/udpcast", udpcastBody(id, 9040, 1))
		}()
		go func() {
			defer wg.Done()
			trashStatus, trashRep = h.d.call("DELETE", "/images/"+id+"?method=trash", "")
		}()
		wg.Wait()
		switch {
		case castStatus == 200 && trashStatus == 409:
			cast++
			if status, rep := h.d.call("DELETE", "/udpcast/images/"+id, ""); status != 200 {
				t.Fatalf("round %d: cancel: %d %v", round, status, rep)
			}
			h.waitNone("/udpcast")
		case trashStatus == 200 && castStatus == 400:
			trashed++
			if status, rep := h.d.call("POST", "/trash/images", `{"ID_img":"`+id+`"}`); status != 200 {
				t.Fatalf("round %d: recover: %d %v", round, status, rep)
			}
		default:
			t.Fatalf("round %d: POST /udpcast %d %v, trash %d %v; units:\n%s", round,
				castStatus, castRep, trashStatus, trashRep, h.units())
		}
	}
	t.Logf("12 rounds: the sender won %d, the trash %d", cast, trashed)
}

// TestUDPcastFailedSender kills a waiting sender: the listing reports how it ended, once,
// and the failed unit is cleaned up.
func TestUDPcastFailedSender(t *testing.T) {
	h := newCastHosts(t)
	id := h.randomImage("Dies.img", 1<<20)
	if status, rep := h.d.call("POST", "/udpcast", udpcastBody(id, 9020, 5)); status != 200 {
		t.Fatalf("POST /udpcast: %d %v", status, rep)
	}
	_, list := h.d.call("GET", "/udpcast", "")
	var pid int
	for k := range list {
		pid, _ = strconv.Atoi(k)
	}
	if pid == 0 {
		t.Fatalf("no PID in %v", list)
	}
	// The sender is a process this test started, through the daemon.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(castTimeout)
	for !strings.Contains(h.units(), "failed") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// A cancel finds the failed unit first and clears it; the listing must still tell.
	if status, rep := h.d.call("DELETE", "/udpcast/images/"+id, ""); status != 400 {
		t.Errorf("DELETE /udpcast of a dead sender: %d %v", status, rep)
	}
	status, rep := h.d.call("GET", "/udpcast", "")
	msg, _ := rep["error"].(string)
	if status != 400 || !strings.Contains(msg, "Dies.img") || !strings.Contains(msg, "signal 9") {
		t.Errorf("GET /udpcast after the sender died: %d %v", status, rep)
	}
	if u := h.units(); u != "" {
		t.Errorf("failed unit not cleaned up:\n%s", u)
	}
	if _, rep := h.d.call("GET", "/udpcast", ""); strings.Contains(fmt.Sprint(rep), "Dies.img") {
		t.Errorf("the ending is reported twice: %v", rep)
	}
}

// TestUDPcastEndingsWaitForTheirReport: a failure found while another sender runs (the
// listing's 200 has no room for it), or replaced by a new start on the same port and
// image, is still named by the next listing of none.
func TestUDPcastEndingsWaitForTheirReport(t *testing.T) {
	h := newCastHosts(t)
	dies := h.randomImage("Dies.img", 1<<20)
	alive := h.randomImage("Alive.img", 1<<20)
	for _, b := range []string{udpcastBody(dies, 9060, 5), udpcastBody(alive, 9062, 5)} {
		if status, rep := h.d.call("POST", "/udpcast", b); status != 200 {
			t.Fatalf("POST /udpcast: %d %v", status, rep)
		}
	}
	killSender := func() {
		t.Helper()
		_, list := h.d.call("GET", "/udpcast", "")
		for pid, v := range list {
			if v.(map[string]any)["image_name"] == "Dies.img" {
				n, _ := strconv.Atoi(pid)
				// The sender is a process this test started, through the daemon.
				if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
		}
		deadline := time.Now().Add(castTimeout)
		for !strings.Contains(h.units(), "failed") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	killSender()
	if status, list := h.d.call("GET", "/udpcast", ""); status != 200 || len(list) != 1 {
		t.Errorf("GET /udpcast with one sender left: %d %v", status, list)
	}
	// Started again on the same port: the unit of the failure is replaced.
	if status, rep := h.d.call("POST", "/udpcast", udpcastBody(dies, 9060, 5)); status != 200 {
		t.Fatalf("POST /udpcast again: %d %v", status, rep)
	}
	killSender()
	// And again, with no listing in between: the start finds the failed unit first.
	if status, rep := h.d.call("POST", "/udpcast", udpcastBody(dies, 9060, 5)); status != 200 {
		t.Fatalf("POST /udpcast a third time: %d %v", status, rep)
	}
	for _, id := range []string{dies, alive} {
		if status, rep := h.d.call("DELETE", "/udpcast/images/"+id, ""); status != 200 {
			t.Fatalf("DELETE /udpcast/images/%s: %d %v", id, status, rep)
		}
	}
	status, rep := h.d.call("GET", "/udpcast", "")
	msg, _ := rep["error"].(string)
	if status != 400 || strings.Count(msg, "of Dies.img ended") != 2 || strings.Count(msg, "signal 9") != 2 {
		t.Errorf("GET /udpcast after two failures of Dies.img: %d %v", status, rep)
	}
}

// uftpd runs a real uftpd in the receiver namespace, in the foreground (-d), until the
// test ends; it is stopped by its PID.
func (h *castHosts) uftpd(port int, group, dir string) {
	h.t.Helper()
	cmd := netnstest.Command(context.Background(), h.p.Receiver, "uftpd", "-d",
		"-M", group, "-p", strconv.Itoa(port), "-D", dir, "-I", h.p.ReceiverIf)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		h.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	waitLog(h.t, stderr, "fingerprint") // its last start-up line
}

// TestUFTPToReceiver sends an image by UFTP to a real uftpd, by multicast and then by
// unicast, and compares what arrived with the image's ID.
func TestUFTPToReceiver(t *testing.T) {
	h := newCastHosts(t)
	id := h.randomImage("Uftp.img", 8<<20)
	dir := t.TempDir()
	h.uftpd(1044, "239.194.77.2", dir)

	for _, dest := range []string{"239.194.77.2", netnstest.ReceiverIP} {
		body := fmt.Sprintf(`{"ID_img":%q,"port":1044,"ip":%q,"bitrate":"500M"}`, id, dest)
		start := time.Now()
		status, rep := h.d.call("POST", "/uftp", body)
		postTime := time.Since(start)
		if status != 200 {
			t.Fatalf("POST /uftp to %s: %d %v", dest, status, rep)
		}
		t.Logf("UFTP to %s: POST returned, sender unit running, after %v", dest, postTime)
		if status, rep := h.d.call("POST", "/uftp", body); status != 409 {
			t.Errorf("second UFTP on port 1044: %d %v", status, rep)
		}
		h.waitNone("/uftp")
		got := filepath.Join(dir, "Uftp.img")
		if sum := fileMD5(t, got); sum != id {
			t.Fatalf("received by UFTP to %s: MD5 %s, image ID %s", dest, sum, id)
		}
		os.Remove(got)
	}
	if u := h.units(); u != "" {
		t.Errorf("units after the transfers:\n%s", u)
	}
	if status, rep := h.d.call("DELETE", "/uftp/images/"+id, ""); status != 400 {
		t.Errorf("DELETE /uftp with none running: %d %v", status, rep)
	}
}

// TestTransmissionsRefuseBadRequests sends hostile or malformed bodies to every route:
// each is a 400 naming the field, and no unit is started.
func TestTransmissionsRefuseBadRequests(t *testing.T) {
	h := newCastHosts(t)
	id := h.randomImage("Safe.img", 1<<20)
	unknown := strings.Repeat("ab", 16)

	good := map[string]string{"ID_img": `"` + id + `"`, "port": `"9000"`, "method": `"full"`,
		"ip": `"239.194.17.2"`, "bitrate": `"70M"`, "nclients": `"20"`, "maxtime": `"120"`}
	body := func(base map[string]string, field, value string) string {
		var parts []string
		for k, v := range base {
			if k == field && value == "" {
				continue // missing
			}
			if k == field {
				v = value
			}
			parts = append(parts, fmt.Sprintf("%q:%s", k, v))
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, ",") + "}"
	}
	udpcast := []struct{ field, value string }{
		{"ID_img", `"../../x"`}, {"ID_img", `5`}, {"ID_img", ""}, {"ID_img", `"` + unknown + `"`},
		{"port", `"9001"`}, {"port", `9001`}, {"port", `"80"`}, {"port", `80`}, {"port", `true`},
		{"port", `"9000; reboot"`}, {"port", `1e30`}, {"port", `99999999999999999999`},
		{"port", `9000.5`}, {"port", `-9000`}, {"port", ""}, {"port", `null`},
		{"port", `6968`}, // 6968 and 6969: the tracker's port
		{"method", `"both"`}, {"method", `1`}, {"method", ""},
		{"ip", `"10.77.0.2"`}, {"ip", `"255.255.255.255"`}, {"ip", `"10.77.0.255"`},
		{"ip", `"224.0.0.1"`}, {"ip", `"0.0.0.0"`}, {"ip", `"ff02::1"`}, {"ip", `"$(id)"`},
		{"ip", ""},
		{"bitrate", `"fast"`}, {"bitrate", `"70"`}, {"bitrate", `70`}, {"bitrate", `"99G"`},
		{"bitrate", ""},
		{"nclients", `-1`}, {"nclients", `"-1"`}, {"nclients", `0`}, {"nclients", `"100000"`},
		{"nclients", `1e9`}, {"nclients", ""},
		{"maxtime", `-1`}, {"maxtime", `"999999999"`}, {"maxtime", `"soon"`}, {"maxtime", ""},
	}
	check := func(path, b, field string) {
		t.Helper()
		status, rep := h.d.call("POST", path, b)
		msg, _ := rep["error"].(string)
		if status != 400 || !strings.Contains(msg, field) {
			t.Errorf("POST %s %s: %d %v, want a 400 naming %s", path, b, status, rep, field)
		}
	}
	for _, c := range udpcast {
		field := c.field
		if c.value == `"`+unknown+`"` {
			field = unknown // not a bad field: an image that is not there
		}
		check("/udpcast", body(good, c.field, c.value), field)
	}

	goodUFTP := map[string]string{"ID_img": `"` + id + `"`, "port": `"9000"`,
		"ip": `"239.194.17.2"`, "bitrate": `"1G"`}
	uftp := []struct{ field, value string }{
		{"ID_img", `"../../x"`}, {"ID_img", ""}, {"port", `"80"`}, {"port", `70000`}, {"port", `6969`},
		{"port", `"x"`}, {"port", ""}, {"ip", `"255.255.255.255"`}, {"ip", `"10.77.0.255"`},
		{"ip", `"127.0.0.1"`}, {"ip", `"0.0.0.0"`}, {"ip", `"10.77.0.1"`}, {"ip", `"host"`},
		// Unicast off IPlocal's subnet would follow the routing table, not IPlocal's
		// interface; and a subnet's network address is no client.
		{"ip", `"192.0.2.2"`}, {"ip", `"169.254.1.1"`}, {"ip", `"10.77.1.2"`}, {"ip", `"10.77.0.0"`},
		// On the subnet, but routed elsewhere (routes added below).
		{"ip", `"10.77.0.200"`}, {"ip", `"10.77.0.201"`}, {"ip", `"10.77.0.202"`},
		{"ip", ""}, {"bitrate", `"fast"`}, {"bitrate", `"0K"`}, {"bitrate", ""},
	}
	for _, route := range [][]string{{"10.77.0.200/32", "via", netnstest.ReceiverIP},
		{"10.77.0.201/32", "dev", "lo"}, {"blackhole", "10.77.0.202/32"}} {
		args := append([]string{"-n", h.p.Sender, "route", "add"}, route...)
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, c := range uftp {
		check("/uftp", body(goodUFTP, c.field, c.value), c.field)
	}
	for _, b := range []string{`not json`, `[]`, `{"ID_img":`} {
		for _, path := range []string{"/udpcast", "/uftp"} {
			if status, rep := h.d.call("POST", path, b); status != 400 {
				t.Errorf("POST %s %s: %d %v", path, b, status, rep)
			}
		}
	}

	for _, path := range []string{"/udpcast/images/", "/uftp/images/"} {
		for _, bad := range []string{"..%2f..%2fx", "xyz", unknown, id} {
			status, rep := h.d.call("DELETE", path+bad, "")
			if status != 400 && !(status == 404 && strings.Contains(bad, "%2f")) {
				t.Errorf("DELETE %s%s: %d %v", path, bad, status, rep)
			}
		}
	}
	for _, path := range []string{"/udpcast", "/uftp"} {
		if status, rep := h.d.call("GET", path, ""); status != 400 {
			t.Errorf("GET %s with none running: %d %v", path, status, rep)
		}
	}
	if u := h.units(); u != "" {
		t.Errorf("units started by refused requests:\n%s", u)
	}
}

// TestUDPcastThroughput logs, for the record, the receive time of an image sent by the
// unit and by udp-sender started by hand with the same arguments in the same namespace.
// It asserts only that every copy arrived whole.
func TestUDPcastThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("throughput figures are not needed in -short runs")
	}
	h := newCastHosts(t)
	const size = 128 << 20
	id := h.randomImage("Bench.img", size)
	ctx, cancel := context.WithTimeout(context.Background(), 5*castTimeout)
	defer cancel()
	out := filepath.Join(t.TempDir(), "received.img")

	u, err := transmission.ParseUDPcast(transmission.UDPcastFields{ID: id, Port: "9030",
		Method: "full", IP: "239.194.77.1", Bitrate: "1G", Clients: "1", MaxTime: "60"})
	if err != nil {
		t.Fatal(err)
	}
	prog, _ := exec.LookPath("udp-sender")
	argv := u.Argv(prog, filepath.Join(h.tree.Images, "Bench.img"),
		transmission.Interface{Name: h.p.SenderIf, Addr: netip.MustParseAddr(netnstest.SenderIP)},
		transmission.DefaultTTL)

	mib := float64(size) / (1 << 20)
	check := func(how string) {
		if got := fileMD5(t, out); got != id {
			t.Fatalf("%s: received MD5 %s, want %s", how, got, id)
		}
		os.Remove(out)
	}
	unitOnce := func() (post, took time.Duration) {
		start := time.Now()
		status, rep := h.d.call("POST", "/udpcast", udpcastBody(id, 9030, 1))
		if status != 200 {
			t.Fatalf("POST /udpcast: %d %v", status, rep)
		}
		post = time.Since(start)
		took, err := h.receive(ctx, 9030, out)
		if err != nil {
			t.Fatal(err)
		}
		check("unit")
		h.waitNone("/udpcast")
		return post, took
	}
	byHandOnce := func() time.Duration {
		sender := netnstest.Command(ctx, h.p.Sender, argv[0], argv[1:]...)
		var senderOut strings.Builder
		sender.Stdout, sender.Stderr = &senderOut, &senderOut
		if err := sender.Start(); err != nil {
			t.Fatal(err)
		}
		took, err := h.receive(ctx, 9030, out)
		if err != nil {
			sender.Process.Kill()
			sender.Wait()
			t.Fatalf("%v\nudp-sender by hand:\n%s", err, senderOut.String())
		}
		if err := sender.Wait(); err != nil {
			t.Errorf("udp-sender by hand: %v\n%s", err, senderOut.String())
		}
		check("by hand")
		return took
	}

	compareThroughput(t, "UDPcast of 128 MiB at --max-bitrate 1000m over the veth", mib,
		func() time.Duration {
			post, took := unitOnce()
			t.Logf("POST /udpcast: sender running after %v", post)
			return took
		}, byHandOnce)
}

// TestUFTPThroughput sends the same image by multicast UFTP to a real uftpd, via the unit
// and by uftp started by hand with the same argv, alternating, and logs the ratio of the
// medians. Each figure is a whole session, from the start (the POST, or the process) until
// the sender has gone (the listing empty, or the process exited): both include uftp's
// announce and completion rounds, and the unit's includes the 50 ms polling of the listing.
func TestUFTPThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("throughput figures are not needed in -short runs")
	}
	h := newCastHosts(t)
	const size = 128 << 20
	id := h.randomImage("Bench.img", size)
	dir := t.TempDir()
	h.uftpd(1050, "239.194.77.3", dir)
	received := filepath.Join(dir, "Bench.img")
	ctx, cancel := context.WithTimeout(context.Background(), 5*castTimeout)
	defer cancel()

	u, err := transmission.ParseUFTP(transmission.UFTPFields{ID: id, Port: "1050",
		IP: "239.194.77.3", Bitrate: "1G"})
	if err != nil {
		t.Fatal(err)
	}
	prog, _ := exec.LookPath("uftp")
	argv := u.Argv(prog, filepath.Join(h.tree.Images, "Bench.img"),
		transmission.Interface{Name: h.p.SenderIf, Addr: netip.MustParseAddr(netnstest.SenderIP)},
		transmission.DefaultTTL)
	body := fmt.Sprintf(`{"ID_img":%q,"port":1050,"ip":"239.194.77.3","bitrate":"1G"}`, id)

	mib := float64(size) / (1 << 20)
	check := func(how string) {
		if got := fileMD5(t, received); got != id {
			t.Fatalf("%s: received MD5 %s, want %s", how, got, id)
		}
		os.Remove(received)
	}
	unitOnce := func() time.Duration {
		start := time.Now()
		if status, rep := h.d.call("POST", "/uftp", body); status != 200 {
			t.Fatalf("POST /uftp: %d %v", status, rep)
		}
		h.waitNone("/uftp")
		took := time.Since(start)
		check("unit")
		return took
	}
	byHandOnce := func() time.Duration {
		sender := netnstest.Command(ctx, h.p.Sender, argv[0], argv[1:]...)
		var senderOut strings.Builder
		sender.Stdout, sender.Stderr = &senderOut, &senderOut
		start := time.Now()
		if err := sender.Run(); err != nil {
			t.Fatalf("uftp by hand: %v\n%s", err, senderOut.String())
		}
		took := time.Since(start)
		check("by hand")
		return took
	}

	compareThroughput(t, "UFTP session of 128 MiB at -R 1000000 (Kbps) over the veth", mib,
		unitOnce, byHandOnce)
}

// compareThroughput runs viaUnit and byHand four times each, alternating which goes first
// so that neither always runs on a warmer host, and logs each round and the ratio of the
// medians. It asserts nothing: the machine is shared.
func compareThroughput(t *testing.T, what string, mib float64, viaUnit, byHand func() time.Duration) {
	t.Helper()
	var unitTimes, handTimes []time.Duration
	for round := 1; round <= 4; round++ {
		var unit, hand time.Duration
		if round%2 == 1 {
			unit = viaUnit()
			hand = byHand()
		} else {
			hand = byHand()
			unit = viaUnit()
		}
		unitTimes, handTimes = append(unitTimes, unit), append(handTimes, hand)
		t.Logf("round %d: unit %.1f MiB/s, by hand %.1f MiB/s", round, mib/unit.Seconds(),
			mib/hand.Seconds())
	}
	mu, mh := median(unitTimes), median(handTimes)
	t.Logf("%s: median %v via the unit (%.1f MiB/s), %v by hand (%.1f MiB/s); "+
		"ratio unit/by hand %.3f", what, mu, mib/mu.Seconds(), mh, mib/mh.Seconds(),
		mh.Seconds()/mu.Seconds())
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
