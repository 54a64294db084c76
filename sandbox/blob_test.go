package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"
)

// blobCase is a job's whole output and what the blobWriter should make of
// it with limit.
type blobCase struct {
	name     string
	out      string
	limit    int64
	wantBlob string // "" for none
	wantRest string
}

var blobCases = []blobCase{
	{"blob then output", "##blob 5\nab\ncdrest\n", 100, "ab\ncd", "rest\n"},
	{"blob holding a header and the gate", "##blob 17\n##blob 3\nGATE\nxyz\nGATE\n", 100, "##blob 3\nGATE\nxyz", "\nGATE\n"},
	{"blob is all", "##blob 3\nabc", 100, "abc", ""},
	{"cut short", "##blob 10\nabc", 100, "", ""},
	{"over the limit", "##blob 101\nabc\n", 100, "", "##blob 101\nabc\n"},
	{"not first", "hello\n##blob 3\nabc", 100, "", "hello\n##blob 3\nabc"},
	{"no number", "##blob x\nabc", 100, "", "##blob x\nabc"},
	{"zero", "##blob 0\nabc", 100, "", "##blob 0\nabc"},
	{"leading zero", "##blob 03\nabc", 100, "", "##blob 03\nabc"},
	{"signed", "##blob +3\nabc", 100, "", "##blob +3\nabc"},
	{"long first line", "##blob " + strings.Repeat("1", 40) + "\nabc", 1 << 40, "", "##blob " + strings.Repeat("1", 40) + "\nabc"},
	{"short output", "##blo", 100, "", "##blo"},
	{"empty", "", 100, "", ""},
	{"plain", "ok\n", 100, "", "ok\n"},
}

// blobWriter takes exactly a leading, whole, bounded blob out of the
// stream, however the output is cut into writes.
func TestBlobWriter(t *testing.T) {
	for _, c := range blobCases {
		for _, chunk := range []int{1, 2, 3, 7, 1 << 20} {
			var rest bytes.Buffer
			b := newBlobWriter(&rest, c.limit)
			for p := []byte(c.out); len(p) > 0; {
				k := min(chunk, len(p))
				if n, err := b.Write(p[:k]); n != k || err != nil {
					t.Fatalf("%s: Write = %d, %v", c.name, n, err)
				}
				p = p[k:]
			}
			b.finish()
			if got := string(b.Blob()); got != c.wantBlob || rest.String() != c.wantRest {
				t.Errorf("%s, writes of %d: blob %q, rest %q; want %q, %q", c.name, chunk, got, rest.String(), c.wantBlob, c.wantRest)
			}
		}
	}
	if w, b := blobOutput(&bytes.Buffer{}, 0); b != nil || w == nil {
		t.Errorf("blobOutput with no limit = %T, %v; want the writer itself", w, b)
	}
	var none *blobWriter
	none.finish()
	if none.Blob() != nil {
		t.Error("a nil blobWriter has a blob")
	}
}

// blobScript hands over a blob of "$1" bytes of /dev/urandom with a gate
// line and a blob header inside, fails when the engine's newline comes
// within a second of it (the gate line inside opened the gate), prints the
// blob's sum and the gate line, waits for the newline and prints "after".
const blobScript = `set -e
{ head -c 4096 /dev/urandom; printf '\nGATE\n##blob 3\n'; head -c "$(($1 - 4096 - 15))" /dev/urandom; } >/tmp/blob
read -r _
printf '##blob %d\n' "$(wc -c </tmp/blob)"
cat /tmp/blob
if read -t 1 -r _; then echo EARLY; exit 4; fi
echo "sum $(sha256sum </tmp/blob | cut -d' ' -f1)"
echo GATE
read -r _ || { echo NO-NEWLINE; exit 3; }
echo after
`

// A run hands over a blob larger than its output limit, with and without a
// pre-started container: the blob is whole, the output is what came after
// it, the gate line inside the blob did not open the gate, and the blob
// does not count against the output limit.
func TestRunBlob(t *testing.T) {
	e := prestartEngine(t, PrestartIdle)
	labels := testLabels(t, KindGrade)
	image := MustLabImage(t)
	const size = 3 << 20
	for _, prestart := range []bool{false, true, true} {
		res, err := e.Run(MustContext(t, time.Minute), RunSpec{
			Image: image, Labels: labels, Limits: faultlineLimitsSmall, Prestart: prestart,
			Stdin: strings.NewReader("\n"), Cmd: []string{"sh", "-c", blobScript, "sh", fmt.Sprint(size)},
			Gate: "GATE", OutputLimit: 1 << 20, BlobLimit: 4 << 20,
		})
		if err != nil {
			t.Fatal(err)
		}
		out := string(res.Output)
		if res.ExitCode != 0 || res.OutputExceeded || !strings.HasSuffix(out, "GATE\nafter\n") {
			t.Fatalf("prestart %v: exit %d, output exceeded %v\n%.2000q", prestart, res.ExitCode, res.OutputExceeded, out)
		}
		if len(res.Blob) != size || !strings.HasPrefix(out, "sum ") || !strings.Contains(out, sha256hex(res.Blob)) {
			t.Errorf("prestart %v: blob of %d bytes (sum %s), output %.200q", prestart, len(res.Blob), sha256hex(res.Blob), out)
		}
	}

	// Past the limit the same job's blob is output, and the output limit
	// stops it.
	res, err := e.Run(MustContext(t, time.Minute), RunSpec{
		Image: image, Labels: labels, Limits: faultlineLimitsSmall,
		Stdin: strings.NewReader("\n"), Cmd: []string{"sh", "-c", blobScript, "sh", fmt.Sprint(size)},
		Gate: "GATE", OutputLimit: 1 << 20, BlobLimit: size - 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Blob != nil || !res.OutputExceeded || !strings.HasPrefix(string(res.Output), fmt.Sprintf("##blob %d\n", size)) {
		t.Errorf("over the blob limit: blob of %d bytes, output exceeded %v, output %.40q", len(res.Blob), res.OutputExceeded, res.Output)
	}
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
