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

	// derivePassword: the Master Password algorithm; deterministic.
	{Name: "derive_long", Template: `{{ derivePassword 1 "long" "password" "user" "example.com" }}`},
	{Name: "derive_each_type", Template: `{{ range list "maximum" "medium" "short" "basic" "pin" }}{{ derivePassword 3 . "p" "u" "s" }} {{ end }}`},
	{Name: "derive_unknown_type", Template: `{{ derivePassword 1 "nope" "p" "u" "s" }}`},
	{Name: "derive_unicode", Template: `{{ derivePassword 0 "long" "pässwörd" "üser" "sïte" }}`},
	// decryptAES of ciphertexts made with openssl (key "secretkey" zero-padded to 32 bytes, IV 00..0f).
	{Name: "decrypt_aes", Template: `{{ decryptAES "secretkey" "AAECAwQFBgcICQoLDA0OD8szLCS9oJdOuDdMW1Y+phA=" }}`},
	{Name: "decrypt_aes_binary", Template: `{{ decryptAES "secretkey" "AAECAwQFBgcICQoLDA0OD9w9XnhgYiRngZ0ZKg4DrfY=" | b64enc }}`},
	{Name: "decrypt_aes_empty", Template: `[{{ decryptAES "secretkey" "" }}]`},
	{Name: "decrypt_aes_bad_base64", Template: `{{ decryptAES "k" "%%%" }}`},
	{Name: "decrypt_aes_short", Template: `{{ decryptAES "k" "AAECAw==" }}`},
	{Name: "decrypt_aes_only_iv", Template: `{{ decryptAES "k" "AAECAwQFBgcICQoLDA0ODw==" }}`},
	{Name: "decrypt_aes_partial_block", Template: `{{ decryptAES "k" "AAECAwQFBgcICQoLDA0OD8szLCS9oJdO" }}`},
	{Name: "encrypt_aes_empty", Template: `[{{ encryptAES "k" "" }}]`},
	{Name: "encrypt_then_decrypt", Template: `{{ encryptAES "a-long-password-longer-than-32-bytes!" "text" | decryptAES "a-long-password-longer-than-32-bytes!" }}`},
	// bcrypt refuses passwords longer than 72 bytes; Sprig returns the error text.
	{Name: "bcrypt_too_long", Template: `{{ bcrypt (repeat 73 "x") }}`},
}
