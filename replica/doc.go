// Package replica is the hot standby, whole: the replication protocol's
// frames (frames.go, documented byte by byte), the leader's listener and
// one session per standby connection, the leader's view of its standby per
// partition (the in-sync set and the high watermark's input), the
// standby's apply loop, and fencing and promotion by leader epoch.
//
// The files, in the order data flows:
//
//	frames.go     the frames: Hello, Metadata, Positions, Data, Ack,
//	              Truncate, Reset; Encoder and ReadFrame
//	handshake.go  Config, the limits, the hellos' rules (versions and
//	              epochs: who fences whom), Fence
//	leader.go     Leader: the listener, its sessions, Status
//	session.go    one standby connection on the leader: positions and
//	              acks in, metadata, truncations, resets and data out
//	followers.go  per-partition follower state (acks, in-sync set,
//	              catch-up marks), a plain type with the clock passed in
//	standby.go    Standby: connects, reconnects, reports its progress
//	apply.go      the standby's handling of each frame from its leader
//	promote.go    Standby.Promote: a standby becomes the leader
//
// Contract (who calls what, from which goroutine):
//   - The composition root (package broker) makes one Leader or one
//     Standby per node, calls Serve or Run on a goroutine of its own, and
//     Close once when it stops; Status, Progress, Leader and Promote may
//     be called from any goroutine (the admin listener's).
//   - A Leader runs two goroutines per standby connection (session.go:
//     the sender and the reader of acks) and one lag ticker. The follower
//     state is guarded by Leader.mu. They read partitions only through
//     what engine.Log allows any goroutine (Read, the published offsets,
//     EndOffsetForEpoch, SetFollower, the notifiers); they never write a
//     log.
//   - A Standby's one session goroutine applies frames; every write to a
//     log (AppendReplica, Flush, TruncateTo, ResetTo, DeleteRecords) runs
//     on the partition's shard through Shard.Do, since a log has one
//     writer.
//
// Nothing here knows Kafka's API keys, and neither netio nor wire imports
// this package; it uses netio only for the extent writer that consumer
// fetches share.
package replica
