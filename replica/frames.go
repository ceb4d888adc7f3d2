package replica

// The replication protocol between a leader and its hot standby: spool's
// own, minimal and versioned, on the leader's replication.listener. Every
// frame is
//
//	length   int32   bytes after this field
//	crc      uint32  CRC-32C (Castagnoli) of type and fields, that is of
//	                 every byte after it except a Data frame's batches
//	type     int8
//	fields   by type, below (all integers big-endian; a string is an
//	         int16 length and that many bytes; an id is 16 bytes)
//
// A Data frame's record batches follow its fields and are outside the frame
// CRC: each batch carries its own CRC-32C, which the standby checks before
// appending it, so the leader can send them straight from the segment file
// like a consumer fetch.
//
//	1 Hello        (both ways, first) version int16, node id int32,
//	               cluster id string, leader epoch int32,
//	               advertised host string, advertised port int32
//	2 Metadata     (leader → standby) topic count int32, then per topic:
//	               name string, id, partitions int32,
//	               config count int32, then name string, value string each
//	3 Positions    (standby → leader, after each Metadata) count int32, then
//	               per partition: topic id, partition int32,
//	               log end offset int64, last leader epoch int32
//	4 Data         (leader → standby) topic id, partition int32,
//	               high watermark int64, log start offset int64,
//	               log end offset int64 (the leader's, when read),
//	               batches length int32, then the batches (raw RecordBatch
//	               v2, exactly as stored, base offsets and epochs included);
//	               with no batches it is a heartbeat: the standby learns
//	               it is still caught up
//	5 Ack          (standby → leader) topic id, partition int32,
//	               durable log end offset int64
//	6 Truncate     (leader → standby) topic id, partition int32,
//	               offset int64: the standby's log diverged from the
//	               leader's at offset (KIP-101 style); cut it there
//	7 Reset        (leader → standby) topic id, partition int32,
//	               offset int64: the leader's log now starts above the
//	               standby's end (retention); empty the log and restart it
//	               at offset
//	8 BrokerConfigs (leader → standby, v2+; after Hello and whenever they
//	               change, before the Metadata that follows) resource
//	               count int32, then per resource: name string ("" the
//	               cluster-wide default, else a node id), config count
//	               int32, then name string, value string each. The whole
//	               set: a resource absent has no dynamic configs
//
// Versions: v1 has frames 1-7; v2 adds BrokerConfigs. Each side accepts
// a peer of v1 or v2 (VersionMin..Version) and the leader sends
// BrokerConfigs only to a v2 standby, so a v1 node on either side still
// replicates (without dynamic broker configs).
//
// A frame whose CRC or fields do not check closes the connection; the
// standby reconnects and resumes from its log end offset.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"sort"
	"time"
)

// Version is the protocol version this node speaks; VersionMin the
// oldest peer it accepts.
const (
	Version    = 2
	VersionMin = 1
)

// Replication frame types.
const (
	TypeHello     int8 = 1
	TypeMetadata  int8 = 2
	TypePositions int8 = 3
	TypeData      int8 = 4
	TypeAck       int8 = 5
	TypeTruncate  int8 = 6
	TypeReset     int8 = 7
	// TypeBrokerConfigs is v2+.
	TypeBrokerConfigs int8 = 8
)

