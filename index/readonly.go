package index

import (
	"encoding/binary"
	"os"
)

// OffsetEntry is one offset index entry, decoded.
type OffsetEntry struct {
	Relative RelOffset
	Position Position
}

// TimeEntry is one time index entry, decoded.
type TimeEntry struct {
	Timestamp int64
	Relative  RelOffset
}

// ReadOffsetFile decodes every whole entry slot of an offset index file
// without opening it for writing, for the offline tools (dump, verify),
// which must change nothing. Slots past the valid entries (zeros of a
// preallocated file, garbage) are returned as they are; trailing bytes
// shorter than an entry are reported by the second result.
func ReadOffsetFile(path string) ([]OffsetEntry, int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	entries := make([]OffsetEntry, 0, len(data)/offsetEntryBytes)
	for i := 0; i+offsetEntryBytes <= len(data); i += offsetEntryBytes {
		entries = append(entries, OffsetEntry{
			Relative: RelOffset(binary.BigEndian.Uint32(data[i+offsetRelativeAt:])),
			Position: Position(binary.BigEndian.Uint32(data[i+offsetPositionAt:])),
		})
	}
	return entries, len(data) % offsetEntryBytes, nil
}

// ReadTimeFile is ReadOffsetFile for a time index file.
func ReadTimeFile(path string) ([]TimeEntry, int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	entries := make([]TimeEntry, 0, len(data)/timeEntryBytes)
	for i := 0; i+timeEntryBytes <= len(data); i += timeEntryBytes {
		entries = append(entries, TimeEntry{
			Timestamp: int64(binary.BigEndian.Uint64(data[i+timeTimestampHighAt:])),
			Relative:  RelOffset(binary.BigEndian.Uint32(data[i+timeRelativeAt:])),
		})
	}
	return entries, len(data) % timeEntryBytes, nil
}
