package wire

// InitProducerId, versions 0-4.
//
// Hands out producer ids for idempotent producers, epoch 0; v3+ may ask to
// bump the epoch of an id it holds, which answers the same id with the
// next epoch (a new id once the epoch would overflow). Ids are never reused
// across restarts: they come from blocks whose end is written durably
// before any id of the block is handed out. Transactional producers get
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED: transactions are not built yet.

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"spool/segment"
)

func handleInitProducerID(s *Server, ctx context.Context, h *RequestHeader, req kmsg.Request, resp *Response) error {
	r := req.(*kmsg.InitProducerIDRequest)
	kresp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	switch {
	case r.TransactionalID != nil && *r.TransactionalID != "":
		kresp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		kresp.ProducerID, kresp.ProducerEpoch = -1, -1
	case s.cfg.Cluster.Follower():
		kresp.ErrorCode = kerr.NotCoordinator.Code // producer ids come from the leader
		kresp.ProducerID, kresp.ProducerEpoch = -1, -1
	case h.APIVersion >= 3 && r.ProducerID >= 0 && r.ProducerEpoch >= 0 && r.ProducerEpoch < math.MaxInt16:
		kresp.ProducerID, kresp.ProducerEpoch = r.ProducerID, r.ProducerEpoch+1
	default:
		id, err := s.ids.next()
		if err != nil {
			s.logger.Error("allocating a producer id", "error", err)
			kresp.ErrorCode = kerr.KafkaStorageError.Code
			kresp.ProducerID, kresp.ProducerEpoch = -1, -1
			break
		}
		// The leader epoch prefixes the id: a promoted standby (a newer
		// epoch) never hands out an id its old leader gave a producer whose
		// sequences the replicated logs still remember.
		kresp.ProducerID, kresp.ProducerEpoch = int64(s.cfg.Cluster.Epoch())<<producerIDEpochShift|id, 0
	}
	s.encode(h, kresp, resp)
	return nil
}

// producerIDEpochShift: a producer id is the leader epoch above this bit
// and the node's counter below it.
const producerIDEpochShift = 40

// producerIDBlockSize is how many ids one durable write covers.
const producerIDBlockSize = 1000

// producerIDs allocates producer ids from durable blocks. The file holds
// the end of the last block handed out, in decimal; a restart continues
// after it, skipping whatever of that block was unused.
type producerIDs struct {
	mu       sync.Mutex
	path     string
	nextID   int64
	blockEnd int64
}

func openProducerIDs(dataDir string) (*producerIDs, error) {
	p := &producerIDs{path: filepath.Join(dataDir, "producer-id-block")}
	data, err := os.ReadFile(p.path)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return nil, err
	default:
		end, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || end < 0 {
			return nil, fmt.Errorf("%s: malformed producer id block %q", p.path, data)
		}
		p.nextID, p.blockEnd = end, end
	}
	return p, nil
}

func (p *producerIDs) next() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nextID >= p.blockEnd {
		end := p.blockEnd + producerIDBlockSize
		if err := segment.WriteFileAtomic(p.path, []byte(strconv.FormatInt(end, 10)+"\n")); err != nil {
			return -1, err
		}
		p.nextID, p.blockEnd = p.blockEnd, end
	}
	id := p.nextID
	p.nextID++
	return id, nil
}