// Limits of replication frames.
const (
	frameHeaderBytes = 9        // length, crc, type
	FrameBytesMax    = 64 << 20 // a frame's fields and batches
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrFrame says a replication frame does not check.
var ErrFrame = errors.New("replica: bad replication frame")

// Hello is a Hello.
type Hello struct {
	Version   int16
	NodeID    int32
	ClusterID string
	Epoch     int32
	Host      string
	Port      int32
}

// Topic is one topic of a Metadata frame.
type Topic struct {
	Name       string
	ID         [16]byte
	Partitions int32
	Configs    map[string]string
}

// Position is one partition's position in a Positions frame.
type Position struct {
	TopicID   [16]byte
	Partition int32
	Offset    int64
	LastEpoch int32
}

// DataFields are a Data frame's fields (the batches follow them).
type DataFields struct {
	TopicID        [16]byte
	Partition      int32
	HighWatermark  int64
	LogStartOffset int64
	LogEndOffset   int64
	BatchesLength  int32
}

// PartitionOffset is an Ack's, a Truncate's or a Reset's fields.
type PartitionOffset struct {
	TopicID   [16]byte
	Partition int32
	Offset    int64
}

// Encoder builds frames into one reusable buffer.
type Encoder struct {
	buf []byte
}

func (e *Encoder) begin(typ int8) {
	e.buf = append(e.buf[:0], 0, 0, 0, 0, 0, 0, 0, 0, byte(typ))
}

// end patches length and CRC; extra is the length of bytes that will follow
// outside the CRC (a Data frame's batches).
func (e *Encoder) end(extra int) []byte {
	binary.BigEndian.PutUint32(e.buf[0:], uint32(len(e.buf)-4+extra))
	binary.BigEndian.PutUint32(e.buf[4:], crc32.Checksum(e.buf[8:], castagnoli))
	return e.buf
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// Hello encodes a Hello frame.
func (e *Encoder) Hello(h Hello) []byte {
	e.begin(TypeHello)
	e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(h.Version))
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(h.NodeID))
	e.buf = appendString(e.buf, h.ClusterID)
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(h.Epoch))
	e.buf = appendString(e.buf, h.Host)
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(h.Port))
	return e.end(0)
}

// Metadata encodes a Metadata frame.
func (e *Encoder) Metadata(topics []Topic) []byte {
	e.begin(TypeMetadata)
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(topics)))
	for _, t := range topics {
		e.buf = appendString(e.buf, t.Name)
		e.buf = append(e.buf, t.ID[:]...)
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(t.Partitions))
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(t.Configs)))
		keys := make([]string, 0, len(t.Configs))
		for k := range t.Configs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			e.buf = appendString(e.buf, k)
			e.buf = appendString(e.buf, t.Configs[k])
		}
	}
	return e.end(0)
}

// BrokerConfigs encodes a BrokerConfigs frame: every broker resource's
// dynamic configs, in name order.
func (e *Encoder) BrokerConfigs(resources map[string]map[string]string) []byte {
	e.begin(TypeBrokerConfigs)
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(resources)))
	for _, name := range sortedKeys(resources) {
		configs := resources[name]
		e.buf = appendString(e.buf, name)
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(configs)))
		for _, k := range sortedKeys(configs) {
			e.buf = appendString(e.buf, k)
			e.buf = appendString(e.buf, configs[k])
		}
	}
	return e.end(0)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Positions encodes a Positions frame.
func (e *Encoder) Positions(positions []Position) []byte {
	e.begin(TypePositions)
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(positions)))
	for _, p := range positions {
		e.buf = append(e.buf, p.TopicID[:]...)
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(p.Partition))
		e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(p.Offset))
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(p.LastEpoch))
	}
	return e.end(0)
}

// DataHeader encodes a Data frame up to its batches, which the caller sends
// next (BatchesLength bytes).
func (e *Encoder) DataHeader(d DataFields) []byte {
	e.begin(TypeData)
	e.buf = append(e.buf, d.TopicID[:]...)
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(d.Partition))
	e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(d.HighWatermark))
	e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(d.LogStartOffset))
	e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(d.LogEndOffset))
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(d.BatchesLength))
	return e.end(int(d.BatchesLength))
}

// PartitionOffset encodes an Ack, a Truncate or a Reset frame.
func (e *Encoder) PartitionOffset(typ int8, p PartitionOffset) []byte {
	e.begin(typ)
	e.buf = append(e.buf, p.TopicID[:]...)
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(p.Partition))
	e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(p.Offset))
	return e.end(0)
}

// Frame is one received frame: its type, its checked fields, and for
// Data the batches (unchecked here: the standby validates each).
type Frame struct {
	Type    int8
	Fields  []byte
	Batches []byte
}

