module github.com/external-secrets-rs/hack/tools/object-hash-golden

go 1.26
