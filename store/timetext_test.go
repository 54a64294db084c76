package store

import (
	"math/rand/v2"
	"testing"
	"time"
)

// Stored times read back equal to what time.Parse makes of them, for any
// instant encodeTime writes, and text that is not exactly in the stored
// layout is left to time.Parse (which refuses what it must).
func TestStoredTimesParseLikeTimeParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		at := time.Unix(rng.Int64N(1<<35), rng.Int64N(1e9)).UTC()
		v := encodeTime(at).(string)
		var got time.Time
		if err := (timeText{&got}).parse(v); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		want, err := time.Parse(timeLayout, v)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(want) || got.Location() != time.UTC || !got.Equal(at) {
			t.Fatalf("%s: read %v, want %v", v, got, want)
		}
	}
	for _, v := range []string{
		"2025-04-31T10:00:00.000000000Z", // no 31 April
		"2025-13-01T10:00:00.000000000Z",
		"2025-01-01T24:00:00.000000000Z",
		"2025-01-01T10:60:00.000000000Z",
		"2025-01-0xT10:00:00.000000000Z",
		"2025-01-01 10:00:00.000000000Z",
		"",
	} {
		var got time.Time
		if err := (timeText{&got}).parse(v); err == nil {
			t.Errorf("%q read as %v, want an error", v, got)
		}
	}
	// Other RFC 3339 text (an older row, a time written by hand) still reads.
	var got time.Time
	if err := (timeText{&got}).parse("2025-03-01T12:00:00+01:00"); err != nil || !got.Equal(time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("RFC 3339 with an offset: %v, %v", got, err)
	}
}
