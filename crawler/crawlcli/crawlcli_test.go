package crawlcli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confluence-operator/confluence-operator/crawler/crawlcli"
	"github.com/confluence-operator/confluence-operator/crawler/credentials"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
	"github.com/confluence-operator/confluence-operator/test/fakeopensearch"
)

type fixture struct {
	cf   *fakeconfluence.Server
	data fakeconfluence.Dataset
	os   fakeopensearch.Target
	dir  string
}

func newFixture(t *testing.T) *fixture {
	cf := fakeconfluence.New(fakeconfluence.Options{})
	t.Cleanup(cf.Close)
	data := cf.Generate(fakeconfluence.DatasetOptions{Spaces: 2, PagesPerSpace: 10})
	return &fixture{cf: cf, data: data, os: fakeopensearch.ForTest(t), dir: t.TempDir()}
}

func (f *fixture) write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) manifest(t *testing.T, auth string, extra string) string {
	return f.write(t, "ds.yaml", fmt.Sprintf(`apiVersion: sources.confluence-operator.dev/v1alpha1
kind: ConfluenceDataSource
metadata: {name: wiki, namespace: docs}
spec:
  confluence:
    url: %s
    deployment: Cloud
    auth: %s
    maxRequestsPerSecond: 1000
  opensearch:
    endpoints: [%q]
    index: %s
%s`, f.cf.URL(), auth, f.os.URL, strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), extra))
}

func run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = crawlcli.Run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCrawl_StandalonePrintsOneJSONSummary(t *testing.T) {
	f := newFixture(t)
	ds := f.manifest(t, `{type: Basic, secretRef: {name: creds}}`, "")
	creds := f.write(t, "creds.yaml", fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {username: %q, password: %q}\n", f.data.Crawler.Email, f.data.Crawler.Secret))
	code, stdout, stderr := run("-f", ds, "--credentials", creds)
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, stderr)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
	}
	for _, k := range []string{"mode", "complete", "documentsIndexed", "documentsUnchanged", "documentsDeleted", "documentsFailed", "documentsSkipped", "apiCalls", "durationSeconds"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("summary lacks %q: %s", k, stdout)
		}
	}
	if sum["complete"] != true || sum["documentsIndexed"].(float64) == 0 {
		t.Errorf("summary %s", stdout)
	}
	if strings.Contains(stderr, f.data.Crawler.Secret) || strings.Contains(stdout, f.data.Crawler.Secret) {
		t.Fatal("the API token appears in the output")
	}
	code, stdout, _ = run("-f", ds, "--credentials", creds, "--mode", "FullCrawl")
	if code != 0 || !strings.Contains(stdout, `"documentsIndexed":0`) {
		t.Fatalf("a second run must write nothing: exit %d %s", code, stdout)
	}
}

func TestCrawl_ExitCodes(t *testing.T) {
	f := newFixture(t)
	ds := f.manifest(t, `{type: Basic, secretRef: {name: creds}}`, "")
	good := f.write(t, "good.yaml", fmt.Sprintf("kind: Secret\nstringData: {username: %q, password: %q}\n", f.data.Crawler.Email, f.data.Crawler.Secret))
	wrong := f.write(t, "wrong.yaml", fmt.Sprintf("kind: Secret\nstringData: {username: %q, password: not-the-token}\n", f.data.Crawler.Email))
	missingKey := f.write(t, "missing.yaml", "kind: Secret\nstringData: {username: someone}\n")
	badRegex := f.write(t, "badregex.yaml", strings.Replace(readFile(t, ds), "spec:\n", "spec:\n  filters: {spaces: {include: [\"(unclosed\"]}}\n", 1))
	cases := map[string]struct {
		args       []string
		code       int
		wantStderr string
	}{
		"success":              {[]string{"-f", ds, "--credentials", good}, 0, ""},
		"rejected credentials": {[]string{"-f", ds, "--credentials", wrong}, 1, "credentials rejected for " + f.data.Crawler.Email},
		"missing secret key":   {[]string{"-f", ds, "--credentials", missingKey}, 64, "lacks key(s) password"},
		"no manifest":          {[]string{"--credentials", good}, 64, "-f datasource.yaml is required"},
		"unknown mode":         {[]string{"-f", ds, "--credentials", good, "--mode", "Sometimes"}, 64, "--mode"},
		"missing file":         {[]string{"-f", filepath.Join(f.dir, "nope.yaml"), "--credentials", good}, 64, "nope.yaml"},
		"invalid regex":        {[]string{"-f", badRegex, "--credentials", good}, 64, "filters.spaces.include[0]"},
		"targeted sync":        {[]string{"-f", ds, "--credentials", good, "--mode", "Targeted", "--target", "page:1", "--target", "space:S1"}, 0, ""},
		"change poll":          {[]string{"-f", ds, "--credentials", good, "--mode", "ChangePoll"}, 0, ""},
		"targeted, no target":  {[]string{"-f", ds, "--credentials", good, "--mode", "Targeted"}, 64, "needs at least one --target"},
		"malformed target":     {[]string{"-f", ds, "--credentials", good, "--mode", "Targeted", "--target", "folder:1"}, 64, "kind must be"},
		"target without mode":  {[]string{"-f", ds, "--credentials", good, "--target", "page:1"}, 64, "--target is for --mode Targeted"},
		"too many targets":     {append([]string{"-f", ds, "--credentials", good, "--mode", "Targeted"}, manyTargets(201)...), 64, "at most 200"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := run(tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.wantStderr) {
				t.Fatalf("exit %d (want %d), stderr lacks %q:\n%s", code, tc.code, tc.wantStderr, stderr)
			}
			if strings.Contains(stderr, "not-the-token") {
				t.Fatal("a password appears on stderr")
			}
		})
	}
}

