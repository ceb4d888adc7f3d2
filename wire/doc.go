// Package wire speaks the Kafka protocol: request headers and response
// framing (header.go), the supported-versions table ApiVersions is built
// from (apis.go), the one place engine and metadata errors become Kafka
// error codes (errors.go), and one handler file per API, named by its key
// (00_produce.go, 01_fetch.go, ...), each opening with the versions it
// supports and how it differs from Kafka.
//
// Message bodies are decoded and encoded with franz-go's kmsg, whose
// decoder checks every declared length against the bytes left; the Fetch
// response is encoded by hand so that record bytes stay file extents that
// netio sends with sendfile.
//
// Ownership: a Server is shared by every connection; handlers run on the
// connection's goroutine and keep no state between requests, except Fetch's
// sessions (fetchsession.go), which live in the Server and are keyed by id,
// not by connection.
package wire
