// Command template-golden prints the expected outputs of the Sprig-only golden cases of
// crates/template/tests/sprig_golden.rs, as Go's text/template (this module's Go version) and
// github.com/Masterminds/sprig/v3 v3.3.0 render them, with ESO's options (missingkey=error, the data as
// map[string]string).
//
// Run from the repository root:
//
//	(cd hack/tools/template-golden && go run .) > crates/template/tests/fixtures/sprig_golden.json
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"text/template"
	"unicode/utf8"

	"github.com/Masterminds/sprig/v3"
)

type goldenCase struct {
	Name     string            `json:"name"`
	Template string            `json:"template"`
	Data     map[string]string `json:"data,omitempty"`
	// Output is the rendered text; OutputB64 replaces it when the output is not UTF-8 (JSON cannot hold it).
	Output    *string `json:"output,omitempty"`
	OutputB64 *string `json:"output_b64,omitempty"`
	// DataB64 holds the data values that are not UTF-8, base64-encoded (they are left out of Data).
	DataB64 map[string]string `json:"data_b64,omitempty"`
	Error   bool              `json:"error,omitempty"`
}

func main() {
	out := make([]goldenCase, 0, len(cases))
	for _, c := range cases {
		funcs := sprig.TxtFuncMap()
		// ESO removes these three (runtime/template/v2/sprig/README.md).
		delete(funcs, "env")
		delete(funcs, "expandenv")
		delete(funcs, "getHostByName")
		// ESO adds hexdec to its vendored Sprig: hex.DecodeString, with the error text as the result.
		funcs["hexdec"] = func(v string) string {
			data, err := hex.DecodeString(v)
			if err != nil {
				return err.Error()
			}
			return string(data)
		}
		tpl, err := template.New(c.Name).Option("missingkey=error").Funcs(funcs).Parse(c.Template)
		if err != nil {
			c.Error = true
			out = append(out, c)
			continue
		}
		var buf bytes.Buffer
		data := c.Data
		if data == nil {
			data = map[string]string{}
		}
		if err := tpl.Execute(&buf, data); err != nil {
			c.Error = true
		} else if s := buf.String(); utf8.ValidString(s) {
			c.Output = &s
		} else {
			b := base64.StdEncoding.EncodeToString(buf.Bytes())
			c.OutputB64 = &b
		}
		for k, v := range c.Data {
			if !utf8.ValidString(v) {
				if c.DataB64 == nil {
					c.DataB64 = map[string]string{}
				}
				c.DataB64[k] = base64.StdEncoding.EncodeToString([]byte(v))
				delete(c.Data, k)
			}
		}
		out = append(out, c)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}
