package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestReplicationFramesRoundTrip(t *testing.T) {
	var e Encoder
	var stream bytes.Buffer
	hello := Hello{Version: Version, NodeID: 1, ClusterID: "c", Epoch: 3, Host: "127.0.0.1", Port: 9092}
	stream.Write(e.Hello(hello))
	topics := []Topic{{Name: "t", ID: [16]byte{1}, Partitions: 2, Configs: map[string]string{"retention.ms": "5", "a": "b"}}}
	stream.Write(e.Metadata(topics))
	positions := []Position{{TopicID: [16]byte{1}, Partition: 1, Offset: 42, LastEpoch: 2}}
	stream.Write(e.Positions(positions))
	batches := []byte("not checked by the frame")
	stream.Write(e.DataHeader(DataFields{TopicID: [16]byte{1}, Partition: 1, HighWatermark: 50, LogStartOffset: 7, BatchesLength: int32(len(batches))}))
	stream.Write(batches)
	stream.Write(e.PartitionOffset(TypeAck, PartitionOffset{TopicID: [16]byte{1}, Partition: 1, Offset: 50}))

	var buf []byte
	var f Frame
	var err error
	read := func(want int8) {
		t.Helper()
		f, buf, err = ReadFrame(&stream, buf)
		if err != nil || f.Type != want {
			t.Fatalf("frame %d: type %d, %v", want, f.Type, err)
		}
	}
	read(TypeHello)
	if h, err := DecodeHello(f.Fields); err != nil || h != hello {
		t.Fatalf("hello %+v %v", h, err)
	}
	read(TypeMetadata)
	if got, err := DecodeMetadata(f.Fields); err != nil || len(got) != 1 || got[0].Name != "t" || got[0].Configs["retention.ms"] != "5" || got[0].Partitions != 2 {
		t.Fatalf("metadata %+v %v", got, err)
	}
	read(TypePositions)
	if got, err := DecodePositions(f.Fields); err != nil || len(got) != 1 || got[0] != positions[0] {
		t.Fatalf("positions %+v %v", got, err)
	}
	read(TypeData)
	if d, err := DecodeData(f.Fields); err != nil || d.HighWatermark != 50 || string(f.Batches) != string(batches) {
		t.Fatalf("data %+v %q %v", d, f.Batches, err)
	}
	read(TypeAck)
	if p, err := DecodePartitionOffset(f.Fields); err != nil || p.Offset != 50 {
		t.Fatalf("ack %+v %v", p, err)
	}
}

func TestReplicationFrameCorruption(t *testing.T) {
	var e Encoder
	frame := append([]byte(nil), e.Positions([]Position{{Partition: 3, Offset: 9}})...)
	for i := 4; i < len(frame); i++ {
		bad := append([]byte(nil), frame...)
		bad[i] ^= 0x40
		if _, _, err := ReadFrame(bytes.NewReader(bad), nil); !errors.Is(err, ErrFrame) {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
	}
	huge := []byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1}
	if _, _, err := ReadFrame(bytes.NewReader(huge), nil); !errors.Is(err, ErrFrame) {
		t.Fatalf("huge length: %v", err)
	}
}

// FuzzReplicationFrame: arbitrary bytes on the replication port are a
// clean error, never a panic or an allocation beyond the frame cap.
func FuzzReplicationFrame(f *testing.F) {
	var e Encoder
	f.Add(append([]byte(nil), e.Hello(Hello{Version: 1, ClusterID: "x"})...))
	f.Add(append([]byte(nil), e.Metadata([]Topic{{Name: "t", Partitions: 1, Configs: map[string]string{"k": "v"}}})...))
	f.Add(append([]byte(nil), e.Positions([]Position{{Offset: 1}})...))
	f.Add(append(append([]byte(nil), e.DataHeader(DataFields{BatchesLength: 3})...), 1, 2, 3))
	f.Fuzz(func(t *testing.T, b []byte) {
		frame, _, err := ReadFrame(bytes.NewReader(b), nil)
		if err != nil {
			return
		}
		switch frame.Type {
		case TypeHello:
			DecodeHello(frame.Fields)
		case TypeMetadata:
			DecodeMetadata(frame.Fields)
		case TypePositions:
			DecodePositions(frame.Fields)
		case TypeData:
			DecodeData(frame.Fields)
		default:
			DecodePartitionOffset(frame.Fields)
		}
	})
}

// TestFrameSizeCheckedFirst: a frame's length is checked as soon as its
// four bytes arrive (a reader holding only them would otherwise fail with
// EOF, not ErrFrame), and a large declared length followed by little data
// grows the buffer with what arrives, not to the declared size.
func TestFrameSizeCheckedFirst(t *testing.T) {
	for _, size := range []uint32{0xffffffff, 0x80000000, 0, 1, 2, 3, 4, 0x7fffffff, FrameBytesMax + 1} {
		head := binary.BigEndian.AppendUint32(nil, size)
		if _, _, err := ReadFrame(bytes.NewReader(head), nil); !errors.Is(err, ErrFrame) {
			t.Errorf("size %#x followed by nothing: %v, want ErrFrame", size, err)
		}
	}
	declared := binary.BigEndian.AppendUint32(nil, FrameBytesMax)
	declared = append(declared, make([]byte, 5+100)...) // crc, type, 100 bytes of the rest
	_, buf, err := ReadFrame(bytes.NewReader(declared), nil)
	if err == nil || errors.Is(err, ErrFrame) {
		t.Fatalf("a frame cut short: %v, want the reader's EOF", err)
	}
	if cap(buf) > frameGrowBytes {
		t.Fatalf("%d bytes allocated for a frame of which 100 arrived", cap(buf))
	}
}

func TestBrokerConfigsFrame(t *testing.T) {
	var e Encoder
	want := map[string]map[string]string{"": {"log.retention.ms": "60000", "compression.type": "zstd"}, "0": {}}
	frame, _, err := ReadFrame(bytes.NewReader(e.BrokerConfigs(want)), nil)
	if err != nil || frame.Type != TypeBrokerConfigs {
		t.Fatal(frame.Type, err)
	}
	got, err := DecodeBrokerConfigs(frame.Fields)
	if err != nil || len(got) != 2 || got[""]["compression.type"] != "zstd" || got[""]["log.retention.ms"] != "60000" || len(got["0"]) != 0 {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := DecodeBrokerConfigs(frame.Fields[:len(frame.Fields)-1]); err == nil {
		t.Fatal("a short frame decoded")
	}
}
