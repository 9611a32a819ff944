package opensearch

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/confluence-operator/confluence-operator/crawler/acl"
)

// spaceDoc is a page of space key whose space clause references the space's
// record, with an optional page restriction.
func spaceDoc(src acl.Source, key, id string, restriction ...string) Document {
	a := acl.ACL{{Level: acl.LevelSpace, Principals: []string{src.Space(key)}}}
	if len(restriction) > 0 {
		a = append(a, acl.Clause{Level: acl.LevelPage, Principals: restriction})
	}
	d := doc(string(src), key+"-"+id, a)
	d.SpaceKey = key
	return d
}

// readable is the reference semantics of space records: a document is
// visible iff its space has a record naming one of the reader's principals
// (or anonymous) and every other clause names one of them too.
func readable(docs []Document, records []SpaceRecord, held []string) []string {
	held = append(slices.Clone(held), acl.Anonymous)
	var ids []string
	for _, d := range docs {
		ok := len(d.ACL) > 0
		for _, c := range d.ACL {
			pass := slices.ContainsFunc(c.Principals, func(p string) bool { return slices.Contains(held, p) })
			if c.Level == acl.LevelSpace && acl.IsSpaceRef(c.Principals[0]) {
				pass = false
				for _, r := range records {
					if r.Ref == c.Principals[0] && slices.ContainsFunc(r.Principals, func(p string) bool { return slices.Contains(held, p) }) {
						pass = true
					}
				}
			}
			ok = ok && pass
		}
		if ok {
			ids = append(ids, d.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// Readers are expanded to the spaces their principals may view, per data
// source: the search filter and the DLS role (attribute substituted) show
// exactly what the records and the other clauses allow; a space without a
// record shows nothing; a space-permission change is one record write and
// no document write.
func TestSpaceRecords_ReadersExpandToReadableSpaces(t *testing.T) {
	c, tg, alias := newTestClient(t)
	st := ensure(t, c, IndexConfig{Alias: alias})
	a, b := acl.Source("tenant-a/wiki"), acl.Source("tenant-b/wiki")
	records := []SpaceRecord{
		NewSpaceRecord(a, "ENG", []string{a.Group("eng"), a.User("boss")}),
		NewSpaceRecord(a, "HR", []string{a.Group("hr")}),
		NewSpaceRecord(a, "PUB", []string{acl.Anonymous}),
		// Site B reuses the key and the group name.
		NewSpaceRecord(b, "ENG", []string{b.Group("eng")}),
	}
	for _, r := range records {
		if err := c.PutSpaceRecord(t.Context(), alias, r); err != nil {
			t.Fatal(err)
		}
	}
	var docs []Document
	for _, key := range []string{"ENG", "HR", "PUB", "GONE"} { // GONE has no record
		docs = append(docs, spaceDoc(a, key, "open"), spaceDoc(a, key, "alice-only", a.User("alice")), spaceDoc(a, key, "hr-only", a.Group("hr")))
	}
	docs = append(docs, spaceDoc(b, "ENG", "open"), spaceDoc(b, "ENG", "erin-only", b.User("erin")))
	writeDocs(t, c, alias, docs)
	identities := []Identity{
		{Datasource: string(a), Principal: a.User("alice"), Email: "alice@example.com", Groups: []string{a.Group("eng")}},
		{Datasource: string(b), Principal: b.User("erin"), Email: "erin@example.com", Groups: []string{b.Group("eng")}},
		{Datasource: string(a), Principal: a.User("harry"), Email: "harry@example.com", Groups: []string{a.Group("hr")}},
	}
	if err := c.UpsertIdentities(t.Context(), alias, identities); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(t.Context(), alias); err != nil {
		t.Fatal(err)
	}
	dls := DLSRole(alias, "")["index_permissions"].([]any)[0].(map[string]any)["dls"].(string)
	check := func(phase string) {
		t.Helper()
		for _, who := range []string{"alice@example.com", "erin@example.com", "harry@example.com", "nobody@example.com", ""} {
			r, err := c.ResolvePrincipals(t.Context(), alias, nil, who)
			if err != nil {
				t.Fatal(err)
			}
			var held []string
			for _, id := range identities {
				if id.Email == who {
					held = append(append(held, id.Principal), id.Groups...)
				}
			}
			want := readable(docs, records, held)
			if got := visible(t, c, alias, r.Principals); !slices.Equal(got, want) {
				t.Errorf("%s: filter: %q (%v) sees %v, want %v", phase, who, r.Principals, got, want)
			}
			got := dlsVisible(t, c, alias, dls, r.Principals)
			if !slices.Equal(got, want) {
				t.Errorf("%s: DLS role: %q sees %v, want %v", phase, who, got, want)
			}
			for _, d := range got {
				if strings.Contains(d, "GONE") {
					t.Errorf("%s: %q sees %s, whose space has no record", phase, who, d)
				}
			}
		}
	}
	check("initial")
	if r, _ := c.ResolvePrincipals(t.Context(), alias, nil, "alice@example.com"); !slices.Equal(r.Spaces, []string{a.Space("ENG"), a.Space("PUB")}) {
		t.Errorf("alice's spaces = %v, want site A's ENG and PUB only", r.Spaces)
	}

	// HR opens to eng: one record, no document written.
	before := indexWrites(t, c, tg, st.Index)
	records[1] = NewSpaceRecord(a, "HR", []string{a.Group("hr"), a.Group("eng")})
	if err := c.PutSpaceRecord(t.Context(), alias, records[1]); err != nil {
		t.Fatal(err)
	}
	check("after HR opened to eng")
	if after := indexWrites(t, c, tg, st.Index); after != before {
		t.Errorf("a space-permission change wrote %d documents", after-before)
	}
	// ENG's record disappears: its documents hide from everyone.
	if _, err := c.deleteByQuery(t.Context(), SpaceIndex(alias), map[string]any{"term": map[string]any{"ref": a.Space("ENG")}}); err != nil {
		t.Fatal(err)
	}
	records = slices.Delete(records, 0, 1)
	check("after ENG's record was deleted")
}

// A record that names another data source's principals, a space reference,
// or not its own space would let readers of another site in: refused. An
// identity carrying a space reference would open the space without its
// record: refused too.
func TestSpaceRecords_RejectPrincipalsThatCouldCrossSites(t *testing.T) {
	c, _, alias := newTestClient(t)
	ensure(t, c, IndexConfig{Alias: alias})
	a, b := acl.Source("tenant-a/wiki"), acl.Source("tenant-b/wiki")
	bad := map[string]SpaceRecord{
		"other source's group": NewSpaceRecord(a, "ENG", []string{b.Group("eng")}),
		"unscoped group":       NewSpaceRecord(a, "ENG", []string{"group:eng"}),
		"space reference":      NewSpaceRecord(a, "ENG", []string{a.Space("HR")}),
		"another space's ref":  {Datasource: string(a), SpaceKey: "ENG", Ref: a.Space("HR"), Principals: []string{a.Group("eng")}},
		"bad data source":      {Datasource: "no-slash", SpaceKey: "ENG", Ref: "no-slash:space:ENG"},
	}
	for name, r := range bad {
		if err := c.PutSpaceRecord(t.Context(), alias, r); err == nil {
			t.Errorf("%s: record accepted", name)
		}
	}
	id := Identity{Datasource: string(a), Principal: a.User("mallory"), Groups: []string{a.Space("HR")}}
	if err := c.UpsertIdentities(t.Context(), alias, []Identity{id}); err == nil {
		t.Error("an identity holding a space reference was accepted")
	}
}

// Documents written before space records copy the space's principals.
// ReferenceSpaceRecord switches exactly one space of one data source to the
// reference, clears the ACL hash (the next sync rewrites them), and leaves
// the page restriction alone.
func TestReferenceSpaceRecord_SwitchesCopiedClausesInPlace(t *testing.T) {
	c, tg, alias := newTestClient(t)
	if tg.Fake != nil {
		t.Skip("update-by-query with a painless script: real OpenSearch only (OPENSEARCH_URL)")
	}
	ensure(t, c, IndexConfig{Alias: alias})
	a, b := acl.Source("tenant-a/wiki"), acl.Source("tenant-b/wiki")
	copied := func(src acl.Source, key, id string, restricted bool) Document {
		acls := acl.ACL{{Level: acl.LevelSpace, Principals: []string{src.Group("eng"), src.User("boss")}}}
		if restricted {
			acls = append(acls, acl.Clause{Level: acl.LevelPage, Principals: []string{src.User("alice")}})
		}
		d := doc(string(src), key+"-"+id, acls)
		d.SpaceKey = key
		return d
	}
	docs := []Document{copied(a, "ENG", "1", false), copied(a, "ENG", "2", true), copied(a, "HR", "1", false), copied(b, "ENG", "1", false), spaceDoc(a, "ENG", "3")}
	writeDocs(t, c, alias, docs)
	if err := c.Refresh(t.Context(), alias); err != nil {
		t.Fatal(err)
	}
	n, err := c.ReferenceSpaceRecord(t.Context(), alias, string(a), "ENG")
	if err != nil || n != 2 {
		t.Fatalf("ReferenceSpaceRecord = %d, %v; want the 2 copying documents of tenant-a's ENG", n, err)
	}
	for _, d := range docs {
		var got struct {
			Source struct {
				ACL     acl.ACL `json:"acl"`
				ACLHash string  `json:"acl_hash"`
			} `json:"_source"`
		}
		if err := c.do(t.Context(), http.MethodGet, "/"+alias+"/_doc/"+esc(d.ID), nil, nil, &got); err != nil {
			t.Fatal(err)
		}
		want := d.ACL.Normalize()
		wantHash := d.ACL.Hash()
		if d.Datasource == string(a) && d.SpaceKey == "ENG" && !slices.Equal(d.ACL[0].Principals, []string{a.Space("ENG")}) {
			want[0].Principals = []string{a.Space("ENG")}
			wantHash = ""
		}
		gotJSON, _ := json.Marshal(got.Source.ACL)
		wantJSON, _ := json.Marshal(want)
		if string(gotJSON) != string(wantJSON) || got.Source.ACLHash != wantHash {
			t.Errorf("%s: acl %s hash %q, want %s hash %q", d.ID, gotJSON, got.Source.ACLHash, wantJSON, wantHash)
		}
	}
	if n, err := c.ReferenceSpaceRecord(t.Context(), alias, string(a), "ENG"); err != nil || n != 0 {
		t.Errorf("second run = %d, %v; want nothing to do", n, err)
	}
}

// Deleting a data source (finalizer cleanup) removes its space records and
// leaves another data source's alone.
func TestDeleteDatasource_RemovesItsSpaceRecords(t *testing.T) {
	c, _, alias := newTestClient(t)
	ensure(t, c, IndexConfig{Alias: alias})
	a, b := acl.Source("tenant-a/wiki"), acl.Source("tenant-b/wiki")
	for _, r := range []SpaceRecord{NewSpaceRecord(a, "ENG", []string{a.Group("eng")}), NewSpaceRecord(b, "ENG", []string{b.Group("eng")})} {
		if err := c.PutSpaceRecord(t.Context(), alias, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteDatasource(t.Context(), alias, string(a)); err != nil {
		t.Fatal(err)
	}
	if r, err := c.GetSpaceRecord(t.Context(), alias, string(a), "ENG"); err != nil || r != nil {
		t.Errorf("tenant-a's record after deleting tenant-a: %+v, %v", r, err)
	}
	if r, err := c.GetSpaceRecord(t.Context(), alias, string(b), "ENG"); err != nil || r == nil {
		t.Errorf("tenant-b's record after deleting tenant-a: %+v, %v", r, err)
	}
}
