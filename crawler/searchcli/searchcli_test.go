package searchcli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/confluence-operator/confluence-operator/crawler/acl"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
	"github.com/confluence-operator/confluence-operator/test/fakeopensearch"
)

const ds = "search/eng-wiki"

// other is a second data source in the same alias, on another Confluence
// site whose groups reuse the name "eng".
const other = "other/wiki"

// setup indexes a public page and an engineering page, and on the other
// site a public page and pages for that site's own "eng" and "hr" groups;
// alice is in eng on this site and in hr on the other; it returns the manifest and credentials
// paths.
func setup(t *testing.T) (manifest, creds string, tg fakeopensearch.Target) {
	t.Helper()
	tg = fakeopensearch.ForTest(t)
	alias := fakeopensearch.IndexName(t)
	c, err := opensearch.NewClient(opensearch.Config{Endpoints: []string{tg.URL}, Username: tg.Username, Password: tg.Password, InsecureSkipVerify: tg.Insecure})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	if tg.Fake == nil { // a shared node holds at most 1,000 shards
		t.Cleanup(func() {
			for _, p := range []string{"/" + alias + "-*", "/_index_template/" + opensearch.TemplateName(alias),
				"/_index_template/" + opensearch.TemplateName(opensearch.PassageAlias(alias))} {
				req, _ := http.NewRequest(http.MethodDelete, tg.URL+p, nil)
				req.SetBasicAuth(tg.Username, tg.Password)
				if res, err := http.DefaultClient.Do(req); err == nil {
					_ = res.Body.Close()
				}
			}
		})
	}
	if _, err := c.EnsureIndex(ctx, opensearch.IndexConfig{Alias: alias, Language: "en"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.EnsurePassageIndex(ctx, opensearch.IndexConfig{Alias: alias, Language: "en"}); err != nil {
		t.Fatal(err)
	}
	sink, err := c.NewSink(opensearch.SinkConfig{Alias: alias, PassageAlias: opensearch.PassageAlias(alias)})
	if err != nil {
		t.Fatal(err)
	}
	// Documents reference their space's record, as the crawler writes them.
	mk := func(source, space, id, title string) opensearch.Document {
		return opensearch.Document{ID: opensearch.DocumentID(source, opensearch.TypePage, id), ContentID: id, Type: opensearch.TypePage,
			Datasource: source, SpaceKey: space, SpaceName: "Engineering", URL: "https://wiki.example.com/pages/" + id,
			Title: title, Body: "All about the " + strings.ToLower(title) + " process.",
			ACL: acl.ACL{{Level: acl.LevelSpace, Principals: []string{acl.Source(source).Space(space)}}},
			Passages: []opensearch.Passage{{Text: "All about the " + strings.ToLower(title) + " process.", HeadingPath: []string{"Process"},
				URL: "https://wiki.example.com/pages/" + id + "#Process"}}}
	}
	for _, r := range []opensearch.SpaceRecord{
		opensearch.NewSpaceRecord(ds, "PUB", []string{acl.Anonymous}),
		opensearch.NewSpaceRecord(ds, "ENG", []string{acl.Source(ds).Group("eng")}),
		opensearch.NewSpaceRecord(other, "PUB", []string{acl.Anonymous}),
		opensearch.NewSpaceRecord(other, "ENG", []string{acl.Source(other).Group("eng")}),
		opensearch.NewSpaceRecord(other, "HR", []string{acl.Source(other).Group("hr")}),
	} {
		if err := c.PutSpaceRecord(ctx, alias, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []opensearch.Document{
		mk(ds, "PUB", "1", "Release checklist"),
		mk(ds, "ENG", "2", "Release secrets"),
		mk(other, "PUB", "3", "Release train"),
		mk(other, "ENG", "4", "Release payroll"),
		mk(other, "HR", "5", "Release holidays"),
	} {
		if err := sink.Index(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.UpsertIdentities(ctx, alias, []opensearch.Identity{
		{Datasource: ds, Principal: acl.Source(ds).User("a1"), UserID: "a1", Email: "alice@example.com", Groups: []string{acl.Source(ds).Group("eng")}},
		{Datasource: other, Principal: acl.Source(other).User("a1"), UserID: "a1", Email: "alice@example.com", Groups: []string{acl.Source(other).Group("hr")}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(ctx, alias); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(ctx, opensearch.PassageAlias(alias)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	manifest = filepath.Join(dir, "ds.yaml")
	body := fmt.Sprintf(`apiVersion: sources.confluence-operator.dev/v1alpha1
kind: ConfluenceDataSource
metadata: {name: eng-wiki, namespace: search}
spec:
  confluence: {url: "https://wiki.example.com", deployment: Cloud, auth: {type: Basic, secretRef: {name: c}}}
  opensearch:
    endpoints: [%q]
    index: %s
    auth: {secretRef: {name: opensearch-reader}}
`, tg.URL, alias)
	if err := os.WriteFile(manifest, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	creds = filepath.Join(dir, "secret.yaml")
	user, pass := tg.Username, tg.Password
	if user == "" {
		user, pass = "reader", "pw"
	}
	secret := fmt.Sprintf("apiVersion: v1\nkind: Secret\nstringData: {username: %q, password: %q}\n", user, pass)
	if err := os.WriteFile(creds, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	return manifest, creds, tg
}

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func insecure(tg fakeopensearch.Target) []string {
	if tg.Insecure {
		return []string{"--insecure-skip-tls-verify"}
	}
	return nil
}

func TestRun_SearchesAsTheUser(t *testing.T) {
	manifest, creds, tg := setup(t)
	args := append([]string{"--datasource", manifest, "--opensearch-credentials", creds, "--output", "json", "--user", "Alice@example.com", "release"}, insecure(tg)...)
	code, out, stderr := run(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res opensearch.SearchResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	if len(res.Hits) != 2 {
		t.Fatalf("alice sees %d hits, want her two pages of this data source: %+v", len(res.Hits), res.Hits)
	}
	if !strings.Contains(stderr, acl.Source(ds).Group("eng")) {
		t.Fatalf("stderr does not show the principals: %s", stderr)
	}
}

func TestRun_PassagesAsTheUser(t *testing.T) {
	manifest, creds, tg := setup(t)
	base := append([]string{"--datasource", manifest, "--opensearch-credentials", creds, "--passages"}, insecure(tg)...)
	code, out, stderr := run(t, append(base, "--output", "json", "--user", "alice@example.com", "release secrets")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var hits []opensearch.PassageHit
	if err := json.Unmarshal([]byte(out), &hits); err != nil {
		t.Fatalf("stdout is not a JSON array: %v\n%s", err, out)
	}
	if len(hits) != 2 || hits[0].Title != "Release secrets" || !slices.Equal(hits[0].HeadingPath, []string{"Process"}) ||
		hits[0].URL != "https://wiki.example.com/pages/2#Process" {
		t.Fatalf("alice's passages: %+v", hits)
	}
	// bob has no identity: anonymous, so not the eng-only page.
	code, out, stderr = run(t, append(base, "--user", "bob@example.com", "release secrets")...)
	if code != 0 || strings.Contains(out, "Release secrets") || !strings.Contains(out, "1. Release checklist > Process") ||
		!strings.Contains(out, "https://wiki.example.com/pages/1#Process") || !strings.Contains(out, "   | All about the release checklist process.") {
		t.Fatalf("exit %d, bob's passages:\n%s\n%s", code, out, stderr)
	}
	if code, _, stderr := run(t, "--datasource", manifest, "--user", "a", "--neural-model-id", "m", "q"); code != exitBadInput || !strings.Contains(stderr, "needs --passages") {
		t.Errorf("--neural-model-id without --passages: exit %d %s", code, stderr)
	}
}

// The attack of issue 14 through the CLI: alice is in "eng" on this site
// only; searching every data source of the alias must not open the other
// site's "eng" page, and must open its "hr" page, where she is a member.
func TestRun_AllDatasourcesKeepsEachSitesGroups(t *testing.T) {
	manifest, creds, tg := setup(t)
	args := append([]string{"-f", manifest, "--opensearch-credentials", creds, "--output", "json", "--user", "alice@example.com", "--all-datasources", "release"}, insecure(tg)...)
	code, out, stderr := run(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res opensearch.SearchResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	var titles []string
	for _, h := range res.Hits {
		titles = append(titles, h.Title)
	}
	slices.Sort(titles)
	want := []string{"Release checklist", "Release holidays", "Release secrets", "Release train"}
	if !slices.Equal(titles, want) {
		t.Fatalf("alice sees %q across both sites, want %q", titles, want)
	}

	// The DLS role's user attribute carries the same scoped principals and
	// the spaces they open.
	code, out, stderr = run(t, append([]string{"-f", manifest, "--opensearch-credentials", creds, "--user", "alice@example.com", "--all-datasources", "--print-dls-attribute"}, insecure(tg)...)...)
	o, d := acl.Source(other), acl.Source(ds)
	wantAttr := `"` + strings.Join([]string{o.Group("hr"), o.Space("HR"), o.Space("PUB"), o.User("a1"), d.Group("eng"), d.Space("ENG"), d.Space("PUB"), d.User("a1")}, `","`) + `"`
	if code != 0 || strings.TrimSpace(out) != wantAttr {
		t.Fatalf("print-dls-attribute: exit %d, out %s, want %s (stderr %s)", code, out, wantAttr, stderr)
	}
}

func TestRun_UnknownUserIsAnonymous(t *testing.T) {
	manifest, creds, tg := setup(t)
	args := append([]string{"-f", manifest, "--opensearch-credentials", creds, "release", "--user", "mallory@example.com"}, insecure(tg)...)
	code, out, stderr := run(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "anonymous") {
		t.Fatalf("stderr does not say the user is unknown: %s", stderr)
	}
	if !strings.Contains(out, "Release checklist") || strings.Contains(out, "Release secrets") || strings.Contains(out, "Release train") {
		t.Fatalf("text output:\n%s", out)
	}
	if !strings.Contains(out, "https://wiki.example.com/pages/1") || !strings.Contains(out, "*release*") {
		t.Fatalf("text output lacks url or snippet:\n%s", out)
	}
}

func TestRun_PrintFilterAndRole(t *testing.T) {
	manifest, creds, tg := setup(t)
	code, out, stderr := run(t, append([]string{"-f", manifest, "--opensearch-credentials", creds, "--user", "alice@example.com", "--print-filter"}, insecure(tg)...)...)
	if code != 0 || !strings.Contains(out, `"acl.principals"`) || !strings.Contains(out, acl.Source(ds).User("a1")) || !strings.Contains(out, acl.Source(ds).Space("ENG")) {
		t.Fatalf("print-filter: exit %d, out %s, err %s", code, out, stderr)
	}
	code, out, stderr = run(t, "-f", manifest, "--print-dls-role")
	var role map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &role) != nil || role["index_permissions"] == nil {
		t.Fatalf("print-dls-role: exit %d, out %s, err %s", code, out, stderr)
	}
}

func TestRun_BadInputExits2(t *testing.T) {
	manifest, _, _ := setup(t)
	cases := map[string][]string{
		"no datasource":       {"--user", "a", "q"},
		"no user":             {"-f", manifest, "q"},
		"missing manifest":    {"-f", "/nonexistent.yaml", "--user", "a"},
		"credentials needed":  {"-f", manifest, "--user", "a"},
		"bad output":          {"-f", manifest, "--user", "a", "--output", "xml"},
		"unknown flag":        {"--frobnicate"},
		"bad credentials dir": {"-f", manifest, "--user", "a", "--opensearch-credentials", "/nonexistent"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			if code, _, stderr := run(t, args...); code != 2 {
				t.Fatalf("exit %d, want 2 (stderr %s)", code, stderr)
			}
		})
	}
}

func TestRun_SearchFailureExits1(t *testing.T) {
	manifest, creds, tg := setup(t)
	raw, _ := os.ReadFile(manifest)
	broken := filepath.Join(t.TempDir(), "ds.yaml")
	// An index that does not exist: the identity lookup finds nobody, the search 404s.
	text := strings.Replace(string(raw), "index: test-", "index: missing-", 1)
	if err := os.WriteFile(broken, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, append([]string{"-f", broken, "--opensearch-credentials", creds, "--user", "a", "q"}, insecure(tg)...)...); code != 1 {
		t.Fatalf("exit %d, want 1 (stderr %s)", code, stderr)
	}
}

// Past 10,000 matches the engine reports a lower bound, and so must we.
func TestPrintText_SaysWhenTheTotalIsALowerBound(t *testing.T) {
	var exact, bound strings.Builder
	hits := []opensearch.Hit{{ID: "x", Title: "T", Type: opensearch.TypePage}}
	printText(&exact, &opensearch.SearchResult{Total: 12, Hits: hits})
	printText(&bound, &opensearch.SearchResult{Total: 10000, TotalIsLowerBound: true, Hits: hits})
	if !strings.HasPrefix(exact.String(), "1 of 12 results\n") || !strings.HasPrefix(bound.String(), "1 of at least 10000 results\n") {
		t.Fatalf("exact:\n%s\nlower bound:\n%s", exact.String(), bound.String())
	}
}
