package acl

import "testing"

// src is the data source the tests' principals belong to.
const src = Source("ns/wiki")

func TestAllows_RequiresEveryClause(t *testing.T) {
	a := ACL{
		{Level: LevelSpace, Principals: []string{src.Group("eng"), src.User("boss")}},
		{Level: LevelAncestor, Principals: []string{src.Group("leads")}},
		{Level: LevelPage, Principals: []string{src.User("alice"), src.Group("leads")}},
	}
	cases := map[string]struct {
		principals []string
		want       bool
	}{
		"member of every level":        {[]string{src.User("alice"), src.Group("eng"), src.Group("leads")}, true},
		"listed on page, not ancestor": {[]string{src.User("alice"), src.Group("eng")}, false},
		"no space permission":          {[]string{src.User("alice"), src.Group("leads")}, false},
		"nobody":                       {nil, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := a.Allows(tc.principals); got != tc.want {
				t.Fatalf("Allows(%v) = %v, want %v", tc.principals, got, tc.want)
			}
		})
	}
}

func TestAllows_EmptyACLIsHidden(t *testing.T) {
	if (ACL{}).Allows([]string{src.User("alice")}) {
		t.Fatal("an unknown ACL must hide the document")
	}
}

func TestAllows_AnonymousSpace(t *testing.T) {
	a := ACL{{Level: LevelSpace, Principals: []string{Anonymous}}}
	if !a.Allows(nil) {
		t.Fatal("a space open to anonymous users must admit a reader with no principals")
	}
}

func TestHash_IgnoresOrderAndDuplicates(t *testing.T) {
	a := ACL{{Level: LevelPage, Principals: []string{"b", "a"}}, {Level: LevelSpace, Principals: []string{"x"}}}
	b := ACL{{Level: LevelSpace, Principals: []string{"x", "x"}}, {Level: LevelPage, Principals: []string{"a", "b"}}}
	if a.Hash() != b.Hash() {
		t.Fatal("equal permissions must hash equally")
	}
	c := ACL{{Level: LevelSpace, Principals: []string{"x"}}}
	if a.Hash() == c.Hash() {
		t.Fatal("different permissions must hash differently")
	}
}

// Two sites sharing an index both have a group "hr" and a user key "k1"; a
// reader holding site B's principals must not pass site A's clauses.
func TestAllows_SameNamesFromAnotherSourceDoNotMatch(t *testing.T) {
	siteA, siteB := Source("tenant-a/wiki"), Source("tenant-b/wiki")
	a := ACL{{Level: LevelSpace, Principals: []string{siteA.Group("hr"), siteA.User("k1")}}}
	if a.Allows([]string{siteB.Group("hr"), siteB.User("k1")}) {
		t.Fatal("site B's hr group and user k1 passed site A's clause")
	}
	if !a.Allows([]string{siteA.Group("hr")}) {
		t.Fatal("site A's own hr group was refused")
	}
	if a.Allows([]string{"group:hr", "user:k1"}) {
		t.Fatal("unscoped principals (older indexes) matched a scoped clause")
	}
}

func TestSource_OwnsOnlyItsPrincipals(t *testing.T) {
	s := Source("ns/a")
	cases := map[string]bool{
		s.Group("hr"):                  true,
		s.User("557058:abc"):           true,
		Source("ns/ab").Group("hr"):    false, // a longer name is another source
		Source("ns/a.b").Group("hr"):   false,
		"group:hr":                     false, // unscoped: an index written before scoping
		Anonymous:                      false,
		"ns/a":                         false,
		Source("ns/b").Group("ns/a:x"): false, // a group named like a scope stays in its source
	}
	for p, want := range cases {
		if got := s.Owns(p); got != want {
			t.Errorf("Owns(%q) = %v, want %v", p, got, want)
		}
	}
	if Source("").Owns(":group:x") {
		t.Error("the empty source owns principals")
	}
}

func TestParseSource(t *testing.T) {
	for _, ok := range []string{"ns/a", "search/eng-wiki", "t1/wiki.example.com"} {
		if _, err := ParseSource(ok); err != nil {
			t.Errorf("ParseSource(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a", "/a", "a/", "a/b/c", "a:b/c", "a/b:c", "A/b", "a b/c", "-a/b"} {
		if _, err := ParseSource(bad); err == nil {
			t.Errorf("ParseSource(%q) accepted", bad)
		}
	}
}
