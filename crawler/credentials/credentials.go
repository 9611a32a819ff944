// Package credentials reads secret material the way a crawl outside the
// cluster receives it: a Kubernetes Secret manifest (YAML or JSON) or a
// directory of files as a Secret volume mounts it.
package credentials

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Load returns the keys of the Secret at path. A directory yields one key
// per regular file (dot entries such as ..data and ..2024_01_01 links are
// skipped); a file is parsed as a Secret manifest, with "data" base64 and
// "stringData" plain, stringData winning on conflicts. Errors name the file,
// never the values.
func Load(path string) (map[string][]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	if fi.IsDir() {
		return loadDir(path)
	}
	return loadManifest(path)
}

func loadDir(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p) // follows the symlinks of a mounted Secret
		if err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
		out[e.Name()] = b
	}
	return out, nil
}

type manifest struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Data       map[string]string `json:"data"`
	StringData map[string]string `json:"stringData"`
}

func loadManifest(path string) (map[string][]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	var m manifest
	if err := yaml.Unmarshal(raw, &m); err != nil {
		// The parser's message may quote the offending line; do not pass it on.
		return nil, fmt.Errorf("credentials: %s: not a valid YAML or JSON Secret manifest", path)
	}
	if m.Kind != "" && m.Kind != "Secret" {
		return nil, fmt.Errorf("credentials: %s: kind is %q, want Secret", path, m.Kind)
	}
	out := make(map[string][]byte, len(m.Data)+len(m.StringData))
	for k, v := range m.Data {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("credentials: %s: data key %q is not valid base64", path, k)
		}
		out[k] = b
	}
	for k, v := range m.StringData {
		out[k] = []byte(v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("credentials: %s: Secret has no data or stringData", path)
	}
	return out, nil
}
