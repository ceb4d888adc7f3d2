// Package group is the classic consumer-group coordinator and the store of
// committed offsets.
//
// Membership follows Kafka's classic protocol: JoinGroup parks until every
// known member has rejoined (or the rebalance timeout passes), then answers
// all of them with one new generation, the protocol the members voted for,
// and the member list for the leader; SyncGroup carries the leader's
// assignments to each member untouched; Heartbeat keeps a member's session
// alive and tells it when to rejoin; LeaveGroup removes it at once. The
// assignors run in the clients; the coordinator never reads assignment
// bytes. States are Kafka's: Empty, PreparingRebalance,
// CompletingRebalance, Stable (and Dead for a deleted group).
//
// Committed offsets and group metadata are records in the internal topic
// __consumer_offsets, in Kafka's own key and value formats (kmsg's
// OffsetCommitKey/Value, GroupMetadataKey/Value), appended durably (one
// fdatasync, shared with other commits by the shard's group commit) before
// a commit is answered, and replayed at open. A group maps to one partition
// of that topic by a hash of its name. The topic is compacted the simple
// way a single writer allows: when it holds many more records than live
// keys, the live state is appended again and the log start offset moves
// past the old records (see store.go).
//
// Ownership: the Coordinator's map of groups is guarded by its mutex
// (Coordinator.mu); a partition of __consumer_offsets by its store lock
// (storePartition.mu: shared by commits and a group's metadata writes,
// exclusive for a rewrite, which must see no append in flight); the order
// of one group's metadata writes by the group's store lock
// (group.storeMu); each group's state by the group's mutex (group.mu).
// Lock order, as lockForStore takes them: Coordinator.mu, then the
// partition's store lock, then group.storeMu, then group.mu. No group.mu
// is held across a commit's fsync. One goroutine (the ticker) expires
// sessions, completes rebalances whose time is up and expires offsets.
//
// The package imports the engine root (logs and shards) only; the
// composition root hands it the logs of __consumer_offsets.
package group
