package grader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// binStore keeps the test binaries of graded trees (a tar archive each, as
// the grading container handed them over) in a folder on the grader's own
// machine, by key (binariesKey), within a bound on their total size: the
// least recently used go first. A file is written aside and renamed into
// place, so a reader never sees part of one; anything the store cannot
// read or write only loses the saving, it never fails a grade.
type binStore struct {
	dir   string
	limit int64

	mu      sync.Mutex
	entries map[string]*binEntry
	total   int64
}

type binEntry struct {
	size int64
	used time.Time
}

// binSuffix ends the name of every kept archive; binTemp starts a file
// being written.
const (
	binSuffix = ".tar"
	binTemp   = ".tmp-"
)

// openBinStore opens (creating) the store in dir, keeping at most limit
// bytes. It drops files being written when a process stopped, and trims
// what an earlier, larger bound kept.
func openBinStore(dir string, limit int64) (*binStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open the test binaries kept in %s: %w", dir, err)
	}
	list, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open the test binaries kept in %s: %w", dir, err)
	}
	s := &binStore{dir: dir, limit: limit, entries: map[string]*binEntry{}}
	for _, de := range list {
		name := de.Name()
		switch {
		case strings.HasPrefix(name, binTemp):
			os.Remove(filepath.Join(dir, name))
		case strings.HasSuffix(name, binSuffix) && de.Type().IsRegular():
			info, err := de.Info()
			if err != nil {
				continue
			}
			s.entries[strings.TrimSuffix(name, binSuffix)] = &binEntry{size: info.Size(), used: info.ModTime()}
			s.total += info.Size()
		}
	}
	s.mu.Lock()
	s.trim()
	s.mu.Unlock()
	return s, nil
}

func (s *binStore) path(key string) string { return filepath.Join(s.dir, key+binSuffix) }

// get returns the archive kept under key, and marks it used.
func (s *binStore) get(key string) ([]byte, bool) {
	s.mu.Lock()
	e, ok := s.entries[key]
	if ok {
		e.used = time.Now()
	}
	s.mu.Unlock()
	if !ok {
		return nil, false
	}
	b, err := os.ReadFile(s.path(key))
	if err != nil || int64(len(b)) != e.size {
		s.drop(key)
		return nil, false
	}
	now := time.Now()
	_ = os.Chtimes(s.path(key), now, now) // the order of use survives a restart
	return b, true
}

// put keeps b under key, then trims the store to its bound.
func (s *binStore) put(key string, b []byte) error {
	if int64(len(b)) > s.limit {
		return fmt.Errorf("keep test binaries: %d bytes is more than the %d kept in all", len(b), s.limit)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil { // deleted while the grader ran
		return fmt.Errorf("keep test binaries: %w", err)
	}
	f, err := os.CreateTemp(s.dir, binTemp)
	if err != nil {
		return fmt.Errorf("keep test binaries: %w", err)
	}
	_, err = f.Write(b)
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(f.Name(), s.path(key))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("keep test binaries: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.entries[key]; ok {
		s.total -= old.size
	}
	s.entries[key] = &binEntry{size: int64(len(b)), used: time.Now()}
	s.total += int64(len(b))
	s.trim()
	return nil
}

// drop forgets key and removes its archive.
func (s *binStore) drop(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(key)
}

func (s *binStore) remove(key string) {
	if e, ok := s.entries[key]; ok {
		s.total -= e.size
		delete(s.entries, key)
	}
	_ = os.Remove(s.path(key)) // a file left behind is only space, found again at the next open
}

// trim removes the least recently used archives until the total is within
// the bound. The caller holds s.mu.
func (s *binStore) trim() {
	if s.total <= s.limit {
		return
	}
	keys := make([]string, 0, len(s.entries))
	for k := range s.entries {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return s.entries[a].used.Compare(s.entries[b].used) })
	for _, k := range keys {
		if s.total <= s.limit {
			break
		}
		s.remove(k)
	}
}
