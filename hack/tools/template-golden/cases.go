package main

// The golden cases. Only deterministic ones: random or time-based functions are tested by their properties in
// the Rust tests.
var cases = []goldenCase{
	// Numbers from JSON are float64; %v, toString and toJson print them as Go does.
	{Name: "float_million", Template: `{{ (fromJson .j).a | toString }}`, Data: map[string]string{"j": `{"a":1000000}`}},
	{Name: "float_pi", Template: `{{ (fromJson .j).a }}`, Data: map[string]string{"j": `{"a":3.14}`}},
	{Name: "float_100000", Template: `{{ (fromJson .j).a }}`, Data: map[string]string{"j": `{"a":100000}`}},
	{Name: "float_1e21", Template: `{{ (fromJson .j).a }} {{ toJson (fromJson .j) }}`, Data: map[string]string{"j": `{"a":1e21}`}},
	{Name: "float_1e20_json", Template: `{{ toJson (fromJson .j) }}`, Data: map[string]string{"j": `{"a":1e20,"b":0.000001,"c":0.0000001,"d":-0}`}},
	{Name: "float_small", Template: `{{ (fromJson .j).a }} {{ printf "%v %g %e %f" (fromJson .j).a (fromJson .j).a (fromJson .j).a (fromJson .j).a }}`, Data: map[string]string{"j": `{"a":0.00001234}`}},
	{Name: "float_big_int", Template: `{{ (fromJson .j).a }} {{ (fromJson .j).a | int64 }} {{ toJson (fromJson .j) }}`, Data: map[string]string{"j": `{"a":12345678901234567890}`}},
	{Name: "float_roundtrip_digits", Template: `{{ (fromJson .j).a }} {{ (fromJson .j).b }}`, Data: map[string]string{"j": `{"a":0.1,"b":2.2250738585072014e-308}`}},
	{Name: "float_hard_parse", Template: `{{ (fromJson .j).a }}`, Data: map[string]string{"j": `{"a":9007199254740993}`}},
	{Name: "float_print_list", Template: `{{ (fromJson .j).a }}`, Data: map[string]string{"j": `{"a":[1,2.5,1e6,1e-7]}`}},
}
