package wire

// Fetch, versions 4-16.
//
// v4 is the first with RecordBatch v2 (and the floor librdkafka needs to use
// it). v13+ name topics by ID. Fetch sessions (KIP-227) are not kept: every
// response says session id 0, which clients read as "sessions disabled" and
// answer with full fetches; a request naming a session gets
// FETCH_SESSION_ID_NOT_FOUND. Replica fetches (replica id ≥ 0) are not
// served here; the standby has its own protocol.
//
// The response is encoded by hand, not by kmsg, so that each partition's
// records stay a file extent that netio sends with sendfile (or copies by
// pread): only the headers are built in memory. Records are whole batches
// from one segment, at least one batch for the first partition with data
// (KIP-74), never past the high watermark (read_uncommitted) or last stable
// offset (read_committed). Empty records are an empty, non-null array:
// librdkafka treats null as an invalid message set.
//
// Long poll: when fewer than min_bytes are ready, the request waits (at
// most max_wait_ms, at most fetchWaitMax) on the partitions' high-watermark
// notifiers and reads again.
//
//	response body (v: request version; flexible from v12: compact arrays,
//	strings and bytes, tagged fields)
//	  throttle_time_ms int32
//	  error_code int16, session_id int32                      v7+
//	  [topics]
//	    topic string (v<13) | topic_id uuid (v13+)
//	    [partitions]
//	      partition_index int32, error_code int16
//	      high_watermark int64, last_stable_offset int64, log_start_offset int64 (v5+)
//	      aborted_transactions nullable [producer_id int64, first_offset int64]
//	      preferred_read_replica int32                        v11+
//	      records nullable bytes
//	      tagged fields                                        v12+
//	    tagged fields                                          v12+
//	  tagged fields                                            v12+

import (
	"context"
	"encoding/binary"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/engine"
	"spool/engine/meta"
)

// Limits of a fetch.
const (
	// fetchWaitMax bounds max_wait_ms, so a client cannot park a
	// connection for longer.
	fetchWaitMax = 30 * time.Second
	// fetchPartitionsMax bounds the partitions one fetch may name.
	fetchPartitionsMax = 10_000
)

// fetchPartition is one partition's outcome.
type fetchPartition struct {
	topic     *meta.Topic
	errorCode int16
	read      engine.ReadResult
}

func handleFetch(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.FetchRequest)
	version := h.APIVersion
	sessionError := int16(0)
	if version >= 7 && (r.SessionID != 0 || (r.SessionEpoch != -1 && r.SessionEpoch != 0)) {
		sessionError = kerr.FetchSessionIDNotFound.Code
	}
	count := 0
	for i := range r.Topics {
		count += len(r.Topics[i].Partitions)
	}
	if count > fetchPartitionsMax {
		sessionError = kerr.InvalidRequest.Code
	}
	isolation := engine.ReadUncommitted
	if r.IsolationLevel == 1 {
		isolation = engine.ReadCommitted
	}
	maxBytes := int64(r.MaxBytes)
	if version < 3 || maxBytes <= 0 {
		maxBytes = 1<<31 - 1
	}
	wait := min(time.Duration(max(r.MaxWaitMillis, 0))*time.Millisecond, fetchWaitMax)
	deadline := time.Now().Add(wait)

	results := make([]fetchPartition, count)
	var waitOn []<-chan struct{}
	for {
		waitOn = waitOn[:0]
		total := int64(0)
		if sessionError == 0 {
			total = s.readAll(r, version, isolation, maxBytes, results, &waitOn)
		}
		if sessionError != 0 || total >= int64(r.MinBytes) || total > 0 && r.MinBytes <= 0 || time.Now().After(deadline) || len(waitOn) == 0 {
			break
		}
		for i := range results {
			results[i].read.Release()
		}
		if !waitForData(ctx, waitOn, time.Until(deadline)) {
			break
		}
	}
	encodeFetch(h, r, results, sessionError, resp)
	return nil
}

// readAll plans every partition of the request into results, returning the
// bytes planned, and collects the notifiers to wait on.
func (s *Server) readAll(r *kmsg.FetchRequest, version int16, isolation engine.Isolation, maxBytes int64, results []fetchPartition, waitOn *[]<-chan struct{}) int64 {
	total := int64(0)
	i := 0
	for ti := range r.Topics {
		rt := &r.Topics[ti]
		var t *meta.Topic
		var known bool
		if version >= 13 {
			t, known = s.cfg.Cluster.TopicByID(rt.TopicID)
		} else {
			t, known = s.cfg.Cluster.Topic(rt.Topic)
		}
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			result := &results[i]
			i++
			*result = fetchPartition{topic: t}
			switch {
			case !known && version >= 13:
				result.errorCode = kerr.UnknownTopicID.Code
				continue
			case !known || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				result.errorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			log := t.Partitions[rp.Partition].Log
			// Take the notifier before reading, so an append between the
			// read and the wait still wakes us.
			*waitOn = append(*waitOn, log.HighWatermarkChanged())
			budget := min(int64(rp.PartitionMaxBytes), maxBytes-total)
			if budget < 0 {
				budget = 0
			}
			err := log.Read(engine.Offset(rp.FetchOffset), budget, total == 0, isolation, &result.read)
			result.errorCode = errorCode(err)
			total += result.read.Bytes
		}
	}
	return total
}

