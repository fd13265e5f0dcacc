package api_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/opengnsys/ogrepository/internal/api"
)

// TestCheckedInSpecMatchesCode fails when openapi/ogrepository.yaml drifts from the routes;
// `make openapi` regenerates it.
func TestCheckedInSpecMatchesCode(t *testing.T) {
	want, err := api.SpecYAML(api.SpecVersion)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../openapi/ogrepository.yaml")
	if err != nil {
		t.Fatalf("%v (run make openapi)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("openapi/ogrepository.yaml differs from the code: run make openapi and commit it")
	}
}

func TestSpecDeclaresSecurityAndErrors(t *testing.T) {
	spec, err := api.SpecYAML(api.SpecVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"apiKey:", "in: header", "name: Authorization", `"401":`,
		`"400":`, `"409":`, `"500":`, "/ogrepository/v1/images/{ID_img}:", "openapi: 3.1.0"} {
		if !bytes.Contains(spec, []byte(want)) {
			t.Errorf("spec lacks %q", want)
		}
	}
	if bytes.Contains(spec, []byte(`"422":`)) {
		t.Error("spec documents 422, but validation failures are 400")
	}
}
