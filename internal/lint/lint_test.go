// Package lint holds the project's house rules as tests: the import table of
// docs/ARCHITECTURE.md, a ratchet on function length (funclen_test.go), and
// a few rules a reviewer should not have to repeat.
package lint

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const modulePath = "spool"

// importRules reads the fenced block after the line "<!-- import-table -->"
// in docs/ARCHITECTURE.md. Each line is "package: allowed imports...", with
// package paths relative to the module; "*" allows any of ours.
func importRules(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules := map[string][]string{}
	scanner := bufio.NewScanner(f)
	state := 0 // 0: before marker, 1: before fence, 2: inside fence
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		switch {
		case state == 0 && line == "<!-- import-table -->":
			state = 1
		case state == 1 && strings.HasPrefix(line, "```"):
			state = 2
		case state == 2 && strings.HasPrefix(line, "```"):
			return rules
		case state == 2 && line != "":
			pkg, allowed, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("import table line without a colon: %q", line)
			}
			rules[strings.TrimSpace(pkg)] = strings.Fields(allowed)
		}
	}
	t.Fatal("docs/ARCHITECTURE.md has no import table after <!-- import-table -->")
	return nil
}

func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

type listedPackage struct {
	ImportPath string
	Imports    []string
}

// rulesFor finds the rule of a package: its own line, or for a subpackage
// such as engine/group the line "engine/*".
func rulesFor(rules map[string][]string, rel string) ([]string, bool) {
	if allowed, ok := rules[rel]; ok {
		return allowed, true
	}
	for dir := rel; strings.Contains(dir, "/"); {
		dir = dir[:strings.LastIndex(dir, "/")]
		if allowed, ok := rules[dir+"/*"]; ok {
			return allowed, true
		}
	}
	return nil, false
}

func TestImportTable(t *testing.T) {
	rules := importRules(t)
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	decoder := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for {
		var p listedPackage
		if err := decoder.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.ImportPath == modulePath+"/internal/lint" {
			continue
		}
		rel := strings.TrimPrefix(p.ImportPath, modulePath+"/")
		allowed, ok := rulesFor(rules, rel)
		if !ok {
			t.Errorf("package %s has no line in the import table of docs/ARCHITECTURE.md", rel)
			continue
		}
		checked++
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, modulePath+"/") {
				continue
			}
			target := strings.TrimPrefix(imp, modulePath+"/")
			if !permitted(allowed, target) {
				t.Errorf("%s imports %s, which the import table does not allow (allowed: %s)", rel, target, strings.Join(allowed, " "))
			}
		}
	}
	if checked == 0 {
		t.Fatal("no packages checked")
	}
}

func permitted(allowed []string, target string) bool {
	for _, a := range allowed {
		if a == "*" || a == target || (strings.HasSuffix(a, "/*") && strings.HasPrefix(target, strings.TrimSuffix(a, "*"))) {
			return true
		}
	}
	return false
}

// TestNoPanicOnInputInCorePackages is a house rule: input from disk or the
// network is answered with an error, never a panic. Core packages panic only
// through internal/invariants, which names the broken invariant.
func TestNoBarePanicInCorePackages(t *testing.T) {
	root := repoRoot(t)
	var offenders []string
	for _, dir := range []string{"linux", "index", "segment", "engine", "wire", "netio"} {
		filepath.Walk(filepath.Join(root, dir), func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(data), "\n") {
				trimmed := strings.TrimSpace(line)
				if strings.HasPrefix(trimmed, "panic(") {
					rel, _ := filepath.Rel(root, path)
					offenders = append(offenders, rel+":"+itoa(i+1))
				}
			}
			return nil
		})
	}
	sort.Strings(offenders)
	for _, o := range offenders {
		t.Errorf("%s: bare panic in a core package; return an error, or use invariants.Failf for an impossible state", o)
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for n >= 10 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	b[i] = byte('0' + n)
	return string(b[i:])
}
