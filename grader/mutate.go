package grader

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"go/types"
	"sort"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline"
)

// Mutation operators: each makes one small change to the solution, the
// kind of slip a learner makes.
const (
	OpBoundary = "boundary" // < ↔ <=, > ↔ >=
	OpNegate   = "negate"   // the condition of an if or for, negated
	OpDrop     = "drop"     // one statement removed
	OpSwap     = "swap"     // two adjacent statements swapped
	OpConstant = "constant" // an integer literal n made n+1 or n-1
	OpReturn   = "return"   // a return (of zero values) at the start of a block
)

// Mutant is one generated variant of a lab's solution.
type Mutant struct {
	// ID names the mutant stably: "file:func:op:hash", the hash taken over
	// the code before and after the change, so it survives edits elsewhere
	// in the file. equivalent.yaml refers to mutants by it.
	ID   string
	File string // path in solution/
	Line int
	Func string // enclosing function ("(*Breaker).record", "New"), "" at top level
	Op   string
	// Desc says what changed, on one line: "drop `b.inFlight--`".
	Desc string
	// Files is the full learner file set with the change applied.
	Files []faultline.File
	// Broken is why the mutant does not compile (the type checker's first
	// error), when the generator could type-check it; such mutants are
	// not graded.
	Broken string
}

// GenerateMutants applies every mutation operator at every place it fits in
// the Go files of the lab's solution (the package at its top; files in
// sub-folders are left alone) and returns one mutant per distinct result,
// ordered by file and position. With tc set, mutants that do not compile
// are marked Broken and returns can give zero values of any type;
// without it, "return early" is tried only in functions with no results.
// It fails only when a solution file does not parse.
func GenerateMutants(lab *faultline.Lab, tc *TypeChecker) ([]Mutant, error) {
	var out []Mutant
	seen := map[string]bool{}
	var pkgFiles []faultline.File
	for _, f := range lab.Solution {
		if strings.HasSuffix(f.Path, ".go") && !strings.Contains(f.Path, "/") && !strings.HasSuffix(f.Path, "_test.go") {
			pkgFiles = append(pkgFiles, f)
		}
	}
	var info *types.Info
	if tc != nil {
		var err error
		if _, info, err = tc.check(pkgFiles, ""); err != nil {
			return nil, fmt.Errorf("mutate lab %q: the solution does not type-check: %w", lab.Slug, err)
		}
	}
	for _, f := range pkgFiles {
		ms, err := mutateFile(f, lab.Solution, info, tc)
		if err != nil {
			return nil, fmt.Errorf("mutate lab %q: %w", lab.Slug, err)
		}
		for _, m := range ms {
			key := m.File + "\x00" + string(fileContent(m.Files, m.File))
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, m)
		}
	}
	if tc != nil {
		for i := range out {
			var files []faultline.File
			for _, f := range pkgFiles {
				if f.Path == out[i].File {
					f = faultline.File{Path: f.Path, Content: fileContent(out[i].Files, f.Path)}
				}
				files = append(files, f)
			}
			if _, _, err := tc.check(files, out[i].File); err != nil {
				out[i].Broken = err.Error()
			}
		}
	}
	return out, nil
}

func fileContent(files []faultline.File, p string) []byte {
	for _, f := range files {
		if f.Path == p {
			return f.Content
		}
	}
	return nil
}

// site is one place an operator applies: apply changes the shared syntax
// tree and undo restores it.
type site struct {
	op, fn        string
	line          int
	before, after string // the code the change touches, before and after
	apply, undo   func()
}

// mutator collects the sites of one file.
type mutator struct {
	fset  *token.FileSet
	file  *ast.File
	info  *types.Info
	tc    *TypeChecker
	sites []site
	fn    []string        // enclosing function names
	ftype []*ast.FuncType // enclosing function types (FuncDecl or FuncLit)
}

