package grader

import (
	"go/ast"
	"go/parser"
	"go/token"
	"sort"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline"
)

// Flag texts, one per kind of suspicious code. Each flag on a Result reads
// "<file>: <text>".
const (
	FlagUnsafe   = "imports unsafe"
	FlagSyscall  = "makes raw system calls (syscall or x/sys)"
	FlagTesting  = "imports testing outside a test file (can reach the test runner)"
	FlagReflect  = "uses reflection together with testing"
	FlagExec     = "starts processes (os/exec)"
	FlagLinkname = "uses //go:linkname"
	FlagEmbed    = "uses //go:embed"
	FlagCgo      = `imports "C" (cgo)`
	FlagExit     = "calls os.Exit"
	FlagGoexit   = "calls runtime.Goexit"
	FlagMarker   = "contains the test framework's framing byte \\x16 (forged test results)"
	FlagProc     = "refers to /proc"
)

// scanFlags looks for deliberate tampering in the learner's Go files (as
// they enter the grading tree) and returns sorted, deduplicated flags for
// instructors. Flags never change a score.
func scanFlags(files []faultline.File) []string {
	seen := map[string]bool{}
	var out []string
	add := func(file, what string) {
		f := file + ": " + what
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	for _, f := range files {
		for _, what := range fileFlags(f) {
			add(f.Path, what)
		}
	}
	sort.Strings(out)
	return out
}

// fileFlags returns the flags of one Go file. A file that does not parse is
// scanned as text.
func fileFlags(f faultline.File) []string {
	fset := token.NewFileSet()
	af, err := parser.ParseFile(fset, f.Path, f.Content, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return textFlags(string(f.Content))
	}
	var flags []string
	names := map[string]string{} // local import name -> path
	imports := map[string]bool{}
	for _, is := range af.Imports {
		p, err := strconv.Unquote(is.Path.Value)
		if err != nil {
			continue
		}
		imports[p] = true
		name := p[strings.LastIndex(p, "/")+1:]
		if is.Name != nil {
			name = is.Name.Name
		}
		names[name] = p
		switch {
		case p == "unsafe":
			flags = append(flags, FlagUnsafe)
		case p == "syscall" || strings.HasPrefix(p, "golang.org/x/sys/"):
			flags = append(flags, FlagSyscall)
		case p == "testing" || strings.HasPrefix(p, "testing/"):
			flags = append(flags, FlagTesting)
		case p == "os/exec":
			flags = append(flags, FlagExec)
		case p == "C":
			flags = append(flags, FlagCgo)
		}
	}
	if imports["reflect"] && imports["testing"] {
		flags = append(flags, FlagReflect)
	}
	for _, cg := range af.Comments {
		for _, c := range cg.List {
			switch {
			case strings.HasPrefix(c.Text, "//go:linkname"):
				flags = append(flags, FlagLinkname)
			case strings.HasPrefix(c.Text, "//go:embed"):
				flags = append(flags, FlagEmbed)
			}
		}
	}
	ast.Inspect(af, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok {
				switch names[id.Name] + "." + n.Sel.Name {
				case "os.Exit":
					flags = append(flags, FlagExit)
				case "runtime.Goexit":
					flags = append(flags, FlagGoexit)
				}
			}
		case *ast.BasicLit:
			if n.Kind == token.STRING || n.Kind == token.CHAR {
				s, err := strconv.Unquote(n.Value)
				if err != nil {
					s = n.Value
				}
				if strings.ContainsRune(s, 0x16) {
					flags = append(flags, FlagMarker)
				}
				if strings.Contains(s, "/proc") {
					flags = append(flags, FlagProc)
				}
			}
		}
		return true
	})
	return flags
}

// textFlags is the fallback for files that do not parse (they will not
// compile either, but instructors still see the intent).
func textFlags(s string) []string {
	var flags []string
	checks := []struct{ sub, flag string }{
		{`"unsafe"`, FlagUnsafe}, {`"syscall"`, FlagSyscall}, {"golang.org/x/sys/", FlagSyscall},
		{"//go:linkname", FlagLinkname}, {"//go:embed", FlagEmbed}, {"os.Exit", FlagExit},
		{"runtime.Goexit", FlagGoexit}, {`\x16`, FlagMarker}, {"\x16", FlagMarker}, {"/proc", FlagProc},
	}
	for _, c := range checks {
		if strings.Contains(s, c.sub) {
			flags = append(flags, c.flag)
		}
	}
	return flags
}
