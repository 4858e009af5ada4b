//go:build tools

// Package tools pins the etcd server this project builds for its local control plane.
package tools

import _ "go.etcd.io/etcd/server/v3"