func mutateFile(f faultline.File, solution []faultline.File, info *types.Info, tc *TypeChecker) ([]Mutant, error) {
	fset := token.NewFileSet()
	var (
		af  *ast.File
		err error
	)
	if info != nil && tc != nil {
		af = tc.parsed[f.Path] // the tree info describes
		fset = tc.fset
	}
	if af == nil {
		if af, err = parser.ParseFile(fset, f.Path, f.Content, parser.SkipObjectResolution); err != nil {
			return nil, fmt.Errorf("parse solution/%s: %w", f.Path, err)
		}
		info = nil
	}
	comments := af.Comments
	af.Comments = nil // mutants are compiled, not read: printing without comments cannot misplace one
	defer func() { af.Comments = comments }()
	m := &mutator{fset: fset, file: af, info: info, tc: tc}
	m.walkDecls()
	original := m.print(af)

	// Occurrences of identical changes in one function are numbered, so
	// their ids differ but stay stable.
	count := map[string]int{}
	var out []Mutant
	for _, s := range m.sites {
		s.apply()
		text := m.print(af)
		s.undo()
		if text == nil || bytes.Equal(text, original) {
			continue
		}
		if _, err := parser.ParseFile(token.NewFileSet(), f.Path, text, parser.SkipObjectResolution); err != nil {
			continue // the printer could not express it
		}
		key := f.Path + "|" + s.fn + "|" + s.op + "|" + s.before + "→" + s.after
		count[key]++
		sum := sha256.Sum256([]byte(key + "#" + strconv.Itoa(count[key])))
		files := make([]faultline.File, 0, len(solution))
		for _, sf := range solution {
			if sf.Path == f.Path {
				sf = faultline.File{Path: sf.Path, Content: text}
			}
			files = append(files, sf)
		}
		fn := s.fn
		if fn == "" {
			fn = "-"
		}
		out = append(out, Mutant{
			ID:    fmt.Sprintf("%s:%s:%s:%s", f.Path, fn, s.op, hex.EncodeToString(sum[:4])),
			File:  f.Path,
			Line:  s.line,
			Func:  s.fn,
			Op:    s.op,
			Desc:  describeSite(s),
			Files: files,
		})
	}
	return out, nil
}

func describeSite(s site) string {
	switch s.op {
	case OpDrop:
		return "drop `" + s.before + "`"
	case OpSwap:
		return "swap `" + s.before + "`"
	case OpReturn:
		return "`" + s.after + "` before `" + s.before + "`"
	}
	return "`" + s.before + "` → `" + s.after + "`"
}

// print formats the file (or any node) as Go source; nil if it cannot.
func (m *mutator) print(n any) []byte {
	var b bytes.Buffer
	if err := format.Node(&b, m.fset, n); err != nil {
		return nil
	}
	return b.Bytes()
}

// short prints a node on one line, clipped.
func (m *mutator) short(n any) string {
	b := m.print(n)
	s := strings.Join(strings.Fields(string(b)), " ")
	if r := []rune(s); len(r) > 70 {
		s = string(r[:69]) + "…"
	}
	return s
}

func (m *mutator) line(n ast.Node) int { return m.fset.Position(n.Pos()).Line }

func (m *mutator) curFn() string {
	if len(m.fn) == 0 {
		return ""
	}
	return m.fn[len(m.fn)-1]
}

func (m *mutator) add(op string, at ast.Node, before, after string, apply, undo func()) {
	m.sites = append(m.sites, site{op: op, fn: m.curFn(), line: m.line(at), before: before, after: after, apply: apply, undo: undo})
}

// walkDecls visits every top-level declaration.
func (m *mutator) walkDecls() {
	for _, d := range m.file.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Body == nil {
				continue
			}
			m.fn = append(m.fn, funcName(d))
			m.ftype = append(m.ftype, d.Type)
			m.block(&d.Body.List, d.Body)
			m.fn = m.fn[:len(m.fn)-1]
			m.ftype = m.ftype[:len(m.ftype)-1]
		case *ast.GenDecl:
			// Constants and package variables: their values.
			for _, sp := range d.Specs {
				if vs, ok := sp.(*ast.ValueSpec); ok {
					for _, v := range vs.Values {
						m.expr(v, vs)
					}
				}
			}
		}
	}
}

