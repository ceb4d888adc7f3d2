package lint

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// functionLinesMax is the most lines a function may have without a line in
// long_functions.txt. A reviewer should be able to hold a function in their
// head; past a hundred lines most of ours do several things in a row.
const functionLinesMax = 100

// longFunctionsFile is the allowlist of the functions that were already longer
// than functionLinesMax when the rule came in. It lives beside this test.
const longFunctionsFile = "long_functions.txt"

var updateLongFunctions = flag.Bool("update-long-functions", false,
	"rewrite "+longFunctionsFile+" from the code: every function over the bound, with its length")

// TestFunctionLength is a ratchet on function size: no new function may be
// longer than functionLinesMax lines, and the list of the functions that
// already were may only get shorter.
//
// How a function is measured: from the line of its "func" keyword to the line
// of its closing brace, both included (a doc comment above it does not count;
// blank and comment lines inside it do). Methods count like functions.
// Function literals count as part of the function they are written in, not on
// their own; a function literal at package level (var f = func...) is not
// measured. Every .go file in the repository is read except _test.go files and
// anything under vendor/ or testdata/: the files git tracks, plus new files it
// would track (not ignored), so a long function fails before it is committed.
// Files are parsed whatever their build tags, and package main counts too.
//
// A function is named by its package directory (relative to the module root)
// and its name in the package, "netio netio.(*Conn).serve" or
// "tools/spool main.run": not by its file, so moving a function between the
// files of one package changes nothing. Functions of the same name in one
// package (init, or one per build tag such as foo_linux.go and foo_other.go)
// share one name and are measured by the longest of them.
//
// The test fails when:
//   - a function over the bound is not listed: make it shorter (split it by
//     concern); the list holds the functions that were long before the rule,
//     it does not take new ones;
//   - a listed function is now within the bound: delete its line;
//   - a listed function no longer exists, because it was renamed or moved to
//     another package or deleted: change its line to the new package
//     directory and name, or delete it.
//
// The comment after "#" on each line gives the length when it was listed and
// its file, for reviewers; neither is checked, so a listed function may grow
// or shrink above the bound without touching the list.
//
// To rewrite the list from the code (after moving packages, say), run
//
//	go test -tags invariants -ldflags=-checklinkname=0 -count=1 ./internal/lint/ -run TestFunctionLength -args -update-long-functions
//
// and read the diff: it logs every line it adds or drops. A line it adds
// should be a listed function under its new name; any other is a new long
// function being let in, which is what the ratchet is there to stop.
func TestFunctionLength(t *testing.T) {
	root := repoRoot(t)
	measured := measureFunctions(t, root)
	listPath := longFunctionsFile // the test runs in its package directory

	if *updateLongFunctions {
		old, _ := readLongFunctions(t, listPath)
		writeLongFunctions(t, listPath, measured)
		for _, f := range sortedFunctions(measured) {
			if f.lines > functionLinesMax && !hasKey(old, f.key()) {
				t.Logf("%s: added %s (%d lines, %s)", longFunctionsFile, f.key(), f.lines, f.file)
			}
		}
		for _, e := range old {
			if f, ok := measured[e.key]; !ok || f.lines <= functionLinesMax {
				t.Logf("%s: dropped %s", longFunctionsFile, e.key)
			}
		}
		return
	}

	listed, err := readLongFunctions(t, listPath)
	if err != nil {
		t.Fatalf("%v; to create it from the code, run: %s", err, updateCommand)
	}
	listedKeys := map[string]bool{}
	for _, e := range listed {
		listedKeys[e.key] = true
	}

	// The long functions that are not listed, and the same by name without
	// the package, so that a listed function that vanished in a move between
	// packages can say where it went.
	unlisted := map[string]measuredFunction{}
	byShortName := map[string][]measuredFunction{}
	dirs := map[string]bool{}
	for _, f := range sortedFunctions(measured) {
		dirs[f.dir] = true
		if f.lines > functionLinesMax && !listedKeys[f.key()] {
			unlisted[f.key()] = f
			byShortName[f.shortName()] = append(byShortName[f.shortName()], f)
		}
	}

	for _, e := range listed {
		f, ok := measured[e.key]
		moved := byShortName[shortName(e.name)]
		switch {
		case ok && f.lines > functionLinesMax:
			// Still long and listed: the ratchet holds.
		case ok:
			t.Errorf("%s:%d: %s is now %d lines, within the bound of %d: delete this line from %s, so that it stays within it",
				longFunctionsFile, e.line, e.key, f.lines, functionLinesMax, longFunctionsFile)
		case len(moved) == 1:
			m := moved[0]
			delete(unlisted, m.key()) // reported here, once
			t.Errorf("%s:%d: %s is listed but no longer exists, and %s (%s, %d lines) is not listed: "+
				"if it moved there, change this line of %s to %q",
				longFunctionsFile, e.line, e.key, m.name, m.file, m.lines, longFunctionsFile, m.key())
		default:
			missing := "package directory " + e.dir + " has no function " + e.name
			if !dirs[e.dir] {
				missing = "there is no package directory " + e.dir + " (relative to the module root)"
			}
			hint := "if it was renamed or moved to another package, change the line to its new package directory and name " +
				"(\"<package dir> <pkg>.<Func>\" or \"<package dir> <pkg>.(*Type).Method\"); if it was deleted, delete the line"
			if len(moved) > 1 {
				var where []string
				for _, m := range moved {
					where = append(where, fmt.Sprintf("%q (%s, %d lines)", m.key(), m.file, m.lines))
				}
				hint = "if it moved, change the line to the one of these it became: " + strings.Join(where, ", ")
			}
			t.Errorf("%s:%d: %s is listed but %s: %s", longFunctionsFile, e.line, e.key, missing, hint)
		}
	}
	for _, f := range sortedFunctions(unlisted) {
		t.Errorf("%s: %s is %d lines, over the bound of %d and not in %s: make it shorter by splitting it by concern "+
			"(if it was listed under another name or package before a rename, change that line to %q instead)",
			f.file, f.name, f.lines, functionLinesMax, longFunctionsFile, f.key())
	}
	if t.Failed() {
		t.Logf("to rewrite %s from the code (then read its diff), run: %s", longFunctionsFile, updateCommand)
	}
}

