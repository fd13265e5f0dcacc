package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

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
	if r == nil || r.Body == nil || r.Body == http.NoBody {
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

// duplicateKey describes the first field named twice in an object of the JSON text data,
// or is empty when there is none, or when data is not JSON.
func duplicateKey(data []byte) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	msg, err := walkValue(dec, "body")
	if err != nil {
		return ""
	}
	return msg
}

var errNotJSON = errors.New("not JSON")

// walkValue reads one value from dec; where names the value, as in error locations.
func walkValue(dec *json.Decoder, where string) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", errNotJSON
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]string{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return "", errNotJSON
			}
			key, ok := tok.(string)
			if !ok {
				return "", errNotJSON
			}
			folded := strings.ToLower(key)
			if first, dup := seen[folded]; dup {
				if first == key {
					return fmt.Sprintf("%s.%s: given twice; give it once", where, key), nil
				}
				return fmt.Sprintf("%s.%s: given twice, as %q and %q; give it once, as the "+
					"API names it", where, first, first, key), nil
			}
			seen[folded] = key
			if msg, err := walkValue(dec, where+"."+key); msg != "" || err != nil {
				return msg, err
			}
		}
		if _, err := dec.Token(); err != nil { // the closing brace
			return "", errNotJSON
		}
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if msg, err := walkValue(dec, fmt.Sprintf("%s[%d]", where, i)); msg != "" || err != nil {
				return msg, err
			}
		}
		if _, err := dec.Token(); err != nil {
			return "", errNotJSON
		}
	}
	return "", nil
}
