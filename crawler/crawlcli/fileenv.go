package crawlcli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/confluence"
	"github.com/confluence-operator/confluence-operator/crawler/crawl"
	"github.com/confluence-operator/confluence-operator/crawler/credentials"
	"github.com/confluence-operator/confluence-operator/crawler/manifest"
)

// fileEnv runs from a manifest and credential files: the standalone CLI.
type fileEnv struct{ o options }

func (e *fileEnv) dataSource(context.Context) (*v1.ConfluenceDataSource, error) {
	return manifest.Load(e.o.file)
}

func (e *fileEnv) secrets(_ context.Context, ds *v1.ConfluenceDataSource) (manifest.Secrets, error) {
	var s manifest.Secrets
	var err error
	if e.o.creds != "" {
		if s.Confluence, err = credentials.Load(e.o.creds); err != nil {
			return s, err
		}
		s.ConfluenceCA = s.Confluence[v1.SecretKeyCACert]
		s.Proxy = s.Confluence
	}
	if e.o.osCreds != "" {
		if s.OpenSearch, err = credentials.Load(e.o.osCreds); err != nil {
			return s, err
		}
		s.OpenSearchCA = s.OpenSearch[v1.SecretKeyCACert]
	} else if a := ds.Spec.OpenSearch.Auth; a != nil {
		return s, fmt.Errorf("spec.opensearch.auth names Secret %q: pass its keys with --opensearch-credentials", a.SecretRef.Name)
	}
	return s, nil
}

// persistTokens writes rotated OAuth tokens back to the credentials file or
// directory they came from, before the client uses them.
func (e *fileEnv) persistTokens(*v1.ConfluenceDataSource) confluence.TokenPersister {
	path := e.o.creds
	return func(_ context.Context, t confluence.Tokens) error {
		updates := map[string]string{v1.SecretKeyAccessToken: t.AccessToken, v1.SecretKeyRefreshToken: t.RefreshToken}
		info, err := os.Stat(path)
		if err != nil {
			return err
		}
		if info.IsDir() {
			for k, v := range updates {
				if err := writeFileAtomic(filepath.Join(path, k), []byte(v)); err != nil {
					return err
				}
			}
			return nil
		}
		return rewriteSecretManifest(path, updates)
	}
}

// rewriteSecretManifest stores updated keys in a Secret manifest's
// stringData (which wins over data), keeping everything else.
func rewriteSecretManifest(path string, updates map[string]string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var obj map[string]any
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	sd, _ := obj["stringData"].(map[string]any)
	if sd == nil {
		sd = map[string]any{}
	}
	data, _ := obj["data"].(map[string]any)
	for k, v := range updates {
		sd[k] = v
		delete(data, k)
	}
	obj["stringData"] = sd
	out, err := yaml.Marshal(obj)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, out)
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (e *fileEnv) progress(context.Context, v1.SyncProgress) {}

func (e *fileEnv) report(context.Context, v1.SyncReport, crawl.Summary) error { return nil }
