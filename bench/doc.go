// Package bench is the load harness behind `spool bench`: it drives any
// broker that speaks Kafka's protocol through franz-go and reports what a
// performance engineer can trust.
//
// Workloads (workload.go):
//
//   - produce: closed loop, as fast as the broker accepts; records/s, MB/s.
//   - e2e: open loop at a fixed rate; every record carries its intended send
//     time, and consumers record arrival minus intended time.
//   - ack: open loop at a fixed rate; the producer records the time from
//     intended send to acknowledgement.
//   - catchup: consumers read a pre-filled topic from offset 0.
//
// Latencies are measured from the time a record was meant to be sent by the
// schedule (schedule.go), never from the time the client got round to
// sending it. A broker that stalls for 100 ms therefore shows up as 100 ms
// of latency on every record scheduled during the stall, not as one slow
// record and a gap in the samples: this is how the harness avoids
// coordinated omission, instead of correcting for it afterwards.
//
// Results (result.go) are a text report, a JSON document carrying the whole
// histogram, a .hgrm percentile distribution, and an SVG chart of the
// latency percentile spectrum of one or more runs (chart.go). The sink
// (sink.go) is a minimal in-memory Kafka broker that does the least work a
// broker can do; what the harness reaches against it is its own ceiling.
//
// Core packages never import bench, and bench imports none of ours: it
// knows brokers only by their bootstrap address.
package bench
