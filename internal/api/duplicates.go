package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
)

// maxBody is huma's default limit on a request body; a longer body is passed on whole
// for huma to refuse with its 413.
const maxBody = 1 << 20

// refuseDuplicateKeys refuses a JSON body that names a field twice, in any object, even in
// two spellings ("port" and "Port"): Go's JSON decoder matches names regardless of case and
// keeps the last, so {"port": 9000, "Port": 9002} would start a sender on 9002. Bodies that
// are not JSON pass on, to be refused by the route with its own message.
func refuseDuplicateKeys(ctx huma.Context, next func(huma.Context)) {
	r, _ := humago.Unwrap(ctx)
	if op := ctx.Operation(); op == nil || op.RequestBody == nil || r == nil || r.Body == nil ||
		r.Body == http.NoBody {
		// A route that takes no body ignores whatever is sent: so does this check.
		next(ctx)
		return
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeError(ctx, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	rest := r.Body
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), rest), rest}
	if len(head) <= maxBody {
		if dup := duplicateKey(head); dup != "" {
			writeError(ctx, http.StatusBadRequest, dup)
			return
		}
	}
	next(ctx)
}

// maxDepth bounds how deeply a body's arrays and objects may nest: no route's body nests
// more than twice, and a walk of a deeper one would only cost memory and time.
const maxDepth = 32

// duplicateKey describes the first problem with the field names of the JSON text data: a
// field named twice in one object (as Go's decoder folds names), a name that is not
// ASCII (the API has none, and the decoder folds some, such as "ſ" to "s", onto ASCII
// names), or nesting deeper than maxDepth. It is empty when there is none, or when data
// is not JSON.
func duplicateKey(data []byte) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	w := walker{dec: dec, path: []string{"body"}}
	if err := w.value(); errors.Is(err, errStop) {
		return w.problem
	}
	return ""
}

var errNotJSON = errors.New("not JSON")

// errStop ends a walk that found its problem.
var errStop = errors.New("stop")

// walker reads a JSON text one token at a time, holding the path to where it is.
type walker struct {
	dec     *json.Decoder
	path    []string
	problem string
}

func (w *walker) where() string { return strings.Join(w.path, "") }

func (w *walker) fail(format string, args ...any) error {
	w.problem = fmt.Sprintf(format, args...)
	return errStop
}

// value reads one value; errStop means w.problem says what is wrong with it.
func (w *walker) value() error {
	tok, err := w.dec.Token()
	if err != nil {
		return errNotJSON
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if len(w.path) > maxDepth {
		return w.fail("%s: nested more than %d deep", w.where(), maxDepth)
	}
	switch delim {
	case '{':
		seen := map[string]string{}
		for w.dec.More() {
			tok, err := w.dec.Token()
			if err != nil {
				return errNotJSON
			}
			key, ok := tok.(string)
			if !ok {
				return errNotJSON
			}
			if !isASCII(key) {
				return w.fail("%s.%s: a field name with non-ASCII characters; the API's "+
					"names are ASCII", w.where(), key)
			}
			folded := foldName(key)
			if first, dup := seen[folded]; dup {
				if first == key {
					return w.fail("%s.%s: given twice; give it once", w.where(), key)
				}
				return w.fail("%s.%s: given twice, as %q and %q; give it once, as the "+
					"API names it", w.where(), first, first, key)
			}
			seen[folded] = key
			w.path = append(w.path, "."+key)
			if err := w.value(); err != nil {
				return err
			}
			w.path = w.path[:len(w.path)-1]
		}
	case '[':
		for i := 0; w.dec.More(); i++ {
			w.path = append(w.path, "["+strconv.Itoa(i)+"]")
			if err := w.value(); err != nil {
				return err
			}
			w.path = w.path[:len(w.path)-1]
		}
	}
	if _, err := w.dec.Token(); err != nil { // the closing brace or bracket
		return errNotJSON
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// foldName folds an ASCII name as Go's JSON decoder matches names: regardless of case.
func foldName(s string) string { return strings.ToLower(s) }
