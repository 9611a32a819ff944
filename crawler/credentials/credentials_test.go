package credentials

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad_ManifestStringDataWins(t *testing.T) {
	p := write(t, t.TempDir(), "secret.yaml", `apiVersion: v1
kind: Secret
metadata: {name: os}
data:
  username: YWRtaW4=        # admin
  password: b2xk            # old
stringData:
  password: s3cret
`)
	got, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(got["username"]) != "admin" || string(got["password"]) != "s3cret" || len(got) != 2 {
		t.Fatalf("Load = %q", got)
	}
}

func TestLoad_JSONManifest(t *testing.T) {
	p := write(t, t.TempDir(), "secret.json", `{"apiVersion":"v1","kind":"Secret","data":{"apiKey":"a2V5"}}`)
	got, err := Load(p)
	if err != nil || string(got["apiKey"]) != "key" {
		t.Fatalf("Load = %q, %v", got, err)
	}
}

func TestLoad_MountedDirectory(t *testing.T) {
	dir := t.TempDir()
	// The layout kubelet creates: ..<timestamp>/ with the files, ..data -> it, key -> ..data/key.
	ts := filepath.Join(dir, "..2026_11_23_10_00_00.1")
	if err := os.Mkdir(ts, 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, ts, "username", "admin")
	write(t, ts, "password", "pw\n")
	if err := os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"username", "password"} {
		if err := os.Symlink(filepath.Join("..data", k), filepath.Join(dir, k)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got["username"]) != "admin" || string(got["password"]) != "pw\n" {
		t.Fatalf("Load = %q", got)
	}
}

func TestLoad_ErrorsNameTheFileNotTheValue(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"bad-base64.yaml": "kind: Secret\ndata:\n  password: \"not*base64 TOPSECRET\"\n",
		"not-yaml.yaml":   "kind: Secret\ndata: [TOPSECRET\n",
		"wrong-kind.yaml": "kind: ConfigMap\ndata:\n  password: TOPSECRET\n",
		"empty.yaml":      "kind: Secret\n",
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(write(t, dir, name, content))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), "TOPSECRET") {
				t.Fatalf("error %q must name the file and hide the value", err)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("a missing file loaded")
	}
}
