package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opengnsys/ogrepository/internal/api"
	"github.com/opengnsys/ogrepository/internal/repotest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	repotest.Cleanup()
	os.Exit(code)
}

// repo is a repository tree with the API served over loopback HTTP.
type repo struct {
	*repotest.Tree
	url string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	tree := repotest.New(t)
	h, _ := api.New(api.Deps{Catalog: tree.Catalog, Token: tree.Config.APIToken,
		Log: repotest.Logger(t), Version: "test"})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &repo{Tree: tree, url: srv.URL + api.Prefix}
}

type reply struct {
	status int
	body   map[string]any
	raw    []byte
}

// call sends a request with the repository's API key.
func (r *repo) call(t *testing.T, method, path, body string) reply {
	t.Helper()
	return r.callAs(t, r.Config.APIToken, method, path, body)
}

func (r *repo) callAs(t *testing.T, token, method, path, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, r.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	rep := reply{status: resp.StatusCode, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &rep.body); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %v\n%s", method, path, err, raw)
		}
	}
	return rep
}

func (rep reply) want(t *testing.T, status int) reply {
	t.Helper()
	if rep.status != status {
		t.Fatalf("status %d, want %d; body %s", rep.status, status, rep.raw)
	}
	return rep
}

// images decodes the images of a {"directory", "images"} object.
func images(t *testing.T, v any) []map[string]any {
	t.Helper()
	obj, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("want a listing object, have %T", v)
	}
	list, _ := obj["images"].([]any)
	out := make([]map[string]any, len(list))
	for i, im := range list {
		out[i] = im.(map[string]any)
	}
	return out
}