func funcName(d *ast.FuncDecl) string {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return d.Name.Name
	}
	t := d.Recv.List[0].Type
	star := ""
	if s, ok := t.(*ast.StarExpr); ok {
		star, t = "*", s.X
	}
	if ix, ok := t.(*ast.IndexExpr); ok {
		t = ix.X
	}
	if ix, ok := t.(*ast.IndexListExpr); ok {
		t = ix.X
	}
	name := "?"
	if id, ok := t.(*ast.Ident); ok {
		name = id.Name
	}
	if star != "" {
		return "(*" + name + ")." + d.Name.Name
	}
	return name + "." + d.Name.Name
}

// block visits a statement list: drop, swap and return early apply to the
// list itself, then each statement is visited.
func (m *mutator) block(list *[]ast.Stmt, owner ast.Node) {
	stmts := *list
	// return early: a return at the start of the block.
	if ret := m.zeroReturn(); ret != nil && !(len(stmts) > 0 && isReturn(stmts[0])) {
		orig := stmts
		first := "}"
		if len(stmts) > 0 {
			first = m.short(stmts[0])
		}
		at := owner
		m.add(OpReturn, at, first, m.short(ret),
			func() { *list = append([]ast.Stmt{ret}, orig...) },
			func() { *list = orig })
	}
	for i, s := range stmts {
		i, s := i, s
		if droppable(s) {
			m.add(OpDrop, s, m.short(s), "",
				func() { *list = append(append([]ast.Stmt{}, stmts[:i]...), stmts[i+1:]...) },
				func() { *list = stmts })
		}
		if i+1 < len(stmts) && swappable(s) && swappable(stmts[i+1]) && !commute(s, stmts[i+1]) {
			a, b := m.short(s), m.short(stmts[i+1])
			if a != b {
				m.add(OpSwap, s, a+"` and `"+b, "",
					func() {
						sw := append([]ast.Stmt{}, stmts...)
						sw[i], sw[i+1] = sw[i+1], sw[i]
						*list = sw
					},
					func() { *list = stmts })
			}
		}
	}
	for _, s := range stmts {
		m.stmt(s)
	}
}

func isReturn(s ast.Stmt) bool { _, ok := s.(*ast.ReturnStmt); return ok }

// droppable: statements whose removal can still compile.
func droppable(s ast.Stmt) bool {
	switch s := s.(type) {
	case *ast.DeclStmt, *ast.EmptyStmt, *ast.LabeledStmt:
		return false
	case *ast.AssignStmt:
		return s.Tok != token.DEFINE
	}
	return true
}

func swappable(s ast.Stmt) bool {
	switch s.(type) {
	case *ast.DeclStmt, *ast.EmptyStmt, *ast.LabeledStmt:
		return false
	}
	return true
}

