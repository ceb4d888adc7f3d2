// Package wire speaks the Kafka protocol: framing and request headers, the
// message schemas (franz-go's kmsg), one handler file per API, the
// supported-versions table ApiVersions is built from, and the one place where
// engine errors become Kafka error codes.
//
// It arrives with the broker issue; this file keeps the layout of
// docs/ARCHITECTURE.md visible in the tree until then.
package wire
