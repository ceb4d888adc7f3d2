// Package bench is the load harness: open-loop load over the Kafka protocol,
// HdrHistogram percentiles with coordinated-omission correction, reports,
// plots, profile capture and comparisons between brokers.
//
// It arrives with the bench issue; this file keeps the layout of
// docs/ARCHITECTURE.md visible in the tree until then. Core packages never
// import it.
package bench