const updateCommand = "go test -tags invariants -ldflags=-checklinkname=0 -count=1 ./internal/lint/ -run TestFunctionLength -args -update-long-functions"

// measuredFunction is one function or method, under the name the list uses.
type measuredFunction struct {
	dir   string // package directory relative to the module root, slash-separated
	name  string // "pkg.Func" or "pkg.(*Type).Method"
	file  string // file relative to the module root, of the longest one by this name
	lines int
}

func (f measuredFunction) key() string       { return f.dir + " " + f.name }
func (f measuredFunction) shortName() string { return shortName(f.name) }

// shortName drops the package name: "netio.(*Conn).serve" becomes
// "(*Conn).serve", to match a function across a move between packages.
func shortName(name string) string {
	_, rest, _ := strings.Cut(name, ".")
	return rest
}

// measureFunctions parses the repository's Go files and measures every
// function declaration with a body, keyed by measuredFunction.key.
func measureFunctions(t *testing.T, root string) map[string]measuredFunction {
	t.Helper()
	fset := token.NewFileSet()
	measured := map[string]measuredFunction{}
	files := goFiles(t, root)
	if len(files) == 0 {
		t.Fatal("no Go files found")
	}
	for _, rel := range files {
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the work tree, not yet in git
			}
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, rel, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		dir := path.Dir(rel)
		for _, decl := range file.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue // a function implemented in assembly has no body
			}
			first := fset.Position(fn.Type.Func).Line
			last := fset.Position(fn.Body.Rbrace).Line
			f := measuredFunction{
				dir:   dir,
				name:  file.Name.Name + "." + funcName(fn),
				file:  rel,
				lines: last - first + 1,
			}
			if prev, ok := measured[f.key()]; !ok || f.lines > prev.lines {
				measured[f.key()] = f
			}
		}
	}
	return measured
}

// funcName is "Func" for a function and "(*Type).Method" or "(Type).Method"
// for a method, without type parameters, as in a panic's stack trace.
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	typ := fn.Recv.List[0].Type
	pointer := false
	if star, ok := typ.(*ast.StarExpr); ok {
		pointer = true
		typ = star.X
	}
	switch generic := typ.(type) {
	case *ast.IndexExpr:
		typ = generic.X
	case *ast.IndexListExpr:
		typ = generic.X
	}
	name := "?"
	if ident, ok := typ.(*ast.Ident); ok {
		name = ident.Name
	}
	if pointer {
		return "(*" + name + ")." + fn.Name.Name
	}
	return "(" + name + ")." + fn.Name.Name
}