func manyTargets(n int) []string {
	var out []string
	for i := range n {
		out = append(out, "--target", fmt.Sprintf("page:%d", i+1))
	}
	return out
}

func TestCrawl_OAuthRotationIsWrittenBackToTheCredentialsFile(t *testing.T) {
	f := newFixture(t)
	f.cf.RegisterOAuthApp("app-key", "app-secret")
	access, refresh := f.cf.IssueOAuthTokens(f.data.Crawler.ID)
	f.cf.ExpireAccessTokens()
	ds := f.manifest(t, fmt.Sprintf(`{type: OAuth2, secretRef: {name: oauth}, oauth2: {tokenURL: %q, apiGatewayURL: %q, cloudID: %q}}`, f.cf.TokenURL(), f.cf.RootURL(), f.cf.CloudID()), "")
	dir := filepath.Join(f.dir, "oauth")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"confluenceAppKey": "app-key", "confluenceAppSecret": "app-secret", "confluenceAccessToken": access, "confluenceRefreshToken": refresh} {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		f.cf.ExpireAccessTokens()
		code, _, stderr := run("-f", ds, "--credentials", dir)
		if code != 0 {
			t.Fatalf("run %d: exit %d\n%s", i, code, stderr)
		}
		keys, err := credentials.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		stored := string(keys["confluenceRefreshToken"])
		if stored == refresh || !f.cf.RefreshTokenValid(stored) {
			t.Fatalf("run %d: the rotated refresh token was not written back (changed=%v valid=%v)", i, stored != refresh, f.cf.RefreshTokenValid(stored))
		}
		refresh = stored
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCrawl_InterruptedExitsThreeWithASummary cancels a run in the middle of
// the crawl, as SIGTERM does: exit 3, a JSON summary, nothing deleted, no
// panic.
func TestCrawl_InterruptedExitsThreeWithASummary(t *testing.T) {
	f := newFixture(t)
	ds := f.manifest(t, `{type: Basic, secretRef: {name: creds}}`, "")
	creds := f.write(t, "creds.yaml", fmt.Sprintf("kind: Secret\nstringData: {username: %q, password: %q}\n", f.data.Crawler.Email, f.data.Crawler.Secret))
	if code, _, stderr := run("-f", ds, "--credentials", creds); code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.cf.AddFault(fakeconfluence.Fault{Endpoint: "space.list", Hook: cancel})
	var out, errb bytes.Buffer
	code := crawlcli.Run(ctx, []string{"-f", ds, "--credentials", creds}, &out, &errb)
	if code != 3 {
		t.Fatalf("exit %d, want 3 (interrupted)\n%s", code, errb.String())
	}
	var sum struct {
		Complete         bool   `json:"complete"`
		DocumentsDeleted int64  `json:"documentsDeleted"`
		Message          string `json:"message"`
	}
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("stdout is not one JSON summary: %v\n%s", err, out.String())
	}
	if sum.Complete || sum.DocumentsDeleted != 0 || !strings.Contains(sum.Message, "interrupted") {
		t.Fatalf("summary %s", out.String())
	}
}

// An idle change poll skips the separate credential check when its search
// shows it ran as the verified user; with rejected credentials it still
// exits 1 with the same message as any other run.
func TestCrawl_ChangePollWithRejectedCredentialsExitsOne(t *testing.T) {
	f := newFixture(t)
	ds := f.manifest(t, `{type: Basic, secretRef: {name: creds}}`, "")
	good := f.write(t, "good.yaml", fmt.Sprintf("kind: Secret\nstringData: {username: %q, password: %q}\n", f.data.Crawler.Email, f.data.Crawler.Secret))
	wrong := f.write(t, "wrong.yaml", fmt.Sprintf("kind: Secret\nstringData: {username: %q, password: not-the-token}\n", f.data.Crawler.Email))
	if code, _, stderr := run("-f", ds, "--credentials", good); code != 0 {
		t.Fatalf("full sync: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := run("-f", ds, "--credentials", good, "--mode", "ChangePoll"); code != 0 {
		t.Fatalf("change poll: exit %d\n%s", code, stderr)
	}
	code, _, stderr := run("-f", ds, "--credentials", wrong, "--mode", "ChangePoll")
	if want := "credentials rejected for " + f.data.Crawler.Email; code != 1 || !strings.Contains(stderr, want) || strings.Contains(stderr, "not-the-token") {
		t.Fatalf("change poll with rejected credentials: exit %d (want 1), stderr lacks %q or leaks the token:\n%s", code, want, stderr)
	}
}
