package meta

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"spool/segment"
)

// The metadata log: every change to topics is a record appended and
// fdatasync'd before the change is applied, and the state is replayed from
// a snapshot plus the records after it at open.
//
//	metadata.log: records back to back
//
//	 0        4        8
//	+--------+--------+----------------------+
//	| length | crc32c | payload (length B)   |
//	+--------+--------+----------------------+
//
//	field    bytes  encoding           meaning
//	length   4      uint32 big-endian  payload bytes, 1..recordBytesMax
//	crc32c   4      uint32 big-endian  CRC-32C (Castagnoli) of the payload
//	payload  length JSON object        one change (record below)
//
//	metadata.snapshot: one JSON object {"version":1,"state":{...}}, the
//	whole state when it was taken; replaced whole with
//	segment.WriteFileAtomic, after which the log restarts empty.
//
// The format never changes without a new snapshot version.
const (
	logFileName       = "metadata.log"
	snapshotFileName  = "metadata.snapshot"
	snapshotVersion   = 1
	recordHeaderBytes = 8
	// recordBytesMax bounds one record: a topic with its configs is far
	// smaller; a larger length is corruption, never an allocation.
	recordBytesMax = 1 << 20
	// snapshotEvery is how many records the log holds before the state is
	// snapshotted and the log restarted.
	snapshotEvery = 1000
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is one change.
type record struct {
	Type       string            `json:"type"` // create_topic, delete_topic, set_partitions, set_configs, set_epoch (Partitions holds the epoch), purged, set_broker_configs (Name the broker resource: "" or a node id; brokerconfigs.go)
	Name       string            `json:"name"`
	ID         [16]byte          `json:"id,omitempty"`
	Partitions int32             `json:"partitions,omitempty"`
	Configs    map[string]string `json:"configs,omitempty"`
	Quota      *Quota            `json:"quota,omitempty"` // set_quota (quotas.go)
}

// topicState is a topic as the log knows it.
type topicState struct {
	Name       string            `json:"name"`
	ID         [16]byte          `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

// state is everything the log describes: live topics and tombstones of
// deleted ones (whose directories may still need removing after a crash).
type state struct {
	Topics  map[string]*topicState `json:"topics"`
	Deleted []topicState           `json:"deleted,omitempty"`
	// Epoch is the leader epoch of this node's partitions: one leader
	// (this node or the one it follows) leads them all.
	Epoch int32 `json:"epoch,omitempty"`
	// BrokerConfigs are the dynamic broker configs by resource: "" the
	// cluster-wide default, a node id that node's (brokerconfigs.go).
	BrokerConfigs map[string]map[string]string `json:"broker_configs,omitempty"`
	// Quotas are the client quotas by entity (quotas.go); absent in
	// snapshots written before them.
	Quotas map[string]*Quota `json:"quotas,omitempty"`
}

func newState() *state { return &state{Topics: map[string]*topicState{}} }

func (s *state) apply(r *record) error {
	switch r.Type {
	case "create_topic":
		s.Topics[r.Name] = &topicState{Name: r.Name, ID: r.ID, Partitions: r.Partitions, Configs: r.Configs}
	case "delete_topic":
		if t, ok := s.Topics[r.Name]; ok {
			s.Deleted = append(s.Deleted, *t)
			delete(s.Topics, r.Name)
		}
	case "set_partitions":
		if t, ok := s.Topics[r.Name]; ok {
			t.Partitions = r.Partitions
		}
	case "set_configs":
		if t, ok := s.Topics[r.Name]; ok {
			t.Configs = r.Configs
		}
	case "set_epoch":
		if r.Partitions > s.Epoch {
			s.Epoch = r.Partitions
		}
	case "set_broker_configs":
		s.applyBrokerConfigs(r)
	case "set_quota":
		return s.applyQuota(r.Quota)
	case "purged":
		kept := s.Deleted[:0]
		for _, d := range s.Deleted {
			if d.ID != r.ID {
				kept = append(kept, d)
			}
		}
		s.Deleted = kept
	default:
		return fmt.Errorf("unknown metadata record type %q", r.Type)
	}
	return nil
}

// metaLog is the open metadata log. Owned by the Cluster, under its mutex.
type metaLog struct {
	dir     string
	file    *os.File
	records int // records in metadata.log
}

type snapshotFile struct {
	Version int    `json:"version"`
	State   *state `json:"state"`
}

// openMetaLog replays the snapshot and the log into a state, in this order:
//  1. read the snapshot (absent: empty state);
//  2. apply the log's records on top, stopping at a torn tail (short or bad
//     CRC with nothing valid after: cut quietly) or, loudly, at a bad record
//     followed by valid ones;
//  3. cut the log after the last valid record and fsync it.
//
// Records set values rather than change them relatively, so applying one
// the snapshot already holds (a crash between writing a snapshot and
// restarting the log) reproduces the same state.
func openMetaLog(dir string, warn func(string, ...any)) (*metaLog, *state, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	st := newState()
	if data, err := os.ReadFile(filepath.Join(dir, snapshotFileName)); err == nil {
		var snap snapshotFile
		if err := json.Unmarshal(data, &snap); err != nil || snap.Version != snapshotVersion || snap.State == nil || snap.State.Topics == nil {
			return nil, nil, fmt.Errorf("metadata snapshot %s is unreadable (%v): refusing to start without it", filepath.Join(dir, snapshotFileName), err)
		}
		st = snap.State
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, logFileName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	l := &metaLog{dir: dir, file: f}
	valid := 0
	for position := 0; position < len(data); {
		payload, ok := readRecord(data[position:])
		if !ok {
			if len(data)-position > recordHeaderBytes+recordBytesMax || !allZero(data[position:]) && hasValidAfter(data[position+1:]) {
				warn("METADATA LOG CORRUPTION: bad record followed by more data; keeping the records before it", "file", f.Name(), "position", position)
			} else {
				warn("metadata log: torn tail cut", "file", f.Name(), "position", position)
			}
			break
		}
		var r record
		if err := json.Unmarshal(payload, &r); err != nil {
			warn("METADATA LOG CORRUPTION: record does not decode; keeping the records before it", "file", f.Name(), "position", position, "error", err)
			break
		}
		l.records++
		if err := st.apply(&r); err != nil {
			warn("metadata record skipped", "error", err)
		}
		position += recordHeaderBytes + len(payload)
		valid = position
	}
	if valid != len(data) {
		if err := f.Truncate(int64(valid)); err != nil {
			f.Close()
			return nil, nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	if _, err := f.Seek(int64(valid), io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	return l, st, nil
}

func readRecord(b []byte) ([]byte, bool) {
	if len(b) < recordHeaderBytes {
		return nil, false
	}
	length := binary.BigEndian.Uint32(b)
	if length == 0 || length > recordBytesMax || int(length) > len(b)-recordHeaderBytes {
		return nil, false
	}
	payload := b[recordHeaderBytes : recordHeaderBytes+int(length)]
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return nil, false
	}
	return payload, true
}

func hasValidAfter(b []byte) bool {
	for i := 0; i+recordHeaderBytes < len(b); i++ {
		if _, ok := readRecord(b[i:]); ok {
			return true
		}
	}
	return false
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// append writes a record and fdatasyncs it: when append returns nil, the
// change survives a crash.
func (l *metaLog) append(r *record) error {
	payload, err := json.Marshal(r)
	if err != nil {
		return err
	}
	buf := make([]byte, recordHeaderBytes, recordHeaderBytes+len(payload))
	binary.BigEndian.PutUint32(buf, uint32(len(payload)))
	binary.BigEndian.PutUint32(buf[4:], crc32.Checksum(payload, castagnoli))
	buf = append(buf, payload...)
	if _, err := l.file.Write(buf); err != nil {
		return err
	}
	if err := l.file.Sync(); err != nil {
		return err
	}
	l.records++
	return nil
}

// maybeSnapshot writes the state as a snapshot and restarts the log once it
// holds snapshotEvery records (or always, with force), in this order:
//  1. write the snapshot (temp file, fsync, rename, directory fsync): it
//     covers every record written so far;
//  2. cut the log to zero and fsync it.
//
// A crash between 1 and 2 leaves a log whose records the snapshot already
// holds; replaying them again is harmless because every record sets a
// value rather than changing it relatively.
func (l *metaLog) maybeSnapshot(st *state, force bool) error {
	if l.records < snapshotEvery && !force {
		return nil
	}
	data, err := json.Marshal(snapshotFile{Version: snapshotVersion, State: st})
	if err != nil {
		return err
	}
	if err := segment.WriteFileAtomic(filepath.Join(l.dir, snapshotFileName), data); err != nil {
		return err
	}
	if err := l.file.Truncate(0); err != nil {
		return err
	}
	if _, err := l.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := l.file.Sync(); err != nil {
		return err
	}
	l.records = 0
	return nil
}

func (l *metaLog) close() error { return l.file.Close() }
