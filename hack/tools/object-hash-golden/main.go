// Command object-hash-golden prints ESO's ObjectHash (runtime/esutils: lowercase hex SHA3-224 of
// fmt.Sprintf("%+v", x)) of JSON documents decoded as Kubernetes decodes unstructured objects (integers as int64,
// other numbers as float64), for the golden values in crates/core/src/hash.rs and generic_target.rs. Standard
// library only.
//
// Run from the repository root:
//
//	(cd hack/tools/object-hash-golden && go run .)
package main

import (
	"bytes"
	"crypto/sha3"
	"encoding/json"
	"fmt"
)

// cases are the documents whose hashes the Rust tests assert (the generic target's spec or data).
var cases = []string{
	`{}`,
	`{"key1":"value1","key2":"value2"}`,
	`{"data":{"config":"my-config"}}`,
	`{"replicas":3,"ratio":1.5,"big":1000000.0,"tiny":0.00001,"on":true,"off":null,"list":["a",2,{"b":"c"}]}`,
	`{"B":"upper","a":"lower","nested":{"z":1,"y":[]}}`,
}

// convert turns json.Number into int64 when it is one, else float64, as apimachinery's unstructured decoding does.
func convert(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = convert(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = convert(e)
		}
		return t
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	default:
		return v
	}
}

func main() {
	for _, c := range cases {
		dec := json.NewDecoder(bytes.NewReader([]byte(c)))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			panic(err)
		}
		text := fmt.Sprintf("%+v", convert(v))
		fmt.Printf("%s\n  %%+v: %s\n  hash: %x\n", c, text, sha3.Sum224([]byte(text)))
	}
}
