//go:build tools

// Package tools pins the helm command this project uses to test its chart.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
