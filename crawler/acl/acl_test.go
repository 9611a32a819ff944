package acl

import "testing"

func TestAllows_RequiresEveryClause(t *testing.T) {
	a := ACL{
		{Level: LevelSpace, Principals: []string{Group("eng"), User("boss")}},
		{Level: LevelAncestor, Principals: []string{Group("leads")}},
		{Level: LevelPage, Principals: []string{User("alice"), Group("leads")}},
	}
	cases := map[string]struct {
		principals []string
		want       bool
	}{
		"member of every level":        {[]string{User("alice"), Group("eng"), Group("leads")}, true},
		"listed on page, not ancestor": {[]string{User("alice"), Group("eng")}, false},
		"no space permission":          {[]string{User("alice"), Group("leads")}, false},
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
	if (ACL{}).Allows([]string{User("alice")}) {
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