// stmt visits one statement's parts.
func (m *mutator) stmt(s ast.Stmt) {
	switch s := s.(type) {
	case *ast.BlockStmt:
		m.block(&s.List, s)
	case *ast.IfStmt:
		if s.Init != nil {
			m.stmt(s.Init)
		}
		m.negate(&s.Cond, s)
		m.expr(s.Cond, s.Cond)
		m.block(&s.Body.List, s.Body)
		if s.Else != nil {
			m.stmt(s.Else)
		}
	case *ast.ForStmt:
		if s.Init != nil {
			m.stmt(s.Init)
		}
		if s.Cond != nil {
			m.negate(&s.Cond, s)
			m.expr(s.Cond, s.Cond)
		}
		if s.Post != nil {
			m.stmt(s.Post)
		}
		m.block(&s.Body.List, s.Body)
	case *ast.RangeStmt:
		m.expr(s.X, s.X)
		m.block(&s.Body.List, s.Body)
	case *ast.SwitchStmt:
		if s.Init != nil {
			m.stmt(s.Init)
		}
		if s.Tag != nil {
			m.expr(s.Tag, s.Tag)
		}
		for _, c := range s.Body.List {
			cc := c.(*ast.CaseClause)
			for _, e := range cc.List {
				m.expr(e, cc)
			}
			m.block(&cc.Body, cc)
		}
	case *ast.TypeSwitchStmt:
		if s.Init != nil {
			m.stmt(s.Init)
		}
		for _, c := range s.Body.List {
			cc := c.(*ast.CaseClause)
			m.block(&cc.Body, cc)
		}
	case *ast.SelectStmt:
		for _, c := range s.Body.List {
			cc := c.(*ast.CommClause)
			if cc.Comm != nil {
				m.stmt(cc.Comm)
			}
			m.block(&cc.Body, cc)
		}
	case *ast.LabeledStmt:
		m.stmt(s.Stmt)
	case *ast.ExprStmt:
		m.expr(s.X, s)
	case *ast.AssignStmt:
		for _, e := range s.Rhs {
			m.expr(e, s)
		}
		for _, e := range s.Lhs {
			m.expr(e, s)
		}
	case *ast.IncDecStmt:
		m.expr(s.X, s)
	case *ast.ReturnStmt:
		for _, e := range s.Results {
			m.expr(e, s)
		}
	case *ast.DeferStmt:
		m.expr(s.Call, s)
	case *ast.GoStmt:
		m.expr(s.Call, s)
	case *ast.SendStmt:
		m.expr(s.Chan, s)
		m.expr(s.Value, s)
	case *ast.DeclStmt:
		if g, ok := s.Decl.(*ast.GenDecl); ok {
			for _, sp := range g.Specs {
				if vs, ok := sp.(*ast.ValueSpec); ok {
					for _, v := range vs.Values {
						m.expr(v, s)
					}
				}
			}
		}
	}
}

// negate adds the mutant that negates *cond.
func (m *mutator) negate(cond *ast.Expr, at ast.Node) {
	orig := *cond
	var neg ast.Expr
	if u, ok := orig.(*ast.UnaryExpr); ok && u.Op == token.NOT {
		neg = u.X
	} else {
		x := orig
		switch orig.(type) {
		case *ast.Ident, *ast.CallExpr, *ast.SelectorExpr, *ast.ParenExpr, *ast.IndexExpr:
		default:
			x = &ast.ParenExpr{X: orig}
		}
		neg = &ast.UnaryExpr{Op: token.NOT, X: x}
	}
	m.add(OpNegate, at, m.short(orig), m.short(neg), func() { *cond = neg }, func() { *cond = orig })
}

// expr visits an expression: comparisons, integer literals and function
// literals (whose bodies are blocks like any other). at is the statement
// (or spec) holding it, whose text the mutant's description shows.
func (m *mutator) expr(e ast.Expr, at ast.Node) {
	ast.Inspect(e, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			m.fn = append(m.fn, m.curFn()+".func")
			m.ftype = append(m.ftype, n.Type)
			m.block(&n.Body.List, n.Body)
			m.fn = m.fn[:len(m.fn)-1]
			m.ftype = m.ftype[:len(m.ftype)-1]
			return false
		case *ast.BinaryExpr:
			flip := map[token.Token]token.Token{token.LSS: token.LEQ, token.LEQ: token.LSS, token.GTR: token.GEQ, token.GEQ: token.GTR}
			if to, ok := flip[n.Op]; ok {
				from := n.Op
				before := m.short(n)
				n.Op = to
				after := m.short(n)
				n.Op = from
				m.add(OpBoundary, n, before, after, func() { n.Op = to }, func() { n.Op = from })
			}
		case *ast.BasicLit:
			if n.Kind != token.INT {
				return true
			}
			v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
			if err != nil {
				return true
			}
			orig := n.Value
			for _, d := range []int64{1, -1} {
				if v+d < 0 {
					continue
				}
				nv := strconv.FormatInt(v+d, 10)
				before := m.short(at)
				n.Value = nv
				after := m.short(at)
				n.Value = orig
				m.add(OpConstant, n, before, after, func() { n.Value = nv }, func() { n.Value = orig })
			}
		}
		return true
	})
}

