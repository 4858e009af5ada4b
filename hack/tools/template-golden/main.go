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
	"encoding/json"
	"os"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

type goldenCase struct {
	Name     string            `json:"name"`
	Template string            `json:"template"`
	Data     map[string]string `json:"data,omitempty"`
	Output   *string           `json:"output,omitempty"`
	Error    bool              `json:"error,omitempty"`
}

func main() {
	out := make([]goldenCase, 0, len(cases))
	for _, c := range cases {
		funcs := sprig.TxtFuncMap()
		// ESO removes these three (runtime/template/v2/sprig/README.md).
		delete(funcs, "env")
		delete(funcs, "expandenv")
		delete(funcs, "getHostByName")
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
		} else {
			s := buf.String()
			c.Output = &s
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
