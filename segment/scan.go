package segment

// ScannedBatch is one batch met by Scan.
type ScannedBatch struct {
	Position int64
	Header   Header
	Err      error // nil: the batch validated (length, magic, CRC, counts)
}

// Scan walks the batches in b (a .log file's bytes) from position 0 and
// calls visit for each until visit returns false, b ends, a batch fails
// validation (visit sees it, with Err set), or zeros begin. It returns the
// position where the valid batches end. It reads only: dump and verify use
// it on files they must not change.
func Scan(b []byte, visit func(ScannedBatch) bool) int64 {
	position := int64(0)
	limit := int64(len(b))
	for position < limit {
		if allZero(b[position:min(position+BatchHeaderBytes, limit)]) {
			return position
		}
		h, err := ParseHeader(b[position:])
		if err == nil && position+h.TotalBytes() > limit {
			err = ErrBatchLength
		}
		if err == nil {
			err = checkBody(&h, b[position:position+h.TotalBytes()], true)
		}
		if !visit(ScannedBatch{Position: position, Header: h, Err: err}) || err != nil {
			return position
		}
		position += h.TotalBytes()
	}
	return position
}

// AllZero reports whether every byte of b is zero.
func AllZero(b []byte) bool { return allZero(b) }