// waitForData waits until one notifier fires, the timeout passes or ctx
// ends; it reports whether to read again.
func waitForData(ctx context.Context, channels []<-chan struct{}, timeout time.Duration) bool {
	if timeout <= 0 {
		return false
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	if len(channels) == 1 {
		select {
		case <-channels[0]:
			return true
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	cases := make([]reflect.SelectCase, 0, len(channels)+2)
	cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)})
	cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
	for _, ch := range channels {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	chosen, _, _ := reflect.Select(cases)
	return chosen >= 2
}

func encodeFetch(h *RequestHeader, r *kmsg.FetchRequest, results []fetchPartition, sessionError int16, resp *Response) {
	version := h.APIVersion
	flexible := version >= 12
	resp.begin(h.CorrelationID, flexible)
	b := resp.buf
	b = binary.BigEndian.AppendUint32(b, 0) // throttle_time_ms
	if version >= 7 {
		b = binary.BigEndian.AppendUint16(b, uint16(sessionError))
		b = binary.BigEndian.AppendUint32(b, 0) // session_id: sessions disabled
	}
	if sessionError != 0 {
		b = appendArrayLength(b, 0, flexible)
		b = appendTags(b, flexible)
		resp.buf = b
		resp.finish()
		for i := range results {
			results[i].read.Release()
		}
		return
	}
	b = appendArrayLength(b, len(r.Topics), flexible)
	i := 0
	for ti := range r.Topics {
		rt := &r.Topics[ti]
		if version >= 13 {
			b = append(b, rt.TopicID[:]...)
		} else {
			b = appendString(b, rt.Topic, flexible)
		}
		b = appendArrayLength(b, len(rt.Partitions), flexible)
		for pi := range rt.Partitions {
			result := &results[i]
			i++
			read := &result.read
			b = binary.BigEndian.AppendUint32(b, uint32(rt.Partitions[pi].Partition))
			b = binary.BigEndian.AppendUint16(b, uint16(result.errorCode))
			highWatermark, lastStable, logStart := int64(-1), int64(-1), int64(-1)
			if result.errorCode == 0 || result.errorCode == kerr.OffsetOutOfRange.Code {
				highWatermark, lastStable, logStart = int64(read.HighWatermark), int64(read.LastStableOffset), int64(read.LogStartOffset)
			}
			b = binary.BigEndian.AppendUint64(b, uint64(highWatermark))
			b = binary.BigEndian.AppendUint64(b, uint64(lastStable))
			if version >= 5 {
				b = binary.BigEndian.AppendUint64(b, uint64(logStart))
			}
			if r.IsolationLevel == 1 {
				b = appendArrayLength(b, 0, flexible) // no aborted transactions yet
			} else {
				b = appendNullArray(b, flexible)
			}
			if version >= 11 {
				b = binary.BigEndian.AppendUint32(b, 0xffffffff) // preferred_read_replica -1
			}
			records := int64(0)
			for _, e := range read.Extents {
				records += e.Length
			}
			b = appendBytesLength(b, records, flexible)
			if records > 0 {
				resp.buf = b
				for _, e := range read.Extents {
					resp.addExtent(e)
				}
				resp.reads = append(resp.reads, *read)
				b = resp.buf
			} else {
				read.Release()
			}
			b = appendTags(b, flexible)
		}
		b = appendTags(b, flexible)
	}
	b = appendTags(b, flexible)
	resp.buf = b
	resp.finish()
}

func appendArrayLength(b []byte, n int, flexible bool) []byte {
	if flexible {
		return binary.AppendUvarint(b, uint64(n)+1)
	}
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

func appendNullArray(b []byte, flexible bool) []byte {
	if flexible {
		return append(b, 0)
	}
	return binary.BigEndian.AppendUint32(b, 0xffffffff)
}

func appendString(b []byte, s string, flexible bool) []byte {
	if flexible {
		b = binary.AppendUvarint(b, uint64(len(s))+1)
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	}
	return append(b, s...)
}

func appendBytesLength(b []byte, n int64, flexible bool) []byte {
	if flexible {
		return binary.AppendUvarint(b, uint64(n)+1)
	}
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

func appendTags(b []byte, flexible bool) []byte {
	if flexible {
		return append(b, 0)
	}
	return b
}
