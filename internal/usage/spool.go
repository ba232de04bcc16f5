package usage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/portico-gw/portico/internal/store"
)

// spool keeps batches the store could not take, one file per batch, named
// so that their order is the order they were made in. A file is written
// to a temporary name, synced and renamed, so a crash leaves either the
// whole batch or no file (a leftover temporary file is removed at start).
type spool struct {
	dir   string
	limit int64 // bytes
	size  int64
	files []string // names, oldest first
}

// openSpool opens (creating) dir and lists the batches waiting in it.
func openSpool(dir string, limit int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("usage spool: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("usage spool: %w", err)
	}
	s := &spool{dir: dir, limit: limit}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".tmp"):
			_ = os.Remove(filepath.Join(dir, name)) // never acknowledged
		case strings.HasSuffix(name, ".batch"):
			if info, err := e.Info(); err == nil {
				s.size += info.Size()
			}
			s.files = append(s.files, name)
		}
	}
	slices.Sort(s.files)
	return s, nil
}

var errSpoolFull = errors.New("the usage spool is full")

// put writes b to the spool.
func (s *spool) put(seq int64, b *store.UsageBatch) error {
	data, err := json.Marshal(spooled{ID: b.ID, Group: b.Group, Node: b.Node, Records: b.Records})
	if err != nil {
		return err
	}
	if s.size+int64(len(data)) > s.limit {
		return errSpoolFull
	}
	name := fmt.Sprintf("%020d-%s.batch", seq, b.ID)
	tmp := filepath.Join(s.dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600) //nolint:gosec // a name made here, in the spool directory
	if err != nil {
		return fmt.Errorf("usage spool: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, name))
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("usage spool: %w", err)
	}
	s.files = append(s.files, name)
	s.size += int64(len(data))
	return nil
}

// spooled is a batch as a spool file holds it; rollups are computed again
// from the records when it is delivered.
type spooled struct {
	ID      string              `json:"id"`
	Group   string              `json:"group"`
	Node    string              `json:"node"`
	Records []store.UsageRecord `json:"records"`
}

// oldest reads the oldest waiting batch (ok false when none waits).
func (s *spool) oldest() (b store.UsageBatch, ok bool, err error) {
	if len(s.files) == 0 {
		return b, false, nil
	}
	data, err := os.ReadFile(filepath.Join(s.dir, s.files[0]))
	if err != nil {
		return b, false, fmt.Errorf("usage spool: %w", err)
	}
	var sp spooled
	if err := json.Unmarshal(data, &sp); err != nil {
		return b, false, fmt.Errorf("usage spool: %s: %w", s.files[0], err)
	}
	return store.UsageBatch{ID: sp.ID, Group: sp.Group, Node: sp.Node, Records: sp.Records}, true, nil
}

// removeOldest deletes the oldest batch, once delivered.
func (s *spool) removeOldest() error {
	p := filepath.Join(s.dir, s.files[0])
	if info, err := os.Stat(p); err == nil {
		s.size -= info.Size()
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("usage spool: %w", err)
	}
	s.files = s.files[1:]
	return nil
}

// quarantineOldest moves an unreadable batch file aside, so that it does
// not stop the ones behind it; an operator can inspect it.
func (s *spool) quarantineOldest() {
	p := filepath.Join(s.dir, s.files[0])
	if info, err := os.Stat(p); err == nil {
		s.size -= info.Size()
	}
	_ = os.Rename(p, p+".bad")
	s.files = s.files[1:]
}

func syncDir(dir string) error {
	d, err := os.Open(dir) //nolint:gosec // the spool directory under the data dir
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	return d.Sync()
}