// ReadFrame reads one frame into buf and checks its CRC, in this order:
//  1. the 4-byte length, checked at once (at least 5, at most
//     FrameBytesMax): a bad size is an error before anything else is read;
//  2. the CRC and the type;
//  3. the rest, into buf grown as bytes arrive (by at most
//     frameGrowBytes beyond what has arrived), never allocated from the
//     declared length up front.
//
// buf is returned for reuse. With a net.Conn, use ReadFrameFrom, which
// also bounds how long a started frame may take.
func ReadFrame(r io.Reader, buf []byte) (Frame, []byte, error) {
	var head [frameHeaderBytes]byte
	if _, err := io.ReadFull(r, head[:4]); err != nil {
		return Frame{}, buf, err
	}
	return readFrameAfterLength(r, head, buf)
}

// frameWait bounds how long a frame may take once its first byte arrived:
// a peer dribbling a frame byte by byte holds the connection no longer.
const frameWait = 10 * time.Second

// frameGrowBytes bounds how far a frame's buffer grows ahead of the bytes
// that arrived: a declared length of 64 MiB followed by silence costs
// this, not 64 MiB.
const frameGrowBytes = 1 << 20

// ReadFrameFrom reads one frame from conn as ReadFrame does, waiting as
// long as it takes for the frame's first byte, then at most frameWait for
// the rest of it (a read deadline from the first byte, cleared after).
func ReadFrameFrom(conn net.Conn, buf []byte) (Frame, []byte, error) {
	var head [frameHeaderBytes]byte
	if _, err := io.ReadFull(conn, head[:1]); err != nil {
		return Frame{}, buf, err
	}
	if err := conn.SetReadDeadline(time.Now().Add(frameWait)); err != nil {
		return Frame{}, buf, err
	}
	if _, err := io.ReadFull(conn, head[1:4]); err != nil {
		return Frame{}, buf, err
	}
	f, buf, err := readFrameAfterLength(conn, head, buf)
	if err != nil {
		return f, buf, err
	}
	return f, buf, conn.SetReadDeadline(time.Time{})
}

// readFrameAfterLength reads the rest of a frame whose length is in
// head[:4] (steps 1 to 3 of ReadFrame).
func readFrameAfterLength(r io.Reader, head [frameHeaderBytes]byte, buf []byte) (Frame, []byte, error) {
	length := int64(int32(binary.BigEndian.Uint32(head[0:])))
	if length < 5 || length > FrameBytesMax {
		return Frame{}, buf, fmt.Errorf("%w: length %d", ErrFrame, length)
	}
	if _, err := io.ReadFull(r, head[4:]); err != nil {
		return Frame{}, buf, err
	}
	buf, err := readGrowing(r, buf[:0], int(length-5))
	if err != nil {
		return Frame{}, buf, err
	}
	f := Frame{Type: int8(head[8]), Fields: buf}
	covered := len(buf)
	if f.Type == TypeData {
		if len(buf) < dataFieldsBytes {
			return Frame{}, buf, fmt.Errorf("%w: data frame of %d bytes", ErrFrame, len(buf))
		}
		batches := int(int32(binary.BigEndian.Uint32(buf[dataFieldsBytes-4:])))
		if batches < 0 || batches != len(buf)-dataFieldsBytes {
			return Frame{}, buf, fmt.Errorf("%w: data frame says %d bytes of batches, has %d", ErrFrame, batches, len(buf)-dataFieldsBytes)
		}
		covered = dataFieldsBytes
		f.Fields, f.Batches = buf[:dataFieldsBytes], buf[dataFieldsBytes:]
	}
	crc := crc32.Update(crc32.Checksum(head[8:9], castagnoli), castagnoli, buf[:covered])
	if crc != binary.BigEndian.Uint32(head[4:]) {
		return Frame{}, buf, fmt.Errorf("%w: CRC mismatch (type %d)", ErrFrame, f.Type)
	}
	return f, buf, nil
}