func md5File(t *testing.T, path string) string {
	t.Helper()
	out := run(t, "md5sum", path)
	return strings.Fields(out)[0]
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	repotestRequire(t, name)
	out, err := execCommand(name, args...)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

func TestListAndGetImage(t *testing.T) {
	r := newRepo(t)
	id := r.AddImage(t, "Ubuntu24.img", repotest.SampleImage(t, "lzop"))
	trashed := r.AddImage(t, "Old.img", repotest.SampleImage(t, "gzip"))
	r.call(t, "DELETE", "/images/"+trashed+"?method=trash", "").want(t, 200)

	rep := r.call(t, "GET", "/images", "").want(t, 200)
	repoImages := images(t, rep.body["REPOSITORY"])
	trashImages := images(t, rep.body["TRASH"])
	if len(repoImages) != 1 || len(trashImages) != 1 {
		t.Fatalf("want one image in each place, have %s", rep.raw)
	}
	im := repoImages[0]
	imgPath := filepath.Join(r.Images, "Ubuntu24.img")
	fi, err := os.Stat(imgPath)
	if err != nil {
		t.Fatal(err)
	}
	tail := strings.Fields(runShell(t, "tail -c 1048576 \"$1\" | md5sum", imgPath))[0]
	want := map[string]any{
		"name": "Ubuntu24", "type": "img", "clientname": "", "clonator": "partclone",
		"compressor": "lzop", "filesystem": "EXTFS", "size": float64(fi.Size()),
		"sum": tail, "fullsum": md5File(t, imgPath),
	}
	for k, v := range want {
		if im[k] != v {
			t.Errorf("%s = %v, want %v", k, im[k], v)
		}
	}
	if id != im["fullsum"] {
		t.Errorf("ID %s is not the fullsum %v", id, im["fullsum"])
	}
	if ds, _ := im["datasize"].(float64); ds <= 3<<20 || ds >= 64<<20 {
		t.Errorf("datasize %v: want the used blocks of a 64 MiB fs holding 3 MiB", im["datasize"])
	}
	if dir := rep.body["REPOSITORY"].(map[string]any)["directory"]; dir != r.Images {
		t.Errorf("directory %v, want %s", dir, r.Images)
	}
	if trashImages[0]["compressor"] != "gzip" {
		t.Errorf("trashed image compressor %v, want gzip", trashImages[0]["compressor"])
	}

	// The indexes on disk say the same as the route.
	for file, key := range map[string]string{"repoinfo.json": "REPOSITORY", "trashinfo.json": "TRASH"} {
		b, err := os.ReadFile(filepath.Join(r.Etc, file))
		if err != nil {
			t.Fatal(err)
		}
		var onDisk any
		if err := json.Unmarshal(b, &onDisk); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if !jsonEqual(onDisk, rep.body[key]) {
			t.Errorf("%s differs from the listing's %s", file, key)
		}
	}

	one := r.call(t, "GET", "/images/"+id, "").want(t, 200)
	if got := images(t, one.body); len(got) != 1 || got[0]["name"] != "Ubuntu24" ||
		one.body["directory"] != r.Images {
		t.Errorf("get by ID from repository: %s", one.raw)
	}
	one = r.call(t, "GET", "/images/"+strings.ToUpper(trashed), "").want(t, 200)
	if got := images(t, one.body); len(got) != 1 || got[0]["name"] != "Old" ||
		one.body["directory"] != r.Trash {
		t.Errorf("get by ID from trash: %s", one.raw)
	}
	missing := r.call(t, "GET", "/images/0123456789abcdef0123456789abcdef", "").want(t, 400)
	if missing.body["success"] != false || !strings.Contains(missing.body["error"].(string), "no image") {
		t.Errorf("unknown ID: %s", missing.raw)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestInfoSidecarAndHeaderGiveSameFields(t *testing.T) {
	r := newRepo(t)
	r.AddImage(t, "NoInfo.img", repotest.SampleImage(t, "zstd"))
	rep := r.call(t, "GET", "/images", "").want(t, 200)
	fromHeader := images(t, rep.body["REPOSITORY"])[0]
	kb := int64(fromHeader["datasize"].(float64)) / 1024

	info := "PARTCLONE:ZSTD:EXTFS:" + itoa(kb) + ":pc-aula1\n"
	if err := os.WriteFile(filepath.Join(r.Images, "NoInfo.img.info"), []byte(info), 0o644); err != nil {
		t.Fatal(err)
	}
	rep = r.call(t, "GET", "/images", "").want(t, 200)
	fromInfo := images(t, rep.body["REPOSITORY"])[0]
	if fromInfo["clientname"] != "pc-aula1" {
		t.Errorf("clientname %v, want pc-aula1 from .info", fromInfo["clientname"])
	}
	delete(fromInfo, "clientname")
	delete(fromHeader, "clientname")
	if !jsonEqual(fromInfo, fromHeader) {
		t.Errorf("with .info:\n%v\nwithout:\n%v", fromInfo, fromHeader)
	}
}

func TestNTFSImageHeader(t *testing.T) {
	r := newRepo(t)
	src := ntfsImage(t)
	r.AddImage(t, "Windows10.img", src)
	im := images(t, r.call(t, "GET", "/images", "").want(t, 200).body["REPOSITORY"])[0]
	if im["filesystem"] != "NTFS" || im["compressor"] != "lzop" || im["clonator"] != "partclone" {
		t.Errorf("NTFS image described as %v", im)
	}
	if ds, _ := im["datasize"].(float64); ds <= 0 {
		t.Errorf("datasize %v", im["datasize"])
	}
}

func TestIntegrityCheck(t *testing.T) {
	r := newRepo(t)
	id := r.AddImage(t, "Check.img", repotest.SampleImage(t, "lzop"))
	path := filepath.Join(r.Images, "Check.img")
	check := func() reply {
		return r.call(t, "GET", "/status/images/"+id, "").want(t, 200)
	}
	if rep := check(); rep.body["success"] != true {
		t.Fatalf("pristine image failed its check: %s", rep.raw)
	}

	fi, _ := os.Stat(path)
	if fi.Size() < 2<<20 {
		t.Fatalf("sample image is %d bytes; the test needs more than 2 MiB", fi.Size())
	}
	flip(t, path, fi.Size()-(1<<20)+12345)
	rep := check()
	if rep.body["success"] != false || !strings.Contains(rep.body["error"].(string), "last MiB") {
		t.Errorf("byte flipped in the last MiB: %s", rep.raw)
	}
	flip(t, path, fi.Size()-(1<<20)+12345) // back

	if err := os.Truncate(path, fi.Size()-1); err != nil {
		t.Fatal(err)
	}
	rep = check()
	if rep.body["success"] != false || !strings.Contains(rep.body["error"].(string), "size") {
		t.Errorf("truncated image: %s", rep.raw)
	}
	r.call(t, "GET", "/status/images/0123456789abcdef0123456789abcdef", "").want(t, 400)
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestTrashAndRecover(t *testing.T) {
	r := newRepo(t)
	id := r.AddImage(t, "Lab.img", repotest.SampleImage(t, "lzop"))
	os.WriteFile(filepath.Join(r.Images, "Lab.img.info"), []byte("PARTCLONE:LZOP:EXTFS:100:pc\n"), 0o644)
	before := repotest.Files(t, r.Images)

	r.call(t, "DELETE", "/images/"+id+"?method=trash", "").want(t, 200)
	if got := repotest.Files(t, r.Images); len(got) != 0 {
		t.Errorf("images/ after trash: %v", got)
	}
	if got := repotest.Files(t, r.Trash); !slices.Equal(got, before) {
		t.Errorf("trash holds %v, want %v", got, before)
	}
	// Trashing again: it is not in the repository any more.
	r.call(t, "DELETE", "/images/"+id+"?method=trash", "").want(t, 400)

	r.call(t, "POST", "/trash/images", `{"ID_img":"`+id+`"}`).want(t, 200)
	if got := repotest.Files(t, r.Images); !slices.Equal(got, before) {
		t.Errorf("images/ after recover: %v, want %v", got, before)
	}
	if got := repotest.Files(t, r.Trash); len(got) != 0 {
		t.Errorf("trash after recover: %v", got)
	}
}

func TestRecoverRefusedWhenNameTaken(t *testing.T) {
	r := newRepo(t)
	id := r.AddImage(t, "Same.img", repotest.SampleImage(t, "lzop"))
	r.call(t, "DELETE", "/images/"+id+"?method=trash", "").want(t, 200)
	newer := r.AddImage(t, "Same.img", repotest.SampleImage(t, "gzip"))
	newerMD5 := md5File(t, filepath.Join(r.Images, "Same.img"))
	trashed := repotest.Files(t, r.Trash)

	rep := r.call(t, "POST", "/trash/images", `{"ID_img":"`+id+`"}`).want(t, 409)
	if !strings.Contains(rep.body["error"].(string), "already in the repository") {
		t.Errorf("conflict message: %s", rep.raw)
	}
	if got := md5File(t, filepath.Join(r.Images, "Same.img")); got != newerMD5 || got != newer {
		t.Errorf("the image in images/ was overwritten")
	}
	if got := repotest.Files(t, r.Trash); !slices.Equal(got, trashed) {
		t.Errorf("trash changed: %v, was %v", got, trashed)
	}
	// And the mirror case: trashing the newer one while the older is in the trash.
	r.call(t, "DELETE", "/images/"+newer+"?method=trash", "").want(t, 409)
	if _, err := os.Stat(filepath.Join(r.Images, "Same.img")); err != nil {
		t.Errorf("refused trash touched the image: %v", err)
	}
}

func TestPermanentDeleteAndPurge(t *testing.T) {
	r := newRepo(t)
	keep := r.AddImage(t, "Keep.img", repotest.SampleImage(t, "gzip"))
	gone := r.AddImage(t, "Gone.img", repotest.SampleImage(t, "lzop"))
	os.WriteFile(filepath.Join(r.Images, "Gone.img.info"), []byte("PARTCLONE:LZOP:EXTFS:1:pc\n"), 0o644)

	r.call(t, "DELETE", "/images/"+gone+"?method=permanent", "").want(t, 200)
	for _, f := range repotest.Files(t, r.Images) {
		if strings.HasPrefix(f, "Gone.img") {
			t.Errorf("%s survived a permanent delete", f)
		}
	}
	if len(repotest.Files(t, r.Images)) != 5 {
		t.Errorf("the other image lost files: %v", repotest.Files(t, r.Images))
	}

	r.call(t, "DELETE", "/images/"+keep+"?method=trash", "").want(t, 200)
	r.call(t, "DELETE", "/trash/images/"+keep, "").want(t, 200)
	if got := repotest.Files(t, r.Trash); len(got) != 0 {
		t.Errorf("trash after purge: %v", got)
	}
	r.call(t, "DELETE", "/trash/images/"+keep, "").want(t, 400)
	list := r.call(t, "GET", "/images", "").want(t, 200)
	if n := len(images(t, list.body["REPOSITORY"])) + len(images(t, list.body["TRASH"])); n != 0 {
		t.Errorf("listing after deleting everything: %s", list.raw)
	}
}

func TestAuthorization(t *testing.T) {
	r := newRepo(t)
	routes := []struct{ method, path, body string }{
		{"GET", "/images", ""},
		{"PUT", "/images", ""},
		{"GET", "/images/0123456789abcdef0123456789abcdef", ""},
		{"GET", "/status/images/0123456789abcdef0123456789abcdef", ""},
		{"DELETE", "/images/0123456789abcdef0123456789abcdef?method=trash", ""},
		{"POST", "/trash/images", `{"ID_img":"0123456789abcdef0123456789abcdef"}`},
		{"DELETE", "/trash/images/0123456789abcdef0123456789abcdef", ""},
	}
	for _, rt := range routes {
		for _, token := range []string{"", "wrong", r.Config.APIToken + "x", "Bearer " + r.Config.APIToken} {
			rep := r.callAs(t, token, rt.method, rt.path, rt.body)
			if rep.status != 401 || rep.body["success"] != false {
				t.Errorf("%s %s with key %q: %d %s", rt.method, rt.path, token, rep.status, rep.raw)
			}
			if strings.Contains(string(rep.raw), r.Config.APIToken) {
				t.Errorf("a 401 body echoes the API key")
			}
		}
	}
	for _, p := range []string{"/openapi.json", "/openapi.yaml", "/docs"} {
		if rep := r.callAsRaw(t, p); rep != 200 {
			t.Errorf("%s without a key: %d, want 200", p, rep)
		}
	}
}

func (r *repo) callAsRaw(t *testing.T, path string) int {
	t.Helper()
	resp, err := http.Get(r.url + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestBadRequests(t *testing.T) {
	r := newRepo(t)
	id := r.AddImage(t, "Safe.img", repotest.SampleImage(t, "lzop"))
	before := snapshot(t, r.Tree)
	cases := []struct {
		name, method, path, body, mentions string
	}{
		{"short ID", "GET", "/images/abc", "", "ID_img"},
		{"non-hex ID", "GET", "/images/0123456789abcdef0123456789abcdeZ", "", "ID_img"},
		{"traversal ID", "GET", "/images/..%2F..%2Fetc%2Fpasswd", "", "ID_img"},
		{"check bad ID", "GET", "/status/images/xyz", "", "ID_img"},
		{"no method", "DELETE", "/images/" + id, "", "method"},
		{"bad method", "DELETE", "/images/" + id + "?method=shred", "", "method"},
		{"bad ID on delete", "DELETE", "/images/..?method=trash", "", "ID_img"},
		{"wrong JSON type", "POST", "/trash/images", `{"ID_img": 12345}`, "ID_img"},
		{"missing field", "POST", "/trash/images", `{}`, "ID_img"},
		{"null field", "POST", "/trash/images", `{"ID_img": null}`, "ID_img"},
		{"not JSON", "POST", "/trash/images", `ID_img=1`, "body"},
		{"array body", "POST", "/trash/images", `["x"]`, "body"},
		{"hostile ID in body", "POST", "/trash/images", `{"ID_img":"../../images/Safe.img"}`, "ID_img"},
		{"NUL in ID", "POST", "/trash/images", `{"ID_img":"0123456789abcdef0123456789abcde\u0000"}`, "ID_img"},
		{"purge bad ID", "DELETE", "/trash/images/%2e%2e", "", "ID_img"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := r.call(t, c.method, c.path, c.body)
			if rep.status != 400 && rep.status != 404 {
				t.Fatalf("status %d, want 400; body %s", rep.status, rep.raw)
			}
			if rep.status == 400 {
				msg, _ := rep.body["error"].(string)
				if rep.body["success"] != false || !strings.Contains(msg, c.mentions) {
					t.Errorf("error %q does not name %q: %s", msg, c.mentions, rep.raw)
				}
			}
		})
	}
	if after := snapshot(t, r.Tree); after != before {
		t.Errorf("bad requests touched the tree:\nbefore %s\nafter  %s", before, after)
	}
}

// snapshot names and sizes every file of the images and trash directories.
func snapshot(t *testing.T, tree *repotest.Tree) string {
	t.Helper()
	var b strings.Builder
	for _, dir := range []string{tree.Images, tree.Trash} {
		for _, f := range repotest.Files(t, dir) {
			fi, err := os.Lstat(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString(f + ":" + itoa(fi.Size()) + " ")
		}
	}
	return b.String()
}

func TestSymlinkLeavingTreeIsSkipped(t *testing.T) {
	r := newRepo(t)
	outside := filepath.Join(t.TempDir(), "secret.img")
	repotest.CopyFile(t, repotest.SampleImage(t, "lzop"), outside)
	if err := os.Symlink(outside, filepath.Join(r.Images, "Evil.img")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(r.Images, "Inside.img.sum")); err != nil {
		t.Fatal(err)
	}
	inside := r.AddImage(t, "Inside.img", repotest.SampleImage(t, "gzip"))
	rep := r.call(t, "GET", "/images", "").want(t, 200)
	list := images(t, rep.body["REPOSITORY"])
	if len(list) != 1 || list[0]["name"] != "Inside" {
		t.Fatalf("listing with an escaping link: %s", rep.raw)
	}
	if list[0]["fullsum"] != inside {
		t.Errorf("fullsum %v, want %s", list[0]["fullsum"], inside)
	}
}

func TestUnroutedAndAmbiguousRequests(t *testing.T) {
	r := newRepo(t)
	id := r.AddImage(t, "Keep.img", repotest.SampleImage(t, "lzop"))
	before := snapshot(t, r.Tree)

	rep := r.call(t, "PATCH", "/images", "")
	if rep.status != 405 || rep.body["success"] != false {
		t.Errorf("PATCH /images: %d %s", rep.status, rep.raw)
	}
	for _, p := range []string{"/nothing", "/images/../../../etc/passwd", "/images/x/../../status"} {
		req, _ := http.NewRequest("GET", r.url+p, nil)
		req.Header.Set("Authorization", r.Config.APIToken)
		req.URL.Opaque = strings.TrimPrefix(r.url, "http:") + p // keep the dots unresolved
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := 400
		if p == "/nothing" {
			want = 404
		}
		if resp.StatusCode != want || !strings.Contains(string(body), `"success":false`) {
			t.Errorf("GET %s: %d %s", p, resp.StatusCode, body)
		}
	}

	rep = r.call(t, "DELETE", "/images/"+id+"?method=permanent&method=trash", "")
	if rep.status != 400 || !strings.Contains(rep.body["error"].(string), "query.method") {
		t.Errorf("repeated method: %d %s", rep.status, rep.raw)
	}
	req, _ := http.NewRequest("GET", r.url+"/images", nil)
	req.Header.Add("Authorization", r.Config.APIToken)
	req.Header.Add("Authorization", "other")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("two Authorization headers: %d", resp.StatusCode)
	}
	if after := snapshot(t, r.Tree); after != before {
		t.Errorf("refused requests touched the tree")
	}
}

// TestDuplicateKeysRefused: a body naming a field twice, in any spelling or any nested
// object, is a 400 naming it, and nothing is done; other bodies reach the route as before.
func TestDuplicateKeysRefused(t *testing.T) {
	r := newRepo(t)
	id := r.AddImage(t, "Dup.img", repotest.SampleImage(t, "lzop"))
	r.call(t, "DELETE", "/images/"+id+"?method=trash", "").want(t, 200)
	other := strings.Repeat("ab", 16)
	for body, want := range map[string]string{
		`{"ID_img":"` + other + `","ID_img":"` + id + `"}`:                  "body.ID_img: given twice",
		`{"ID_img":"` + other + `","id_img":"` + id + `"}`:                  `as "ID_img" and "id_img"`,
		`{"ID_img":"` + id + `","x":{"a":1,"b":[{"c":1,"C":2}]}}`:           "body.x.b[0].c: given twice",
		`{"ID_img":"` + id + `","x":[1,{"k":{}},"s"],"y":{"k":1},"K":true}`: "",
		// Go's decoder folds "ſ" (U+017F) to "s" and the Kelvin sign to "k".
		`{"ID_img":"` + id + `","ID_\u017fmg":"` + other + `"}`:                                       "non-ASCII",
		`{"\u212aey":1,"ID_img":"` + id + `"}`:                                                        "non-ASCII",
		`{"ID_img":"` + id + `","pad":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`: "body.pad[0][0]",
	} {
		rep := r.call(t, "POST", "/trash/images", body)
		if want == "" {
			// No duplicate: the route runs, and recovers the image.
			rep.want(t, 200)
			continue
		}
		msg, _ := rep.body["error"].(string)
		if rep.status != 400 || !strings.Contains(msg, want) {
			t.Errorf("POST /trash/images %s: %d %s, want a 400 saying %q", body, rep.status, rep.raw, want)
		}
	}
	if got := repotest.Files(t, r.Images); len(got) == 0 {
		t.Errorf("the image was not recovered by the one good body")
	}
	// A route that takes no body ignores it, whatever it holds.
	r.call(t, "GET", "/images", `{"a":1,"a":2}`).want(t, 200)
	// Not JSON, or too long: the route's own answers, as before.
	r.call(t, "POST", "/trash/images", `{"ID_img":`).want(t, 400)
	r.call(t, "POST", "/trash/images", `{"a":"`+strings.Repeat("x", 2<<20)+`"}`).want(t, 413)
}

// TestDocsPageIsSelfContained: the docs page loads nothing from another host (a repository
// often has no Internet), asks only for this API's OpenAPI document, and says so in its
// Content-Security-Policy.
func TestDocsPageIsSelfContained(t *testing.T) {
	r := newRepo(t)
	resp, err := http.Get(r.url + "/docs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, external := range []string{"http://", "https://", "//unpkg", "src=\"/", "href=\"/"} {
		if strings.Contains(string(page), external) {
			t.Errorf("the docs page refers elsewhere (%q)", external)
		}
	}
	if !strings.Contains(string(page), `fetch("openapi.json")`) ||
		!strings.Contains(string(page), "doc.webhooks") {
		t.Errorf("the docs page does not read openapi.json's paths and webhooks")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") ||
		!strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	// The relative link the page fetches is the OpenAPI document.
	doc, err := http.Get(r.url + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Body.Close()
	var spec map[string]any
	if err := json.NewDecoder(doc.Body).Decode(&spec); err != nil || spec["paths"] == nil {
		t.Errorf("openapi.json next to /docs: %v %v", err, spec["openapi"])
	}
}