// goFiles lists the non-test Go files under root, slash-separated and
// relative to it: from git (tracked, and untracked but not ignored), or by
// walking the tree when there is no git repository.
func goFiles(t *testing.T, root string) []string {
	t.Helper()
	var all []string
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "*.go")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		for _, name := range strings.Split(string(out), "\x00") {
			if name != "" {
				all = append(all, name)
			}
		}
	} else {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".go") {
				rel, _ := filepath.Rel(root, p)
				all = append(all, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var files []string
	seen := map[string]bool{}
	for _, name := range all {
		if seen[name] || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") || skippedDir(name) {
			continue
		}
		seen[name] = true
		files = append(files, name)
	}
	sort.Strings(files)
	return files
}

// skippedDir reports whether a file lies under vendor/ or testdata/, which
// hold code that is not ours or not built.
func skippedDir(name string) bool {
	for _, part := range strings.Split(path.Dir(name), "/") {
		if part == "vendor" || part == "testdata" {
			return true
		}
	}
	return false
}

func sortedFunctions(measured map[string]measuredFunction) []measuredFunction {
	var all []measuredFunction
	for _, f := range measured {
		all = append(all, f)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].dir != all[j].dir {
			return all[i].dir < all[j].dir
		}
		return all[i].name < all[j].name
	})
	return all
}

// listedFunction is one line of long_functions.txt.
type listedFunction struct {
	line int    // line number in the file, for messages
	dir  string // package directory
	name string // name in the package
	key  string // dir + " " + name, as measuredFunction.key
}

func hasKey(listed []listedFunction, key string) bool {
	for _, e := range listed {
		if e.key == key {
			return true
		}
	}
	return false
}

// readLongFunctions reads the allowlist: lines of "<package dir> <name>",
// anything after "#" a comment, blank lines ignored.
func readLongFunctions(t *testing.T, name string) ([]listedFunction, error) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var listed []listedFunction
	lineOf := map[string]int{}
	for i, line := range strings.Split(string(data), "\n") {
		if hash := strings.Index(line, "#"); hash >= 0 {
			line = line[:hash]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 || strings.HasSuffix(fields[0], ".go") || !strings.Contains(fields[1], ".") {
			t.Errorf("%s:%d: want \"<package dir> <pkg>.<Func>\" or \"<package dir> <pkg>.(*Type).Method\", "+
				"such as \"netio netio.(*Conn).serve\", got %q", name, i+1, strings.TrimSpace(line))
			continue
		}
		e := listedFunction{line: i + 1, dir: fields[0], name: fields[1], key: fields[0] + " " + fields[1]}
		if first, ok := lineOf[e.key]; ok {
			t.Errorf("%s:%d: %s is listed twice (first on line %d): delete this line", name, e.line, e.key, first)
			continue
		}
		lineOf[e.key] = e.line
		listed = append(listed, e)
	}
	return listed, nil
}

const longFunctionsHeader = `# Functions longer than %d lines when the rule came in: a ratchet, so this
# list only gets shorter. See TestFunctionLength in funclen_test.go.
#
# One function a line: its package directory (relative to the module root),
# then its name in the package, pkg.Func or pkg.(*Type).Method. The number
# after "#" is its length in lines (func line to closing brace) when listed,
# and the file it was in; neither is checked.
#
# When a listed function shrinks to %d lines or fewer, delete its line. When
# one moves to another package or is renamed, change its line. To rewrite the
# list from the code, run (and read the diff):
#   %s
`

// writeLongFunctions rewrites the allowlist with every function over the
// bound, sorted by package directory and name.
func writeLongFunctions(t *testing.T, name string, measured map[string]measuredFunction) {
	t.Helper()
	var buf bytes.Buffer
	fmt.Fprintf(&buf, longFunctionsHeader, functionLinesMax, functionLinesMax, updateCommand)
	buf.WriteString("\n")
	var long []measuredFunction
	width := 0
	for _, f := range sortedFunctions(measured) {
		if f.lines > functionLinesMax {
			long = append(long, f)
			width = max(width, len(f.key()))
		}
	}
	for _, f := range long {
		fmt.Fprintf(&buf, "%-*s # %s lines, %s\n", width, f.key(), strconv.Itoa(f.lines), path.Base(f.file))
	}
	if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d functions over %d lines", name, len(long), functionLinesMax)
}