// readGrowing reads exactly n bytes onto buf (which it returns), growing
// it by at most frameGrowBytes past what has arrived at each step.
func readGrowing(r io.Reader, buf []byte, n int) ([]byte, error) {
	for len(buf) < n {
		want := min(n, len(buf)+frameGrowBytes)
		if cap(buf) < want {
			grown := make([]byte, len(buf), max(want, min(n, 2*cap(buf))))
			copy(grown, buf)
			buf = grown
		}
		k, err := io.ReadFull(r, buf[len(buf):want])
		buf = buf[:len(buf)+k]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// dataFieldsBytes is a Data frame's fields before the batches.
const dataFieldsBytes = 16 + 4 + 8 + 8 + 8 + 4

// fieldReader decodes fields, remembering the first error.
type fieldReader struct {
	b   []byte
	err error
}

func (r *fieldReader) take(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.err = fmt.Errorf("%w: fields end early", ErrFrame)
		return make([]byte, max(n, 0))
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *fieldReader) int16() int16 { return int16(binary.BigEndian.Uint16(r.take(2))) }
func (r *fieldReader) int32() int32 { return int32(binary.BigEndian.Uint32(r.take(4))) }
func (r *fieldReader) int64() int64 { return int64(binary.BigEndian.Uint64(r.take(8))) }
func (r *fieldReader) string() string {
	n := int(r.int16())
	return string(r.take(n))
}
func (r *fieldReader) id() (id [16]byte) {
	copy(id[:], r.take(16))
	return id
}

// count reads an array count, refusing one larger than the bytes left
// could hold (each element at least min bytes).
func (r *fieldReader) count(min int) int {
	n := int(r.int32())
	if n < 0 || n*min > len(r.b) {
		if r.err == nil {
			r.err = fmt.Errorf("%w: count %d for %d bytes", ErrFrame, n, len(r.b))
		}
		return 0
	}
	return n
}

func (r *fieldReader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d bytes after the fields", ErrFrame, len(r.b))
	}
	return r.err
}

// DecodeHello decodes a Hello's fields.
func DecodeHello(fields []byte) (Hello, error) {
	r := fieldReader{b: fields}
	h := Hello{Version: r.int16(), NodeID: r.int32(), ClusterID: r.string(), Epoch: r.int32(), Host: r.string(), Port: r.int32()}
	return h, r.done()
}

// DecodeMetadata decodes a Metadata frame's fields.
func DecodeMetadata(fields []byte) ([]Topic, error) {
	r := fieldReader{b: fields}
	n := r.count(2 + 16 + 4 + 4)
	topics := make([]Topic, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		t := Topic{Name: r.string(), ID: r.id(), Partitions: r.int32()}
		configs := r.count(4)
		t.Configs = make(map[string]string, configs)
		for j := 0; j < configs && r.err == nil; j++ {
			k := r.string()
			t.Configs[k] = r.string()
		}
		topics = append(topics, t)
	}
	return topics, r.done()
}

// DecodeBrokerConfigs decodes a BrokerConfigs frame's fields.
func DecodeBrokerConfigs(fields []byte) (map[string]map[string]string, error) {
	r := fieldReader{b: fields}
	n := r.count(2 + 4)
	resources := make(map[string]map[string]string, n)
	for i := 0; i < n && r.err == nil; i++ {
		name := r.string()
		count := r.count(2 + 2)
		configs := make(map[string]string, count)
		for j := 0; j < count && r.err == nil; j++ {
			k := r.string()
			configs[k] = r.string()
		}
		resources[name] = configs
	}
	return resources, r.done()
}

// DecodePositions decodes a Positions frame's fields.
func DecodePositions(fields []byte) ([]Position, error) {
	r := fieldReader{b: fields}
	n := r.count(16 + 4 + 8 + 4)
	positions := make([]Position, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		positions = append(positions, Position{TopicID: r.id(), Partition: r.int32(), Offset: r.int64(), LastEpoch: r.int32()})
	}
	return positions, r.done()
}

// DecodeData decodes a Data frame's fields.
func DecodeData(fields []byte) (DataFields, error) {
	r := fieldReader{b: fields}
	d := DataFields{TopicID: r.id(), Partition: r.int32(), HighWatermark: r.int64(), LogStartOffset: r.int64(), LogEndOffset: r.int64(), BatchesLength: r.int32()}
	return d, r.done()
}

// DecodePartitionOffset decodes an Ack's, a Truncate's or a Reset's fields.
func DecodePartitionOffset(fields []byte) (PartitionOffset, error) {
	r := fieldReader{b: fields}
	p := PartitionOffset{TopicID: r.id(), Partition: r.int32(), Offset: r.int64()}
	return p, r.done()
}