// zeroReturn is a return statement of zero values for the enclosing
// function, or nil when they cannot be written.
func (m *mutator) zeroReturn() *ast.ReturnStmt {
	if len(m.ftype) == 0 {
		return nil
	}
	ft := m.ftype[len(m.ftype)-1]
	if ft.Results == nil || len(ft.Results.List) == 0 {
		return &ast.ReturnStmt{}
	}
	if m.info == nil {
		return nil
	}
	var results []ast.Expr
	for _, f := range ft.Results.List {
		t := m.info.TypeOf(f.Type)
		if t == nil {
			return nil
		}
		z := m.zero(t)
		if z == nil {
			return nil
		}
		n := len(f.Names)
		if n == 0 {
			n = 1
		}
		for i := 0; i < n; i++ {
			results = append(results, z)
		}
	}
	return &ast.ReturnStmt{Results: results}
}

// zero is an expression for the zero value of t in this file.
func (m *mutator) zero(t types.Type) ast.Expr {
	var src string
	switch u := t.Underlying().(type) {
	case *types.Basic:
		switch {
		case u.Info()&types.IsBoolean != 0:
			src = "false"
		case u.Info()&types.IsString != 0:
			src = `""`
		case u.Info()&types.IsNumeric != 0:
			src = "0"
		default:
			src = "nil"
		}
	case *types.Pointer, *types.Slice, *types.Map, *types.Chan, *types.Signature, *types.Interface:
		src = "nil"
	case *types.Struct, *types.Array:
		src = types.TypeString(t, m.qualifier) + "{}"
	default:
		return nil
	}
	if _, ok := t.(*types.TypeParam); ok {
		src = "*new(" + types.TypeString(t, m.qualifier) + ")"
	}
	e, err := parser.ParseExpr(src)
	if err != nil {
		return nil
	}
	return e
}

// qualifier names other packages as this file imports them.
func (m *mutator) qualifier(p *types.Package) string {
	if m.tc != nil && p == m.tc.pkg {
		return ""
	}
	for _, im := range m.file.Imports {
		path, _ := strconv.Unquote(im.Path.Value)
		if path == p.Path() {
			if im.Name != nil {
				return im.Name.Name
			}
			return p.Name()
		}
	}
	return p.Name()
}

// sortMutants orders mutants by file, line and id.
func sortMutants(ms []Mutant) {
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].File != ms[j].File {
			return ms[i].File < ms[j].File
		}
		if ms[i].Line != ms[j].Line {
			return ms[i].Line < ms[j].Line
		}
		return ms[i].ID < ms[j].ID
	})
}

// commute reports whether swapping two adjacent statements provably changes
// nothing, so the swap is not worth a mutant: a defer next to a statement
// that cannot return or defer (the deferred call runs at the same moment
// either way, barring a panic between them), or two plain assignments that
// call nothing and touch disjoint variables.
func commute(a, b ast.Stmt) bool {
	if d, ok := a.(*ast.DeferStmt); ok {
		return d != nil && !leaves(b)
	}
	if d, ok := b.(*ast.DeferStmt); ok {
		return d != nil && !leaves(a)
	}
	ra, wa, ok := effects(a)
	if !ok {
		return false
	}
	rb, wb, ok := effects(b)
	if !ok {
		return false
	}
	return !overlap(wa, rb) && !overlap(wa, wb) && !overlap(wb, ra)
}

// leaves reports whether s contains a return, a defer, a goto or a panic
// (it may leave the function or change what runs at its end).
func leaves(s ast.Stmt) bool {
	found := false
	ast.Inspect(s, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.ReturnStmt, *ast.DeferStmt:
			found = true
		case *ast.BranchStmt:
			found = found || n.Tok == token.GOTO
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "panic" {
				found = true
			}
		}
		return !found
	})
	return found
}

