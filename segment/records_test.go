package segment

import "testing"

func TestAppendBatchRoundTrip(t *testing.T) {
	records := []KeyValue{{Key: []byte("k1"), Value: []byte("v1")}, {Key: nil, Value: []byte{}}, {Key: []byte("gone"), Value: nil}}
	b := AppendBatch([]byte("prefix"), 1700000000000, records)[len("prefix"):]
	h, err := ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.RecordCount != 3 || h.ProducerID != -1 || h.MaxTimestamp != 1700000000000 {
		t.Fatalf("header %+v", h)
	}
	var got []RecordPosition
	if err := WalkRecords(b, func(p RecordPosition) bool { got = append(got, p); return true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("walked %d records", len(got))
	}
	for i, p := range got {
		if p.Offset != Offset(i) || p.Timestamp != 1700000000000 {
			t.Errorf("record %d at %d/%d", i, p.Offset, p.Timestamp)
		}
		if (p.Key == nil) != (records[i].Key == nil) || string(p.Key) != string(records[i].Key) {
			t.Errorf("record %d key %q, want %q", i, p.Key, records[i].Key)
		}
		if (p.Value == nil) != (records[i].Value == nil) || string(p.Value) != string(records[i].Value) {
			t.Errorf("record %d value %q (nil %v), want %q", i, p.Value, p.Value == nil, records[i].Value)
		}
	}
}
