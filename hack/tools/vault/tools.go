//go:build tools

// Package tools pins the Vault server this project builds for its provider tests.
package tools

import _ "github.com/hashicorp/vault"