// effects returns the variables (as paths: "x", "b.count", "a[]") a plain
// assignment or increment reads and writes; ok is false for any other
// statement, or one that calls a function or receives from a channel.
func effects(s ast.Stmt) (reads, writes []string, ok bool) {
	var lhs, rhs []ast.Expr
	switch s := s.(type) {
	case *ast.IfStmt:
		// if cond { plain assignments } [else { ... }]
		if s.Init != nil {
			return nil, nil, false
		}
		cr, _, cok := effects(&ast.AssignStmt{Lhs: []ast.Expr{ast.NewIdent("_")}, Tok: token.ASSIGN, Rhs: []ast.Expr{s.Cond}})
		if !cok {
			return nil, nil, false
		}
		reads = cr
		bodies := []ast.Stmt{s.Body}
		if s.Else != nil {
			bodies = append(bodies, s.Else)
		}
		for _, b := range bodies {
			r, w, ok := effects(b)
			if !ok {
				return nil, nil, false
			}
			reads, writes = append(reads, r...), append(writes, w...)
		}
		return reads, writes, true
	case *ast.BlockStmt:
		for _, st := range s.List {
			r, w, ok := effects(st)
			if !ok {
				return nil, nil, false
			}
			reads, writes = append(reads, r...), append(writes, w...)
		}
		return reads, writes, true
	case *ast.AssignStmt:
		if s.Tok == token.DEFINE {
			return nil, nil, false
		}
		lhs, rhs = s.Lhs, s.Rhs
		if s.Tok != token.ASSIGN {
			rhs = append(append([]ast.Expr{}, rhs...), lhs...) // x += y reads x
		}
	case *ast.IncDecStmt:
		lhs, rhs = []ast.Expr{s.X}, []ast.Expr{s.X}
	default:
		return nil, nil, false
	}
	pure := true
	var visit func(e ast.Expr)
	visit = func(e ast.Expr) {
		ast.Inspect(e, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				id, isIdent := n.Fun.(*ast.Ident)
				if !isIdent || (id.Name != "len" && id.Name != "cap" && id.Name != "min" && id.Name != "max") {
					pure = false
				}
			case *ast.UnaryExpr:
				if n.Op == token.ARROW {
					pure = false
				}
			case *ast.FuncLit:
				pure = false
			case *ast.Ident, *ast.SelectorExpr, *ast.StarExpr:
				if p := varPath(n.(ast.Expr)); p != "" {
					reads = append(reads, p)
					return false
				}
			case *ast.IndexExpr:
				if p := varPath(n.X); p != "" {
					reads = append(reads, p+"[]")
				}
				visit(n.Index)
				return false
			}
			return true
		})
	}
	for _, e := range rhs {
		visit(e)
	}
	for _, e := range lhs {
		if id, isIdent := e.(*ast.Ident); isIdent && id.Name == "_" {
			continue
		}
		if ix, isIndex := e.(*ast.IndexExpr); isIndex {
			visit(ix.Index)
			e = ix.X
			if p := varPath(e); p != "" {
				writes = append(writes, p+"[]")
				continue
			}
		}
		p := varPath(e)
		if p == "" {
			return nil, nil, false
		}
		writes = append(writes, p)
	}
	return reads, writes, pure
}

// varPath names a variable expression: x, x.f.g, *x; "" for anything else.
func varPath(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		if e.Name == "nil" || e.Name == "true" || e.Name == "false" {
			return ""
		}
		return e.Name
	case *ast.SelectorExpr:
		if p := varPath(e.X); p != "" {
			return p + "." + e.Sel.Name
		}
	case *ast.StarExpr:
		if p := varPath(e.X); p != "" {
			return "*" + p
		}
	case *ast.ParenExpr:
		return varPath(e.X)
	}
	return ""
}

// overlap reports whether a path in a is the same variable as, or a part
// or a whole of, a path in b.
func overlap(a, b []string) bool {
	for _, x := range a {
		x = strings.TrimPrefix(x, "*")
		for _, y := range b {
			y = strings.TrimPrefix(y, "*")
			if x == y || strings.HasPrefix(x, y+".") || strings.HasPrefix(y, x+".") ||
				strings.HasPrefix(x, y+"[") || strings.HasPrefix(y, x+"[") {
				return true
			}
		}
	}
	return false
}
